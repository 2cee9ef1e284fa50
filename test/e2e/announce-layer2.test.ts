import assert from 'node:assert/strict';
import type { NeighbourCapture, NeighbourEvent } from '../../lab/capture.js';
import type { NodePlan } from '../../lab/addressing.js';
import type { LabProcess } from '../../lab/netns.js';
import { waitFor } from '../../lab/netns.js';
import { Topology } from '../../lab/topology.js';
import { formatIpv6 } from '../../speaker/announce/addr.js';
import { ETH_P_ARP, arpReplyFor, arpRequest, decodeArpFrame, encodeArpFrame } from '../../speaker/announce/arp.js';
import type { Ownership } from '../../speaker/announce/decide.js';
import { ETH_P_IPV6, decodeNeighborAdvertisement, encodeNeighborAdvertisement, icmpv6Checksum, unsolicitedAdvertisement } from '../../speaker/announce/ndp.js';
import { ETH_P_ALL, withNetns } from '../../speaker/announce/packet-socket.js';
import { Announcer } from '../../speaker/announce/responder.js';
import { VipPlumbing } from '../../speaker/vip/plumbing.js';
import { type SentFrames, frameSocket, icmpv6Frame, parseIcmpv6Frame, unicastSolicitation } from './announce-frames.js';

// Real namespaces from the lab topology (3 nodes, a client, a bridge); prefix `fla` is this
// file's own. Each node gets what a speaker would run: VIP plumbing and an announcer, driven by
// a test-controlled owner instead of the election.
const PREFIX = 'fla';
const VIP4 = '192.0.2.100';
const VIP6 = '2001:db8::100';
const PORT = 8080;
const isRoot = process.getuid?.() === 0;

/** One node's speaker parts; `owned` plays the election. */
class TestSpeaker {
  readonly owned = new Set<string>();
  readonly plumbing: VipPlumbing;
  readonly announcer: Announcer;
  constructor(readonly plan: NodePlan) {
    this.plumbing = new VipPlumbing({ interfaces: ['eth0'], netns: plan.namespace });
    const ownsAddress = (ip: string, iface: string): Ownership => {
      if (!this.owned.has(ip)) return { announce: false, reason: 'notOwner' };
      return iface === 'eth0' ? { announce: true } : { announce: false, reason: 'notThisInterface' };
    };
    this.announcer = withNetns(plan.namespace, () => new Announcer({ interfaces: ['eth0'], ownsAddress }));
  }
  /** Takes an address over: plumbing first (so traffic is accepted), then the announcement. */
  async own(ip: string): Promise<void> {
    this.owned.add(ip);
    await this.plumbing.apply([...this.owned]);
    this.announcer.announce(ip, 'eth0');
  }
  /** Stops owning: no more answers, no more announcements, address off lo. */
  async disown(ip: string): Promise<void> {
    this.owned.delete(ip);
    this.announcer.withdraw(ip);
    await this.plumbing.apply([...this.owned]);
  }
}

describe('announcer on the lab network: ARP and NDP answered from userspace by the owner only', function () {
  let topo: Topology;
  let capture: NeighbourCapture;
  let speakers: TestSpeaker[] = [];
  const sockets: SentFrames[] = [];
  const servers: LabProcess[] = [];

  before(async function () {
    if (!isRoot) {
      console.log('    (announcer e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    topo = await Topology.create({ prefix: PREFIX, nodes: 3 });
    // These tests do not use the lab host link (the API emulator's way in), and the root
    // namespace of a machine whose own address is in 192.0.2.0/24 answers ARP for the client's
    // address through it: unplug it so nodes reach the client, not the host.
    await topo.run(topo.names.switchNamespace, 'ip', ['link', 'set', topo.names.hostSwitchPort, 'down']);
    for (const node of topo.nodes) {
      const s = new TestSpeaker(node);
      speakers.push(s);
      await s.plumbing.prepareInterfaces();
    }
    capture = await topo.captureNeighbourTraffic();
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.socket.close();
    await Promise.all(servers.splice(0).map((p) => p.stop()));
    for (const s of speakers) for (const ip of [...s.owned]) await s.disown(ip);
    if (topo) await topo.run(topo.client.namespace, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
  });

  after(async () => {
    for (const s of speakers) s.announcer.close();
    speakers = [];
    await topo?.destroy();
  });

  const clientMacFor = async (ip: string): Promise<string | undefined> => (await topo.neighbours(topo.client.namespace)).find((n) => n.ip === ip)?.mac;

  /** Answers for `ip` on the wire (ARP replies, solicited advertisements), by source MAC. */
  const answersFor = (ip: string, since = 0): NeighbourEvent[] =>
    capture.events().filter((e) => e.time >= since && e.targetIp === ip && (e.op === 'arp-reply' || e.op === 'ndp-advert') && !e.gratuitous);

  async function ping(ip: string): Promise<void> {
    await topo.run(topo.client.namespace, 'ping', [...(ip.includes(':') ? ['-6'] : []), '-c', '1', '-W', '5', ip]);
  }

  /** A TCP server on `ip`:PORT in the node's namespace that answers with the node's name. */
  async function serve(node: NodePlan, ips: string[]): Promise<void> {
    const script = `const net = require('net'); let n = 0; for (const ip of process.argv.slice(1)) net.createServer((s) => s.end(${JSON.stringify(node.name)})).listen(${PORT}, ip, () => { if (++n === process.argv.length - 1) console.log('listening'); });`;
    const p = topo.spawn(node.namespace, 'node', ['-e', script, ...ips], { name: `server-${node.name}` });
    servers.push(p);
    await p.waitForOutput(/listening/, 10000);
  }

  async function connect(ip: string): Promise<string> {
    const script = `const s = require('net').connect(${PORT}, process.argv[1]); let out = ''; s.on('data', (d) => (out += d)); s.on('end', () => console.log(out)); s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
    return (await topo.run(topo.client.namespace, 'node', ['-e', script, ip], { timeoutMs: 10000 })).trim();
  }

  it("the owner answers ARP: the client reaches the VIP, its neighbour entry shows the owner's MAC, and the other nodes say notOwner", async () => {
    const [n1, n2, n3] = speakers as [TestSpeaker, TestSpeaker, TestSpeaker];
    const since = Date.now() / 1000;
    await n1.own(VIP4);
    await ping(VIP4);
    assert.equal(await clientMacFor(VIP4), n1.plan.mac);
    assert.ok(n1.announcer.stats().answered.ipv4 >= 1, 'the owner counted its answer');
    // n2 and n3 received the same broadcast request and dropped it with the reason from ownsAddress
    await waitFor('the non-owners to count the request as notOwner', () => [n2, n3].every((s) => (s.announcer.stats().drops.ipv4.notOwner ?? 0) >= 1), 5000);
    const answers = await waitFor('the answer on the wire', () => (answersFor(VIP4, since).length > 0 ? answersFor(VIP4, since) : undefined), 5000);
    assert.deepEqual([...new Set(answers.map((e) => e.srcMac))], [n1.plan.mac], 'only the owner answered');
  });

  it("the owner answers neighbour solicitations: the client's entry shows the owner's MAC and no other node answers", async () => {
    const [n1] = speakers as [TestSpeaker];
    const since = Date.now() / 1000;
    await n1.own(VIP6);
    await ping(VIP6);
    assert.equal(await clientMacFor(VIP6), n1.plan.mac);
    assert.ok(n1.announcer.stats().answered.ipv6 >= 1, 'the owner counted its answer');
    const answers = await waitFor('the answer on the wire', () => (answersFor(VIP6, since).length > 0 ? answersFor(VIP6, since) : undefined), 5000);
    assert.deepEqual([...new Set(answers.map((e) => e.srcMac))], [n1.plan.mac], 'only the owner answered');
  });

  it('unicast probes (neighbour unreachability detection: ARP to our MAC, NS to the VIP itself) are answered too', async () => {
    const [n1] = speakers as [TestSpeaker];
    await n1.own(VIP4);
    await n1.own(VIP6);
    const client4 = frameSocket(topo.client.namespace, 'eth0', ETH_P_ARP);
    const client6 = frameSocket(topo.client.namespace, 'eth0', ETH_P_IPV6);
    sockets.push(client4, client6);
    client4.socket.send(encodeArpFrame({ ...arpRequest(topo.client.ipv4, topo.client.mac, VIP4), ethDst: n1.plan.mac }));
    client6.socket.send(unicastSolicitation(n1.plan.mac, topo.client.mac, topo.client.ipv6, VIP6));
    await waitFor('the ARP reply from n1', () =>
      client4.received.some(({ frame }) => {
        const d = decodeArpFrame(frame);
        return d.ok && d.frame.operation === 'reply' && d.frame.senderIp === VIP4 && d.frame.senderMac === n1.plan.mac;
      }), 5000);
    await waitFor('the solicited advertisement from n1', () =>
      client6.received.some(({ frame }) => {
        const p = parseIcmpv6Frame(frame);
        const na = p && decodeNeighborAdvertisement(p.icmp);
        return !!na && na.ok && na.message.target === VIP6 && na.message.solicited && na.message.targetLinkAddr === n1.plan.mac;
      }), 5000);
  });

  it('a TCP server bound to the VIP on the owner is reachable from the client over IPv4 and IPv6', async () => {
    const [n1] = speakers as [TestSpeaker];
    await n1.own(VIP4);
    await n1.own(VIP6);
    await serve(n1.plan, [VIP4, VIP6]);
    assert.equal(await connect(VIP4), n1.plan.name);
    assert.equal(await connect(VIP6), n1.plan.name);
  });

  it('our advertisements leave with hop limit 255 and a checksum the kernel computed', async () => {
    const [n1] = speakers as [TestSpeaker];
    // ETH_P_ALL: on a bridge port only "all protocols" taps run before the bridge takes the frame
    const tap = frameSocket(topo.names.switchNamespace, n1.plan.switchPort, ETH_P_ALL);
    sockets.push(tap);
    await n1.own(VIP6);
    const advertised = (): ReturnType<typeof parseIcmpv6Frame>[] =>
      tap.received.map(({ frame }) => parseIcmpv6Frame(frame)).filter((p) => p && p.icmp[0] === 136 && formatIpv6(p.icmp, 8) === VIP6);
    const [na] = await waitFor('the unsolicited advertisement on the switch port', () => (advertised().length > 0 ? advertised() : undefined), 5000);
    assert.equal(na!.hopLimit, 255);
    assert.equal(formatIpv6(na!.destination), 'ff02::1');
    assert.equal(icmpv6Checksum(formatIpv6(na!.source), formatIpv6(na!.destination), na!.icmp), na!.icmp.readUInt16BE(2), 'the checksum verifies');
    assert.notEqual(na!.icmp.readUInt16BE(2), 0, 'the kernel filled the checksum we left at 0');
  });

  it('replies and advertisements nobody asked for are ignored and counted, and nothing is sent back', async () => {
    const [n1] = speakers as [TestSpeaker];
    const start = n1.announcer.stats().gratuitous;
    await n1.own(VIP4);
    await n1.own(VIP6);
    await waitFor('the takeover burst to end', () => {
      const g = n1.announcer.stats().gratuitous;
      return g.ipv4 >= start.ipv4 + 4 && g.ipv6 >= start.ipv6 + 4;
    }, 10000);
    const before = n1.announcer.stats();
    const client4 = frameSocket(topo.client.namespace, 'eth0', ETH_P_ARP);
    const client6 = frameSocket(topo.client.namespace, 'eth0', ETH_P_IPV6);
    sockets.push(client4, client6);
    // "VIP4 is at the client's MAC", unicast to the owner, as an attacker or a confused peer would say
    client4.socket.send(encodeArpFrame(arpReplyFor(arpRequest(VIP4, n1.plan.mac, VIP4), topo.client.mac)));
    client6.socket.send(icmpv6Frame('33:33:00:00:00:01', topo.client.mac, topo.client.ipv6, 'ff02::1', encodeNeighborAdvertisement(unsolicitedAdvertisement(VIP6, topo.client.mac))));
    await waitFor('both to be counted as drops', () => {
      const d = n1.announcer.stats().drops;
      return (d.ipv4.arpReply ?? 0) > (before.drops.ipv4.arpReply ?? 0) && (d.ipv6.advertisement ?? 0) > (before.drops.ipv6.advertisement ?? 0);
    }, 5000);
    const after = n1.announcer.stats();
    assert.deepEqual([after.answered, after.gratuitous], [before.answered, before.gratuitous], `nothing was sent in answer: ${JSON.stringify({ before, after })}`);
  });

  for (const [family, vip] of [['IPv4 (gratuitous ARP)', VIP4], ['IPv6 (unsolicited NA)', VIP6]] as const) {
    it(`on takeover, ${family} moves the client's neighbour entry to the new owner; the old owner stays silent`, async () => {
      const [n1, n2] = speakers as [TestSpeaker, TestSpeaker];
      await n1.own(vip);
      await ping(vip);
      assert.equal(await clientMacFor(vip), n1.plan.mac, 'the client starts on n1');

      // Watch the client's neighbour table as events, so the figure is not a polling interval.
      let updatedAt: number | undefined;
      const monitor = topo.spawn(topo.client.namespace, 'ip', ['monitor', 'neigh'], {
        name: 'ip-monitor',
        onStdoutLine: (line) => {
          if (updatedAt === undefined && line.startsWith(`${vip} `) && line.includes(`lladdr ${n2.plan.mac}`)) updatedAt = performance.now();
        },
      });
      servers.push(monitor);
      await n1.disown(vip);
      const since = Date.now() / 1000;
      const takeoverAt = performance.now();
      await n2.own(vip);
      await waitFor('the client to see n2 in the monitor', () => updatedAt !== undefined, 10000);
      console.log(`      takeover → client neighbour entry on the new owner (${family}): ${(updatedAt! - takeoverAt).toFixed(1)} ms`);
      assert.equal(await clientMacFor(vip), n2.plan.mac);
      await serve(n2.plan, [vip]);
      assert.equal(await connect(vip), n2.plan.name, 'new connections reach the new owner');

      const burst = await waitFor('the whole takeover burst (4 announcements)', () => {
        const g = capture.events().filter((e) => e.time >= since && e.targetIp === vip && e.gratuitous);
        return g.length >= 4 ? g : undefined;
      }, 10000);
      assert.deepEqual([...new Set(burst.map((e) => e.srcMac))], [n2.plan.mac], 'announcements come from the new owner only');
      assert.deepEqual(answersFor(vip, since).filter((e) => e.srcMac !== n2.plan.mac), [], 'no other node answered after the takeover');
    });
  }

  it('two VIPs sharing a solicited-node group keep it joined until the last one is withdrawn', async () => {
    const [n1] = speakers as [TestSpeaker];
    const twin = '2001:db8::1:0:100'; // same last 24 bits as VIP6: both listen on ff02::1:ff00:100
    const joined = async (): Promise<boolean> => /ff02::1:ff00:100/.test(await topo.run(n1.plan.namespace, 'ip', ['-6', 'maddr', 'show', 'dev', 'eth0']));
    await n1.own(VIP6);
    await n1.own(twin);
    await n1.disown(VIP6);
    assert.equal(await joined(), true, 'still joined for the twin');
    await ping(twin);
    assert.equal(await clientMacFor(twin), n1.plan.mac, 'the twin is still answered');
    await n1.disown(twin);
    assert.equal(await joined(), false, 'left with the last user');
  });

  it('withdraw removes everything: the address from lo, the solicited-node group, the announcements', async () => {
    const [n1] = speakers as [TestSpeaker];
    const groups = async (): Promise<string> => topo.run(n1.plan.namespace, 'ip', ['-6', 'maddr', 'show', 'dev', 'eth0']);
    await n1.own(VIP4);
    await n1.own(VIP6);
    assert.match(await groups(), /ff02::1:ff00:100/, 'the group is joined while announcing');
    assert.deepEqual(await n1.plumbing.present(), [VIP4, VIP6]);
    await n1.disown(VIP4);
    await n1.disown(VIP6);
    assert.doesNotMatch(await groups(), /ff02::1:ff00:100/);
    assert.deepEqual(await n1.plumbing.present(), []);
    assert.deepEqual(n1.announcer.announced(), []);
    const since = Date.now() / 1000;
    // A request after the withdrawal reaches every responder, and each one refuses it.
    const before = speakers.map((s) => s.announcer.stats().drops.ipv4.notOwner ?? 0);
    const answeredBefore = speakers.map((s) => s.announcer.stats().answered.ipv4);
    const client = frameSocket(topo.client.namespace, 'eth0', ETH_P_ARP);
    sockets.push(client);
    client.socket.send(encodeArpFrame(arpRequest(topo.client.ipv4, topo.client.mac, VIP4)));
    await waitFor('every node to count the request as notOwner', () => speakers.every((s, i) => (s.announcer.stats().drops.ipv4.notOwner ?? 0) > before[i]!), 5000);
    assert.deepEqual(speakers.map((s) => s.announcer.stats().answered.ipv4), answeredBefore, 'no responder answered');
    assert.deepEqual(answersFor(VIP4, since), [], 'nobody answered for the withdrawn address');
  });
});
