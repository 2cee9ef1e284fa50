import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyManifest, memberlistSecret } from '../../lab/components.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { FULCRUM_NAMESPACE } from '../../lab/samples.js';
import { ETH_P_ARP, decodeArpFrame, encodeArpFrame, gratuitousArp } from '../../speaker/announce/arp.js';
import { sealDatagram } from '../../speaker/membership/auth.js';
import { encodePacket } from '../../speaker/membership/codec.js';
import { deriveKey } from '../../speaker/membership/keys.js';
import type { Packet } from '../../speaker/membership/packet.js';
import { waitFor } from '../helpers/wait.js';
import { frameSocket } from './announce-frames.js';
import { ConnectionProber, probeText, summarizeProbes } from './helpers-probes.js';
import { speakerReadyz } from '../../lab/check.js';
import { addressOf, eventCount, electionCounts, electionDelta, holdersText, livenessLog, skipUnlessRoot, speakerMetrics, startReadyLab, stopLab, vipHolders, waitForOneHolderEach, type Started } from './helpers-resilience.js';

// Membership datagrams are sealed with the memberlist Secret's key (speaker/membership/auth.ts):
// forged "node down" claims from a host on the node network move nothing and are counted, a key
// rotation under load moves nothing, and a forged gratuitous ARP for an owned address is answered
// by the owner's own announcement. Lab prefix fam.
const PREFIX = 'fam';
const PROBE_PORT = 7946;
const SECRET_PATH = `/api/v1/namespaces/${FULCRUM_NAMESPACE}/secrets/memberlist`;

/** Sum of a metric's samples whose labels include `label="value"`, over every node. */
async function labelled(s: Started, name: string, label: string, value: string, nodes?: readonly string[]): Promise<number> {
  let sum = 0;
  for (const n of nodes ?? s.lab.topology.nodes.map((x) => x.name)) {
    for (const line of (await speakerMetrics(s.lab, n)).split('\n')) {
      if (line.startsWith(`${name}{`) && line.includes(`${label}="${value}"`)) sum += Number(line.split(' ').pop());
    }
  }
  return sum;
}

/** The speakers' log lines with this event since `fromMs`, by node. */
function logEvents(s: Started, event: string, fromMs: number): Array<{ node: string; line: Record<string, unknown> }> {
  const out: Array<{ node: string; line: Record<string, unknown> }> = [];
  for (const n of s.lab.topology.nodes) {
    for (const raw of readFileSync(join(s.stateDir, 'logs', `speaker-${n.name}.log`), 'utf8').split('\n')) {
      if (!raw.includes(`"event":"${event}"`)) continue;
      try {
        const line = JSON.parse(raw) as Record<string, unknown>;
        if (Date.parse(String(line.time)) >= fromMs) out.push({ node: n.name, line });
      } catch {
        // a partial line
      }
    }
  }
  return out;
}

/** Membership verdicts (peerState, isolated, rejoined) logged since `fromMs`; a busy machine's stalls are not verdicts. */
function verdicts(s: Started, fromMs: number): string[] {
  return livenessLog(s, fromMs).filter((l) => !/: stalled \d+ ms$/.test(l));
}

/** Sends each datagram once to `host`:7946 from the client namespace (a host on the node network). */
async function sendFromClient(s: Started, host: string, datagrams: readonly Buffer[]): Promise<void> {
  const script = `const s = require('node:dgram').createSocket('udp4'); const [host, port, ...hex] = process.argv.slice(1); let left = hex.length;
for (const h of hex) s.send(Buffer.from(h, 'hex'), Number(port), host, (err) => { if (err) { console.error(err.message); process.exitCode = 1; } if (--left === 0) s.close(); });`;
  const r = await s.lab.topology.exec(s.lab.topology.client.namespace, process.execPath, ['-e', script, host, String(PROBE_PORT), ...datagrams.map((d) => d.toString('hex'))]);
  assert.equal(r.code, 0, `sending from the client: ${r.stderr}`);
}

/** UDP payloads of an Ethernet/IPv4 pcap file (tcpdump -w). */
function udpPayloads(pcap: Buffer): Buffer[] {
  const le = pcap.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (o: number): number => (le ? pcap.readUInt32LE(o) : pcap.readUInt32BE(o));
  const out: Buffer[] = [];
  for (let o = 24; o + 16 <= pcap.length && out.length < 100; ) {
    const len = u32(o + 8);
    const frame = pcap.subarray(o + 16, o + 16 + len);
    o += 16 + len;
    if (frame.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (frame[14]! & 0x0f) * 4;
    out.push(Buffer.from(frame.subarray(14 + ihl + 8)));
  }
  return out;
}

describe('speaker e2e: authenticated membership and forged claims on the node network', function () {
  this.timeout(240_000);
  let s: Started | undefined;

  before(async function () {
    skipUnlessRoot(this, 'membership authentication e2e');
    s = await startReadyLab(PREFIX);
  });

  after(async () => stopLab(s));

  it('forged "node down" datagrams (unauthenticated, wrong key, a stale recording, a replayed capture) move nothing and are counted and logged once per reason', async () => {
    const { lab, svcs } = s!;
    const address = addressOf(svcs, 'echo-tcp');
    const holders = await waitForOneHolderEach(lab);
    const owner = holders.get(address)![0]!;
    const peer = lab.topology.nodes.find((n) => n.name !== owner)!;
    const secret = (await apiRequest(lab.apiTarget, 'GET', SECRET_PATH)) as { data: Record<string, string> };
    const realKey = deriveKey('secretkey', Buffer.from(secret.data.secretkey!, 'base64'));
    const claims: Packet[] = (['left', 'dead'] as const).map((state) => ({
      type: 'gossip', from: peer.name, incarnation: 0, seq: 0, target: '', updates: [{ name: owner, state, incarnation: 0xfffffff0, by: state === 'dead' ? peer.name : '' }],
    }));
    const plain = claims.map((p) => encodePacket(p).bytes);
    const sealed = (key: ReturnType<typeof deriveKey>, to: string, sentAtMs: number): Buffer[] => plain.map((p) => sealDatagram(p, key, to, randomBytes(8), 0, sentAtMs));
    const wrongKey = deriveKey('secretkey', randomBytes(32));
    // Genuine datagrams received by the peer, captured on its link and sent to it again.
    const pcap = join(s!.stateDir, 'membership.pcap');
    const dump = await lab.topology.exec(peer.namespace, 'tcpdump', ['-i', 'eth0', '-Q', 'in', '-c', '3', '-U', '-Z', 'root', '-w', pcap, 'udp', 'and', 'dst', 'port', String(PROBE_PORT), 'and', 'dst', 'host', peer.ipv4], { timeoutMs: 10_000 });
    assert.equal(dump.code, 0, `tcpdump: ${dump.stderr}`);
    const captured = udpPayloads(readFileSync(pcap));
    assert.equal(captured.length, 3, 'three datagrams captured');

    const reasons = ['unauthenticated', 'unknownKey', 'stale', 'replayed', 'badTag'] as const;
    const before = new Map(await Promise.all(reasons.map(async (r) => [r, await labelled(s!, 'fulcrum_speaker_membership_dropped_total', 'reason', r)] as const)));
    const elections = await electionCounts(lab);
    const t0 = Date.now();
    // The right key and addressee, sent a minute ago: a recording played back.
    for (const n of lab.topology.nodes) await sendFromClient(s!, n.ipv4, [...plain, ...sealed(wrongKey, n.name, Date.now()), ...sealed(realKey, n.name, Date.now() - 60_000)]);
    await sendFromClient(s!, peer.ipv4, captured);
    // The same datagrams redirected to the owner: sealed for the peer, they fail the owner's tag.
    await sendFromClient(s!, lab.topology.node(owner).ipv4, captured);
    const expected = { unauthenticated: 6, unknownKey: 6, stale: 6, replayed: 3, badTag: 3 };
    const deltas = async (): Promise<Record<string, number>> => Object.fromEntries(await Promise.all(reasons.map(async (r) => [r, (await labelled(s!, 'fulcrum_speaker_membership_dropped_total', 'reason', r)) - before.get(r)!] as const)));
    const got = await waitFor('every forged datagram refused and counted', async () => {
      const now = await deltas();
      return reasons.every((r) => now[r]! >= expected[r]) ? now : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, describe: async () => `${JSON.stringify(await deltas())}; ${(await speakerMetrics(lab, peer.name)).split('\n').filter((l) => l.startsWith('fulcrum_speaker_membership_dropped_total')).join(' | ')}` });
    assert.deepEqual(got, expected, 'each forged datagram counted once, under its reason');

    // Refused datagrams never reach the detector: had one been taken, the claim would have acted on receipt.
    assert.deepEqual([...electionDelta(elections, await electionCounts(lab)).values()], [0, 0, 0], 'no owner change on any node');
    assert.equal(holdersText(await vipHolders(lab)), holdersText(holders), 'every address on the same node');
    assert.deepEqual(verdicts(s!, t0), [], 'no membership verdict changed');
    const refused = logEvents(s!, 'membershipRefused', t0);
    for (const n of lab.topology.nodes) {
      const byReason = refused.filter((r) => r.node === n.name).map((r) => String(r.line.reason)).sort();
      const want = [...(n.name === owner ? ['badTag'] : []), ...(n.name === peer.name ? ['replayed'] : []), 'stale', 'unauthenticated', 'unknownKey'];
      assert.deepEqual(byReason, want, `${n.name}: one warning per reason (rate-limited), not one per datagram`);
    }
    console.log(`      refused: ${JSON.stringify(got)}; owner ${owner} kept ${address}; no verdict changed`);
  });

  it('a key rotation under load (new key, the old one kept as secretkey-previous, then removed) moves nothing', async () => {
    const { lab, svcs } = s!;
    const address = addressOf(svcs, 'echo-tcp');
    const holders = await waitForOneHolderEach(lab);
    const elections = await electionCounts(lab);
    const badBefore = await labelled(s!, 'fulcrum_speaker_membership_dropped_total', 'reason', 'unknownKey') + await labelled(s!, 'fulcrum_speaker_membership_dropped_total', 'reason', 'badTag');
    const prober = new ConnectionProber(lab, address, 5678, { intervalMs: 20, timeoutMs: 1_000, mode: 'echo' });
    try {
      await waitFor('the prober to get answers', () => prober.results.some((r) => r.ok), { timeoutMs: 10_000 });
      const t0 = Date.now();
      const old = ((await apiRequest(lab.apiTarget, 'GET', SECRET_PATH)) as { data: Record<string, string> }).data.secretkey!;
      await applyManifest(lab.apiTarget, memberlistSecret(FULCRUM_NAMESPACE, old));
      // Every node takes the old key (now secretkey-previous) and, after the grace, signs with the new one.
      let last = -1;
      await waitFor('every node signing with the new key (no datagram under secretkey-previous between two looks)', async () => {
        const previous = await labelled(s!, 'fulcrum_speaker_membership_authenticated_total', 'key', 'secretkey-previous');
        const settled = previous > 0 && previous === last;
        last = previous;
        return settled;
      }, { timeoutMs: 30_000, intervalMs: 1_000 });
      await apiRequest(lab.apiTarget, 'PATCH', SECRET_PATH, { data: { 'secretkey-previous': null } }, 'application/merge-patch+json');
      const newOnly = await labelled(s!, 'fulcrum_speaker_membership_authenticated_total', 'key', 'secretkey');
      await waitFor('datagrams authenticated by the new key alone', async () => (await labelled(s!, 'fulcrum_speaker_membership_authenticated_total', 'key', 'secretkey')) > newOnly + 100, { timeoutMs: 10_000, intervalMs: 200 });
      const t1 = Date.now();
      await prober.stop();
      const summary = summarizeProbes(prober.between(t0, t1));
      console.log(`      rotation took ${((t1 - t0) / 1000).toFixed(1)} s; connections to ${address}:5678 every 20 ms meanwhile: ${probeText(summary)}`);
      const badAfter = await labelled(s!, 'fulcrum_speaker_membership_dropped_total', 'reason', 'unknownKey') + await labelled(s!, 'fulcrum_speaker_membership_dropped_total', 'reason', 'badTag');
      assert.equal(badAfter - badBefore, 0, 'no datagram refused for its key during the rotation');
      assert.deepEqual([...electionDelta(elections, await electionCounts(lab)).values()], [0, 0, 0], 'no owner change on any node');
      assert.equal(holdersText(await vipHolders(lab)), holdersText(holders), 'every address on the same node');
      assert.deepEqual(verdicts(s!, t0), [], 'no membership verdict changed');
      assert.equal(summary.failed, 0, probeText(summary));
      assert.ok(summary.attempts > 50, `load: ${summary.attempts} connections`);
    } finally {
      await prober.stop();
    }
  });

  it('a forged gratuitous ARP from another host claiming an owned address is counted and logged, and the owner announces it again (once: back-off)', async () => {
    const { lab, svcs } = s!;
    const address = addressOf(svcs, 'echo-tcp');
    const owner = (await waitForOneHolderEach(lab)).get(address)![0]!;
    const ownerMac = lab.topology.node(owner).mac;
    const FORGER_MAC = '02:00:5e:00:53:99';
    const client = frameSocket(lab.topology.client.namespace, 'eth0', ETH_P_ARP);
    try {
      const action = (a: string): Promise<number> => labelled(s!, 'fulcrum_announce_conflicts_total', 'action', a, [owner]);
      const [reannounced, held] = [await action('reannounced'), await action('held')];
      const seenFrom = client.received.length;
      const t0 = Date.now();
      const forged = encodeArpFrame(gratuitousArp(address, FORGER_MAC));
      client.socket.send(forged);
      client.socket.send(forged);
      await waitFor(`${owner} to announce ${address} again`, () => client.received.slice(seenFrom).some(({ frame }) => {
        const d = decodeArpFrame(frame);
        return d.ok && d.frame.senderIp === address && d.frame.targetIp === address && d.frame.senderMac === ownerMac;
      }), { timeoutMs: 5_000 });
      const counts = await waitFor('both claims counted', async () => {
        const c = { reannounced: (await action('reannounced')) - reannounced, held: (await action('held')) - held };
        return c.reannounced + c.held >= 2 ? c : undefined;
      }, { timeoutMs: 5_000, intervalMs: 100 });
      assert.deepEqual(counts, { reannounced: 1, held: 1 }, 'the first claim answered, the second held by the back-off');
      const logged = logEvents(s!, 'addressClaimed', t0);
      assert.deepEqual(logged.map((l) => [l.node, l.line.ip, l.line.claimedBy]), [[owner, address, FORGER_MAC]], 'one warning, from the owner, naming the claimant');
    } finally {
      client.socket.close();
      await lab.topology.exec(lab.topology.client.namespace, 'ip', ['neigh', 'flush', 'to', address]);
    }
  });

  it('without the memberlist Secret a restarted speaker does not join and says why, the running ones keep their keys; the Secret back, it joins', async () => {
    const { lab } = s!;
    const secret = (await apiRequest(lab.apiTarget, 'GET', SECRET_PATH)) as { data: Record<string, string> };
    const node = lab.topology.nodes[0]!.name;
    const others = lab.topology.nodes.slice(1).map((n) => n.name);
    const p = lab.speakers.get(node)!;
    p.signal('SIGTERM');
    assert.equal((await p.exited).code, 0);
    await apiRequest(lab.apiTarget, 'DELETE', SECRET_PATH);
    await waitFor('the running speakers to notice the Secret gone', async () => (await Promise.all(others.map((n) => speakerMetrics(lab, n)))).every((t) => /^fulcrum_speaker_membership_key_stale 1$/m.test(t)), { timeoutMs: 10_000, intervalMs: 200 });
    lab.startSpeaker(node);
    const waiting = await waitFor(`${node} to say why it does not join`, async () => {
      const r = await speakerReadyz(lab.topology, node, 7473).catch(() => undefined);
      return r && !r.ready && r.text.includes('not joining the membership') ? r : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    assert.match(waiting.text, /Secret fulcrum-system\/memberlist data "secretkey": the Secret does not exist/);
    await waitFor('the Warning Event MembershipKeyMissing', async () => (await eventCount(lab, 'MembershipKeyMissing')) > 0, { timeoutMs: 20_000, intervalMs: 500 });
    await applyManifest(lab.apiTarget, { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'memberlist', namespace: FULCRUM_NAMESPACE }, data: secret.data });
    assert.deepEqual(await lab.waitForSpeakers(30_000), [], 'every speaker ready again, the restarted one a member');
    for (const n of lab.topology.nodes) assert.match(await speakerMetrics(lab, n.name), /^fulcrum_speaker_membership_key_stale 0$/m, `${n.name}: keys current`);
  });
});
