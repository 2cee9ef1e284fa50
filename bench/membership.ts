// `npm run bench:membership [-- --quick]`: the membership protocol (speaker/membership/) in its
// deterministic discrete-event simulation, past what one machine can run as processes: 50, 500
// and 2,000 nodes, 0 % and 1 % packet loss, and slow nodes (5 %, or 5 of 50, that stop for up
// to 200 ms at a time, about once a second). A random node crashes every 0.75 to 2.25 s and
// starts again 5 s later. Prints, per case: time from a crash to the first dead verdict and to the
// last member's, false "down" verdicts per node-hour, packets sent per node per second; then
// the steady-state traffic per node at 10, 100 and 500 nodes. Virtual time, seeded: the
// figures are the same on every machine; only the run time differs. Cases run in parallel
// worker threads (one per core). Nothing is sent anywhere.
import { realpathSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { DEFAULT_MEMBERSHIP_OPTIONS as O } from '../speaker/membership/options.js';
import { percentile, runScenario, type ScenarioConfig, type ScenarioResult } from './membership/scenario.js';
import type { BenchRun, Workload } from './lib/report.js';

interface Case {
  readonly kind: 'detection' | 'rate';
  readonly scenario: ScenarioConfig;
}

const SEED = 20_240_611;
const SLOW = { slowStallMaxMs: 200, slowStallEveryMs: 1_000 };

function cases(quick: boolean): Case[] {
  const out: Case[] = [];
  // Measured seconds per size: enough crashes for percentiles, a bounded run time (2,000
  // nodes cost 2 to 4 s of CPU per simulated second).
  const seconds: Record<number, number> = quick ? { 50: 20, 500: 5, 2000: 3 } : { 50: 90, 500: 30, 2000: 15 };
  for (const nodes of [2000, 500, 50]) {
    const base = { warmupMs: 2_000, durationMs: seconds[nodes]! * 1000, crashEveryMs: 1_500, restartAfterMs: 5_000, observeMs: 2_000 };
    for (const lossRate of [0, 0.01]) out.push({ kind: 'detection', scenario: { ...base, sim: { nodes, seed: SEED, lossRate } } });
    const slowFraction = nodes === 50 ? 0.1 : 0.05;
    out.push({ kind: 'detection', scenario: { ...base, sim: { nodes, seed: SEED, lossRate: 0.01, slowFraction, ...SLOW } } });
  }
  for (const nodes of [10, 100, 500]) {
    out.push({ kind: 'rate', scenario: { warmupMs: 2_000, durationMs: quick ? 3_000 : 10_000, crashEveryMs: 0, restartAfterMs: 0, observeMs: 0, sim: { nodes, seed: SEED, measureBytes: true } } });
  }
  return out;
}

/** Runs the cases on `parallel` worker threads; results in the cases' order. */
async function runAll(list: readonly Case[], parallel: number): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = new Array(list.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const i = next++;
      results[i] = await new Promise<ScenarioResult>((resolve, reject) => {
        const w = new Worker(fileURLToPath(import.meta.url), { workerData: { membershipScenario: list[i]!.scenario } });
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (code) => code !== 0 && reject(new Error(`membership scenario worker exited with ${code}`)));
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  return results;
}

const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? 'none' : String(Math.round(x)));
const pct = (x: number): string => `${+(x * 100).toFixed(1)} %`;

function detectionRow(c: Case, r: ScenarioResult): string[] {
  const s = c.scenario.sim;
  const first = r.crashes.map((x) => x.firstMs ?? Infinity);
  const all = r.crashes.map((x) => x.allMs ?? Infinity);
  const each = r.crashes.flatMap((x) => x.perMemberMs);
  const missed = r.crashes.filter((x) => x.allMs === undefined).length;
  const slow = s.slowFraction ? `${Math.round(s.nodes! * s.slowFraction)} stall ≤${s.slowStallMaxMs} ms` : '-';
  return [
    String(r.nodes),
    pct(s.lossRate ?? 0),
    slow,
    `${r.crashes.length}${missed ? ` (${missed} not seen by all)` : ''}`,
    `${ms(percentile(first, 50))} / ${ms(percentile(first, 95))}`,
    `${ms(percentile(all, 50))} / ${ms(percentile(all, 95))} / ${ms(Math.max(...all))}`,
    `${ms(percentile(each, 50))} / ${ms(percentile(each, 95))}`,
    `${r.falseDown} in ${r.nodeHours.toFixed(1)}`,
    (r.falseDown / r.nodeHours).toFixed(2),
    r.packetsPerNodePerSecond.toFixed(1),
  ];
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}

export const run: BenchRun = async ({ quick }) => {
  const list = cases(quick);
  const t0 = performance.now();
  const results = await runAll(list, availableParallelism());
  const wallS = (performance.now() - t0) / 1000;
  const detection = list.map((c, i) => [c, results[i]!] as const).filter(([c]) => c.kind === 'detection');
  const rate = list.map((c, i) => [c, results[i]!] as const).filter(([c]) => c.kind === 'rate');
  const out: string[] = [];
  out.push(`membership simulation${quick ? ' (--quick)' : ''}: probe every ${O.probeIntervalMs} ms, probe timeout ${O.probeTimeoutMs} ms (direct ${O.directTimeoutMs}), ` +
    `${O.indirectProbes} indirect probes, accusation grace ${O.accusationGraceMs} ms, suspicion ${O.suspicionMinMs}-${O.suspicionMaxMs} ms (K=${O.suspicionConfirmations}), fanout ${O.gossipFanout}; ` +
    `latency 0.2-0.5 ms, clocks ±5 ms; a crash every 0.75-2.25 s, back 5 s later; ${wallS.toFixed(0)} s on ${availableParallelism()} threads\n\n`);
  out.push('Detection (ms from the crash; "every member": until the last running member had its dead verdict)\n\n');
  out.push(table(
    ['nodes', 'loss', 'slow nodes', 'crashes', 'first verdict p50 / p95', 'every member p50 / p95 / max', 'one member p50 / p95', 'false down in node-hours', 'false down per node-hour', 'packets/s per node'],
    detection.map(([c, r]) => detectionRow(c, r)),
  ));
  out.push('\nSteady-state traffic per node (no crash, no loss; bytes include IPv4 + UDP headers)\n\n');
  out.push(table(
    ['nodes', 'packets/s sent per node', 'bytes/s sent per node', 'packets/s, whole cluster', 'all-to-all heartbeats every 100 ms, per node (interim transport)'],
    rate.map(([, r]) => [String(r.nodes), r.packetsPerNodePerSecond.toFixed(1), Math.round(r.bytesPerNodePerSecond ?? 0).toLocaleString('en-US'), Math.round(r.packetsPerNodePerSecond * r.nodes).toLocaleString('en-US'), String((r.nodes - 1) * 10)]),
  ));
  process.stdout.write(out.join(''));
  const workloads: Workload[] = [];
  const w = (name: string, unit: string, value: number, lowerIsBetter = true): void => {
    workloads.push({ name, unit, lowerIsBetter, fulcrum: Number.isFinite(value) ? value : null, haproxy: null, kernel: null, direct: null });
  };
  for (const [c, r] of detection) {
    const s = c.scenario.sim;
    const label = `membership ${r.nodes} nodes ${pct(s.lossRate ?? 0)} loss${s.slowFraction ? ' slow nodes' : ''}`;
    w(`${label}: first verdict p95`, 'ms', Math.round(percentile(r.crashes.map((x) => x.firstMs ?? Infinity), 95)));
    w(`${label}: every member p95`, 'ms', Math.round(percentile(r.crashes.map((x) => x.allMs ?? Infinity), 95)));
    w(`${label}: false down per node-hour`, 'count', r.falseDown / r.nodeHours);
  }
  for (const [, r] of rate) w(`membership ${r.nodes} nodes: packets/s sent per node`, 'packets/s', r.packetsPerNodePerSecond);
  return workloads;
};

if (!isMainThread && (workerData as { membershipScenario?: ScenarioConfig } | null)?.membershipScenario) {
  parentPort!.postMessage(runScenario((workerData as { membershipScenario: ScenarioConfig }).membershipScenario));
} else if (isMainThread && process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  run({ quick: process.argv.slice(2).includes('--quick') }).catch((err: unknown) => {
    process.stderr.write(`bench:membership: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
