/**
 * One shared coarse timer for the whole data plane (undici's lib/util/timers.js habit): the hot
 * path stamps `coarseNow()` (a field read, no syscall) on activity, and a single interval walks
 * the registered sweepers to expire connect attempts, idle connections, UDP flows, affinity
 * entries and passive ejections. Accurate to about one tick, which is fine for timeouts of
 * seconds; nothing per connection ever calls setTimeout.
 */

/** 250 ms: a 1 s connect timeout fires between 1.0 and 1.25 s; cheap enough to run always. */
export const COARSE_TICK_MS = 250;

export interface Sweeper {
  /** Called once per tick with the current coarse time. */
  sweep(nowMs: number): void;
}

let now = Date.now();
let timer: NodeJS.Timeout | undefined;
const sweepers = new Set<Sweeper>();

function onTick(): void {
  now = Date.now();
  for (const s of sweepers) s.sweep(now);
}

/** The time of the last tick (or of the last `refreshCoarseNow`), in ms since the epoch. */
export function coarseNow(): number {
  return now;
}

/** Reads the real clock into the coarse one; for rare events that want exactness (a new connection). */
export function refreshCoarseNow(): number {
  now = Date.now();
  return now;
}

export function addSweeper(s: Sweeper): void {
  sweepers.add(s);
  if (timer === undefined) {
    now = Date.now();
    timer = setInterval(onTick, COARSE_TICK_MS);
    timer.unref(); // the listeners keep the process alive, not the timer
  }
}

export function removeSweeper(s: Sweeper): void {
  sweepers.delete(s);
  if (sweepers.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}
