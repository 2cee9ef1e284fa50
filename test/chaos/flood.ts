import { ownerSeenByClient } from '../../lab/check.js';
import type { Lab } from '../../lab/lab.js';
import { delay, type LabProcess } from '../../lab/netns.js';
import { countKernelFlows } from '../../speaker/kernel/conntrack.js';
import { UNANSWERED_FLOW_TIMEOUT_S } from '../../speaker/kernel/ruleset.js';
import { metricSamples, speakerMetrics, vipHolders } from '../e2e/helpers-resilience.js';
import { drainedTick, floodEntries, floodVerdict, seconds, type FloodBounds, type FloodTick } from './invariants.js';
import type { KernelTarget } from './load.js';

/**
 * The chaos run's SYN flood (not a test file): from the client namespace, connections to the
 * kernel-mode Service at a fixed rate from a fixed range of source ports, none completed (an
 * nftables table in the client drops the SYN-ACKs to those ports; each socket is dropped 50 ms
 * later, still in SYN_SENT, and Linux sends nothing for it: the technique of
 * e2e/kernel-mode-conntrack.test.ts). Meanwhile and until they drain, every node's conntrack
 * entries of the port from the flood's ports (`/proc/net/nf_conntrack`, `floodEntries`,
 * `countKernelFlows`) and the owner's
 * `fulcrum_kernel_flows` are sampled; the verdict is invariants.ts `floodVerdict`.
 */

/** SYNs per second: the e2e's rate; the flooder, the nodes' conntrack and the load share 2 cores in CI. */
export const FLOOD_RATE = 400;
/** The flood's source ports: base … base + span - 1 (the client's own ephemeral ports start at 32768). */
const FLOOD_PORT_BASE = 20_000;
const FLOOD_PORT_SPAN = 10_000;
const FLOOD_TABLE = 'fulcrum-chaos-flood';
/** How often every node's conntrack is read; the owner's metrics every other look. */
const SAMPLE_INTERVAL_MS = 250;
/** A flooder starved of CPU sends late: it is stopped (and that is a violation) this long after its due end. */
const FLOODER_LATE_MS = 10_000;

/**
 * Bounded: rate × (the 5 s timeout + 1 s): the flood goes out in batches every 50 ms, a look
 * takes up to a few hundred ms on 2 cores, and an entry is dropped at the first look after it
 * expires. Drained: none of the flood's entries left on any node within the timeout + 3 s of the
 * flood's end.
 */
export const FLOOD_BOUNDS: FloodBounds = { timeoutS: UNANSWERED_FLOW_TIMEOUT_S, boundSlackS: 1, drainSlackS: 3, drainedAtMost: 0 };

// Runs in the client namespace: `rate` connections a second (a batch every 50 ms) from ports
// base + i, each dropped 50 ms later while still in SYN_SENT; prints "sent N" at the end.
const FLOODER = `
const net = require('node:net');
const [host, port, rate, count, base] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
let i = 0;
const timer = setInterval(() => {
  for (let k = 0; k < rate / 20 && i < count; k++, i++) {
    const s = net.connect({ host, port, localPort: base + i });
    s.on('error', () => undefined);
    setTimeout(() => s.destroy(), 50);
  }
  if (i >= count) { clearInterval(timer); setTimeout(() => { process.stdout.write('sent ' + i + '\\n'); process.exit(0); }, 100); }
}, 50);
`;

/** The client's input drops SYN-ACKs to the flood's ports: no flood connection completes. */
const DROP_SYN_ACKS = `
table inet ${FLOOD_TABLE} {
  chain input { type filter hook input priority 0; policy accept; tcp dport ${FLOOD_PORT_BASE}-${FLOOD_PORT_BASE + FLOOD_PORT_SPAN - 1} tcp flags & (syn | ack) == syn | ack drop; }
}
`;

/** The flood's opening entries of the port on every node, from their `/proc/net/nf_conntrack` (0 where it cannot be read). */
async function openingPerNode(lab: Lab, k: KernelTarget): Promise<Map<string, number>> {
  const port = { name: k.service, address: k.address, port: k.port, protocol: 'tcp' as const };
  const counts = await Promise.all(lab.topology.nodes.map(async (n) => {
    const r = await lab.topology.exec(n.namespace, 'cat', ['/proc/net/nf_conntrack']);
    return [n.name, r.code === 0 ? countKernelFlows(floodEntries(r.stdout, FLOOD_PORT_BASE, FLOOD_PORT_SPAN), [port]).get(k.service)!.opening : 0] as const;
  }));
  return new Map(counts);
}

/** The owner speaker's `fulcrum_kernel_flows{state="opening"}` of the port (its label: `namespace/name:port/TCP@address`). */
async function openingMetric(lab: Lab, node: string, k: KernelTarget): Promise<number> {
  const samples = metricSamples(await speakerMetrics(lab, node), 'fulcrum_kernel_flows');
  return samples.filter((x) => x.labels.state === 'opening' && x.labels.port?.endsWith(`:${k.port}/TCP@${k.address}`)).reduce((sum, x) => sum + x.value, 0);
}

/** Floods the kernel-mode Service for about `floodMs` and checks its conntrack entries; returns the detail line and the violations. */
export async function synFlood(lab: Lab, k: KernelTarget, floodMs: number): Promise<{ detail: string; violations: string[] }> {
  const sent = Math.round((FLOOD_RATE * floodMs) / 1000);
  if (sent > FLOOD_PORT_SPAN) throw new Error(`a SYN flood of ${sent} connections: more than its ${FLOOD_PORT_SPAN} source ports`);
  // the node the client sends to (its neighbour entry: the load asks every 100 ms); a node that
  // just handed the address over may still have it on lo, so lo does not tell
  const owner = (await ownerSeenByClient(lab.topology, k.address)) ?? (await vipHolders(lab)).get(k.address)?.[0] ?? 'none';
  const client = lab.topology.client.namespace;
  const violations: string[] = [];
  const ticks: FloodTick[] = [];
  let metricPeak: number | undefined;
  let flooder: LabProcess | undefined;
  await lab.topology.run(client, 'nft', ['-f', '-'], { input: DROP_SYN_ACKS });
  try {
    const t0 = Date.now();
    flooder = lab.topology.spawn(client, process.execPath, ['-e', FLOODER, k.address, String(k.port), String(FLOOD_RATE), String(sent), String(FLOOD_PORT_BASE)], { name: 'syn flooder' });
    const look = async (): Promise<FloodTick> => {
      const readMetric = ticks.length % 2 === 0 && owner !== 'none';
      const [opening, metric] = await Promise.all([openingPerNode(lab, k), readMetric ? openingMetric(lab, owner, k).catch(() => undefined) : undefined]);
      if (metric !== undefined) metricPeak = Math.max(metricPeak ?? 0, metric);
      const tick = { atMs: Date.now() - t0, opening };
      ticks.push(tick);
      return tick;
    };
    // while it floods: a look every interval, and at once when the flooder exits
    const exited = flooder.exited;
    const floodTicks = Math.ceil((floodMs + FLOODER_LATE_MS) / SAMPLE_INTERVAL_MS);
    for (let i = 0; i < floodTicks && flooder.running; i++) {
      await look();
      await Promise.race([exited, delay(SAMPLE_INTERVAL_MS)]);
    }
    if (flooder.running) violations.push(`the flooder was still running ${seconds(Date.now() - t0)} after it started (due ${seconds(floodMs)}): stopped`);
    await flooder.stop(1000);
    const stoppedMs = Date.now() - t0;
    const done = Number(/sent (\d+)/.exec(flooder.output())?.[1] ?? 0);
    if (done !== sent) violations.push(`the flooder sent ${done} of ${sent} connections (${flooder.output().slice(-200).trim()})`);
    // until every node has drained, or the drain's bound and one more look have passed
    const drainTicks = Math.ceil(((FLOOD_BOUNDS.timeoutS + FLOOD_BOUNDS.drainSlackS) * 1000) / SAMPLE_INTERVAL_MS) + 1;
    for (let i = 0; i < drainTicks; i++) {
      if (drainedTick(await look(), FLOOD_BOUNDS.drainedAtMost)) break;
      await delay(SAMPLE_INTERVAL_MS);
    }
    const verdict = floodVerdict({ target: `${k.address}:${k.port}`, owner, ratePerS: FLOOD_RATE, sent: done, floodMs: stoppedMs, ticks, metricPeak }, FLOOD_BOUNDS);
    return { detail: verdict.detail, violations: [...violations, ...verdict.violations] };
  } finally {
    await flooder?.stop(1000);
    await lab.topology.exec(client, 'nft', ['delete', 'table', 'inet', FLOOD_TABLE]);
  }
}
