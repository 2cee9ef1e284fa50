/**
 * Time as the k8s layer sees it. Every component that waits (informers, the work queue, leader
 * election, the event recorder) takes a Clock, so tests can drive time by hand.
 */
export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimer(fn: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle | undefined): void;
}

let nextTimerId = 1;

/** The process clock: Date.now and setTimeout. */
export const realClock: Clock = (() => {
  const timers = new Map<number, NodeJS.Timeout>();
  return {
    now: () => Date.now(),
    setTimer(fn, delayMs) {
      const handle = { id: nextTimerId++ };
      timers.set(
        handle.id,
        setTimeout(() => {
          timers.delete(handle.id);
          fn();
        }, Math.max(0, delayMs)),
      );
      return handle;
    },
    clearTimer(handle) {
      if (!handle) return;
      const t = timers.get(handle.id);
      if (t) clearTimeout(t);
      timers.delete(handle.id);
    },
  };
})();

/**
 * A clock that moves only when told (`advance`). Timers fire in deadline order, and a timer set
 * by a firing timer fires in the same `advance` if its deadline is inside the step.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; seq: number; fn: () => void }>();
  #seq = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const handle = { id: nextTimerId++ };
    this.#timers.set(handle.id, { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn });
    return handle;
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (handle) this.#timers.delete(handle.id);
  }

  /** Number of timers not yet fired. */
  pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId: number | undefined;
      let next: { at: number; seq: number; fn: () => void } | undefined;
      for (const [id, t] of this.#timers) {
        if (t.at > target) continue;
        if (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)) {
          next = t;
          nextId = id;
        }
      }
      if (!next || nextId === undefined) break;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }
}
