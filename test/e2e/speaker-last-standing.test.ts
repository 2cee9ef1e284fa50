import assert from 'node:assert/strict';
import { checkAddress, type CheckResult } from '../../lab/check.js';
import { apiRequest } from '../../lab/kube-rest.js';
import type { Lab } from '../../lab/lab.js';
import { delay } from '../../lab/netns.js';
import { checkSpec, SAMPLE_NAMESPACE, SAMPLE_SERVICES, shardOfPod, type CheckSpec } from '../../lab/samples.js';
import { waitFor } from '../helpers/wait.js';
import { ConnectionProber, probeText, summarizeProbes, type ProberOptions, type ProbeResult } from './helpers-probes.js';
import { holdersText, labPrefix, livenessLog, skipUnlessRoot, startReadyLab, stopLab, vipHolders, waitForQuiet, type Started } from './helpers-resilience.js';

// Two of three speakers die at once (SIGKILL): the survivor hears no peer, and the API tells it
// why (the dead speakers' Leases stop being renewed), so it keeps serving and takes every
// Cluster-policy address (speaker/membership/README.md, "The last speaker standing"). Then the
// dead ones come back and the addresses return to the election's owners. Each address is asked
// what the lab's own check asks (Host, SNI and the lab CA, the shard that must answer); a Service
// whose pods are all on dead nodes is served by the survivor's proxy with a 503. Lab prefix fr5.

interface Target {
  readonly service: string;
  readonly address: string;
  readonly port: number;
  /** How the lab checks this port (kind, and for host-routed or HTTPS ports the Host and shard), from lab/samples.ts. */
  readonly check: CheckSpec;
  /** The nodes of the Service's ready endpoints, read before anything is killed. */
  readonly backendNodes: readonly string[];
}

interface SliceJson {
  metadata: { namespace: string; labels?: Record<string, string> };
  endpoints?: { nodeName?: string; conditions?: { ready?: boolean } }[];
}

/** Every address and port of the Cluster-policy sample Services (the Local one has its only endpoint on one node). */
async function clusterTargets(lab: Lab): Promise<Target[]> {
  const svcs = await lab.services();
  const slices = (await apiRequest(lab.apiTarget, 'GET', '/apis/discovery.k8s.io/v1/endpointslices')).items as SliceJson[];
  const out: Target[] = [];
  for (const s of svcs) {
    const sample = SAMPLE_SERVICES.find((x) => x.name === s.name && s.namespace === SAMPLE_NAMESPACE);
    if (!sample || (sample.manifest.spec as { externalTrafficPolicy?: string }).externalTrafficPolicy === 'Local') continue;
    const mine = slices.filter((sl) => sl.metadata.namespace === s.namespace && sl.metadata.labels?.['kubernetes.io/service-name'] === s.name);
    const backendNodes = [...new Set(mine.flatMap((sl) => sl.endpoints ?? []).filter((e) => e.conditions?.ready !== false).map((e) => e.nodeName ?? ''))].sort();
    for (const address of s.addresses) {
      for (const p of s.ports) {
        const check = checkSpec(sample.checks[p.port] ?? (p.protocol === 'UDP' ? 'udp-echo' : 'tcp-echo'));
        out.push({ service: s.name, address, port: p.port, check, backendNodes });
      }
    }
  }
  return out;
}

function label(t: Target): string {
  const at = t.address.includes(':') ? `[${t.address}]:${t.port}` : `${t.address}:${t.port}`;
  return `${t.service} ${at}${t.check.kind === 'udp-echo' ? '/udp' : ''}`;
}

/**
 * Every endpoint of the target's Service is on a dead node. The speaker leaves out endpoints on
 * nodes its membership calls down (speaker/plan/proxy-model.ts), so the survivor serves such an
 * address with nothing behind it: its own proxy answers HTTP 503. (The host-routed samples select
 * one shard each: `blog`'s only pod is on node 2, `shop`'s are on nodes 1 and 3.)
 */
function orphaned(t: Target, alive: readonly string[]): boolean {
  return !t.backendNodes.some((n) => alive.includes(n));
}

/** One real request through the survivor: a pod's answer, or for an orphaned target the proxy's own 503. */
async function answerThrough(lab: Lab, t: Target, alive: readonly string[]): Promise<CheckResult> {
  const r = await checkAddress(lab.topology, t.check, t.address, t.port, lab.caFile);
  if (!orphaned(t, alive)) return r;
  return { ok: /^HTTP 503:/.test(r.detail), detail: `${r.detail} (every endpoint on a dead node)` };
}

function assertOrphansAreHttp(targets: readonly Target[], alive: readonly string[]): void {
  const other = targets.filter((t) => orphaned(t, alive) && t.check.kind !== 'http' && t.check.kind !== 'https');
  assert.deepEqual(other.map(label), [], `only HTTP answers without endpoints (alive: ${alive.join(', ')})`);
}

/**
 * A prober that asks what the lab's own check asks: HTTP(S) with the sample's Host (and SNI,
 * verified against the lab CA), and for a host-routed Service only its shard's pods count: two
 * Services share one address and port, so a Host-less GET would get a 404.
 */
function proberOptions(lab: Lab, t: Target): ProberOptions {
  const { kind, host, shard } = t.check;
  return {
    intervalMs: 100,
    timeoutMs: 2000,
    mode: kind === 'http' || kind === 'https' ? kind : 'echo',
    hostName: host,
    caFile: kind === 'https' ? lab.caFile : undefined,
    pods: shard === undefined ? undefined : lab.pods.map((p) => p.name).filter((n) => shardOfPod(n) === shard),
  };
}

/** Pure: ms from `fromMs` until the attempt after which every attempt succeeded (0 if none failed). */
export function recoveredAfterMs(results: readonly ProbeResult[], fromMs: number): number | undefined {
  const after = [...results].filter((r) => r.t >= fromMs).sort((a, b) => a.t - b.t);
  const lastFailure = after.map((r) => r.ok).lastIndexOf(false);
  if (lastFailure === after.length - 1) return undefined;
  return lastFailure < 0 ? 0 : after[lastFailure + 1]!.t - fromMs;
}

describe('speaker e2e: the last speaker standing', function () {
  this.timeout(240_000);
  let started: Started | undefined;

  before(async function () {
    skipUnlessRoot(this, 'last speaker standing e2e');
    started = await startReadyLab(labPrefix(5));
  });

  after(async () => {
    await stopLab(started);
  });

  it('two of three speakers SIGKILLed: the survivor serves every Cluster-policy address; they come back and the addresses return to their owners', async function () {
    const s = started!;
    const lab = s.lab;
    const targets = await clusterTargets(lab);
    const capture = await lab.topology.captureNeighbourTraffic();
    await waitForQuiet(lab, capture);
    const owners = await vipHolders(lab);
    const ownerOf = (address: string): string => owners.get(address)![0]!;
    // The survivor: the node owning the fewest of these addresses, so that most of them move.
    const nodes = lab.topology.nodes.map((n) => n.name);
    const owned = (n: string) => targets.filter((t) => ownerOf(t.address) === n).length;
    const survivor = [...nodes].sort((a, b) => owned(a) - owned(b) || a.localeCompare(b))[0]!;
    const killed = nodes.filter((n) => n !== survivor);
    const moving = [...new Set(targets.filter((t) => ownerOf(t.address) !== survivor).map((t) => t.address))];
    assert.ok(moving.length > 0, `some address is owned by ${killed.join(' or ')} (${holdersText(owners)})`);

    assertOrphansAreHttp(targets, [survivor]);
    // A prober on each TCP address and port with a live backend; the others are asked one by one below.
    const probed = targets.filter((t) => t.check.kind !== 'udp-echo' && !orphaned(t, [survivor]));
    const asked = targets.filter((t) => !probed.includes(t));
    const probers = probed.map((t) => new ConnectionProber(lab, t.address, t.port, proberOptions(lab, t)));
    try {
      await waitFor('every prober to get answers', () => probers.every((p) => p.results.some((r) => r.ok)), {
        timeoutMs: 10_000,
        describe: () => probers.filter((p) => !p.results.some((r) => r.ok)).map((p) => `${p.target}: ${p.results.at(-1)?.err ?? 'no attempt yet'}`),
      });
      const killMs = Date.now();
      for (const n of killed) lab.speakers.get(n)!.signal('SIGKILL');

      // UDP has no connection to time, and an orphaned address has no pod to answer: ask each every
      // 100 ms until it answers through the survivor (UDP: the echo; orphaned: the proxy's 503).
      const answered = new Map<Target, number>();
      const lastAnswer = new Map<Target, string>();
      await waitFor(`every address to answer again through ${survivor}`, async () => {
        for (const t of asked.filter((x) => !answered.has(x))) {
          const askedMs = Date.now();
          const r = await answerThrough(lab, t, [survivor]);
          lastAnswer.set(t, r.detail);
          if (r.ok) answered.set(t, askedMs - killMs);
        }
        const holders = await vipHolders(lab);
        const onSurvivor = targets.every((t) => holders.get(t.address)?.includes(survivor));
        const tcpBack = probers.every((p) => recoveredAfterMs(p.results, killMs) !== undefined && p.results.at(-1)?.ok);
        return onSurvivor && tcpBack && answered.size === asked.length;
      }, {
        timeoutMs: 60_000,
        intervalMs: 100,
        describe: async () => {
          const notBack = probers.filter((p) => !p.results.at(-1)?.ok).map((p) => `${p.target}: ${p.results.at(-1)?.err ?? 'no attempt'}`);
          const silent = asked.filter((t) => !answered.has(t)).map((t) => `${label(t)}: ${lastAnswer.get(t) ?? 'not asked'}`);
          return `${holdersText(await vipHolders(lab))}; not back: ${[...notBack, ...silent].join(', ') || 'none'}; ${livenessLog(s, killMs).slice(-6).join(' | ')}`;
        },
      });
      const recovery = new Map<string, number>();
      probers.forEach((p) => recovery.set(p.target, recoveredAfterMs(p.results, killMs)!));
      for (const [t, ms] of answered) recovery.set(`${label(t)}${orphaned(t, [survivor]) ? ' (503, no live endpoint)' : ''}`, ms);
      const lastMs = Math.max(...recovery.values());
      console.log(`      killed ${killed.join(', ')}; ${survivor} serves every Cluster-policy address ${(lastMs / 1000).toFixed(2)} s after the kills`);
      console.log(`      per address (s after the kills): ${[...recovery].map(([t, ms]) => `${t} ${(ms / 1000).toFixed(2)}`).join(', ')}`);
      // Its own addresses too: hearing no peer, it withdrew until the Leases told it the others were dead.
      console.log(`      ${survivor} owned ${targets.filter((t) => ownerOf(t.address) === survivor).map((t) => `${t.address}:${t.port}`).join(', ') || 'none of them'} before the kills`);

      // The dead come back: the election gives their addresses back.
      const backMs = Date.now();
      for (const n of killed) lab.startSpeaker(n);
      assert.deepEqual(await lab.waitForSpeakers(30_000), [], 'every speaker ready again');
      await waitForQuiet(lab, capture);
      const after = await vipHolders(lab);
      assert.equal(holdersText(after), holdersText(owners), 'every address back on the node the election gives it');
      // One more round of probes after the handback, then the count.
      await delay(500);
      const handback = probers.map((p) => ({ target: p.target, summary: summarizeProbes(p.between(backMs)) }));
      const failed = handback.reduce((n, h) => n + h.summary.failed, 0);
      console.log(`      handback: ${handback.map((h) => `${h.target}: ${probeText(h.summary)}`).join('; ')}`);
      assert.equal(failed, 0, 'no new connection failed while the addresses went back');
      // The orphaned Services have their pods again once their nodes are members again.
      const orphans = targets.filter((t) => orphaned(t, [survivor]));
      await waitFor('the Services whose pods were all on killed nodes to answer from their pods again', async () => {
        const answers = await Promise.all(orphans.map((t) => checkAddress(lab.topology, t.check, t.address, t.port, lab.caFile)));
        return answers.every((a) => a.ok);
      }, { timeoutMs: 10_000, intervalMs: 200, describe: () => Promise.all(orphans.map(async (t) => `${label(t)}: ${(await checkAddress(lab.topology, t.check, t.address, t.port, lab.caFile)).detail}`)) });
    } finally {
      await Promise.all(probers.map((p) => p.stop()));
      await capture.stop();
    }
  });

  it('scaled down to one node (two Nodes deleted with their speakers killed): the last node serves every Cluster-policy address', async function () {
    const s = started!;
    const lab = s.lab;
    const targets = await clusterTargets(lab);
    const survivor = lab.topology.nodes[0]!.name;
    assertOrphansAreHttp(targets, [survivor]);
    const gone = lab.topology.nodes.slice(1).map((n) => n.name);
    const t0 = Date.now();
    for (const n of gone) {
      lab.speakers.get(n)!.signal('SIGKILL');
      await apiRequest(lab.apiTarget, 'DELETE', `/api/v1/nodes/${n}`);
    }
    let failing: string[] = [];
    await waitFor(`every Cluster-policy address to answer through ${survivor}`, async () => {
      const holders = await vipHolders(lab);
      if (!targets.every((t) => holders.get(t.address)?.includes(survivor))) return false;
      const answers = await Promise.all(targets.map((t) => answerThrough(lab, t, [survivor])));
      failing = answers.flatMap((a, i) => (a.ok ? [] : [`${label(targets[i]!)}: ${a.detail}`]));
      return failing.length === 0;
    }, { timeoutMs: 60_000, intervalMs: 200, describe: async () => `${holdersText(await vipHolders(lab))}; ${failing.join(', ')}; ${livenessLog(s, t0).slice(-6).join(' | ')}` });
    console.log(`      ${gone.join(', ')} deleted: ${survivor} serves every Cluster-policy address ${((Date.now() - t0) / 1000).toFixed(2)} s later`);
  });
});
