import { seededRandom } from '../../speaker/membership/prng.js';
import { Simulation, type SimulationConfig } from './simulation.js';

/**
 * One measured run of the simulation: the cluster settles, then every `crashEveryMs` a random
 * running member crashes, and comes back `restartAfterMs` later as a new process. Measures, per
 * crash, the time to the first member's dead verdict and to the last observer's (observers: the
 * members running from the crash to `observeMs` after it); every "down" verdict about a member
 * that was running is a false one. Pure and deterministic for a given config. Used by
 * bench/membership.ts and the unit tests.
 */
export interface ScenarioConfig {
  readonly sim: Partial<SimulationConfig>;
  /** Settling time before anything is measured. */
  readonly warmupMs: number;
  /** Measured time. */
  readonly durationMs: number;
  /** 0: no crash (steady-state traffic only). */
  readonly crashEveryMs: number;
  readonly restartAfterMs: number;
  /** A verdict must come within this long after the crash to count. */
  readonly observeMs: number;
}

export interface CrashDetection {
  readonly node: string;
  readonly atMs: number;
  /** Crash → first dead verdict anywhere; undefined if none. */
  readonly firstMs: number | undefined;
  /** Crash → the last observer's dead verdict; undefined if one never gave it within observeMs. */
  readonly allMs: number | undefined;
  /** Crash → each observer's verdict (those that gave one). */
  readonly perMemberMs: readonly number[];
  readonly observers: number;
}

export interface ScenarioResult {
  readonly nodes: number;
  readonly crashes: readonly CrashDetection[];
  readonly falseDown: number;
  /** Running node-hours measured (what falseDown is counted over). */
  readonly nodeHours: number;
  readonly packetsPerNodePerSecond: number;
  /** Only with sim.measureBytes: bytes on the wire (IPv4 + UDP headers included). */
  readonly bytesPerNodePerSecond: number | undefined;
}

interface Outage {
  readonly node: string;
  readonly from: number;
  until: number;
}

export function runScenario(c: ScenarioConfig): ScenarioResult {
  const sim = new Simulation(c.sim);
  const pick = seededRandom((sim.config.seed ^ 0x2545f491) >>> 0);
  sim.run(c.warmupMs);
  sim.changes.length = 0;
  const sentBefore = sum(sim.sent);
  const bytesBefore = sum(sim.bytesSent);
  const outages: Outage[] = [];
  const down = new Map<string, Outage>();
  const end = c.warmupMs + c.durationMs;
  let runningNodeMs = 0;
  let t = c.warmupMs;
  let nextCrash = c.crashEveryMs > 0 ? t + c.crashEveryMs / 2 : Infinity;
  while (t < end) {
    const nextRestart = Math.min(...[...down.values()].map((o) => o.until));
    const until = Math.min(nextCrash, nextRestart, end);
    runningNodeMs += (until - t) * (sim.names.length - down.size);
    sim.run(until);
    t = until;
    for (const o of [...down.values()].filter((x) => x.until <= t)) {
      sim.restart(sim.indexOf(o.node));
      down.delete(o.node);
    }
    // Keep at least three members running, so every crash has members that can confirm it.
    const running = sim.names.filter((x) => !down.has(x));
    if (t === nextCrash && running.length > 3) {
      const victim = running[Math.floor(pick() * running.length)]!;
      sim.crash(sim.indexOf(victim));
      const o = { node: victim, from: t, until: t + c.restartAfterMs };
      outages.push(o);
      down.set(victim, o);
    }
    // Crash times at random (0.5 to 1.5 × crashEveryMs apart): not in step with the probe rounds.
    if (t === nextCrash) nextCrash += c.crashEveryMs * (0.5 + pick());
  }
  for (const o of down.values()) o.until = Math.max(o.until, end);
  const downAt = (node: string, at: number): Outage | undefined => outages.find((o) => o.node === node && o.from <= at && at < o.until);
  let falseDown = 0;
  const verdicts = new Map<Outage, Map<string, number>>(); // outage → observer → first verdict
  for (const { at, observer, change } of sim.changes) {
    if (change.kind !== 'peerDown') continue;
    const o = downAt(change.name, at);
    if (!o) {
      falseDown++;
      continue;
    }
    const byObserver = verdicts.get(o) ?? new Map<string, number>();
    if (!byObserver.has(observer)) byObserver.set(observer, at - o.from);
    verdicts.set(o, byObserver);
  }
  const crashes: CrashDetection[] = [];
  for (const o of outages) {
    if (o.from + c.observeMs > end) continue; // not observed long enough
    const v = verdicts.get(o) ?? new Map<string, number>();
    const observers = sim.names.filter((x) => x !== o.node && !outages.some((p) => p.node === x && p.from < o.from + c.observeMs && p.until > o.from));
    const perMemberMs = observers.map((x) => v.get(x)).filter((x): x is number => x !== undefined && x <= c.observeMs);
    const times = [...v.values()];
    crashes.push({
      node: o.node,
      atMs: o.from,
      firstMs: times.length > 0 ? Math.min(...times) : undefined,
      allMs: perMemberMs.length === observers.length ? Math.max(...perMemberMs) : undefined,
      perMemberMs,
      observers: observers.length,
    });
  }
  const runningNodeSeconds = runningNodeMs / 1000;
  return {
    nodes: sim.names.length,
    crashes,
    falseDown,
    nodeHours: runningNodeSeconds / 3600,
    packetsPerNodePerSecond: (sum(sim.sent) - sentBefore) / runningNodeSeconds,
    bytesPerNodePerSecond: sim.config.measureBytes ? (sum(sim.bytesSent) - bytesBefore) / runningNodeSeconds : undefined,
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
