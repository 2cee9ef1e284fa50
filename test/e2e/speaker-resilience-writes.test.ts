import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICE_POOL_V4, SERVICE_POOL_V6 } from '../../lab/addressing.js';
import { applyManifest } from '../../lab/components.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { delay } from '../../lab/netns.js';
import { FULCRUM_NAMESPACE, SAMPLE_NAMESPACE } from '../../lab/samples.js';
import { waitFor } from '../helpers/wait.js';
import { countDelta, hideHostAddressesFromLab, labPrefix, skipUnlessRoot, vipHolders, writeCounts } from './helpers-resilience.js';

// Steady-state API writes of the speakers, counted by the emulator, with 10 and with 500
// LoadBalancer Services: about one per node per Lease renew period, whatever the number of
// Services. The allocator is stopped while counting (its leader Lease is not the speakers'),
// and the lab kubelet's node heartbeats (`update nodes/status`) are left out. See test/e2e/README.md.

const PREFIX = labPrefix(4);
/** The speaker's default --lease-renew. */
const RENEW_MS = 5_000;
const WINDOW_MS = 5 * RENEW_MS;
/** The sample ConfigMap's IPv6 range has 256 addresses: 500 Services need a larger one (node network, documentation range). */
const EXTRA_POOL_V6 = '2001:db8::1000-2001:db8::1fff';
const KUBELET_WRITES = 'patch nodes/status';
const EVENT_WRITES = new Set(['create events', 'patch events', 'update events']);
/**
 * Each takeover writes one nodeAssigned Event, and a speaker's Event writes share a token bucket
 * (25, refilled 1/s: src/k8s/events.ts): the 490 new Services' Events take minutes to drain. By
 * default the window starts once every other one-off write has stopped and Event writes are
 * reported apart (bounded by the bucket); FULCRUM_WRITES_DRAIN_EVENTS=1 waits for the Events too.
 */
const DRAIN_EVENTS = process.env.FULCRUM_WRITES_DRAIN_EVENTS === '1';
/** The recorder's refill rate, Event writes per second per speaker, plus slack for the window's edges. */
const EVENT_WRITES_PER_S_MAX = 1.2;

function service(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: SAMPLE_NAMESPACE, labels: { 'fulcrum-lb.io/resilience': 'writes' } },
    spec: {
      type: 'LoadBalancer',
      allocateLoadBalancerNodePorts: false,
      // IPv6: the emulator's IPv4 service range is a /24, too small for 500 cluster IPs.
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv6'],
      selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

async function createServices(lab: Lab, names: readonly string[]): Promise<void> {
  const path = `/api/v1/namespaces/${SAMPLE_NAMESPACE}/services`;
  for (let i = 0; i < names.length; i += 25) await Promise.all(names.slice(i, i + 25).map((n) => apiRequest(lab.apiTarget, 'POST', path, service(n))));
}

/** Every LoadBalancer Service has an address and every address is on lo of exactly one node. */
async function waitForAllOwned(lab: Lab, total: number, timeoutMs: number): Promise<void> {
  await waitFor(`${total} Services with an address, each held by one node`, async () => {
    const svcs = await lab.services();
    if (svcs.length !== total || svcs.some((s) => s.addresses.length === 0)) return false;
    const holders = await vipHolders(lab);
    return svcs.flatMap((s) => s.addresses).every((a) => holders.get(a)?.length === 1);
  }, {
    timeoutMs,
    intervalMs: 1000,
    describe: async () => {
      const svcs = await lab.services();
      const holders = await vipHolders(lab);
      const addrs = svcs.flatMap((s) => s.addresses);
      return { services: svcs.length, withAddress: svcs.filter((s) => s.addresses.length > 0).length, held: addrs.filter((a) => holders.get(a)?.length === 1).length };
    },
  });
}

/** Writes other than the periodic ones (Leases, node heartbeats) and, unless DRAIN_EVENTS, Events, have stopped for 3 s. */
async function waitForQuietWrites(lab: Lab): Promise<number> {
  const t0 = Date.now();
  let last = '';
  let since = Date.now();
  await waitFor(`the one-off writes (${DRAIN_EVENTS ? 'status, Events' : 'status'}) to stop for 3 s`, () => {
    const now = JSON.stringify([...writeCounts(lab)].filter(([k]) => k !== 'update leases' && k !== KUBELET_WRITES && (DRAIN_EVENTS || !EVENT_WRITES.has(k))));
    if (now !== last) {
      last = now;
      since = Date.now();
    }
    return Date.now() - since >= 3000;
  }, { timeoutMs: DRAIN_EVENTS ? 400_000 : 120_000, intervalMs: 250 });
  return Date.now() - t0;
}

interface WindowFigures {
  readonly services: number;
  readonly writes: Map<string, number>;
  /** Speaker writes but Events (all but the kubelet's) per node per renew period. */
  readonly perNodePerPeriod: number;
  /** Event writes per node per second (the nodeAssigned backlog, if any). */
  readonly eventsPerNodePerS: number;
  readonly settledMs: number;
}

/** Stops the allocator, waits for quiet, counts writes over WINDOW_MS (a bounded loop that keeps checking the speakers). */
async function measure(lab: Lab, services: number): Promise<WindowFigures> {
  await lab.allocator?.stop(5000);
  const settledMs = await waitForQuietWrites(lab);
  const before = writeCounts(lab);
  const endMs = Date.now() + WINDOW_MS;
  while (Date.now() < endMs) {
    for (const [node, p] of lab.speakers) assert.ok(p.running, `speaker ${node} is running`);
    await delay(Math.max(0, Math.min(1000, endMs - Date.now())));
  }
  const writes = countDelta(before, writeCounts(lab));
  const sum = (keep: (k: string) => boolean) => [...writes].filter(([k]) => keep(k)).reduce((s, [, n]) => s + n, 0);
  const nodes = lab.topology.nodes.length;
  const perNodePerPeriod = sum((k) => k !== KUBELET_WRITES && !EVENT_WRITES.has(k)) / nodes / (WINDOW_MS / RENEW_MS);
  const eventsPerNodePerS = sum((k) => EVENT_WRITES.has(k)) / nodes / (WINDOW_MS / 1000);
  return { services, writes, perNodePerPeriod, eventsPerNodePerS, settledMs };
}

function figuresText(f: WindowFigures): string {
  const by = [...f.writes].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  return `${f.services} Services: ${f.perNodePerPeriod.toFixed(2)} writes (Events apart) per node per ${RENEW_MS / 1000} s renew period, ` +
    `Event writes ${f.eventsPerNodePerS.toFixed(2)} per node per s (${WINDOW_MS / 1000} s window after ${(f.settledMs / 1000).toFixed(1)} s of settling: ${by})`;
}

describe('speaker resilience e2e: steady-state API writes', function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  let stateDir: string | undefined;

  before(async function () {
    skipUnlessRoot(this, 'speaker resilience e2e');
    stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir });
    await hideHostAddressesFromLab(lab);
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('per node per renew period, about the same with 10 and with 500 LoadBalancer Services', async function () {
    this.timeout(300_000);
    const l = lab!;
    await applyManifest(l.apiTarget, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'config', namespace: FULCRUM_NAMESPACE },
      data: { config: ['address-pools:', '- name: lab', '  protocol: layer2', '  addresses:', `  - ${SERVICE_POOL_V4}`, `  - ${SERVICE_POOL_V6}`, `  - ${EXTRA_POOL_V6}`, ''].join('\n') },
    });
    const samples = (await l.services()).length;
    await createServices(l, Array.from({ length: 10 - samples }, (_, i) => `writes-${i + 1}`));
    await waitForAllOwned(l, 10, 60_000);
    const ten = await measure(l, 10);
    console.log(`      ${figuresText(ten)}`);

    l.startAllocator();
    const t0 = Date.now();
    await createServices(l, Array.from({ length: 490 }, (_, i) => `writes-${10 - samples + i + 1}`));
    await waitForAllOwned(l, 500, 180_000);
    console.log(`      490 more Services created, assigned and on lo in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const many = await measure(l, 500);
    console.log(`      ${figuresText(many)}`);

    const low = Math.max(ten.perNodePerPeriod, 1);
    assert.ok(many.perNodePerPeriod <= 2 * low, `500 Services: ${many.perNodePerPeriod.toFixed(2)} writes per node per period, 10 Services: ${ten.perNodePerPeriod.toFixed(2)} (within a factor of 2)`);
    assert.ok(ten.perNodePerPeriod <= 2 * Math.max(many.perNodePerPeriod, 1), 'and the other way round');
    for (const f of [ten, many]) assert.ok(f.eventsPerNodePerS <= EVENT_WRITES_PER_S_MAX, `${f.services} Services: Event writes ${f.eventsPerNodePerS.toFixed(2)}/s per node, within the recorder's rate limit`);
  });
});
