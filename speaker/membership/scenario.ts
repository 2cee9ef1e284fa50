import { seededRandom } from './prng.js';
import { Simulation, type SimulationConfig } from './simulation.js';

/**
 * One measured run of the simulation: the cluster settles, then a random member crashes every
 * `crashEveryMs` (it stays down). Measures, per crash, the time from the crash to the first
 * member's dead verdict and to the last live member's; every "down" verdict about a member that
 * had not crashed is a false one. Pure and deterministic for a given config. Used by
 * bench/membership.ts and the unit tests.
 */
export interface ScenarioConfig {
  readonly sim: Partial<SimulationConfig>;
  /** Measured time, after warmupMs of settling. */
  readonly durationMs: number;
  readonly warmupMs: number;
  /** 0: no crash (steady-state traffic only). */
  readonly crashEveryMs: number;
}

export interface CrashDetection {
  readonly node: string;
  readonly atMs: number;
  /** Crash → first dead verdict anywhere; undefined if none. */
  readonly firstMs: number | undefined;
  /** Crash → dead verdict of the last member alive at the end; undefined if one never gave it. */
  readonly allMs: number | undefined;
  /** Crash → each live member's verdict. */
  readonly perMemberMs: readonly number[];
}

export interface ScenarioResult {
  readonly nodes: number;
  readonly crashes: readonly CrashDetection[];
  readonly falseDown: number;
  readonly nodeHours: number;
  readonly packetsPerNodePerSecond: number;
  /** Only with sim.measureBytes. */
  readonly bytesPerNodePerSecond: number | undefined;
}

export function runScenario(c: ScenarioConfig): ScenarioResult {
  const sim = new Simulation(c.sim);
  const n = sim.names.length;
  const pick = seededRandom((sim.config.seed ^ 0x2545f491) >>> 0);
  sim.run(c.warmupMs);
  sim.changes.length = 0;
  const sentBefore = sum(sim.sent);
  const bytesBefore = sum(sim.bytesSent);
  const crashedAt = new Map<string, number>();
  const end = c.warmupMs + c.durationMs;
  let liveNodeMs = 0;
  let t = c.warmupMs;
  let next = c.crashEveryMs > 0 ? t + c.crashEveryMs / 2 : Infinity;
  while (t < end) {
    const until = Math.min(next, end);
    liveNodeMs += (until - t) * (n - crashedAt.size);
    sim.run(until);
    t = until;
    if (t === next) {
      const alive = sim.names.filter((x) => !crashedAt.has(x));
      // Keep at least three members up, so every crash has observers that can confirm it.
      if (alive.length > 3) {
        const victim = alive[Math.floor(pick() * alive.length)]!;
        sim.crash(sim.indexOf(victim));
        crashedAt.set(victim, t);
      }
      next += c.crashEveryMs;
    }
  }
  let falseDown = 0;
  const verdicts = new Map<string, Map<string, number>>(); // victim → observer → first verdict time
  for (const { at, observer, change } of sim.changes) {
    if (change.kind !== 'peerDown') continue;
    const crashed = crashedAt.get(change.name);
    if (crashed === undefined || crashed > at) {
      falseDown++;
      continue;
    }
    const byObserver = verdicts.get(change.name) ?? new Map<string, number>();
    if (!byObserver.has(observer)) byObserver.set(observer, at - crashed);
    verdicts.set(change.name, byObserver);
  }
  const crashes: CrashDetection[] = [];
  for (const [node, atMs] of crashedAt) {
    const v = verdicts.get(node) ?? new Map<string, number>();
    // Observers: members alive at the end (a member crashed later may never have judged it).
    const observers = sim.names.filter((x) => !crashedAt.has(x));
    const perMemberMs = observers.map((o) => v.get(o)).filter((x): x is number => x !== undefined);
    const times = [...v.values()];
    crashes.push({
      node,
      atMs,
      firstMs: times.length > 0 ? Math.min(...times) : undefined,
      allMs: perMemberMs.length === observers.length ? Math.max(...perMemberMs) : undefined,
      perMemberMs,
    });
  }
  const liveNodeSeconds = liveNodeMs / 1000;
  return {
    nodes: n,
    crashes,
    falseDown,
    nodeHours: liveNodeSeconds / 3600,
    packetsPerNodePerSecond: (sum(sim.sent) - sentBefore) / liveNodeSeconds,
    bytesPerNodePerSecond: sim.config.measureBytes ? (sum(sim.bytesSent) - bytesBefore) / liveNodeSeconds : undefined,
  };
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/** The p-th percentile (nearest rank) of xs; NaN for none. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
