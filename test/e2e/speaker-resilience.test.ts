import assert from 'node:assert/strict';
import { checkAddress } from '../../lab/check.js';
import { applyManifest } from '../../lab/components.js';
import { apiRequest } from '../../lab/kube-rest.js';
import type { Lab } from '../../lab/lab.js';
import { delay } from '../../lab/netns.js';
import { SAMPLE_NAMESPACE } from '../../lab/samples.js';
import { waitFor } from '../helpers/wait.js';
import { answersFor, ConnectionProber, lastAnswer, overlapSeconds, probeText, summarizeProbes } from './helpers-probes.js';
import {
  addressOf, assertSpeakersRunning, electionCounts, electionDelta, gratuitousFromNodes, healPartition, holdersText, nodeByMac, partitionNode,
  labPrefix, skipUnlessRoot, startReadyLab, stopLab, vipHolders, waitForQuiet, type Started,
} from './helpers-resilience.js';

// The speakers under stress, through the whole lab (3 nodes, allocator, one speaker per node,
// default timings): an API outage and a peer partition. Each suite builds its own lab (prefixes
// fr2, fr3) and removes it in `after`, pass or fail. Figures are printed; the assertions are
// what the issue asks for: 0 failed requests and no owner change through the outage, at most
// 1 s of two nodes answering after a partition heals. See test/e2e/README.md.

const API_OUTAGE_MS = 30_000;
const ECHO_PORT = 5678;

/** Creates a TCP echo Service and waits until it has an address and answers from the client; says how long each took. */
async function serviceAnswers(lab: Lab, name: string): Promise<string> {
  const t0 = Date.now();
  await applyManifest(lab.apiTarget, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: SAMPLE_NAMESPACE },
    spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'echo', port: ECHO_PORT, targetPort: 'echo', protocol: 'TCP' }] },
  });
  const address = await waitFor(`${name} to get an address`, async () => (await lab.services()).find((s) => s.name === name)?.addresses[0], { timeoutMs: 30_000, intervalMs: 100 });
  const assignedS = (Date.now() - t0) / 1000;
  await waitFor(`${name} to answer on ${address}`, async () => (await checkAddress(lab.topology, 'tcp-echo', address, ECHO_PORT)).ok, { timeoutMs: 30_000, intervalMs: 100 });
  return `${address} assigned after ${assignedS.toFixed(1)} s, answered ${((Date.now() - t0) / 1000).toFixed(1)} s after its creation`;
}

describe('speaker resilience e2e: API outage (fail static)', function () {
  this.timeout(120_000);
  let started: Started | undefined;

  before(async function () {
    skipUnlessRoot(this, 'speaker resilience e2e');
    started = await startReadyLab(labPrefix(2));
  });

  after(async () => {
    await started?.lab.api.start().catch(() => undefined);
    await stopLab(started);
  });

  it('the emulator stops for 30 s while a client connects every 100 ms: 0 failed, no owner change; afterwards the speakers resync', async function () {
    this.timeout(180_000);
    const { lab, svcs } = started!;
    // The same path before the outage, for comparison.
    console.log(`      a Service created before the outage: ${await serviceAnswers(lab, 'before-outage')}`);
    const capture = await lab.topology.captureNeighbourTraffic();
    await waitForQuiet(lab, capture);
    const holdersBefore = await vipHolders(lab);
    const before = await electionCounts(lab);
    const probers = [
      new ConnectionProber(lab, addressOf(svcs, 'echo-tcp'), ECHO_PORT, { intervalMs: 100, timeoutMs: 3000, mode: 'echo' }),
      new ConnectionProber(lab, addressOf(svcs, 'web-dual', 6), 80, { intervalMs: 100, timeoutMs: 3000, mode: 'http' }),
    ];
    let downS = 0;
    let upS = 0;
    try {
      await waitFor('the clients to get answers', () => probers.every((p) => p.results.some((r) => r.ok)), { timeoutMs: 10_000 });
      downS = Date.now() / 1000;
      await lab.api.stop();
      const endMs = Date.now() + API_OUTAGE_MS;
      // A bounded loop for the outage: the speakers must stay up all along.
      while (Date.now() < endMs) {
        assertSpeakersRunning(lab);
        await delay(Math.max(0, Math.min(1000, endMs - Date.now())));
      }
      upS = Date.now() / 1000;
      await lab.api.start();
      // Resync: every speaker renews its alive Lease again after the API came back.
      const renewedAfter = await waitFor('every speaker to renew its alive Lease after the outage', async () => {
        const leases = (await apiRequest(lab.apiTarget, 'GET', '/apis/coordination.k8s.io/v1/namespaces/fulcrum-system/leases')).items as { metadata: { name: string }; spec?: { renewTime?: string } }[];
        const renewed = lab.topology.nodes.map((n) => leases.find((l) => l.metadata.name === `fulcrum-speaker-${n.name}`)?.spec?.renewTime);
        return renewed.every((t) => t && Date.parse(t) / 1000 > upS) ? Date.now() / 1000 - upS : undefined;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      console.log(`      every alive Lease renewed ${renewedAfter.toFixed(1)} s after the API came back`);
    } finally {
      await Promise.all(probers.map((p) => p.stop()));
    }
    const after = await electionCounts(lab);
    const delta = electionDelta(before, after);
    const holdersAfter = await vipHolders(lab);
    const gratuitous = gratuitousFromNodes(lab, capture, downS);
    await capture.stop();
    for (const p of probers) console.log(`      ${p.target} during the outage: ${probeText(summarizeProbes(p.between(downS * 1000, upS * 1000)))}; whole run: ${probeText(summarizeProbes(p.results))}`);
    console.log(`      owner changes seen by the speakers ${[...delta.entries()].map(([n, d]) => `${n} ${d}`).join(', ')}; takeover announcements ${gratuitous}`);
    for (const p of probers) assert.equal(summarizeProbes(p.results).failed, 0, `${p.target}: no failed connection`);
    assert.deepEqual([...delta.values()], lab.topology.nodes.map(() => 0), 'no owner change');
    assert.equal(gratuitous, 0, 'no takeover announcement on the bridge');
    assert.equal(holdersText(holdersAfter), holdersText(holdersBefore), 'every address is on the same node');

    // A Service created after the outage is assigned, announced and answers: watches are back.
    const created = await serviceAnswers(lab, 'after-outage');
    console.log(`      a Service created after the outage: ${created}`);
  });
});

describe('speaker resilience e2e: a node partitioned from its peers (not from the API)', function () {
  this.timeout(120_000);
  let started: Started | undefined;

  before(async function () {
    skipUnlessRoot(this, 'speaker resilience e2e');
    started = await startReadyLab(labPrefix(3));
  });

  after(async () => {
    await stopLab(started);
  });

  it('its addresses move; once healed, at most 1 s with two nodes answering', async function () {
    this.timeout(180_000);
    const { lab, svcs } = started!;
    const address = addressOf(svcs, 'echo-tcp');
    const holders = await waitFor(`one node to hold ${address}`, async () => {
      const h = (await vipHolders(lab)).get(address) ?? [];
      return h.length === 1 ? h : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    const isolated = holders[0]!;
    const macs = nodeByMac(lab);
    const capture = await lab.topology.captureNeighbourTraffic();
    // arping broadcasts a request every 50 ms, so every node that answers shows on the bridge.
    const arping = lab.topology.spawn(lab.topology.client.namespace, 'arping', ['-i', 'eth0', '-W', '0.05', address], { name: 'arping' });
    const prober = new ConnectionProber(lab, address, ECHO_PORT, { intervalMs: 100, timeoutMs: 3000, mode: 'echo' });
    const answers = () => answersFor(capture.events(), address, macs);
    try {
      await waitFor(`${isolated} to answer ARP for ${address}`, () => answers().some((a) => a.node === isolated), { timeoutMs: 10_000 });
      const cutS = Date.now() / 1000;
      await partitionNode(lab, isolated);
      const moved = await waitFor(`another node to answer for ${address}`, () => answers().find((a) => a.time >= cutS && a.node !== isolated), { timeoutMs: 30_000 });
      await waitFor(`the client to connect to ${address} after the move`, () => prober.results.some((r) => r.ok && r.t >= moved.time * 1000), { timeoutMs: 30_000 });
      // Give the isolated node the chance to notice (its peers' Leases move on without it): until
      // it says it is isolated or has been silent for 2 s, at most 20 s. Measured, not asserted.
      const noticed = await waitFor(`${isolated} to withdraw`, async () => {
        const last = lastAnswer(answers(), isolated, cutS) ?? cutS;
        const m = (await electionCounts(lab)).get(isolated);
        return (m?.isolated ?? 0) > 0 || Date.now() / 1000 - last > 2;
      }, { timeoutMs: 20_000, intervalMs: 250 }).then(() => true, () => false);
      const healS = Date.now() / 1000;
      await healPartition(lab, isolated);
      const settled = await waitFor('one node alone to answer for 2 s after the heal', async () => {
        const nowS = Date.now() / 1000;
        const recent = answers().filter((a) => a.time >= healS && a.time >= nowS - 2);
        const nodes = new Set(recent.map((a) => a.node));
        const m = (await electionCounts(lab)).get(isolated);
        return nowS - healS > 2 && recent.length >= 10 && nodes.size === 1 && (m?.isolated ?? 0) === 0 ? [...nodes][0] : undefined;
      }, { timeoutMs: 30_000, intervalMs: 250, describe: () => answers().filter((a) => a.time >= healS).slice(-10) });
      const final = await waitFor('the client to connect after the heal', () => prober.results.find((r) => r.ok && r.t >= Date.now() - 1000), { timeoutMs: 30_000 });
      assert.ok(final.ok);
      const all = answers();
      const duringPartition = all.filter((a) => a.time < healS);
      const overlapAfterHeal = overlapSeconds(all, healS);
      const overlapDuring = overlapSeconds(duringPartition, cutS);
      const isolatedLast = lastAnswer(duringPartition, isolated, cutS);
      const losers = [...new Set(all.filter((a) => a.time >= healS).map((a) => a.node))].filter((n) => n !== settled);
      const stopTimes = losers.map((n) => `${n} ${((lastAnswer(all, n, healS) ?? healS) - healS).toFixed(3)} s`);
      console.log(`      partitioned ${isolated} (owner of ${address}); ${moved.node} answered ${(moved.time - cutS).toFixed(3)} s after the cut; ` +
        `${isolated} ${isolatedLast === undefined ? 'did not answer after the cut' : `last answered ${(isolatedLast - cutS).toFixed(3)} s after the cut`} ` +
        `(${noticed ? 'withdrew' : 'still answering after 20 s'}); two nodes answering during the partition ${overlapDuring.toFixed(3)} s`);
      console.log(`      after the heal: owner ${settled}; stopped answering after the heal: ${stopTimes.join(', ') || 'nobody else answered'}; ` +
        `two nodes answering ${overlapAfterHeal.toFixed(3)} s; client: ${probeText(summarizeProbes(prober.results))}`);
      assert.notEqual(moved.node, isolated);
      assert.ok(overlapAfterHeal <= 1, `two nodes answered for ${address} for ${overlapAfterHeal.toFixed(3)} s after the heal (at most 1 s)`);
    } finally {
      await prober.stop();
      await arping.stop(1000);
      await capture.stop();
      await healPartition(lab, isolated).catch(() => undefined);
    }
  });
});
