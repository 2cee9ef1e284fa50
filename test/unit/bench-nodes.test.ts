import assert from 'node:assert/strict';
import { Address4 } from 'ip-address';
import { parse as parseYaml } from 'yaml';
import {
  NODE_PATHS, NODE_SERVICES, haproxyConfig, kernelModePorts, kernelModeRuleset, nodesTopology, plainNatRuleset, proxyConfig, rpsMasks, setupCommands, sysctlsOf, targetOf,
} from '../../bench/nodes/config.js';

const DOC_RANGES = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'].map((c) => new Address4(c));
const documentation = (a: string): boolean => DOC_RANGES.some((r) => new Address4(a).isInSubnet(r));

describe('bench nodes suite: topology and configurations (pure)', () => {
  const t = nodesTopology('fbx');

  it('uses documentation addresses only, and namespaces named after the prefix', () => {
    for (const a of [t.vip, t.clientAddress, t.nodeClientSide, t.nodeBackendSide, ...t.endpoints]) assert.ok(documentation(a), a);
    assert.deepEqual(Object.values(t.ns), ['fbx-client', 'fbx-node', 'fbx-backend']);
    const addresses = setupCommands(t).flatMap((argv) => argv.filter((w) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(w)));
    assert.ok(addresses.length >= 6);
    for (const a of addresses) assert.ok(documentation(a.split('/')[0]!), a);
  });

  it('makes every link inside the namespaces: no command adds a link in the root namespace', () => {
    const linkAdds = setupCommands(t).filter((argv) => argv.includes('link') && argv.includes('add'));
    assert.equal(linkAdds.length, 2);
    for (const argv of linkAdds) {
      assert.equal(argv[0], '-n');
      assert.equal(argv[1], t.ns.node);
      assert.ok(argv.includes('netns'), `${argv.join(' ')} puts its peer in another namespace`);
    }
  });

  it('steers the node receive work to the node core and the others to the load core', () => {
    const masks = rpsMasks(t, 0, 1);
    assert.deepEqual(masks.filter((m) => m.ns === t.ns.node).map((m) => m.mask), ['2', '2']);
    assert.deepEqual(masks.filter((m) => m.ns !== t.ns.node).map((m) => m.mask), ['1', '1']);
    assert.equal(sysctlsOf(t)[t.ns.node]!['net.ipv4.ip_forward'], '1');
    assert.equal(sysctlsOf(t)[t.ns.client]!['net.ipv4.ip_forward'], undefined);
  });

  it('gives every path a target but haproxy for UDP, all on the VIP except direct', () => {
    for (const p of NODE_PATHS)
      for (const s of NODE_SERVICES) {
        const target = targetOf(t, p, s);
        if (p === 'haproxy' && s === 'udp') assert.equal(target, null);
        else assert.equal(target!.host, p === 'direct' ? t.endpoints[0] : t.vip, `${p} ${s}`);
      }
    const ports = NODE_PATHS.flatMap((p) => NODE_SERVICES.map((s) => (p === 'direct' ? null : targetOf(t, p, s)?.port))).filter((x) => x != null);
    assert.equal(new Set(ports).size, ports.length, 'frontend ports are distinct');
  });

  it('puts both endpoints behind every frontend of Fulcrum and haproxy', () => {
    const cfg = parseYaml(proxyConfig(t, 1)) as { frontends: Array<{ listen: string; protocol: string }>; backends: Array<{ endpoints: Array<{ address: string; port: number }> }> };
    assert.deepEqual(cfg.frontends.map((f) => f.listen), NODE_SERVICES.map((s) => `${t.vip}:${t.frontends.proxy[s]}`));
    for (const b of cfg.backends) assert.deepEqual(b.endpoints.map((e) => e.address), [...t.endpoints]);
    const ha = haproxyConfig(t, 2);
    assert.match(ha, /nbthread 2/);
    assert.equal((ha.match(/^ {2}server /gm) ?? []).length, 2 * 3, 'two servers for each TCP service');
    assert.doesNotMatch(ha, new RegExp(`:${t.frontends.haproxy.udp}`));
  });

  it('plain NAT picks an endpoint at random and masquerades toward the endpoints', () => {
    const rules = plainNatRuleset(t);
    assert.match(rules, new RegExp(`ip daddr 192\\.0\\.2\\.10 tcp dport ${t.frontends.kernel.conn} dnat ip to numgen random mod 2 map \\{ 0 : 203\\.0\\.113\\.10 \\. ${t.backendPorts.conn}, 1 : 203\\.0\\.113\\.11 \\. ${t.backendPorts.conn} \\}`));
    assert.match(rules, /ct status dnat oifname "backend0" masquerade/);
  });

  it('kernel mode is the speaker ruleset: a seeded jhash map per port, SNAT to the VIP', () => {
    const rules = kernelModeRuleset(t);
    const ports = kernelModePorts(t);
    assert.equal(ports.length, NODE_SERVICES.length);
    for (const p of ports) {
      assert.match(rules, new RegExp(`dport ${p.port} fib daddr type local dnat ip to jhash ip saddr \\. ${p.protocol} sport mod 1021 seed 0x${p.seed.toString(16).padStart(8, '0')} map`));
      assert.match(rules, new RegExp(`ct original ip daddr 192\\.0\\.2\\.10 ct original proto-dst ${p.port} ct status dnat snat ip to 192\\.0\\.2\\.10`));
    }
    // 1021 slots over two endpoints, each holding about half
    const conn = rules.split('\n').find((l) => l.startsWith('add element') && l.includes(`_${t.frontends.kmode.conn}_tcp`))!;
    const first = (conn.match(/203\.0\.113\.10 \. /g) ?? []).length;
    const second = (conn.match(/203\.0\.113\.11 \. /g) ?? []).length;
    assert.equal(first + second, 1021);
    assert.ok(Math.abs(first - second) <= 11, `${first} / ${second}`);
  });
});
