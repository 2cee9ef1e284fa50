import assert from 'node:assert/strict';
import { hostRoutingTable, labNames, MAX_NODES, nodePlan, podPlan, validateNodeCount, validatePrefix } from '../../lab/addressing.js';
import { parseNeighbourLine } from '../../lab/capture.js';

describe('lab address plan', () => {
  it('node i gets 192.0.2.(10+i), 2001:db8::(10+i) and the pod slice 198.51.100.(32i)/27', () => {
    const n1 = nodePlan('ful', 1);
    assert.deepEqual(
      { ipv4: n1.ipv4, ipv6: n1.ipv6, v4: n1.podCidrV4, v6: n1.podCidrV6, gw4: n1.podGatewayV4, gw6: n1.podGatewayV6, mac: n1.mac },
      { ipv4: '192.0.2.11', ipv6: '2001:db8::11', v4: '198.51.100.32/27', v6: '2001:db8:1::1:0/112', gw4: '198.51.100.33', gw6: '2001:db8:1::1:1', mac: '02:1a:b0:00:01:01' },
    );
    const n7 = nodePlan('ful', 7);
    assert.equal(n7.podCidrV4, '198.51.100.224/27');
    assert.equal(n7.ipv6, '2001:db8::17');
  });

  it('pod j on node i gets the slice address 32i+1+j, and its veth name fits in 15 characters', () => {
    const p = podPlan('abcdef', 7, 29);
    assert.equal(p.ipv4, '198.51.100.254');
    assert.equal(p.ipv6, '2001:db8:1::7:1e');
    assert.equal(p.namespace, 'abcdef-n7-p29');
    assert.ok(p.nodeSideInterface.length <= 15, p.nodeSideInterface);
    assert.equal(podPlan('ful', 2, 1).ipv4, '198.51.100.66');
  });

  it('no node or pod address falls in the Service pools 192.0.2.64/26 and 2001:db8::100-1ff', () => {
    for (let i = 1; i <= MAX_NODES; i++) {
      const last = Number(nodePlan('ful', i).ipv4.split('.')[3]);
      assert.ok(last < 64 || last > 127, `node ${i}`);
      assert.ok(!/^2001:db8::1[0-9a-f]{2}$/.test(nodePlan('ful', i).ipv6), `node ${i}`);
    }
  });

  it('every root link name and switch port stays within 15 characters for the longest prefix', () => {
    const n = labNames('abcdef');
    for (const name of [n.bridge, n.hostLink, n.hostSwitchPort, n.clientSwitchPort, nodePlan('abcdef', 7).switchPort]) assert.ok(name.length <= 15, name);
  });

  it('rejects a prefix with a dash, upper case or over 6 characters, and node counts outside 1-7', () => {
    for (const bad of ['a-b', 'Ful', 'abcdefg', '', '1ab']) assert.throws(() => validatePrefix(bad), { code: 'FUL_ERR_LAB_PREFIX' }, bad);
    for (const bad of [0, 8, 2.5]) assert.throws(() => validateNodeCount(bad), { code: 'FUL_ERR_LAB_NODES' }, String(bad));
    assert.equal(validatePrefix('flt'), 'flt');
  });

  it('the host routing table is stable per prefix, in its range, and steps on collision', () => {
    assert.equal(hostRoutingTable('flt'), hostRoutingTable('flt'));
    assert.notEqual(hostRoutingTable('flt'), hostRoutingTable('fla'));
    for (const p of ['ful', 'flt', 'fla', 'fle']) {
      const t = hostRoutingTable(p);
      assert.ok(t >= 0x4c00 && t <= 0x4fff, `${p}: ${t}`);
    }
    assert.notEqual(hostRoutingTable('flt', 1), hostRoutingTable('flt', 0));
  });
});

describe('lab capture: tcpdump line parser', () => {
  const rows: { name: string; line: string; want: Record<string, unknown> | undefined }[] = [
    {
      name: 'an ARP request from the client',
      line: '1795440456.313610 ful-cl B   ifindex 5 02:1a:b0:00:02:01 ethertype ARP (0x0806), length 48: Request who-has 192.0.2.11 tell 192.0.2.2, length 28',
      want: { time: 1795440456.31361, port: 'ful-cl', srcMac: '02:1a:b0:00:02:01', op: 'arp-request', targetIp: '192.0.2.11', senderIp: '192.0.2.2', gratuitous: false },
    },
    {
      name: 'an ARP reply from a node',
      line: '1795440456.313646 ful-n1 P   ifindex 3 02:1a:b0:00:01:01 ethertype ARP (0x0806), length 48: Reply 192.0.2.11 is-at 02:1a:b0:00:01:01, length 28',
      want: { time: 1795440456.313646, port: 'ful-n1', srcMac: '02:1a:b0:00:01:01', op: 'arp-reply', targetIp: '192.0.2.11', senderIp: '192.0.2.11', gratuitous: false },
    },
    {
      name: 'a gratuitous ARP request (sender = target)',
      line: '1795440456.3 ful-n2 B   ifindex 4 02:1a:b0:00:01:02 ethertype ARP (0x0806), length 48: Request who-has 192.0.2.64 tell 192.0.2.64, length 28',
      want: { time: 1795440456.3, port: 'ful-n2', srcMac: '02:1a:b0:00:01:02', op: 'arp-request', targetIp: '192.0.2.64', senderIp: '192.0.2.64', gratuitous: true },
    },
    {
      name: 'a broadcast ARP reply is gratuitous',
      line: '1795440456.3 ful-n2 B   ifindex 4 02:1a:b0:00:01:02 ethertype ARP (0x0806), length 48: Reply 192.0.2.64 is-at 02:1a:b0:00:01:02, length 28',
      want: { time: 1795440456.3, port: 'ful-n2', srcMac: '02:1a:b0:00:01:02', op: 'arp-reply', targetIp: '192.0.2.64', senderIp: '192.0.2.64', gratuitous: true },
    },
    {
      name: 'a neighbour solicitation',
      line: '1795440456.317758 ful-cl M   ifindex 5 02:1a:b0:00:02:01 ethertype IPv6 (0x86dd), length 92: 2001:db8::2 > ff02::1:ff00:12: ICMP6, neighbor solicitation, who has 2001:db8::12, length 32',
      want: { time: 1795440456.317758, port: 'ful-cl', srcMac: '02:1a:b0:00:02:01', op: 'ndp-solicit', targetIp: '2001:db8::12', senderIp: '2001:db8::2', gratuitous: false },
    },
    {
      name: 'an unsolicited neighbour advertisement to all-nodes',
      line: '1795440456.4 ful-n3 M   ifindex 6 02:1a:b0:00:01:03 ethertype IPv6 (0x86dd), length 86: 2001:db8::100 > ff02::1: ICMP6, neighbor advertisement, tgt is 2001:db8::100, length 32',
      want: { time: 1795440456.4, port: 'ful-n3', srcMac: '02:1a:b0:00:01:03', op: 'ndp-advert', targetIp: '2001:db8::100', senderIp: '2001:db8::100', gratuitous: true },
    },
    { name: 'tcpdump banner lines are ignored', line: 'listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes', want: undefined },
    {
      name: 'other ICMPv6 is ignored',
      line: '1795440456.4 ful-n3 M   ifindex 6 02:1a:b0:00:01:03 ethertype IPv6 (0x86dd), length 70: fe80::1 > ff02::2: ICMP6, router solicitation, length 16',
      want: undefined,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.deepEqual(parseNeighbourLine(row.line), row.want, `parseNeighbourLine(${JSON.stringify(row.line)})`);
    });
  }
});
