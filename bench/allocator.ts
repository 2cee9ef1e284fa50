// `npm run bench:allocator`: 10,000 LoadBalancer Services created through the API emulator,
// the allocator running as its own process. Measures create→status latency (p50/p99), the time
// until all have an address, the allocator's RSS, then a restart with every Service assigned:
// time until everything is adopted and reconciled, and the status writes that restart made
// (goal 0). Traffic stays on loopback; the Services' addresses are only written, never used.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Service } from '@kubernetes/client-node';
import { createApiClients, type ApiClients } from '../src/k8s/client.js';
import { Informer } from '../src/k8s/informer.js';
import { reuseConnections } from '../src/k8s/keep-alive.js';
import { loadKubeConfig } from '../src/k8s/kubeconfig.js';
import { services } from '../src/k8s/resources.js';
import { start, stop, waitForOutput, type Spawned } from './lib/children.js';
import type { BenchRun, Workload } from './lib/report.js';
import { runIfMain } from './lib/standalone.js';

const BIN = fileURLToPath(new URL('../../bin/fulcrum', import.meta.url));
/** Creates in flight at most; the pace below keeps the API emulator short of saturation. */
const IN_FLIGHT = 64;
/** Services created per second: a steady stream, as a busy cluster's CI would make them. */
const CREATE_RATE = 200;

// IPv6 single-stack Services: the emulator's IPv6 service range has room for 10,000 cluster
// IPs; the pool is a /64, so the allocator works with a range it can never enumerate.
const CONFIG = 'address-pools:\n- name: bench\n  protocol: layer2\n  addresses: ["2001:db8:5::/64"]\n';

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function rssMb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The node process under `timeout` (children.ts wraps every process in coreutils timeout). */
function nodePid(s: Spawned): number | undefined {
  try {
    const kids = readFileSync(`/proc/${s.child.pid}/task/${s.child.pid}/children`, 'utf8').trim().split(/\s+/);
    return kids[0] ? Number(kids[0]) : s.child.pid;
  } catch {
    return s.child.pid;
  }
}

function service(i: number): V1Service {
  return {
    metadata: { name: `svc-${i}`, namespace: 'default' },
    spec: {
      type: 'LoadBalancer',
      allocateLoadBalancerNodePorts: false,
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv6'],
      selector: { app: `a${i}` },
      ports: [{ port: 80, protocol: 'TCP' }],
    },
  };
}

function startAllocatorProcess(kubeconfig: string, seconds: number): Spawned {
  return start('allocator', process.execPath, [BIN, 'allocator', '--kubeconfig', kubeconfig, '--metrics', 'off', '--no-leader-elect', '--log-level', 'info'], {
    maxSeconds: seconds,
    env: { ...process.env, FULCRUM_LOG_LEVEL: 'info' },
  });
}

async function createAll(clients: ApiClients, count: number, createdAt: Map<string, number>): Promise<void> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const due = t0 + (i * 1000) / CREATE_RATE - performance.now();
      if (due > 0) await new Promise((r) => setTimeout(r, due));
      const body = service(i);
      const t = performance.now();
      await clients.core.createNamespacedService({ namespace: 'default', body });
      createdAt.set(`default/svc-${i}`, t);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

export const run: BenchRun = async ({ quick }) => {
  const count = quick ? 2_000 : 10_000;
  const dir = await mkdtemp(join(tmpdir(), 'fulcrum-bench-alloc-'));
  const kubeconfig = join(dir, 'kubeconfig');
  // The emulator runs in a process of its own, as the real API server would, so that the
  // load generator here does not steal its event loop.
  const api = start('apiserver', process.execPath, [BIN, 'apiserver', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfig, '--event-window', String(4 * count)], { maxSeconds: 900 });
  await waitForOutput(api, /kubeconfig written/, 30_000);
  const clients = createApiClients(reuseConnections(loadKubeConfig(kubeconfig).kubeConfig), { requestTimeoutMs: 120_000 });
  const watcher = new Informer({ clients, resource: services });
  const servedAt = new Map<string, number>();
  let updates = 0;
  const onChange = (svc: V1Service, old?: V1Service) => {
    if (old) updates++;
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    if (!servedAt.has(key) && (svc.status?.loadBalancer?.ingress?.length ?? 0) > 0) servedAt.set(key, performance.now());
  };
  watcher.on({ add: onChange, update: onChange });
  let allocator: Spawned | undefined;
  try {
    await clients.core.createNamespacedConfigMap({ namespace: 'fulcrum-system', body: { metadata: { name: 'config' }, data: { config: CONFIG } } });
    watcher.start();
    await watcher.synced;
    allocator = startAllocatorProcess(kubeconfig, 600);
    await waitForOutput(allocator, /"event":"reconciledAll"/, 60_000);

    const createdAt = new Map<string, number>();
    const t0 = performance.now();
    await createAll(clients, count, createdAt);
    const deadline = Date.now() + 300_000;
    while (servedAt.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const allServedMs = Math.max(...servedAt.values()) - t0;
    const latencies = [...createdAt].map(([k, t]) => (servedAt.get(k) ?? NaN) - t).filter(Number.isFinite).sort((a, b) => a - b);
    const rss = rssMb(nodePid(allocator));

    await stop(allocator);
    await new Promise((r) => setTimeout(r, 500)); // let the last watch events arrive before counting
    const updatesBefore = updates;
    const t1 = performance.now();
    allocator = startAllocatorProcess(kubeconfig, 600);
    await waitForOutput(allocator, /"event":"reconciledAll"/, 300_000);
    const adoptMs = performance.now() - t1;
    const adoptLine = /"event":"adopted"[^\n]*/.exec(allocator.output())?.[0] ?? '';
    // Every write that changes a Service reaches this informer as an update; no-op writes do
    // not exist in the API (same RV, no event), so this counts exactly the writes that mattered.
    const writes = updates - updatesBefore;
    const rssAfter = rssMb(nodePid(allocator));
    const adopted = Number(/"adopted":(\d+)/.exec(adoptLine)?.[1] ?? NaN);

    const w = (name: string, unit: string, value: number | null, notes?: string, lowerIsBetter = true): Workload => ({
      name, unit, lowerIsBetter, fulcrum: value, haproxy: null, kernel: null, direct: null, ...(notes ? { notes } : {}),
    });
    return [
      w(`allocator: ${count} Services, create→status p50`, 'ms', percentile(latencies, 50), `${latencies.length} served`),
      w(`allocator: ${count} Services, create→status p99`, 'ms', percentile(latencies, 99), 'goal ≤ 50 ms'),
      w(`allocator: ${count} Services, all served after`, 's', allServedMs / 1000, `created at ${CREATE_RATE}/s, ≤ ${IN_FLIGHT} in flight`),
      w(`allocator: RSS with ${count} Services`, 'MB', rss),
      w(`allocator: restart, all ${count} adopted and reconciled`, 's', adoptMs / 1000, `process start included; adopted ${adopted}; goal ≤ 2 s; RSS after ${rssAfter?.toFixed(0)} MB`),
      w('allocator: restart, status writes during adoption', 'writes', writes, 'goal 0'),
    ];
  } finally {
    if (allocator) await stop(allocator);
    await watcher.stop();
    await stop(api);
    await rm(dir, { recursive: true, force: true });
  }
};

runIfMain(import.meta.url, run);
