import type { NeighbourEvent } from '../../lab/capture.js';
import type { ProbeResult } from '../e2e/helpers-probes.js';
import { seededRandom } from '../../src/random.js';

/**
 * The chaos run's invariants and arithmetic, pure (not a test file): a seeded PRNG, who answered
 * ARP/NDP for an address in runs and where two nodes' runs overlap, addresses on two Services
 * without a common sharing key, the recovery time of a Service after an event, a SYN flood's
 * conntrack entries against their bounds, percentiles and the report table. The runner (run.ts)
 * and the flood (flood.ts) feed them what the lab shows.
 */

// ---------------------------------------------------------------- seeded randomness

/** mulberry32 (src/random.ts): the same seed gives the same schedule. Returns [0, 1). */
export const prng = seededRandom;

/** An integer in [lo, hi]. */
export function between(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** One of `items` by weight. */
export function pickWeighted<T>(rand: () => number, items: readonly (readonly [T, number])[]): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let x = rand() * total;
  for (const [item, w] of items) {
    x -= w;
    if (x < 0) return item;
  }
  return items[items.length - 1]![0];
}

// ---------------------------------------------------------------- two nodes answering for one address

/** A node answering for an address without a pause longer than the run gap: [first, last] answer, seconds. */
export interface AnswerRun {
  readonly node: string;
  readonly first: number;
  readonly last: number;
}

export interface DoubleAnswer {
  readonly address: string;
  readonly nodes: readonly [string, string];
  /** Each node's run: [first, last] answer, seconds since the epoch. */
  readonly runs: readonly [AnswerRun, AnswerRun];
  /** When both started answering (seconds since the epoch). */
  readonly fromS: number;
  readonly seconds: number;
}

/**
 * Pure: the answers (ARP replies, gratuitous ARP, neighbour advertisements) from node ports for
 * each address, grouped per node into runs: a run ends when the node is silent for more than
 * `gapS` (the client asks every 100 ms, so an owner answers about ten times a second).
 */
export function answerRuns(events: readonly NeighbourEvent[], nodeByMac: ReadonlyMap<string, string>, gapS: number): Map<string, AnswerRun[]> {
  const open = new Map<string, Map<string, { first: number; last: number }>>();
  const out = new Map<string, AnswerRun[]>();
  const close = (address: string, node: string, r: { first: number; last: number }) => out.set(address, [...(out.get(address) ?? []), { node, ...r }]);
  for (const e of [...events].sort((a, b) => a.time - b.time)) {
    const claims = e.op === 'arp-reply' || e.op === 'ndp-advert' || (e.op === 'arp-request' && e.gratuitous);
    const node = nodeByMac.get(e.srcMac);
    if (!claims || !node) continue;
    const byNode = open.get(e.targetIp) ?? new Map<string, { first: number; last: number }>();
    open.set(e.targetIp, byNode);
    const r = byNode.get(node);
    if (r && e.time - r.last <= gapS) r.last = e.time;
    else {
      if (r) close(e.targetIp, node, r);
      byNode.set(node, { first: e.time, last: e.time });
    }
  }
  for (const [address, byNode] of open) for (const [node, r] of byNode) close(address, node, r);
  return out;
}

/** Pure: every overlap of two different nodes' runs for one address longer than `limitS`. */
export function doubleAnswers(runs: ReadonlyMap<string, readonly AnswerRun[]>, limitS: number): DoubleAnswer[] {
  const out: DoubleAnswer[] = [];
  for (const [address, list] of runs) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i]!;
        const b = list[j]!;
        if (a.node === b.node) continue;
        const fromS = Math.max(a.first, b.first);
        const seconds = Math.min(a.last, b.last) - fromS;
        if (seconds > limitS) out.push({ address, nodes: [a.node, b.node], runs: [a, b], fromS, seconds });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- one address on two Services

export interface ServiceStatus {
  readonly key: string;
  readonly addresses: readonly string[];
  /** The Service's sharing key (allow-shared-ip annotation, any of the three prefixes), if any. */
  readonly sharingKey: string | undefined;
}

const SHARING_ANNOTATIONS = ['fulcrum-lb.io/allow-shared-ip', 'metallb.io/allow-shared-ip', 'metallb.universe.tf/allow-shared-ip'];

/** The sharing key of a Service's annotations. */
export function sharingKeyOf(annotations: Readonly<Record<string, string>> | undefined): string | undefined {
  for (const k of SHARING_ANNOTATIONS) if (annotations?.[k]) return annotations[k];
  return undefined;
}

/** Pure: addresses held by two Services whose sharing keys differ or are missing, one line each. */
export function sharingViolations(services: readonly ServiceStatus[]): string[] {
  const byAddress = new Map<string, ServiceStatus[]>();
  for (const s of services) for (const a of s.addresses) byAddress.set(a, [...(byAddress.get(a) ?? []), s]);
  const out: string[] = [];
  for (const [address, holders] of byAddress) {
    if (holders.length < 2) continue;
    const key = holders[0]!.sharingKey;
    if (key === undefined || holders.some((h) => h.sharingKey !== key)) {
      out.push(`${address} on ${holders.map((h) => `${h.key} (key ${h.sharingKey ?? 'none'})`).join(' and ')}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- recovery after an event

/**
 * Pure: how long a Service did not answer after an event that started at `fromMs`: the longest
 * time between the starts of two successful attempts (the last success before the event anchors
 * it), less the probe interval, so a Service that never failed scores 0. The failures counted are
 * those in [fromMs, toMs); the success that ends the last of them may come after `toMs` (a lone
 * failure just before the next event is a gap like any other, not a Service that never came
 * back). An attempt that succeeded slowly (a SYN retransmitted to the new owner) counts from its
 * start, as `npm run bench:failover` counts. Undefined when nothing succeeded after the last
 * failure (it never recovered).
 */
export function recoveryMs(results: readonly ProbeResult[], fromMs: number, toMs: number, intervalMs: number): number | undefined {
  const sorted = [...results].sort((a, b) => a.t - b.t);
  const lastFailure = sorted.filter((r) => !r.ok && r.t >= fromMs && r.t < toMs).at(-1);
  if (!lastFailure) return 0;
  const endMs = sorted.find((r) => r.ok && r.t > lastFailure.t)?.t;
  if (endMs === undefined) return undefined;
  let last = sorted.filter((r) => r.t < fromMs && r.ok).at(-1)?.t ?? fromMs;
  let worst = 0;
  for (const r of sorted) {
    if (!r.ok || r.t < fromMs || r.t > endMs) continue;
    worst = Math.max(worst, r.t - last);
    last = r.t;
  }
  return Math.max(0, worst - intervalMs);
}

/** A kind's p95 is judged against its goal once the run has this many of its events (at ten, the nearest-rank p95 is the worst of them). */
export const GOAL_MIN_EVENTS = 10;

/**
 * Pure: a lost owner's kind of event against its goal, which is a p95 figure (README.md
 * "Figures"): judged over the run once it has `GOAL_MIN_EVENTS` such events, allowing one probe
 * interval (the resolution of a gap). A p95 of fewer is only their worst; holding each event to a
 * p95 would fail one event in twenty that meets it. Undefined when it meets the goal or cannot
 * be judged yet.
 */
export function p95Verdict(recoveriesMs: readonly number[], goalMs: number, allowanceMs: number): string | undefined {
  if (recoveriesMs.length < GOAL_MIN_EVENTS) return undefined;
  const p95 = percentile(recoveriesMs, 95);
  return p95 > goalMs + allowanceMs ? `recovery p95 ${p95} ms over ${recoveriesMs.length} events, over the goal of ${goalMs} ms + the ${allowanceMs} ms probe interval` : undefined;
}

// ---------------------------------------------------------------- a SYN flood's conntrack entries

/** One look at every node's conntrack: the flooded port's opening entries per node, at `atMs` after the flood started. */
export interface FloodTick {
  readonly atMs: number;
  readonly opening: ReadonlyMap<string, number>;
}

/** What a SYN flood did and what was seen of it. */
export interface FloodRun {
  /** address:port */
  readonly target: string;
  /** The node the client sent the flood to (its neighbour entry for the address). */
  readonly owner: string;
  readonly ratePerS: number;
  readonly sent: number;
  /** When the flooder finished, after it started. */
  readonly floodMs: number;
  readonly ticks: readonly FloodTick[];
  /** The highest `fulcrum_kernel_flows{state="opening"}` the owner's speaker showed for the port; undefined when never read. */
  readonly metricPeak: number | undefined;
}

export interface FloodBounds {
  /** How long conntrack keeps an unanswered flow (speaker/kernel/ruleset.ts `UNANSWERED_FLOW_TIMEOUT_S`). */
  readonly timeoutS: number;
  /** Bounded: opening entries at most rate × (timeoutS + boundSlackS). */
  readonly boundSlackS: number;
  /** Drained: every node at most `drainedAtMost` within timeoutS + drainSlackS after the flood stopped. */
  readonly drainSlackS: number;
  readonly drainedAtMost: number;
}

/**
 * Pure: the lines of a `/proc/net/nf_conntrack` table whose client port (the first `sport=`, of
 * the original direction) is in [base, base + span): the flood's. The load's own connections to
 * the Service are not the flood's: a SYN of theirs that met a node between owners during an
 * earlier event stays SYN_SENT for the kernel's default 120 s, since no rule of the port gave it
 * the 5 s.
 */
export function floodEntries(table: string, base: number, span: number): string {
  return table.split('\n').filter((line) => {
    const sport = Number(/ sport=(\d+)/.exec(line)?.[1]);
    return sport >= base && sport < base + span;
  }).join('\n');
}

/** Every node at most `atMost` opening entries. */
export function drainedTick(t: FloodTick, atMost: number): boolean {
  return [...t.opening.values()].every((n) => n <= atMost);
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');
/** 5200 → "5.2 s" */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const perNode = (t: FloodTick): string => [...t.opening].map(([node, n]) => `${node} ${count(n)}`).join(', ');

/**
 * Pure: a SYN flood against its invariants — reached (the peak at least half of rate × the
 * timeout, or of what was sent when that is less: else nothing below was tested), bounded (no
 * look above rate × (timeout + slack) on any node), counted (the owner's metric showed at least
 * half the peak: both sample a moving count, at different moments), drained (every node near
 * zero within the timeout + slack after the flood stopped). The detail line and the violations.
 */
export function floodVerdict(r: FloodRun, b: FloodBounds): { detail: string; violations: string[] } {
  const bound = r.ratePerS * (b.timeoutS + b.boundSlackS);
  let peak = { node: r.owner, opening: 0, atMs: 0 };
  for (const t of r.ticks) for (const [node, n] of t.opening) if (n > peak.opening) peak = { node, opening: n, atMs: t.atMs };
  const violations: string[] = [];
  const expected = Math.min(r.sent, r.ratePerS * b.timeoutS);
  if (peak.opening < expected / 2) violations.push(`reached: the flood showed at most ${count(peak.opening)} opening entries (${count(r.sent)} sent; expected about ${count(expected)})`);
  const over = r.ticks.find((t) => [...t.opening.values()].some((n) => n > bound));
  if (over) violations.push(`bounded: opening entries ${seconds(over.atMs)} after the flood started above ${count(bound)} (${r.ratePerS}/s × (${b.timeoutS} + ${b.boundSlackS}) s): ${perNode(over)}`);
  if (r.metricPeak === undefined) violations.push(`counted: the metrics of the owner ${r.owner} could not be read`);
  else if (r.metricPeak < peak.opening / 2) violations.push(`counted: fulcrum_kernel_flows{state="opening"} on the owner ${r.owner} showed at most ${count(r.metricPeak)}, under half the peak of ${count(peak.opening)}`);
  const drained = r.ticks.find((t) => t.atMs >= r.floodMs && drainedTick(t, b.drainedAtMost));
  const drainMs = drained ? drained.atMs - r.floodMs : undefined;
  const drainLimitMs = (b.timeoutS + b.drainSlackS) * 1000;
  const last = r.ticks.at(-1);
  if (drainMs === undefined || drainMs > drainLimitMs) {
    const left = last ? `${perNode(last)} opening entries ${seconds(last.atMs - r.floodMs)} after` : 'no look after it';
    violations.push(`drained: not at most ${b.drainedAtMost} opening entries on every node within ${b.timeoutS} + ${b.drainSlackS} s of the flood's end: ${left}`);
  }
  const metric = r.metricPeak === undefined ? 'metric not read' : `metric saw ${count(r.metricPeak)} on ${r.owner}`;
  const drainText = drainMs === undefined ? `not drained ${last ? seconds(last.atMs - r.floodMs) : '0 s'} after` : `drained ${seconds(drainMs)} after`;
  const detail = `${r.ratePerS} SYN/s for ${seconds(r.floodMs)} (${count(r.sent)} sent) at ${r.target} (owner ${r.owner}): peak ${count(peak.opening)} opening entries on ${peak.node} at ${seconds(peak.atMs)} (bound ${count(bound)}), ${metric}, ${drainText}`;
  return { detail, violations };
}

// ---------------------------------------------------------------- report

/** Pure: the p-th percentile (nearest rank) of the values, 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface KindRow {
  readonly kind: string;
  readonly events: number;
  readonly recoveriesMs: readonly number[];
  readonly goalMs: number;
  readonly violations: number;
}

/** Pure: the report table (Markdown-style), one row per kind of event. */
export function reportTable(rows: readonly KindRow[]): string {
  const lines = ['| event | count | disrupted | recovery p50 | p95 | max | goal | p95 / goal | violations |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const ms = (x: number) => `${Math.round(x)} ms`;
    const disrupted = r.recoveriesMs.filter((x) => x > 0).length;
    const p95 = percentile(r.recoveriesMs, 95);
    lines.push(`| ${r.kind} | ${r.events} | ${disrupted} | ${ms(percentile(r.recoveriesMs, 50))} | ${ms(p95)} | ${ms(Math.max(0, ...r.recoveriesMs))} | ${ms(r.goalMs)} | ${(p95 / r.goalMs).toFixed(2)}× | ${r.violations} |`);
  }
  return lines.join('\n');
}
