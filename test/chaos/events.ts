import { applyManifest } from '../../lab/components.js';
import type { Lab, LabPod } from '../../lab/lab.js';
import { delay, type LabProcess } from '../../lab/netns.js';
import { LAB_CONFIGMAP, LAB_POOL_CONFIG, SAMPLE_NAMESPACE } from '../../lab/samples.js';
import { HOST_IPV4, HOST_IPV6 } from '../../lab/addressing.js';
import { waitFor } from '../helpers/wait.js';
import { healPartition, partitionNode, speakerMetrics } from '../e2e/helpers-resilience.js';
import { synFlood } from './flood.js';
import { between } from './invariants.js';
import type { KernelTarget } from './load.js';

/**
 * The chaos run's faults (not a test file): each kind applies its fault, holds it for a random
 * time (the experiment), and reverts it (a killed component is started again, a cut link or
 * partition healed, the emulator listening again, a flood stopped). Drawn by weight with a
 * seeded PRNG (run.ts). A SYN flood (flood.ts) also checks its own invariants.
 */

export const EVENT_KINDS = [
  'speaker SIGKILL', 'speaker SIGTERM', 'two speakers SIGKILL', 'link down', 'API partition', 'peer partition',
  'allocator SIGKILL', 'API restart', 'scale up', 'scale down', 'pool change', 'SYN flood',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** How often each kind is drawn, relative to the others. */
export const EVENT_WEIGHTS: readonly (readonly [EventKind, number])[] = [
  ['speaker SIGKILL', 3], ['speaker SIGTERM', 2], ['two speakers SIGKILL', 1], ['link down', 2], ['API partition', 1],
  ['peer partition', 2], ['allocator SIGKILL', 1], ['API restart', 1], ['scale up', 1], ['scale down', 1], ['pool change', 1],
  ['SYN flood', 1],
];

/**
 * The goal of each kind's recovery. For a lost owner, the failover goals of README.md's
 * "Figures" (p95 of `npm run bench:failover`), judged as a p95 over the run (invariants.ts
 * `p95Verdict`): 500 ms for a crash, SIGKILL, cut link or partition, 100 ms for SIGTERM (a
 * rolling update hands over); when two of three die, the bound of the rule that decides it
 * (speaker/membership/liveness.ts): the dead peers' 5 s renew period + the 3 s margin + up to 1 s
 * of the survivor's own hurried renewals, then the failover. A fault that should move nothing
 * gets the failover goal as a bound on every event (any disruption counts).
 */
export const EVENT_GOALS_MS: Readonly<Record<EventKind, number>> = {
  'speaker SIGKILL': 500,
  'speaker SIGTERM': 100,
  'two speakers SIGKILL': 9500,
  'link down': 500,
  'API partition': 500,
  'peer partition': 500,
  'allocator SIGKILL': 500,
  'API restart': 500,
  'scale up': 500,
  'scale down': 500,
  'pool change': 500,
  'SYN flood': 500,
};

/** The kinds that lose an owner: their goals are p95 figures. The others should move nothing. */
export const LOSES_OWNER: ReadonlySet<EventKind> = new Set<EventKind>(['speaker SIGKILL', 'speaker SIGTERM', 'two speakers SIGKILL', 'link down', 'peer partition']);

/** What the faults share across events: extra pods, whether the extra pool range is in, the kernel-mode Service the flood floods. */
export interface ChaosState {
  readonly lab: Lab;
  readonly kernel: KernelTarget;
  readonly rand: () => number;
  readonly extraPods: LabPod[];
  podSeq: number;
  extraRange: boolean;
  apiUp: boolean;
}

const MAX_EXTRA_PODS = 3;
/** A range no Service uses (none is created during the run), in the node network like the pool. */
export const EXTRA_RANGE = '192.0.2.160/28';
const API_CUT_TABLE = 'fulcrum-chaos-api-cut';
/**
 * How long a SYN flood lasts: longer than the 5 s conntrack timeout + the bound's 1 s slack
 * (flood.ts), so entries the timeout did not end would show above the bound.
 */
const FLOOD_MS: readonly [number, number] = [7000, 10_000];

function hold(s: ChaosState, loMs: number, hiMs: number): Promise<number> {
  const ms = between(s.rand, loMs, hiMs);
  return delay(ms).then(() => ms);
}

function pickNodes(s: ChaosState, count: number): string[] {
  const names = s.lab.topology.nodes.map((n) => n.name);
  const out: string[] = [];
  while (out.length < count) {
    const n = names[between(s.rand, 0, names.length - 1)]!;
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

async function stopped(p: LabProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!p?.running) return;
  p.signal(signal);
  // SIGTERM: the speaker hands its addresses over and drains first (seconds)
  const timer = setTimeout(() => p.signal('SIGKILL'), 20_000);
  await p.exited;
  clearTimeout(timer);
}

/** The kind drawn, or the other scaling when this one cannot be done (no extra pod to remove, or the cap reached). */
export function feasibleKind(s: ChaosState, kind: EventKind): EventKind {
  if (kind === 'scale down' && s.extraPods.length === 0) return 'scale up';
  if (kind === 'scale up' && s.extraPods.length >= MAX_EXTRA_PODS) return 'scale down';
  return kind;
}

/** What an event did (its log line) and what it found wrong itself (the SYN flood's invariants). */
export interface EventOutcome {
  readonly detail: string;
  readonly violations: readonly string[];
}

/** Applies, holds and reverts one fault. */
export async function runEvent(s: ChaosState, kind: EventKind): Promise<EventOutcome> {
  if (kind === 'SYN flood') return synFlood(s.lab, s.kernel, between(s.rand, FLOOD_MS[0], FLOOD_MS[1]));
  return { detail: await runFault(s, kind), violations: [] };
}

/** Applies, holds and reverts a fault that checks nothing itself; returns what it did, for the log line. */
async function runFault(s: ChaosState, kind: Exclude<EventKind, 'SYN flood'>): Promise<string> {
  const lab = s.lab;
  switch (kind) {
    case 'speaker SIGKILL':
    case 'speaker SIGTERM': {
      const [node] = pickNodes(s, 1) as [string];
      await stopped(lab.speakers.get(node), kind === 'speaker SIGKILL' ? 'SIGKILL' : 'SIGTERM');
      const ms = await hold(s, 200, 2500);
      lab.startSpeaker(node);
      return `${node}, restarted after ${ms} ms`;
    }
    case 'two speakers SIGKILL': {
      const nodes = pickNodes(s, 2);
      await Promise.all(nodes.map((n) => stopped(lab.speakers.get(n), 'SIGKILL')));
      const ms = await hold(s, 1000, 10_000);
      for (const n of nodes) lab.startSpeaker(n);
      return `${nodes.join(' and ')}, restarted after ${ms} ms`;
    }
    case 'link down': {
      const [node] = pickNodes(s, 1) as [string];
      await lab.topology.setNodeLink(node, 'down');
      const ms = await hold(s, 200, 2500);
      await lab.topology.setNodeLink(node, 'up');
      return `${node}, up after ${ms} ms`;
    }
    case 'API partition': {
      const [node] = pickNodes(s, 1) as [string];
      await cutFromApi(lab, node);
      const ms = await hold(s, 500, 4000);
      await lab.topology.run(lab.topology.node(node).namespace, 'nft', ['delete', 'table', 'inet', API_CUT_TABLE]);
      return `${node}, healed after ${ms} ms`;
    }
    case 'peer partition': {
      const [node] = pickNodes(s, 1) as [string];
      await partitionNode(lab, node);
      const ms = await hold(s, 200, 2500);
      await healPartition(lab, node);
      return `${node}, healed after ${ms} ms`;
    }
    case 'allocator SIGKILL': {
      await stopped(lab.allocator, 'SIGKILL');
      const ms = await hold(s, 200, 2500);
      lab.startAllocator();
      return `restarted after ${ms} ms`;
    }
    case 'API restart': {
      s.apiUp = false;
      await lab.api.stop();
      const ms = await hold(s, 500, 5000);
      await lab.api.start();
      s.apiUp = true;
      return `listening again after ${ms} ms`;
    }
    case 'scale up':
      return scaleUp(s);
    case 'scale down':
      return scaleDown(s);
    case 'pool change': {
      s.extraRange = !s.extraRange;
      await applyPoolConfig(lab, s.extraRange);
      return s.extraRange ? `added ${EXTRA_RANGE}` : `removed ${EXTRA_RANGE}`;
    }
  }
}

/** The pool ConfigMap, with or without the extra range. */
export async function applyPoolConfig(lab: Lab, extra: boolean): Promise<void> {
  const config = extra ? `${LAB_POOL_CONFIG.trimEnd()}\n  - ${EXTRA_RANGE}\n` : LAB_POOL_CONFIG;
  await applyManifest(lab.apiTarget, { ...LAB_CONFIGMAP, data: { config } });
}

/** nftables in the node's namespace dropping its traffic to and from the lab host (the API); peers and client untouched. */
async function cutFromApi(lab: Lab, node: string): Promise<void> {
  const script = `
table inet ${API_CUT_TABLE} {
  chain input { type filter hook input priority -300; policy accept; ip saddr ${HOST_IPV4} drop; ip6 saddr ${HOST_IPV6} drop; }
  chain output { type filter hook output priority -300; policy accept; ip daddr ${HOST_IPV4} drop; ip6 daddr ${HOST_IPV6} drop; }
}
`;
  await lab.topology.run(lab.topology.node(node).namespace, 'nft', ['-f', '-'], { input: script });
}

/** A new backend pod (labels app=web: behind echo-tcp, web, echo-udp, web-dual, chaos-kernel) on a random node. */
async function scaleUp(s: ChaosState): Promise<string> {
  const [node] = pickNodes(s, 1) as [string];
  const name = `chaos-${++s.podSeq}`;
  const pod = await s.lab.runPod(name, s.lab.topology.node(node).index, { app: 'web' });
  s.extraPods.push(pod);
  return `${name} on ${node} (${s.extraPods.length} extra)`;
}

/**
 * Removes an extra pod as a kubelet would: the Pod deleted, then (its containers stopping) removed
 * for good, which takes it out of the EndpointSlices; its process is stopped once no running
 * speaker lists its endpoint any more (their metrics), or after 10 s whatever they say.
 */
async function scaleDown(s: ChaosState): Promise<string> {
  const lab = s.lab;
  const pod = s.extraPods.splice(between(s.rand, 0, s.extraPods.length - 1), 1)[0]!;
  await lab.kubelet.deletePod(SAMPLE_NAMESPACE, pod.name);
  await lab.kubelet.removePod(SAMPLE_NAMESPACE, pod.name);
  const t0 = Date.now();
  const gone = await waitFor(`the speakers to drop ${pod.name}'s endpoints`, async () => {
    const running = [...lab.speakers.entries()].filter(([, p]) => p.running).map(([n]) => n);
    const texts = await Promise.all(running.map((n) => speakerMetrics(lab, n).catch(() => pod.plan.ipv4)));
    return texts.every((t) => !t.includes(pod.plan.ipv4));
  }, { timeoutMs: 10_000, intervalMs: 100 }).then(() => true, () => false);
  await lab.topology.removePod(pod.plan);
  const i = lab.pods.indexOf(pod);
  if (i >= 0) lab.pods.splice(i, 1);
  return `${pod.name} on ${pod.nodeName} (${s.extraPods.length} extra; endpoints dropped by every speaker ${gone ? `in ${Date.now() - t0} ms` : 'NOT within 10 s'})`;
}
