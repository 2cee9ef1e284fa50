// The L7 suite: HTTP and TLS workloads through Fulcrum (`protocol: http`), haproxy (`mode http`,
// `http-reuse safe`) and, for plain HTTP, the direct path; interleaved run by run, median of the
// runs, each proxy's CPU per unit of work recorded with every figure. Same rules as the L4 suite.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FulcrumError, errorMessage } from '../../src/errors.js';
import { onCleanup, stop, type Spawned } from '../lib/children.js';
import { busyPercent, cpuCount, planCpus, processTreeCpuSeconds, readCpuTimes, type CpuPlan } from '../lib/cpu.js';
import type { Workload } from '../lib/report.js';
import { toolVersions } from '../l4/paths.js';
import { makeCertificates } from './certs.js';
import { emptyCell, record, toWorkloads, L7_PATHS, type Cell, type L7Path, type Metric, type Outcome } from './cells.js';
import { SERVER_NAME, frontendName, isTls, type L7Frontend, type L7Topology } from './config.js';
import { allocateL7Topology, probeTls, startL7Backend, startL7Fulcrum, startL7Haproxy } from './paths.js';
import { haproxyAcceptedConnections, runTlsLoad, runWrk } from './tools.js';

export interface L7Options {
  quick: boolean;
  /** Fulcrum's worker processes; haproxy gets as many threads. */
  workers?: number;
  log?: (line: string) => void;
}

/** One workload: which frontend it uses and how one run is measured. */
interface Spec {
  id: string;
  frontend: L7Frontend;
  metrics: Metric[];
  measure(host: string, port: number, seconds: number, cpus: string | undefined): Promise<Outcome>;
}

/** Handshake loops the client keeps going: enough to keep a proxy busy while the client computes its side. */
const HANDSHAKE_CONCURRENCY = 16;
const US = { scale: 1e6 };

async function keepAlive(host: string, port: number, seconds: number, cpus: string | undefined, tls: boolean): Promise<Outcome> {
  const r = await runWrk({ host, port, seconds, cpus, connections: 64, close: false, tls });
  return { figures: { rate: r.requestsPerSec, p99: r.p99Ms ?? Number.NaN }, units: r.requests, errors: r.errors };
}

async function handshakes(host: string, port: number, seconds: number, cpus: string | undefined): Promise<Outcome> {
  const r = await runTlsLoad({ host, port, seconds, cpus, concurrency: HANDSHAKE_CONCURRENCY, serverName: SERVER_NAME });
  return {
    figures: { rate: r.handshakesPerSec },
    units: r.handshakes,
    errors: r.errors,
    resumed: r.resumed,
    negotiated: `${r.protocol} ${r.cipher} ${r.group}`,
    clientCores: r.clientCpuSeconds / r.seconds,
  };
}

const SPECS: Spec[] = [
  {
    id: 'keepalive',
    frontend: 'http',
    metrics: [
      { key: 'rate', name: 'http mode keep-alive (64 conns)', unit: 'req/s' },
      { key: 'p99', name: 'http mode keep-alive p99 latency', unit: 'ms', lowerIsBetter: true },
      { key: 'cpu', name: 'http mode keep-alive: proxy CPU per req', unit: 'µs', lowerIsBetter: true, proxyCpuPer: US },
    ],
    measure: (host, port, seconds, cpus) => keepAlive(host, port, seconds, cpus, false),
  },
  {
    id: 'conn',
    frontend: 'http',
    metrics: [
      { key: 'rate', name: 'http mode new connection per request', unit: 'conn/s' },
      { key: 'cpu', name: 'http mode new connection: proxy CPU per conn', unit: 'µs', lowerIsBetter: true, proxyCpuPer: US },
    ],
    async measure(host, port, seconds, cpus) {
      const r = await runWrk({ host, port, seconds, cpus, connections: 32, close: true, tls: false });
      return { figures: { rate: r.requestsPerSec }, units: r.requests, errors: r.errors };
    },
  },
  {
    id: 'https',
    frontend: 'ecdsa',
    metrics: [
      { key: 'rate', name: 'https keep-alive (64 conns, ECDSA)', unit: 'req/s' },
      { key: 'p99', name: 'https keep-alive p99 latency', unit: 'ms', lowerIsBetter: true },
      { key: 'cpu', name: 'https keep-alive: proxy CPU per req', unit: 'µs', lowerIsBetter: true, proxyCpuPer: US },
    ],
    measure: (host, port, seconds, cpus) => keepAlive(host, port, seconds, cpus, true),
  },
  {
    id: 'tls-ecdsa',
    frontend: 'ecdsa',
    metrics: [
      { key: 'rate', name: 'tls full handshake + 1 req, ECDSA P-256', unit: 'handshakes/s' },
      { key: 'cpu', name: 'tls ECDSA P-256: proxy CPU per handshake', unit: 'µs', lowerIsBetter: true, proxyCpuPer: US },
    ],
    measure: handshakes,
  },
  {
    id: 'tls-rsa',
    frontend: 'rsa',
    metrics: [
      { key: 'rate', name: 'tls full handshake + 1 req, RSA 2048', unit: 'handshakes/s' },
      { key: 'cpu', name: 'tls RSA 2048: proxy CPU per handshake', unit: 'µs', lowerIsBetter: true, proxyCpuPer: US },
    ],
    measure: handshakes,
  },
];

interface L7Context {
  topology: L7Topology;
  cpus: CpuPlan;
  haproxy: Spawned;
  backend: Spawned;
  statsSocket: string;
  fulcrum: Spawned | null;
  /** The frontends Fulcrum serves (a TLS frontend that failed its probe is left out). */
  fulcrumFrontends: readonly L7Frontend[];
  fulcrumNote: string | null;
}

/** The direct path exists for plain HTTP only: the backend speaks no TLS. */
function portFor(t: L7Topology, path: L7Path, f: L7Frontend): number | null {
  if (path === 'direct') return isTls(f) ? null : t.backend;
  return t[path][f];
}

function available(ctx: L7Context, path: L7Path, spec: Spec): boolean {
  if (path !== 'fulcrum') return true;
  return ctx.fulcrum !== null && ctx.fulcrumFrontends.includes(spec.frontend) && ctx.fulcrum.child.exitCode === null && ctx.fulcrum.child.signalCode === null;
}

/** Below this a proxied run carried no real traffic (a loaded proxy uses 0.3–1 core). */
const IDLE_PROXY_CORES = 0.02;

async function measureCell(ctx: L7Context, spec: Spec, path: L7Path, seconds: number, cell: Cell | null): Promise<void> {
  const port = portFor(ctx.topology, path, spec.frontend)!;
  try {
    const proxy = path === 'fulcrum' ? ctx.fulcrum : path === 'haproxy' ? ctx.haproxy : null;
    const group = proxy?.child.pid; // `timeout`, the root of the proxy's process tree
    const backendGroup = ctx.backend.child.pid!;
    const connsBefore = await haproxyAcceptedConnections(ctx.statsSocket);
    const before = readCpuTimes();
    const cpuBefore = group === undefined ? 0 : processTreeCpuSeconds(group);
    const backendBefore = processTreeCpuSeconds(backendGroup);
    const t0 = performance.now();
    const r = await spec.measure(ctx.topology.host, port, seconds, ctx.cpus.loadCpus);
    const wallSeconds = (performance.now() - t0) / 1000;
    const proxyCpuSeconds = group === undefined ? null : processTreeCpuSeconds(group) - cpuBefore;
    const backendCpuSeconds = processTreeCpuSeconds(backendGroup) - backendBefore;
    const busy = busyPercent(before, readCpuTimes());
    // the second stats query is itself one accepted connection
    const backendConns = (await haproxyAcceptedConnections(ctx.statsSocket)) - connsBefore - 1;
    if (!cell) return; // warm-up run
    if (proxyCpuSeconds !== null && proxyCpuSeconds / wallSeconds < IDLE_PROXY_CORES) {
      cell.problems.push(`the proxy used ${(proxyCpuSeconds / wallSeconds).toFixed(3)} cores: traffic did not reach it, run discarded`);
      return;
    }
    record(cell, spec.metrics, r, { proxyCpuSeconds, wallSeconds, backendCpuSeconds, backendConns, busy });
  } catch (err) {
    cell?.problems.push(errorMessage(err).split('\n')[0]!.slice(0, 200));
  }
}

function specNotes(ctx: L7Context, spec: Spec): string[] {
  const notes: string[] = [];
  if (!ctx.fulcrum) notes.push(`fulcrum: not available (${ctx.fulcrumNote ?? 'did not start'})`);
  else if (!ctx.fulcrumFrontends.includes(spec.frontend)) notes.push(`fulcrum: ${ctx.fulcrumNote ?? `no ${frontendName(spec.frontend)} frontend`}`);
  if (isTls(spec.frontend)) notes.push('direct: none (the backend speaks plain HTTP)');
  return notes;
}

/** Runs the suite; every process it starts is stopped before it returns or throws. */
export async function runL7(opts: L7Options): Promise<Workload[]> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const workers = opts.workers ?? 1;
  // quick: 3 runs of 1 s (+1 s warm-up per path); full: 5 runs of 6 s (+2 s warm-up), as the L4 suite
  const runs = opts.quick ? 3 : 5;
  const seconds = opts.quick ? 1 : 6;
  const warmSeconds = opts.quick ? 1 : 2;
  const maxSeconds = opts.quick ? 600 : 1800; // lifetime cap of every server started here
  const cpus = planCpus(cpuCount(), workers);
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-bench-l7-')); // 0700: holds the private keys
  onCleanup(() => rmSync(dir, { recursive: true, force: true })); // also on Ctrl-C
  const started: Spawned[] = [];
  try {
    const topology = await allocateL7Topology();
    const certs = makeCertificates(dir);
    const v = toolVersions();
    log(`l7: ${cpus.description}; fulcrum workers=${workers}, haproxy nbthread=${workers}; haproxy ${v.haproxy}, wrk ${v.wrk}, node ${v.node} (OpenSSL ${process.versions.openssl})`);
    const statsSocket = join(dir, 'backend.sock');
    const backend = await startL7Backend(topology, dir, statsSocket, cpus, maxSeconds);
    started.push(backend);
    const haproxy = await startL7Haproxy(topology, dir, workers, certs, cpus, maxSeconds);
    started.push(haproxy);
    for (const f of ['ecdsa', 'rsa'] as const) {
      const problem = await probeTls(topology.host, topology.haproxy[f], f, certs.caFile);
      if (problem) throw new FulcrumError('FUL_ERR_BENCH_CHILD', { child: 'haproxy (http mode)', reason: `frontend ${frontendName(f)}: ${problem}` });
    }
    const f = await startL7Fulcrum(topology, dir, workers, certs, cpus, maxSeconds);
    if (f.kind === 'running') started.push(f.process);
    if (f.kind === 'unavailable') log(`l7: fulcrum not available: ${f.reason}`);
    else if (f.note) log(`l7: fulcrum ${f.note}`);
    const ctx: L7Context = {
      topology, cpus, haproxy, backend, statsSocket,
      fulcrum: f.kind === 'running' ? f.process : null,
      fulcrumFrontends: f.kind === 'running' ? f.frontends : [],
      fulcrumNote: f.kind === 'running' ? f.note : f.reason,
    };
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const out: Workload[] = [];
    for (const spec of SPECS) {
      const paths = L7_PATHS.filter((p) => portFor(topology, p, spec.frontend) !== null);
      const cells: Partial<Record<L7Path, Cell>> = {};
      for (const p of paths) {
        if (!available(ctx, p, spec)) continue;
        cells[p] = emptyCell();
        await measureCell(ctx, spec, p, warmSeconds, null);
      }
      for (let run = 0; run < runs; run++) {
        // rotate the order each run so that no path always goes first (or right after another)
        for (let k = 0; k < paths.length; k++) {
          const p = paths[(k + run) % paths.length]!;
          if (cells[p] && available(ctx, p, spec)) await measureCell(ctx, spec, p, seconds, cells[p]!);
        }
        log(`l7: ${spec.id} run ${run + 1}/${runs} done`);
      }
      if (ctx.fulcrum && (ctx.fulcrum.child.exitCode !== null || ctx.fulcrum.child.signalCode !== null) && ctx.fulcrumFrontends.length > 0) {
        ctx.fulcrumNote = `exited during ${spec.id}: ${ctx.fulcrum.output().trim().split('\n').slice(-1)[0] ?? ''}`.slice(0, 200);
        ctx.fulcrumFrontends = [];
      }
      out.push(...toWorkloads(spec.metrics, cells, specNotes(ctx, spec)));
    }
    const setup = [
      `${cpus.description}; fulcrum workers=${workers} (protocol: http), haproxy ${v.haproxy} nbthread=${workers} (mode http, http-reuse safe, option forwardfor + X-Forwarded-Proto/-Port like Fulcrum)`,
      `node ${v.node} with OpenSSL ${process.versions.openssl}; median of ${runs} × ${seconds} s; load average at start ${load}`,
      `backend: one haproxy thread answering 200 "ok" on CPU 0 with the load generator; certificates made at start (P-256 CA; leaves ECDSA P-256 and RSA 2048 for ${SERVER_NAME})`,
      `handshakes: bench/l7/tls-load.js, ${HANDSHAKE_CONCURRENCY} loops of new connection + full handshake (no session offered) + 1 request`,
    ].join('; ');
    if (out[0]) out[0].notes = out[0].notes ? `${setup}; ${out[0].notes}` : setup;
    return out;
  } finally {
    await Promise.all(started.map((s) => stop(s)));
    rmSync(dir, { recursive: true, force: true });
  }
}
