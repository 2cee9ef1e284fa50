import assert from 'node:assert/strict';
import { addressRules, mapNameOf, portRules, renderKernelRuleset, renderKernelUpdate, type KernelPort, type KernelPortTable } from '../../speaker/kernel/ruleset.js';

const port = (over: Partial<KernelPort> = {}): KernelPort => ({ name: 'shop/web:80/TCP@192.0.2.10', address: '192.0.2.10', port: 80, protocol: 'tcp', seed: 0xabc, hashOn: 'flow', snat: true, sourceRanges: [], denyAll: false, ...over });
const table = (p: KernelPort, slots: (string | undefined)[]): KernelPortTable => ({ port: p, slots });

describe('kernel mode: the rules of one port', () => {
  const rows: { name: string; port: Partial<KernelPort>; want: string[] }[] = [
    {
      name: 'IPv4 TCP, Cluster: an endpoint\'s unknown packet to the VIP dropped, DNAT on the flow hash with its seed, SNAT to the VIP',
      port: {},
      want: [
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 ct state new fib daddr type local ip saddr . tcp sport @e_192_0_2_10_80_tcp tcp flags & (syn | ack) != syn drop',
        'add rule inet fulcrum_kernel dstnat ip daddr 192.0.2.10 tcp dport 80 fib daddr type local dnat ip to jhash ip saddr . tcp sport mod 251 seed 0x00000abc map @m_192_0_2_10_80_tcp',
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 tcp dport 80 ct state new fib daddr type local ct timeout set "tcp_ip"',
        'add rule inet fulcrum_kernel srcnat meta l4proto tcp ct original ip daddr 192.0.2.10 ct original proto-dst 80 ct status dnat snat ip to 192.0.2.10',
      ],
    },
    {
      name: 'IPv6 UDP, Local, ClientIP affinity: hash on the client address only, no SNAT, no endpoint drop (a pod may send from its port)',
      port: { address: '2001:db8::10', port: 53, protocol: 'udp', snat: false, hashOn: 'clientAddress' },
      want: [
        'add rule inet fulcrum_kernel dstnat ip6 daddr 2001:db8::10 udp dport 53 fib daddr type local dnat ip6 to jhash ip6 saddr mod 251 seed 0x00000abc map @m_2001_db8__10_53_udp',
        'add rule inet fulcrum_kernel filter ip6 daddr 2001:db8::10 udp dport 53 ct state new fib daddr type local ct timeout set "udp_ip6"',
      ],
    },
    {
      name: 'IPv4 TCP, Local: no SNAT; only a SYN is DNATed (a flow picked up mid-stream is the previous owner\'s, left to the handoff)',
      port: { snat: false },
      want: [
        'add rule inet fulcrum_kernel filter ct state new ip saddr . tcp sport @e_192_0_2_10_80_tcp tcp flags & (syn | ack) != syn drop',
        'add rule inet fulcrum_kernel dstnat ip daddr 192.0.2.10 tcp dport 80 fib daddr type local tcp flags & (syn | ack) == syn dnat ip to jhash ip saddr . tcp sport mod 251 seed 0x00000abc map @m_192_0_2_10_80_tcp',
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 tcp dport 80 ct state new fib daddr type local ct timeout set "tcp_ip"',
      ],
    },
    {
      name: 'source ranges: clients outside them are dropped before NAT',
      port: { sourceRanges: ['198.51.100.0/24', '203.0.113.7/32'], snat: false },
      want: [
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 tcp dport 80 fib daddr type local ip saddr != { 198.51.100.0/24, 203.0.113.7/32 } drop',
        'add rule inet fulcrum_kernel filter ct state new ip saddr . tcp sport @e_192_0_2_10_80_tcp tcp flags & (syn | ack) != syn drop',
        'add rule inet fulcrum_kernel dstnat ip daddr 192.0.2.10 tcp dport 80 fib daddr type local tcp flags & (syn | ack) == syn dnat ip to jhash ip saddr . tcp sport mod 251 seed 0x00000abc map @m_192_0_2_10_80_tcp',
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 tcp dport 80 ct state new fib daddr type local ct timeout set "tcp_ip"',
      ],
    },
    {
      name: 'ranges of the other family only: everyone of this family is dropped',
      port: { denyAll: true, snat: false },
      want: [
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 tcp dport 80 fib daddr type local drop',
        'add rule inet fulcrum_kernel filter ct state new ip saddr . tcp sport @e_192_0_2_10_80_tcp tcp flags & (syn | ack) != syn drop',
        'add rule inet fulcrum_kernel dstnat ip daddr 192.0.2.10 tcp dport 80 fib daddr type local tcp flags & (syn | ack) == syn dnat ip to jhash ip saddr . tcp sport mod 251 seed 0x00000abc map @m_192_0_2_10_80_tcp',
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 tcp dport 80 ct state new fib daddr type local ct timeout set "tcp_ip"',
      ],
    },
    {
      name: 'IPv4 UDP, Cluster: an endpoint\'s datagram to the VIP that no flow knows is dropped',
      port: { port: 53, protocol: 'udp' },
      want: [
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 ct state new fib daddr type local ip saddr . udp sport @e_192_0_2_10_53_udp drop',
        'add rule inet fulcrum_kernel dstnat ip daddr 192.0.2.10 udp dport 53 fib daddr type local dnat ip to jhash ip saddr . udp sport mod 251 seed 0x00000abc map @m_192_0_2_10_53_udp',
        'add rule inet fulcrum_kernel filter ip daddr 192.0.2.10 udp dport 53 ct state new fib daddr type local ct timeout set "udp_ip"',
        'add rule inet fulcrum_kernel srcnat meta l4proto udp ct original ip daddr 192.0.2.10 ct original proto-dst 53 ct status dnat snat ip to 192.0.2.10',
      ],
    },
  ];
  for (const row of rows)
    it(row.name, () => {
      const p = port(row.port);
      const copy = structuredClone(p);
      assert.deepEqual(portRules(p, 251), row.want, `portRules(${p.name}, 251)`);
      assert.deepEqual(p, copy, 'input not mutated');
    });
});

describe('kernel mode: the transactions', () => {
  const slots = (n: number, v: string): string[] => Array.from({ length: n }, () => v);
  it('from nothing: the table is replaced, maps are declared typeof numgen, then filled, then the rules', () => {
    const text = renderKernelRuleset([table(port(), ['203.0.113.1 . 8080', undefined, '203.0.113.2 . 8080'])]);
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(0, 3), ['add table inet fulcrum_kernel', 'delete table inet fulcrum_kernel', 'add table inet fulcrum_kernel']);
    assert.ok(lines.includes('add map inet fulcrum_kernel m_192_0_2_10_80_tcp { typeof numgen inc mod 3 : ip daddr . tcp dport; }'), text);
    assert.ok(lines.includes('add element inet fulcrum_kernel m_192_0_2_10_80_tcp { 0 : 203.0.113.1 . 8080, 2 : 203.0.113.2 . 8080 }'), text);
    assert.ok(lines.includes('add set inet fulcrum_kernel e_192_0_2_10_80_tcp { type ipv4_addr . inet_service; }'), text);
    assert.ok(lines.includes('add element inet fulcrum_kernel e_192_0_2_10_80_tcp { 203.0.113.1 . 8080, 203.0.113.2 . 8080 }'), text);
    assert.ok(lines.findIndex((l) => l.includes('add element')) < lines.findIndex((l) => l.includes('add rule')));
  });

  it('transit traffic of a VIP the node does not hold is not tracked: two raw rules per address, however many ports it has, and one more for its Local TCP ports', () => {
    const v6 = port({ name: 'v6', address: '2001:db8::10' });
    assert.deepEqual(addressRules([port(), port({ name: 'dns', port: 53, protocol: 'udp' }), v6]), [
      'add rule inet fulcrum_kernel raw ip saddr 192.0.2.10 fib saddr type != local notrack',
      'add rule inet fulcrum_kernel raw ip daddr 192.0.2.10 fib daddr type != local notrack',
      'add rule inet fulcrum_kernel raw ip6 saddr 2001:db8::10 fib saddr type != local notrack',
      'add rule inet fulcrum_kernel raw ip6 daddr 2001:db8::10 fib daddr type != local notrack',
    ]);
    assert.deepEqual(addressRules([port({ name: 'a', port: 443, snat: false }), port({ name: 'b', snat: false }), port({ name: 'c', port: 53, protocol: 'udp', snat: false }), port({ name: 'd', port: 8080 })]), [
      'add rule inet fulcrum_kernel raw ip saddr 192.0.2.10 fib saddr type != local notrack',
      'add rule inet fulcrum_kernel raw ip daddr 192.0.2.10 tcp dport { 80, 443 } accept',
      'add rule inet fulcrum_kernel raw ip daddr 192.0.2.10 fib daddr type != local notrack',
    ], 'a client\'s packet to a Local TCP port is tracked: handed off here by a new owner, its flow\'s entry DNATs it');
    const text = renderKernelRuleset([table(port(), ['203.0.113.1 . 8080'])]);
    assert.ok(text.includes('add chain inet fulcrum_kernel raw { type filter hook prerouting priority raw; policy accept; }'), text);
    assert.ok(text.endsWith(addressRules([port()]).join('\n')), text);
    const gone = renderKernelUpdate([table(port(), ['a . 1'])], []);
    assert.ok(gone.includes('flush chain inet fulcrum_kernel raw') && !gone.includes('notrack'), `the address gone, its raw rules go: ${gone}`);
  });

  it('nothing changed: no transaction', () => {
    const t = [table(port(), slots(251, '203.0.113.1 . 8080'))];
    assert.equal(renderKernelUpdate(t, structuredClone(t)), '');
  });

  it('two slots changed: only they are written, the rules stay; a new endpoint joins the set', () => {
    const a = slots(251, '203.0.113.1 . 8080');
    const b = [...a];
    b[5] = '203.0.113.2 . 8080';
    b[9] = undefined as unknown as string;
    assert.equal(
      renderKernelUpdate([table(port(), a)], [table(port(), b)]),
      [
        'delete element inet fulcrum_kernel m_192_0_2_10_80_tcp { 5, 9 }',
        'add element inet fulcrum_kernel m_192_0_2_10_80_tcp { 5 : 203.0.113.2 . 8080 }',
        'add element inet fulcrum_kernel e_192_0_2_10_80_tcp { 203.0.113.2 . 8080 }',
      ].join('\n'),
    );
  });

  it('an endpoint that holds no slot any more leaves the set; one that still holds one stays', () => {
    const a = slots(251, '203.0.113.1 . 8080');
    a[0] = '203.0.113.2 . 8080';
    a[1] = '203.0.113.3 . 8080';
    const b = slots(251, '203.0.113.1 . 8080');
    b[1] = '203.0.113.3 . 8080';
    assert.equal(
      renderKernelUpdate([table(port(), a)], [table(port(), b)]),
      [
        'delete element inet fulcrum_kernel m_192_0_2_10_80_tcp { 0 }',
        'add element inet fulcrum_kernel m_192_0_2_10_80_tcp { 0 : 203.0.113.1 . 8080 }',
        'delete element inet fulcrum_kernel e_192_0_2_10_80_tcp { 203.0.113.2 . 8080 }',
      ].join('\n'),
    );
  });

  it('a port gone and a table resized: rules flushed, maps deleted after the flush, the new map declared before the rules', () => {
    const other = port({ name: 'x', port: 81 });
    const text = renderKernelUpdate([table(port(), slots(251, 'a . 1')), table(other, slots(251, 'a . 1'))], [table(port(), slots(509, 'a . 1'))]);
    const lines = text.split('\n');
    const at = (prefix: string): number => lines.findIndex((l) => l.startsWith(prefix));
    assert.ok(at('flush chain inet fulcrum_kernel dstnat') >= 0, text);
    assert.ok(at('flush chain') < at('delete map inet fulcrum_kernel m_192_0_2_10_80_tcp'));
    assert.ok(lines.includes(`delete map inet fulcrum_kernel ${mapNameOf(other)}`));
    assert.ok(lines.includes('delete set inet fulcrum_kernel e_192_0_2_10_81_tcp'), 'the gone port\'s endpoint set is deleted');
    assert.ok(at('delete set inet fulcrum_kernel e_192_0_2_10_80_tcp') < at('add set inet fulcrum_kernel e_192_0_2_10_80_tcp'), 'the resized port\'s set is declared again');
    assert.ok(at('delete map inet fulcrum_kernel m_192_0_2_10_80_tcp') < at('add map inet fulcrum_kernel m_192_0_2_10_80_tcp { typeof numgen inc mod 509'));
    assert.ok(at('add map') < at('add rule'));
    assert.ok(lines.some((l) => l.includes('mod 509 seed')), 'the rule uses the new size');
  });
});
