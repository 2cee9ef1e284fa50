// The L4 suite: the same workloads through four paths (Fulcrum, haproxy, kernel DNAT, direct),
// interleaved run by run, median of the runs, CPU use of each side recorded with every figure.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../../src/errors.js';
import { onCleanup, stop, type Spawned } from '../lib/children.js';
import { busyPercent, cpuCount, processTreeCpuSeconds, planCpus, readCpuTimes, type CpuPlan } from '../lib/cpu.js';
import { PATHS, median, type PathName, type Workload } from '../lib/report.js';
import type { Service, Topology } from './config.js';
import { allocateTopology, applyNftTable, foreignNftTables, removeNftTable, startBackends, startFulcrum, startHaproxyProxy, toolVersions } from './paths.js';
import { runIperf3, runUdpLoad, runWrk } from './tools.js';

export interface L4Options {
  quick: boolean;
  /** Fulcrum's worker processes; haproxy gets as many threads. */
  workers?: number;
  log?: (line: string) => void;
}

type Frontend = Service;

interface Metric {
  key: string;
  name: string;
  unit: string;
  lowerIsBetter?: boolean;
  /**
   * A derived figure for the two proxies only: CPU time of the proxy's processes (user+sys,
   * all threads and workers) per unit of the `of` metric, times `scale`. It compares the
   * proxies' efficiency even in runs where the load side (CPU 0) was the limit, and is not
   * inflated by other work on the machine.
   */
  proxyCpuPer?: { of: string; scale: number };
}

/** One workload kind: which frontend it uses and how one run is measured. */
interface Spec {
  id: string;
  frontend: Frontend;
  metrics: Metric[];
  measure(host: string, port: number, seconds: number, cpus: string | undefined): Promise<{ figures: Record<string, number>; errors: number }>;
}

const SPECS: Spec[] = [
  {
    id: 'conn',
    frontend: 'conn',
    metrics: [
      { key: 'rate', name: 'tcp new connection per request', unit: 'conn/s' },
      { key: 'cpuPerConn', name: 'tcp new connection: proxy CPU per conn', unit: 'µs', lowerIsBetter: true, proxyCpuPer: { of: 'rate', scale: 1e6 } },
    ],
    async measure(host, port, seconds, cpus) {
      const r = await runWrk({ host, port, seconds, cpus, connections: 32, close: true });
      return { figures: { rate: r.requestsPerSec }, errors: r.errors };
    },
  },
  {
    id: 'bulk',
    frontend: 'bulk',
    metrics: [
      { key: 'gbps', name: 'tcp bulk throughput (1 stream)', unit: 'Gbit/s' },
      // CPU-seconds per second over GB per second (= Gbit/s / 8), in ms
      { key: 'cpuPerGB', name: 'tcp bulk: proxy CPU per GB', unit: 'ms', lowerIsBetter: true, proxyCpuPer: { of: 'gbps', scale: 8000 } },
    ],
    async measure(host, port, seconds, cpus) {
      // skip the first second (slow start) in runs long enough to afford it
      const gbps = await runIperf3({ host, port, seconds, cpus, omitSeconds: seconds >= 5 ? 1 : 0 });
      return { figures: { gbps }, errors: 0 };
    },
  },
  {
    id: 'http',
    frontend: 'http',
    metrics: [
      { key: 'rate', name: 'http keep-alive via tcp mode', unit: 'req/s' },
      { key: 'p99', name: 'http keep-alive p99 latency', unit: 'ms', lowerIsBetter: true },
      { key: 'cpuPerReq', name: 'http keep-alive: proxy CPU per req', unit: 'µs', lowerIsBetter: true, proxyCpuPer: { of: 'rate', scale: 1e6 } },
    ],
    async measure(host, port, seconds, cpus) {
      const r = await runWrk({ host, port, seconds, cpus, connections: 64, close: false });
      return { figures: { rate: r.requestsPerSec, p99: r.p99Ms ?? Number.NaN }, errors: r.errors };
    },
  },
  {
    id: 'udp',
    frontend: 'udp',
    metrics: [
      { key: 'pps', name: 'udp request/response', unit: 'pkt/s' },
      { key: 'cpuPerPkt', name: 'udp: proxy CPU per request', unit: 'µs', lowerIsBetter: true, proxyCpuPer: { of: 'pps', scale: 1e6 } },
    ],
    async measure(host, port, seconds, cpus) {
      return { figures: { pps: await runUdpLoad({ host, port, seconds, cpus }) }, errors: 0 };
    },
  },
];

function portFor(t: Topology, path: PathName, frontend: Frontend): number | null {
  if (path === 'direct') return t.backends[frontend];
  if (path === 'haproxy') return frontend === 'udp' ? null : t.haproxy[frontend];
  return t[path][frontend];
}

/** Samples of one (workload, path): figures per metric, CPU busy per run, problems seen. */
interface Cell {
  figures: Record<string, number[]>;
  /** Per run: busy % of each core (whole machine), cores used by the proxy and by the backend. */
  cpu: number[][];
  proxyCores: number[];
  backendCores: number[];
  errors: number;
  problems: string[];
}

export interface L4Context {
  topology: Topology;
  cpus: CpuPlan;
  workers: number;
  haproxy: Spawned;
  backends: Record<Service, Spawned>;
  fulcrum: Spawned | null;
  /** The services Fulcrum's config has frontends for. */
  fulcrumServices: readonly Service[];
  fulcrumMissing: string | null;
  fulcrumNote: string | null;
  kernelMissing: string | null;
}

async function measureCell(ctx: L4Context, spec: Spec, path: PathName, seconds: number, cell: Cell | null): Promise<void> {
  const port = portFor(ctx.topology, path, spec.frontend)!;
  let nftUp = false;
  try {
    if (path === 'kernel') {
      applyNftTable(ctx.topology);
      nftUp = true;
    }
    const proxy = path === 'fulcrum' ? ctx.fulcrum : path === 'haproxy' ? ctx.haproxy : null;
    const group = proxy?.child.pid; // `timeout`, the root of the proxy's process tree
    const before = readCpuTimes();
    const backendGroup = ctx.backends[spec.frontend].child.pid!;
    const cpuBefore = group === undefined ? 0 : processTreeCpuSeconds(group);
    const backendBefore = processTreeCpuSeconds(backendGroup);
    const t0 = performance.now();
    const r = await spec.measure(ctx.topology.host, port, seconds, ctx.cpus.loadCpus);
    const wallSeconds = (performance.now() - t0) / 1000;
    const proxyCores = group === undefined ? null : (processTreeCpuSeconds(group) - cpuBefore) / wallSeconds;
    const backendCores = (processTreeCpuSeconds(backendGroup) - backendBefore) / wallSeconds;
    const busy = busyPercent(before, readCpuTimes());
    if (!cell) return; // warm-up run
    if (proxyCores !== null && proxyCores < IDLE_PROXY_CORES) {
      // seen once on the shared machine: every connection hung, the proxy never saw traffic
      cell.problems.push(`the proxy used ${proxyCores.toFixed(3)} cores: traffic did not reach it, run discarded`);
      return;
    }
    if (proxyCores !== null) cell.proxyCores.push(proxyCores);
    cell.backendCores.push(backendCores);
    for (const m of spec.metrics) {
      if (!m.proxyCpuPer) (cell.figures[m.key] ??= []).push(r.figures[m.key]!);
      else if (proxyCores !== null) (cell.figures[m.key] ??= []).push((proxyCores / r.figures[m.proxyCpuPer.of]!) * m.proxyCpuPer.scale);
    }
    cell.cpu.push(busy);
    cell.errors += r.errors;
  } catch (err) {
    if (path === 'kernel' && !nftUp) ctx.kernelMissing = `nft failed: ${errorMessage(err).slice(0, 160)}`;
    cell?.problems.push(errorMessage(err).split('\n')[0]!.slice(0, 200));
  } finally {
    if (nftUp) removeNftTable();
  }
}

/** Below this a proxied run carried no real traffic (a loaded proxy uses 0.3–1 core). */
const IDLE_PROXY_CORES = 0.02;

function available(ctx: L4Context, path: PathName, spec?: Spec): boolean {
  if (path === 'fulcrum') {
    if (spec && !ctx.fulcrumServices.includes(spec.frontend)) return false;
    return ctx.fulcrum !== null && ctx.fulcrum.child.exitCode === null && ctx.fulcrum.child.signalCode === null;
  }
  if (path === 'kernel') return ctx.kernelMissing === null;
  return true;
}

/**
 * Where the CPU went, medians over the runs: the proxy's and the backend's own processes in
 * cores, and each core's busy share for the whole machine (which includes the load generator,
 * softirq work, and anything else running at the time).
 */
function cpuNote(cells: Partial<Record<PathName, Cell>>): string {
  const parts: string[] = [];
  const cores = (xs: number[]): string => (median(xs) ?? 0).toFixed(2);
  for (const p of PATHS) {
    const c = cells[p];
    if (!c || c.cpu.length === 0) continue;
    const width = Math.max(...c.cpu.map((b) => b.length));
    const busy = Array.from({ length: width }, (_, i) => Math.round(median(c.cpu.map((b) => b[i] ?? 0)) ?? 0));
    const proxy = c.proxyCores.length ? `proxy ${cores(c.proxyCores)} + ` : '';
    parts.push(`${p} ${proxy}backend ${cores(c.backendCores)} cores, cpu busy ${busy.join('/')}%`);
  }
  return parts.length ? `CPU: ${parts.join('; ')}` : '';
}

function toWorkloads(ctx: L4Context, spec: Spec, cells: Partial<Record<PathName, Cell>>): Workload[] {
  return spec.metrics.map((m, i) => {
    const w: Workload = { name: m.name, unit: m.unit, fulcrum: null, haproxy: null, kernel: null, direct: null };
    if (m.lowerIsBetter) w.lowerIsBetter = true;
    const notes: string[] = [];
    for (const p of PATHS) {
      const c = cells[p];
      const v = c ? median(c.figures[m.key] ?? []) : null;
      w[p] = v === null ? null : Number(v.toPrecision(4));
      if (c && c.problems.length > 0 && i === 0) notes.push(`${p}: ${c.problems.length} failed run(s), e.g. ${c.problems[0]}`);
      if (c && c.errors > 0 && i === 0) notes.push(`${p}: ${c.errors} socket errors/non-2xx`);
    }
    if (i === 0) {
      if (spec.frontend === 'udp') notes.push('haproxy: no UDP proxy in haproxy 2.6');
      if (ctx.fulcrumMissing) notes.push(`fulcrum: not available (${ctx.fulcrumMissing})`);
      else if (ctx.fulcrumNote && !ctx.fulcrumServices.includes(spec.frontend)) notes.push(`fulcrum: ${ctx.fulcrumNote}`);
      if (ctx.kernelMissing) notes.push(`kernel: ${ctx.kernelMissing}`);
      const cpu = cpuNote(cells);
      if (cpu) notes.push(cpu);
    }
    if (notes.length) w.notes = notes.join('; ');
    return w;
  });
}

/** Runs the suite; every process it starts is stopped before it returns or throws. */
export async function runL4(opts: L4Options): Promise<Workload[]> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const workers = opts.workers ?? 1;
  // quick: 3 runs of 1 s (+1 s warm-up per path); full: 5 runs of 6 s (+2 s warm-up)
  const runs = opts.quick ? 3 : 5;
  const seconds = opts.quick ? 1 : 6; // quick: the whole `bench --quick` must stay under 3 minutes
  const warmSeconds = opts.quick ? 1 : 2;
  const maxSeconds = opts.quick ? 600 : 1800; // lifetime cap of every server started here
  const cpus = planCpus(cpuCount(), workers);
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-bench-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true })); // also on Ctrl-C
  const started: Spawned[] = [];
  removeNftTable(); // a table left by a run that was killed with SIGKILL
  try {
    const topology = await allocateTopology();
    const v = toolVersions();
    log(`l4: ${cpus.description}; fulcrum workers=${workers}, haproxy nbthread=${workers}; haproxy ${v.haproxy}, wrk ${v.wrk}, iperf3 ${v.iperf3}, node ${v.node}`);
    const backends = await startBackends(topology, dir, cpus, maxSeconds);
    started.push(...backends.all);
    const haproxy = await startHaproxyProxy(topology, dir, workers, cpus, maxSeconds);
    started.push(haproxy);
    const f = await startFulcrum(topology, dir, workers, cpus, maxSeconds);
    if (f.kind === 'running') started.push(f.process);
    else log(`l4: fulcrum not available: ${f.reason}`);
    if (f.kind === 'running' && f.note) log(`l4: fulcrum ${f.note}`);
    const ctx: L4Context = {
      topology, cpus, workers, haproxy, backends: backends.byService,
      fulcrum: f.kind === 'running' ? f.process : null,
      fulcrumServices: f.kind === 'running' ? f.services : [],
      fulcrumMissing: f.kind === 'running' ? null : f.reason,
      fulcrumNote: f.kind === 'running' ? f.note : null,
      kernelMissing: null,
    };
    const out: Workload[] = [];
    const foreign = new Set<string>(foreignNftTables());
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    for (const spec of SPECS) {
      for (const table of foreignNftTables()) foreign.add(table);
      const paths = PATHS.filter((p) => portFor(topology, p, spec.frontend) !== null);
      const cells: Partial<Record<PathName, Cell>> = {};
      for (const p of paths) {
        if (!available(ctx, p, spec)) continue;
        cells[p] = { figures: {}, cpu: [], proxyCores: [], backendCores: [], errors: 0, problems: [] };
        await measureCell(ctx, spec, p, warmSeconds, null);
      }
      for (let run = 0; run < runs; run++) {
        // rotate the order each run so that no path always goes first (or right after another)
        for (let k = 0; k < paths.length; k++) {
          const p = paths[(k + run) % paths.length]!;
          if (!cells[p] || !available(ctx, p, spec)) continue;
          await measureCell(ctx, spec, p, seconds, cells[p]!);
        }
        log(`l4: ${spec.id} run ${run + 1}/${runs} done`);
      }
      if (ctx.fulcrum && !available(ctx, 'fulcrum') && !ctx.fulcrumMissing) {
        ctx.fulcrumMissing = `exited during ${spec.id}: ${ctx.fulcrum.output().trim().split('\n').slice(-1)[0] ?? ''}`.slice(0, 200);
      }
      out.push(...toWorkloads(ctx, spec, cells));
    }
    for (const table of foreignNftTables()) foreign.add(table);
    const others = foreign.size ? `; other nft tables seen during the run (conntrack may have been on for every path): ${[...foreign].join(', ')}` : '';
    const setup = `${cpus.description}; fulcrum workers=${workers}, haproxy ${v.haproxy} nbthread=${workers}; median of ${runs} × ${seconds} s; load average at start ${load}${others}`;
    if (out[0]) out[0].notes = out[0].notes ? `${setup}; ${out[0].notes}` : setup;
    return out;
  } finally {
    removeNftTable();
    await Promise.all(started.map((s) => stop(s)));
    rmSync(dir, { recursive: true, force: true });
  }
}
