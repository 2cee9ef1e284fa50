// The nodes suite: client, node and backend in their own namespaces, so that the node's work —
// softirq included — can be counted on a core of its own. Five paths through the node: Fulcrum's
// kernel mode (the speaker's nftables ruleset), Fulcrum's proxy, haproxy, kube-proxy-like DNAT,
// and plain routing (direct), interleaved run by run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../src/errors.js';
import { removeLeftovers, removeLeftoversSync } from '../../lab/leftovers.js';
import { ip, nsExec, nsRun, nsSysctl } from '../../lab/netns.js';
import { nftRunner } from '../../speaker/kernel/applier.js';
import { KERNEL_TABLE } from '../../speaker/kernel/ruleset.js';
import { onCleanup, start, stop, waitForOutput, type Spawned } from '../lib/children.js';
import { cpuCount, readCpuTimes } from '../lib/cpu.js';
import { median, type Workload } from '../lib/report.js';
import { runIperf3, runUdpLoad, runWrk, startHttpCloseBackend, startIperf3Server, startUdpEcho } from '../l4/tools.js';
import {
  NODE_PATHS, PLAIN_NAT_TABLE, haproxyConfig, httpBackendConfig, kernelModeRuleset, nodesTopology, plainNatRuleset, proxyConfig, rpsMasks, setupCommands, sysctlsOf, targetOf,
  type NodePath, type NodeService, type NodesTopology,
} from './config.js';

export interface NodesOptions {
  quick: boolean;
  workers?: number;
  log?: (line: string) => void;
  /** Namespace prefix (default `fbn`); the suite removes `<prefix>-*` namespaces first. */
  prefix?: string;
}

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FULCRUM_BIN = process.env.FULCRUM_BENCH_BIN ?? join(REPO, 'bin', 'fulcrum');
const LOAD_CPU = 0;
const NODE_CPU = 1;

interface Metric {
  key: string;
  name: string;
  unit: string;
  lowerIsBetter?: boolean;
  /** Node CPU (the node core's busy time, softirq included) per unit of `of`, times `scale`. */
  nodeCpuPer?: { of: string; scale: number };
}

interface Spec {
  service: NodeService;
  metrics: Metric[];
  measure(host: string, port: number, seconds: number, netns: string): Promise<{ figures: Record<string, number>; errors: number }>;
}

const cpu = String(LOAD_CPU); // CPU 0 exists everywhere
/** A wrk workload: its rate, and the node CPU per request (a request is a connection when `close`). */
function wrkSpec(service: 'conn' | 'http', rate: string, cpu1: string, connections: number, close: boolean): Spec {
  return {
    service,
    metrics: [
      { key: 'rate', name: `nodes: ${rate}`, unit: close ? 'conn/s' : 'req/s' },
      { key: 'cpuPer', name: `nodes: node CPU per ${cpu1}`, unit: 'µs', lowerIsBetter: true, nodeCpuPer: { of: 'rate', scale: 1e6 } },
    ],
    async measure(host, port, seconds, netns) {
      const r = await runWrk({ host, port, seconds, cpus: cpu, netns, connections, close });
      return { figures: { rate: r.requestsPerSec }, errors: r.errors };
    },
  };
}

const SPECS: Spec[] = [
  wrkSpec('conn', 'tcp new connection per request', 'connection', 32, true),
  wrkSpec('http', 'http keep-alive via tcp', 'keep-alive request', 64, false),
  {
    service: 'bulk',
    metrics: [
      { key: 'gbps', name: 'nodes: tcp bulk (1 stream)', unit: 'Gbit/s' },
      { key: 'cpuPerGB', name: 'nodes: node CPU per GB', unit: 'ms', lowerIsBetter: true, nodeCpuPer: { of: 'gbps', scale: 8000 } },
    ],
    async measure(host, port, seconds, netns) {
      const gbps = await runIperf3({ host, port, seconds, cpus: cpu, netns, omitSeconds: seconds >= 5 ? 1 : 0 });
      return { figures: { gbps }, errors: 0 };
    },
  },
  {
    service: 'udp',
    metrics: [
      { key: 'pps', name: 'nodes: udp request/response', unit: 'pkt/s' },
      { key: 'cpuPerPkt', name: 'nodes: node CPU per udp request', unit: 'µs', lowerIsBetter: true, nodeCpuPer: { of: 'pps', scale: 1e6 } },
    ],
    async measure(host, port, seconds, netns) {
      return { figures: { pps: await runUdpLoad({ host, port, seconds, cpus: cpu, netns }) }, errors: 0 };
    },
  },
];

interface Cell {
  figures: Record<string, number[]>;
  /** Per run: busy share (0..1) of the node's core and of the load core. */
  nodeBusy: number[];
  loadBusy: number[];
  errors: number;
  problems: string[];
}

/** Resolves once a TCP connection from `ns` to host:port succeeds (a one-line Node probe in the namespace). */
async function waitForPortIn(ns: string, host: string, port: number, timeoutMs: number, s?: Spawned): Promise<void> {
  const probe = `const s=require('node:net').connect(${port},'${host}');s.setTimeout(500,()=>process.exit(1));s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await nsExec(ns, process.execPath, ['-e', probe], { timeoutMs: 5000 });
    if (r.code === 0) return;
    if (s && s.child.exitCode !== null) throw new Error(`${s.name} exited: ${s.output().slice(-500)}`);
    if (Date.now() > deadline) throw new Error(`${s?.name ?? 'server'}: nothing accepts on ${host}:${port} from ${ns} after ${timeoutMs} ms${s ? `: ${s.output().slice(-500)}` : ''}`);
  }
}

async function buildTopology(t: NodesTopology, rps: boolean): Promise<void> {
  for (const args of setupCommands(t)) await ip(args);
  for (const [ns, settings] of Object.entries(sysctlsOf(t))) await nsSysctl(ns, settings);
  if (!rps) return;
  for (const { ns, dev, mask } of rpsMasks(t, LOAD_CPU, NODE_CPU)) await nsRun(ns, 'sh', ['-c', `echo ${mask} > /sys/class/net/${dev}/queues/rx-0/rps_cpus`]);
}

interface Running {
  all: Spawned[];
  proxy: Spawned | null;
  proxyMissing: string | null;
  haproxy: Spawned;
}

async function startServers(t: NodesTopology, dir: string, workers: number, pinned: boolean, maxSeconds: number, log: (l: string) => void): Promise<Running> {
  const all: Spawned[] = [];
  const keep = (s: Spawned): Spawned => (all.push(s), s);
  const b = t.ns.backend;
  try {
    await keep(await startHttpCloseBackend('0.0.0.0', t.backendPorts.conn, cpu, maxSeconds, b));
    await keep(await startIperf3Server('0.0.0.0', t.backendPorts.bulk, cpu, maxSeconds, b));
    // UDP: one echo per endpoint address, so that a reply leaves from the address the request went to
    for (const e of t.endpoints) keep(await startUdpEcho(e, t.backendPorts.udp, cpu, maxSeconds, b));
    const httpCfg = join(dir, 'backend-http.cfg');
    writeFileSync(httpCfg, httpBackendConfig(t));
    const http = keep(start('http backend (haproxy)', 'haproxy', ['-db', '-f', httpCfg], { cpus: cpu, maxSeconds, netns: b }));
    for (const e of t.endpoints) await waitForPortIn(t.ns.client, e, t.backendPorts.http, 10_000, http);
    const haCfg = join(dir, 'haproxy.cfg');
    writeFileSync(haCfg, haproxyConfig(t, workers));
    const nodeCpus = !pinned ? undefined : workers === 1 ? String(NODE_CPU) : `${NODE_CPU}-${NODE_CPU + workers - 1}`;
    const haproxy = keep(start('haproxy', 'haproxy', ['-db', '-f', haCfg], { cpus: nodeCpus, maxSeconds, netns: t.ns.node }));
    await waitForPortIn(t.ns.client, t.vip, t.frontends.haproxy.conn, 10_000, haproxy);
    const cfg = join(dir, 'fulcrum.yaml');
    writeFileSync(cfg, proxyConfig(t, workers));
    const env = { ...process.env, FULCRUM_LOG_LEVEL: process.env.FULCRUM_BENCH_LOG_LEVEL ?? 'warn' };
    const proxy = start('fulcrum proxy', process.execPath, [FULCRUM_BIN, 'proxy', '--config', cfg], { cpus: nodeCpus, maxSeconds, cwd: REPO, env, netns: t.ns.node });
    all.push(proxy);
    try {
      await waitForOutput(proxy, /fulcrum proxy: ready/, 15_000);
      return { all, proxy, proxyMissing: null, haproxy };
    } catch (err) {
      const reason = errorMessage(err).slice(0, 200);
      log(`nodes: fulcrum proxy not available: ${reason}`);
      await stop(proxy, 1000);
      return { all, proxy: null, proxyMissing: reason, haproxy };
    }
  } catch (err) {
    await Promise.all(all.map((s) => stop(s)));
    throw err;
  }
}

async function nft(ns: string, script: string): Promise<void> {
  await nftRunner(ns)(script);
}

/** Loads the path's table for its runs only: while a nat chain exists, conntrack tracks every packet of the node. */
async function tableUp(t: NodesTopology, path: NodePath): Promise<void> {
  if (path === 'kmode') await nft(t.ns.node, kernelModeRuleset(t));
  if (path === 'kernel') await nft(t.ns.node, `add table ip ${PLAIN_NAT_TABLE}\ndelete table ip ${PLAIN_NAT_TABLE}\n${plainNatRuleset(t)}`);
}

async function tableDown(t: NodesTopology, path: NodePath): Promise<void> {
  if (path === 'kmode') await nft(t.ns.node, `add table inet ${KERNEL_TABLE}\ndelete table inet ${KERNEL_TABLE}`);
  if (path === 'kernel') await nft(t.ns.node, `add table ip ${PLAIN_NAT_TABLE}\ndelete table ip ${PLAIN_NAT_TABLE}`);
}

async function measureCell(t: NodesTopology, spec: Spec, path: NodePath, seconds: number, cell: Cell | null): Promise<void> {
  const target = targetOf(t, path, spec.service)!;
  let up = false;
  try {
    await tableUp(t, path);
    up = true;
    const before = readCpuTimes();
    const r = await spec.measure(target.host, target.port, seconds, t.ns.client);
    const after = readCpuTimes();
    if (!cell) return; // warm-up
    const share = (i: number): number => {
      const a = after[i]!;
      const b = before[i]!;
      return a.total === b.total ? 0 : (a.busy - b.busy) / (a.total - b.total);
    };
    const nodeBusy = share(NODE_CPU);
    cell.nodeBusy.push(nodeBusy);
    cell.loadBusy.push(share(LOAD_CPU));
    for (const m of spec.metrics) {
      if (!m.nodeCpuPer) (cell.figures[m.key] ??= []).push(r.figures[m.key]!);
      else if (r.figures[m.nodeCpuPer.of]! > 0) (cell.figures[m.key] ??= []).push((nodeBusy / r.figures[m.nodeCpuPer.of]!) * m.nodeCpuPer.scale);
    }
    cell.errors += r.errors;
  } catch (err) {
    cell?.problems.push(errorMessage(err).split('\n')[0]!.slice(0, 200));
  } finally {
    if (up) await tableDown(t, path).catch(() => undefined);
  }
}

/** Two rows per metric: one with Fulcrum's kernel mode in the `fulcrum` column, one with its proxy. */
function toWorkloads(spec: Spec, cells: Partial<Record<NodePath, Cell>>, notes: { proxyMissing: string | null; pinned: boolean }): Workload[] {
  const value = (p: NodePath, key: string): number | null => {
    const v = cells[p] ? median(cells[p]!.figures[key] ?? []) : null;
    return v === null ? null : Number(v.toPrecision(4));
  };
  const out: Workload[] = [];
  spec.metrics.forEach((m, i) => {
    const cpuRow = m.nodeCpuPer !== undefined;
    const shared = {
      unit: m.unit,
      haproxy: value('haproxy', m.key),
      kernel: value('kernel', m.key),
      direct: value('direct', m.key),
    };
    if (cpuRow && !notes.pinned) for (const k of ['haproxy', 'kernel', 'direct'] as const) shared[k] = null;
    for (const [fulcrumPath, label] of [['kmode', 'Fulcrum kernel mode'], ['proxy', 'Fulcrum proxy']] as const) {
      const w: Workload = { name: `${m.name} (${label})`, ...shared, fulcrum: cpuRow && !notes.pinned ? null : value(fulcrumPath, m.key) };
      if (m.lowerIsBetter) w.lowerIsBetter = true;
      if (i === 0 && fulcrumPath === 'kmode') {
        const parts: string[] = [];
        for (const p of NODE_PATHS) {
          const c = cells[p];
          if (!c) continue;
          if (c.problems.length) parts.push(`${p}: ${c.problems.length} failed run(s), e.g. ${c.problems[0]}`);
          if (c.errors) parts.push(`${p}: ${c.errors} socket errors/non-2xx`);
          if (c.nodeBusy.length) parts.push(`${p} node core ${Math.round(100 * median(c.nodeBusy)!)}% / load core ${Math.round(100 * median(c.loadBusy)!)}% busy`);
        }
        if (spec.service === 'udp') parts.push('haproxy: no UDP proxy in haproxy 2.6');
        if (notes.proxyMissing) parts.push(`fulcrum proxy: not available (${notes.proxyMissing})`);
        if (parts.length) w.notes = parts.join('; ');
      }
      out.push(w);
    }
  });
  return out;
}

/**
 * Runs the suite; every namespace and process it makes is removed before it returns or throws.
 * Needs root, two CPUs for the node figures (with one, the rates only), haproxy, wrk, iperf3, nft.
 */
export async function runNodes(opts: NodesOptions): Promise<Workload[]> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const workers = opts.workers ?? 1;
  const prefix = opts.prefix ?? 'fbn';
  const runs = 3;
  const seconds = opts.quick ? 1 : 5;
  const warmSeconds = opts.quick ? 1 : 2;
  const maxSeconds = opts.quick ? 600 : 1800;
  const pinned = cpuCount() >= NODE_CPU + workers; // the load core, then one core per worker
  const t = nodesTopology(prefix);
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-bench-nodes-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  onCleanup(() => removeLeftoversSync(prefix));
  await removeLeftovers(prefix);
  let running: Running | null = null;
  try {
    await buildTopology(t, pinned);
    running = await startServers(t, dir, workers, pinned, maxSeconds, log);
    const setup = pinned
      ? `client → node → backend in namespaces ${t.ns.client}, ${t.ns.node}, ${t.ns.backend}; load generator and backends on CPU ${LOAD_CPU}, the node's work (proxy processes, and its receive softirq steered there by RPS) on CPU ${NODE_CPU}${workers > 1 ? `-${NODE_CPU + workers - 1}` : ''}; node CPU = that core's busy time (user + system + softirq) per unit; 2 endpoints; median of ${runs} × ${seconds} s`
      : `client → node → backend in namespaces; fewer than ${workers + 1} CPUs, so the node's work cannot be given a core of its own: rates only; median of ${runs} × ${seconds} s`;
    log(`nodes: ${setup}`);
    const out: Workload[] = [];
    for (const spec of SPECS) {
      const paths = NODE_PATHS.filter((p) => targetOf(t, p, spec.service) !== null && (p !== 'proxy' || running!.proxy !== null));
      const cells: Partial<Record<NodePath, Cell>> = {};
      for (const p of paths) {
        cells[p] = { figures: {}, nodeBusy: [], loadBusy: [], errors: 0, problems: [] };
        await measureCell(t, spec, p, warmSeconds, null);
      }
      for (let run = 0; run < runs; run++) {
        // a rotating order, so that no path always goes first
        for (let k = 0; k < paths.length; k++) {
          const p = paths[(k + run) % paths.length]!;
          await measureCell(t, spec, p, seconds, cells[p]!);
        }
        log(`nodes: ${spec.service} run ${run + 1}/${runs} done`);
      }
      out.push(...toWorkloads(spec, cells, { proxyMissing: running.proxyMissing, pinned }));
    }
    if (out[0]) out[0].notes = out[0].notes ? `${setup}; ${out[0].notes}` : setup;
    return out;
  } finally {
    if (running) await Promise.all(running.all.map((s) => stop(s)));
    await removeLeftovers(prefix).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
