// Brings the four paths up and down: backends, haproxy, Fulcrum, and the nftables DNAT table.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../src/errors.js';
import { distinctPorts, onCleanup, start, stop, waitForOutput, type Spawned } from '../lib/children.js';
import type { CpuPlan } from '../lib/cpu.js';
import { NFT_TABLE, SERVICES, fulcrumConfig, haproxyProxyConfig, httpBackendConfig, nftRuleset, type Service, type Topology } from './config.js';
import { startHaproxy, startHttpCloseBackend, startIperf3Server, startUdpEcho } from './tools.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
// FULCRUM_BENCH_BIN: another executable taking the same `proxy --config FILE` (to test the harness).
const FULCRUM_BIN = process.env.FULCRUM_BENCH_BIN ?? join(REPO, 'bin', 'fulcrum');
const HOST = '127.0.0.1';

export async function allocateTopology(): Promise<Topology> {
  // Ports picked by the kernel one after the other; UDP reuses a number free for TCP (also
  // free for UDP on a quiet loopback; a clash would show as a bind error at start).
  const take = distinctPorts();
  const map = async <K extends string>(keys: readonly K[]): Promise<Record<K, number>> => {
    const out = {} as Record<K, number>;
    for (const k of keys) out[k] = await take();
    return out;
  };
  const tcp = SERVICES.filter((s): s is Exclude<Service, 'udp'> => s !== 'udp');
  return { host: HOST, backends: await map(SERVICES), fulcrum: await map(SERVICES), haproxy: await map(tcp), kernel: await map(SERVICES) };
}

/** The versions stated with the results. */
export function toolVersions(): { haproxy: string; wrk: string; iperf3: string; node: string; kernel: string } {
  const first = (cmd: string, args: string[], re: RegExp): string => {
    try {
      const out = execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
      return re.exec(out)?.[1] ?? 'unknown';
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
      return re.exec(out)?.[1] ?? 'unknown';
    }
  };
  return {
    haproxy: first('haproxy', ['-v'], /version (\S+)/),
    wrk: first('wrk', ['-v'], /wrk (\S+)/),
    iperf3: first('iperf3', ['--version'], /iperf (\S+)/),
    node: process.version,
    kernel: first('uname', ['-r'], /(\S+)/),
  };
}

export interface Backends {
  all: Spawned[];
  byService: Record<Service, Spawned>;
}

export async function startBackends(t: Topology, dir: string, cpus: CpuPlan, maxSeconds: number): Promise<Backends> {
  const httpCfg = join(dir, 'backend-http.cfg');
  writeFileSync(httpCfg, httpBackendConfig(t));
  const byService = {} as Record<Service, Spawned>;
  const all: Spawned[] = [];
  const keep = (service: Service, s: Spawned): void => {
    byService[service] = s;
    all.push(s);
  };
  try {
    keep('http', await startHaproxy('http backend (haproxy)', httpCfg, t.host, t.backends.http, cpus.loadCpus, maxSeconds));
    keep('conn', await startHttpCloseBackend(t.host, t.backends.conn, cpus.loadCpus, maxSeconds));
    keep('bulk', await startIperf3Server(t.host, t.backends.bulk, cpus.loadCpus, maxSeconds));
    keep('udp', await startUdpEcho(t.host, t.backends.udp, cpus.loadCpus, maxSeconds));
  } catch (err) {
    await Promise.all(all.map((s) => stop(s)));
    throw err;
  }
  return { all, byService };
}

export async function startHaproxyProxy(t: Topology, dir: string, threads: number, cpus: CpuPlan, maxSeconds: number): Promise<Spawned> {
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyProxyConfig(t, threads));
  const s = await startHaproxy('haproxy', cfg, t.host, t.haproxy.http, cpus.proxyCpus, maxSeconds);
  return s;
}

export type FulcrumStart =
  | { kind: 'running'; process: Spawned; services: readonly Service[]; note: string | null }
  | { kind: 'unavailable'; reason: string };

async function tryFulcrum(t: Topology, dir: string, workers: number, cpus: CpuPlan, maxSeconds: number, services: readonly Service[]): Promise<{ process: Spawned } | { reason: string }> {
  const cfg = join(dir, 'fulcrum.yaml');
  writeFileSync(cfg, fulcrumConfig(t, workers, services));
  const env = { ...process.env, FULCRUM_LOG_LEVEL: process.env.FULCRUM_BENCH_LOG_LEVEL ?? 'warn' };
  // FULCRUM_BENCH_NODE_ARGS: node flags for the proxy, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  const nodeArgs = (process.env.FULCRUM_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const s = start('fulcrum proxy', process.execPath, [...nodeArgs, FULCRUM_BIN, 'proxy', '--config', cfg], { cpus: cpus.proxyCpus, maxSeconds, cwd: REPO, env });
  try {
    await waitForOutput(s, /fulcrum proxy: ready/, 15000);
    return { process: s };
  } catch (err) {
    await stop(s, 1000);
    const text = s.output().trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? errorMessage(err);
    return { reason: text.slice(0, 200) };
  }
}

/**
 * `fulcrum proxy --config FILE`, ready when it prints `fulcrum proxy: ready`. Logs at `warn`
 * (haproxy logs nothing here either). If it refuses the whole file, it is tried once more with
 * the TCP frontends only (a proxy without UDP yet still gets its TCP figures).
 */
export async function startFulcrum(t: Topology, dir: string, workers: number, cpus: CpuPlan, maxSeconds: number): Promise<FulcrumStart> {
  const all = await tryFulcrum(t, dir, workers, cpus, maxSeconds, SERVICES);
  if ('process' in all) return { kind: 'running', process: all.process, services: SERVICES, note: null };
  const tcp = SERVICES.filter((s) => s !== 'udp');
  const some = await tryFulcrum(t, dir, workers, cpus, maxSeconds, tcp);
  if ('process' in some) return { kind: 'running', process: some.process, services: tcp, note: `refused the UDP frontend: ${all.reason}` };
  return { kind: 'unavailable', reason: all.reason };
}

function nft(args: string[], input?: string): void {
  execFileSync('nft', args, { input, timeout: 5000, stdio: ['pipe', 'ignore', 'pipe'] });
}

/**
 * nftables tables of others in this namespace (a running lab, a firewall). Any table that uses
 * conntrack makes every path pay for it, so the results say when there were some.
 */
export function foreignNftTables(): string[] {
  try {
    const out = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n').map((l) => l.replace(/^table\s+/, '').trim()).filter((l) => l !== '' && !l.endsWith(` ${NFT_TABLE}`));
  } catch {
    return [];
  }
}

/** Removes the table if present (`add` is idempotent, so this never fails on absence). */
export function removeNftTable(): void {
  try {
    nft(['add', 'table', 'ip', NFT_TABLE]);
    nft(['delete', 'table', 'ip', NFT_TABLE]);
  } catch {
    // nft missing or no permission: there is nothing to remove either
  }
}

let cleanupHooked = false;

/**
 * Loads the DNAT table only for the kernel path's runs: while any nat chain exists, conntrack
 * tracks every packet in the namespace, which would tax the other paths too.
 */
export function applyNftTable(t: Topology): void {
  if (!cleanupHooked) {
    cleanupHooked = true;
    onCleanup(removeNftTable);
  }
  removeNftTable();
  nft(['-f', '-'], nftRuleset(t));
}
