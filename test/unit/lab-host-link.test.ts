import assert from 'node:assert/strict';
import { handTryLines, type HandTryContext } from '../../lab/command.js';
import { describeReplyRouting, labRules, nftSetting, type HostLink, type LabRule, type RuleJson } from '../../lab/host-link.js';
import type { LabService } from '../../lab/lab.js';

describe('lab host link: FULCRUM_LAB_NFT', () => {
  const rows: { name: string; value: string | undefined; want: ReturnType<typeof nftSetting> }[] = [
    { name: 'unset means nftables when it works', value: undefined, want: 'auto' },
    { name: 'empty is the same as unset', value: '', want: 'auto' },
    { name: '"auto" says it outright', value: 'auto', want: 'auto' },
    { name: '1 requires nftables', value: '1', want: 'required' },
    { name: '0 forces the source-address rule', value: '0', want: 'off' },
  ];
  for (const row of rows) it(row.name, () => assert.equal(nftSetting(row.value), row.want, `nftSetting(${JSON.stringify(row.value)})`));

  it('anything else is an error naming the variable, the value and the choices', () => {
    assert.throws(() => nftSetting('no'), { code: 'FUL_ERR_LAB_NFT', message: /^FULCRUM_LAB_NFT "no": must be 0 .*, 1 .* or auto/ });
  });
});

describe('lab host link: which policy rules are a lab\'s', () => {
  const rows: { name: string; rules: RuleJson[]; want: LabRule[] }[] = [
    { name: 'the kernel defaults are not', rules: [{ priority: 0, src: 'all', table: 'local' }, { priority: 32766, src: 'all', table: 'main' }], want: [] },
    { name: 'an nftables lab: fwmark T lookup T at 1000 (ip prints the mark in hex)', rules: [{ priority: 1000, src: 'all', fwmark: '0x4ca7', table: '19623' }], want: [{ table: 19623, priority: 1000, match: { kind: 'fwmark' } }] },
    { name: 'a lab without nftables: from the lab host lookup T at 1001', rules: [{ priority: 1001, src: '192.0.2.254', table: '19623' }], want: [{ table: 19623, priority: 1001, match: { kind: 'from', address: '192.0.2.254' } }] },
    { name: 'the IPv6 source rule too', rules: [{ priority: 1001, src: '2001:db8::fe', table: '19800' }], want: [{ table: 19800, priority: 1001, match: { kind: 'from', address: '2001:db8::fe' } }] },
    { name: 'a mark that differs from its table is someone else\'s', rules: [{ priority: 1000, src: 'all', fwmark: '0x1', table: '19623' }], want: [] },
    { name: 'a table outside 0x4c00-0x4fff is someone else\'s', rules: [{ priority: 1001, src: '192.0.2.254', table: '100' }, { priority: 1000, fwmark: '0x64', table: '100' }], want: [] },
    { name: 'a source rule for another address is someone else\'s', rules: [{ priority: 1001, src: '192.0.2.2', table: '19623' }], want: [] },
    { name: 'the right shape at another priority is someone else\'s', rules: [{ priority: 1002, src: '192.0.2.254', table: '19623' }], want: [] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const copy = structuredClone(row.rules);
      assert.deepEqual(labRules(row.rules), row.want, `labRules(${JSON.stringify(row.rules)})`);
      assert.deepEqual(row.rules, copy, 'the input is not mutated');
    });
  }
});

describe('lab host link: the progress line', () => {
  const host = (routing: HostLink['routing']): HostLink => ({ link: 'ful-host', ipv4: '192.0.2.254', ipv6: '2001:db8::fe', table: 19623, routing });
  it('nftables: says other labs can run beside it', () => {
    assert.equal(describeReplyRouting(host({ kind: 'nftables' })), 'host link ful-host (192.0.2.254, 2001:db8::fe): replies routed by nftables marks (table 19623); other labs can run beside this one');
  });
  const rows: { name: string; routing: HostLink['routing']; why: string }[] = [
    { name: 'forced by the variable', routing: { kind: 'sourceRule', reason: 'forced' }, why: 'FULCRUM_LAB_NFT=0' },
    { name: 'nft missing', routing: { kind: 'sourceRule', reason: 'nftMissing' }, why: 'nft not found' },
    { name: 'nft failing', routing: { kind: 'sourceRule', reason: 'nftFailed', detail: 'Operation not supported' }, why: 'nft failed: Operation not supported' },
  ];
  for (const row of rows) {
    it(`the source rule, ${row.name}: names the rule, the reason, and the one-lab limit`, () => {
      assert.equal(describeReplyRouting(host(row.routing)),
        `host link ful-host (192.0.2.254, 2001:db8::fe): replies routed by source address (ip rule from 192.0.2.254 lookup 19623; ${row.why}); one such lab at a time, install nftables to run several`);
    });
  }
});

describe('lab command: the "try it by hand" lines', () => {
  const ctx = (over: Partial<HandTryContext> = {}): HandTryContext => ({
    clientNamespace: 'ful-cl', nodeNamespace: 'ful-n1', kubeconfig: '/r/.lab/admin.kubeconfig', stateDir: '/r/.lab', statePath: '/r/.lab/state.json',
    node: 'node', probe: '/r/dist/lab/probe.js', curl: true, kubectl: true, ...over,
  });
  const svc = (name: string, addresses: string[]): LabService => ({ namespace: 'default', name, addresses, ports: [], endpoints: '1 ready (ful-n1)' });
  const services = [svc('echo-tcp', ['192.0.2.64']), svc('echo-udp', ['192.0.2.65']), svc('web', ['192.0.2.66']), svc('web-local', ['192.0.2.68']), svc('web-dual', ['192.0.2.67', '2001:db8::100'])];
  const commands = (text: string) => text.split('\n').slice(1, -1).map((l) => l.replace(/\s+#.*$/, '').trim());

  it('with curl and kubectl: HTTP by curl (IPv6 URL quoted), echoes by the probe, every address filled in', () => {
    assert.deepEqual(commands(handTryLines(ctx(), services)), [
      'kubectl --kubeconfig /r/.lab/admin.kubeconfig get svc -o wide',
      'ip netns exec ful-cl curl -s http://192.0.2.66/',
      'ip netns exec ful-cl curl -s http://192.0.2.68/',
      "ip netns exec ful-cl curl -s 'http://[2001:db8::100]/'",
      'ip netns exec ful-cl node /r/dist/lab/probe.js tcp 192.0.2.64 5678 hello',
      'ip netns exec ful-cl node /r/dist/lab/probe.js udp 192.0.2.65 5678 hello',
      'ip netns exec ful-cl ip neigh',
      'ip netns exec ful-n1 ip addr',
      'ip netns exec ful-n1 curl -s http://127.0.0.1:7473/stats.json',
    ]);
  });

  it('on a machine with neither: no kubectl line, HTTP by the probe, and Node by its full path when PATH lacks it', () => {
    const lines = commands(handTryLines(ctx({ curl: false, kubectl: false, node: '/opt/node/bin/node' }), services));
    assert.ok(!lines.some((l) => /curl|kubectl/.test(l)), lines.join('\n'));
    assert.ok(lines.includes('ip netns exec ful-cl /opt/node/bin/node /r/dist/lab/probe.js http 2001:db8::100 80'), lines.join('\n'));
  });

  it('paths with spaces or quotes are quoted for the shell', () => {
    const lines = commands(handTryLines(ctx({ probe: "/home/o'neil/my repo/dist/lab/probe.js", kubeconfig: '/home/x y/admin.kubeconfig' }), services));
    assert.ok(lines.includes(`ip netns exec ful-cl node '/home/o'\\''neil/my repo/dist/lab/probe.js' tcp 192.0.2.64 5678 hello`), lines.join('\n'));
    assert.ok(lines.includes(`kubectl --kubeconfig '/home/x y/admin.kubeconfig' get svc -o wide`), lines.join('\n'));
  });

  it('a Service without an address gets no line rather than a placeholder', () => {
    const lines = commands(handTryLines(ctx(), [svc('echo-tcp', [])]));
    assert.ok(!lines.some((l) => l.includes('probe.js tcp')), lines.join('\n'));
  });
});
