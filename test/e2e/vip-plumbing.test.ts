import assert from 'node:assert/strict';
import { arpRequest, decodeArpFrame, encodeArpFrame, ETH_P_ARP } from '../../speaker/announce/arp.js';
import { ETH_P_IPV6, decodeNeighborAdvertisement } from '../../speaker/announce/ndp.js';
import { VIP_MARK_METRIC } from '../../speaker/vip/plan.js';
import { VipPlumbing } from '../../speaker/vip/plumbing.js';
import { waitFor } from '../../lab/netns.js';
import { Topology } from '../../lab/topology.js';
import { type SentFrames, frameSocket, parseIcmpv6Frame, unicastSolicitation } from './announce-frames.js';

// Real namespaces from the lab topology; prefix `flav` is this file's own.
const PREFIX = 'flav';
const VIP4 = '192.0.2.100';
const VIP6 = '2001:db8::100';
const isRoot = process.getuid?.() === 0;

interface LoAddress {
  local: string;
  prefixlen: number;
  metric?: number;
  label?: string;
  tentative?: boolean;
  nodad?: boolean;
}

describe('VIP plumbing on a node (addresses on lo, arp_ignore, no kernel answers)', function () {
  let topo: Topology;
  let plumbing: VipPlumbing;
  let ns: string;
  const sockets: SentFrames[] = [];

  before(async function () {
    if (!isRoot) {
      console.log('    (VIP plumbing e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    topo = await Topology.create({ prefix: PREFIX, nodes: 1 });
    ns = topo.nodes[0]!.namespace;
    plumbing = new VipPlumbing({ interfaces: ['eth0'], netns: ns });
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.socket.close();
    if (plumbing) await plumbing.apply([]);
  });

  after(async () => {
    await topo?.destroy();
  });

  async function loAddresses(): Promise<LoAddress[]> {
    const out = JSON.parse(await topo.run(ns, 'ip', ['-j', 'addr', 'show', 'dev', 'lo'])) as Array<{ addr_info: LoAddress[] }>;
    return out.flatMap((l) => l.addr_info);
  }

  async function sysctl(key: string): Promise<string> {
    return (await topo.run(ns, 'sysctl', ['-n', key])).trim();
  }

  it('prepareInterfaces sets arp_ignore=1 and arp_announce=2 on the announcing interface', async () => {
    await topo.run(ns, 'sysctl', ['-q', '-w', 'net.ipv4.conf.eth0.arp_ignore=0', 'net.ipv4.conf.eth0.arp_announce=0']);
    await plumbing.prepareInterfaces();
    assert.equal(await sysctl('net.ipv4.conf.eth0.arp_ignore'), '1');
    assert.equal(await sysctl('net.ipv4.conf.eth0.arp_announce'), '2');
  });

  it('apply puts marked addresses on lo, IPv6 without DAD and bindable at once; applying again changes nothing', async () => {
    const plan = await plumbing.apply([VIP4, VIP6]);
    assert.deepEqual(plan.add, [VIP4, VIP6]);
    // bind right away: a tentative (DAD) address would fail with EADDRNOTAVAIL
    await topo.run(ns, 'node', ['-e', `require('net').createServer().listen(0, '${VIP6}', function () { this.close(); })`]);
    const again = await plumbing.apply([VIP4, VIP6]);
    assert.deepEqual([again.add, again.remove, again.keep], [[], [], [VIP4, VIP6]]);
    const ours = (await loAddresses()).filter((a) => a.metric === VIP_MARK_METRIC);
    assert.deepEqual(ours.map((a) => [a.local, a.prefixlen]), [[VIP4, 32], [VIP6, 128]]);
    assert.equal(ours[0]!.label, 'lo:fulcrum');
    assert.equal(ours[1]!.tentative, undefined, 'the IPv6 VIP is not tentative');
  });

  it('apply with a smaller set removes the rest, and removing an absent address is not an error', async () => {
    await plumbing.apply([VIP4, VIP6]);
    const plan = await plumbing.apply([VIP6]);
    assert.deepEqual([plan.remove, plan.keep], [[VIP4], [VIP6]]);
    assert.deepEqual(await plumbing.present(), [VIP6]);
    await plumbing.remove(VIP4);
  });

  it('removeStale (startup) removes every marked address and leaves addresses it did not make', async () => {
    await plumbing.apply([VIP4, VIP6]);
    await topo.run(ns, 'ip', ['addr', 'add', '192.0.2.50/32', 'dev', 'lo']);
    try {
      // a new speaker process: no memory of what the crashed one added
      const fresh = new VipPlumbing({ interfaces: ['eth0'], netns: ns });
      assert.deepEqual(await fresh.removeStale(), [VIP4, VIP6]);
      const left = (await loAddresses()).map((a) => a.local);
      assert.ok(left.includes('192.0.2.50'), `the unmarked address stays: ${left.join(', ')}`);
      assert.ok(!left.includes(VIP4) && !left.includes(VIP6), `no VIP stays: ${left.join(', ')}`);
    } finally {
      await topo.run(ns, 'ip', ['addr', 'del', '192.0.2.50/32', 'dev', 'lo']);
    }
  });

  // The node's kernel answers a request for its own eth0 address in the same softirq as any
  // other: once that reply is on the wire, a kernel answer for the VIP asked just before it
  // would be too. So "the barrier arrived, the VIP answer did not" proves silence without a timeout.
  async function kernelAnswersArpFor(ip: string): Promise<boolean> {
    const node = topo.nodes[0]!;
    const client = frameSocket(topo.client.namespace, 'eth0', ETH_P_ARP);
    sockets.push(client);
    client.socket.send(encodeArpFrame(arpRequest(topo.client.ipv4, topo.client.mac, ip)));
    client.socket.send(encodeArpFrame(arpRequest(topo.client.ipv4, topo.client.mac, node.ipv4)));
    const replies = (): string[] =>
      client.received.flatMap(({ frame }) => {
        const d = decodeArpFrame(frame);
        return d.ok && d.frame.operation === 'reply' ? [d.frame.senderIp] : [];
      });
    await waitFor(`the ARP reply for ${node.ipv4}`, () => replies().includes(node.ipv4), 5000);
    return replies().includes(ip);
  }

  async function kernelAnswersNsFor(ip: string): Promise<boolean> {
    const node = topo.nodes[0]!;
    const client = frameSocket(topo.client.namespace, 'eth0', ETH_P_IPV6);
    sockets.push(client);
    client.socket.send(unicastSolicitation(node.mac, topo.client.mac, topo.client.ipv6, ip));
    client.socket.send(unicastSolicitation(node.mac, topo.client.mac, topo.client.ipv6, node.ipv6));
    const targets = (): string[] =>
      client.received.flatMap(({ frame }) => {
        const p = parseIcmpv6Frame(frame);
        const na = p && decodeNeighborAdvertisement(p.icmp);
        return na && na.ok ? [na.message.target] : [];
      });
    await waitFor(`the advertisement for ${node.ipv6}`, () => targets().includes(node.ipv6), 5000);
    return targets().includes(ip);
  }

  it("without arp_ignore the node's kernel itself answers ARP for a VIP on lo (why prepareInterfaces exists)", async () => {
    await topo.run(ns, 'sysctl', ['-q', '-w', 'net.ipv4.conf.eth0.arp_ignore=0']);
    await plumbing.apply([VIP4]);
    assert.equal(await kernelAnswersArpFor(VIP4), true);
  });

  it("with proxy NDP switched on, the node's kernel answers a solicitation for the VIP (so the check below can see an answer)", async () => {
    await plumbing.apply([VIP6]);
    await topo.run(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.eth0.proxy_ndp=1']);
    await topo.run(ns, 'ip', ['-6', 'neigh', 'add', 'proxy', VIP6, 'dev', 'eth0']);
    try {
      assert.equal(await kernelAnswersNsFor(VIP6), true);
    } finally {
      await topo.run(ns, 'ip', ['-6', 'neigh', 'del', 'proxy', VIP6, 'dev', 'eth0']);
      await topo.run(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.eth0.proxy_ndp=0']);
    }
  });

  it("with the plumbing prepared, the node's kernel answers neither ARP nor a unicast solicitation for a VIP on lo", async () => {
    await plumbing.prepareInterfaces();
    await plumbing.apply([VIP4, VIP6]);
    assert.equal(await kernelAnswersArpFor(VIP4), false, 'no ARP reply for the VIP');
    assert.equal(await kernelAnswersNsFor(VIP6), false, 'no neighbour advertisement for the VIP');
  });
});
