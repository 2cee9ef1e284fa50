import assert from 'node:assert/strict';
import { checkAddress } from '../../lab/check.js';
import { apiRequest } from '../../lab/kube-rest.js';
import type { LabService } from '../../lab/lab.js';
import { delay } from '../../lab/netns.js';
import { SAMPLE_SERVICES } from '../../lab/samples.js';
import { waitFor } from '../helpers/wait.js';
import { ConnectionProber, probeText, summarizeProbes, type ProbeResult } from './helpers-probes.js';
import { holdersText, labPrefix, livenessLog, skipUnlessRoot, startReadyLab, stopLab, vipHolders, waitForQuiet, type Started } from './helpers-resilience.js';

// Two of three speakers die at once (SIGKILL): the survivor hears no peer, and the API tells it
// why (the dead speakers' Leases stop being renewed), so it keeps serving and takes every
// Cluster-policy address (speaker/membership/README.md, "The last speaker standing"). Then the
// dead ones come back and the addresses return to the election's owners. Lab prefix fr5.

const UDP_PORT = 5678;

interface Target {
  readonly service: string;
  readonly address: string;
  readonly port: number;
  readonly mode: 'echo' | 'http' | 'udp';
}

/** Every address and port of the Cluster-policy sample Services (the Local one has its only endpoint on one node). */
function clusterTargets(svcs: readonly LabService[]): Target[] {
  const out: Target[] = [];
  for (const s of svcs) {
    const sample = SAMPLE_SERVICES.find((x) => x.name === s.name);
    if (!sample || (sample.manifest.spec as { externalTrafficPolicy?: string }).externalTrafficPolicy === 'Local') continue;
    for (const address of s.addresses) {
      for (const p of s.ports) out.push({ service: s.name, address, port: p.port, mode: p.protocol === 'UDP' ? 'udp' : sample.checks[p.port] === 'http' ? 'http' : 'echo' });
    }
  }
  return out;
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
    const targets = clusterTargets(await lab.services());
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

    const tcp = targets.filter((t) => t.mode !== 'udp');
    const probers = tcp.map((t) => new ConnectionProber(lab, t.address, t.port, { intervalMs: 100, timeoutMs: 2000, mode: t.mode === 'http' ? 'http' : 'echo' }));
    try {
      await waitFor('every prober to get answers', () => probers.every((p) => p.results.some((r) => r.ok)), { timeoutMs: 10_000 });
      const killMs = Date.now();
      for (const n of killed) lab.speakers.get(n)!.signal('SIGKILL');

      // UDP has no connection to time: ask every 100 ms until each UDP address answers through the survivor.
      const udp = targets.filter((t) => t.mode === 'udp');
      const udpAnswered = new Map<string, number>();
      await waitFor(`every address to answer again through ${survivor}`, async () => {
        for (const t of udp) {
          const askedMs = Date.now();
          if (!udpAnswered.has(t.address) && (await checkAddress(lab.topology, 'udp-echo', t.address, UDP_PORT)).ok) udpAnswered.set(t.address, askedMs - killMs);
        }
        const holders = await vipHolders(lab);
        const onSurvivor = targets.every((t) => holders.get(t.address)?.includes(survivor));
        const tcpBack = probers.every((p) => recoveredAfterMs(p.results, killMs) !== undefined && p.results.at(-1)?.ok);
        return onSurvivor && tcpBack && udpAnswered.size === udp.length;
      }, { timeoutMs: 60_000, intervalMs: 100, describe: async () => `${holdersText(await vipHolders(lab))}; ${livenessLog(s, killMs).slice(-6).join(' | ')}` });
      const recovery = new Map<string, number>();
      probers.forEach((p) => recovery.set(p.target, recoveredAfterMs(p.results, killMs)!));
      for (const [a, ms] of udpAnswered) recovery.set(`${a}:${UDP_PORT}/udp`, ms);
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
    } finally {
      await Promise.all(probers.map((p) => p.stop()));
      await capture.stop();
    }
  });

  it('scaled down to one node (two Nodes deleted with their speakers killed): the last node serves every Cluster-policy address', async function () {
    const s = started!;
    const lab = s.lab;
    const targets = clusterTargets(await lab.services());
    const survivor = lab.topology.nodes[0]!.name;
    const gone = lab.topology.nodes.slice(1).map((n) => n.name);
    const t0 = Date.now();
    for (const n of gone) {
      lab.speakers.get(n)!.signal('SIGKILL');
      await apiRequest(lab.apiTarget, 'DELETE', `/api/v1/nodes/${n}`);
    }
    await waitFor(`every Cluster-policy address to answer through ${survivor}`, async () => {
      const holders = await vipHolders(lab);
      if (!targets.every((t) => holders.get(t.address)?.includes(survivor))) return false;
      const answers = await Promise.all(targets.map((t) => checkAddress(lab.topology, t.mode === 'udp' ? 'udp-echo' : t.mode === 'http' ? 'http' : 'tcp-echo', t.address, t.port)));
      return answers.every((a) => a.ok);
    }, { timeoutMs: 60_000, intervalMs: 200, describe: async () => `${holdersText(await vipHolders(lab))}; ${livenessLog(s, t0).slice(-6).join(' | ')}` });
    console.log(`      ${gone.join(', ')} deleted: ${survivor} serves every Cluster-policy address ${((Date.now() - t0) / 1000).toFixed(2)} s later`);
  });
});
