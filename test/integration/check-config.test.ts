import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The real CLI process: bin/fulcrum (which imports dist/, built before the tests run).
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'fulcrum');

type Run = { code: number | null; stdout: string; stderr: string };

function fulcrum(args: string[], stdin?: string | Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, FULCRUM_LOG_LEVEL: 'silent', FULCRUM_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

function assertNoStack(run: Run): void {
  assert.doesNotMatch(run.stderr + run.stdout, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
}

describe('fulcrum check-config (real CLI process)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-check-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, content: string | Buffer): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  }

  it('prints a summary with sizes per family and exits 0 for the example ConfigMap', async () => {
    const run = await fulcrum(['check-config', 'config/examples/pools.yaml']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^config OK: 2 pools, 0 warnings\n/);
    assert.match(run.stdout, /^default\s+2\s+127\s+18,446,744,073,709,551,616 \(2\^64\)\s+avoid-buggy-ips$/m);
    assert.match(run.stdout, /^reserved\s+1\s+21\s+-\s+auto-assign: false, node-selectors: 1, interfaces: eth0$/m);
  });

  it('reads a bare config from stdin with "-", and a /8 and 2001:db8::/32 are sized exactly', async () => {
    const run = await fulcrum(['check-config', '-'], 'address-pools:\n- {name: big, protocol: layer2, addresses: [10.0.0.0/8, "2001:db8::/32"]}\n');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^big\s+2\s+16,777,216 \(2\^24\)\s+79,228,162,514,264,337,593,543,950,336 \(2\^96\)$/m);
  });

  it('prints warnings with the summary', async () => {
    const run = await fulcrum(['check-config', file('hostbits.yaml', 'address-pools:\n- {name: web, addresses: [192.0.2.5/24]}\n')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^config OK: 1 pool, 1 warning$/m);
    assert.match(run.stdout, /^warning: pool "web": addresses\[0\]: "192.0.2.5\/24" has host bits set; it means the network 192.0.2.0\/24$/m);
  });

  it('prints every error, one per line, on stderr and exits 1', async () => {
    const text = 'address-pools:\n- {name: web, addresses: [192.0.2.0/28, 192.0.2.64/28, "192.0.2.300/32"], auto-asign: false}\n- {name: b, protocol: bgp, addresses: [192.0.2.8/29]}\n';
    const run = await fulcrum(['check-config', file('bad.yaml', text)]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.deepEqual(run.stderr.trimEnd().split('\n'), [
      'pool "web": unknown key "auto-asign" (did you mean "auto-assign"?)',
      'pool "web": addresses[2]: "192.0.2.300/32" is not an IP range',
      'pool "b": protocol: "bgp" is not supported, layer2 only',
      'pool "b": addresses[0]: "192.0.2.8/29" overlaps "192.0.2.0/28" of pool "web"',
    ]);
  });

  // MetalLB's resources: the manifests of its "Advanced AddressPool/L2 configuration" pages.
  const METALLB = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: cheap, namespace: metallb-system}
spec:
  addresses: [192.168.10.0/24, "2001:db8:10::/64"]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: expensive, namespace: metallb-system}
spec:
  addresses: [42.176.25.64/30]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: ippool-ns-service-alloc-sample, namespace: metallb-system}
spec:
  addresses: [192.168.20.0/24]
  avoidBuggyIPs: true
  serviceAllocation:
    priority: 50
    namespaces: [namespace-a, namespace-b]
    namespaceSelectors:
    - matchLabels: {foo: bar}
    serviceSelectors:
    - matchExpressions:
      - {key: app, operator: In, values: [bar]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: example, namespace: metallb-system}
spec:
  ipAddressPools: [cheap, ippool-ns-service-alloc-sample]
  nodeSelectors:
  - matchLabels: {kubernetes.io/hostname: NodeA}
  - matchLabels: {kubernetes.io/hostname: NodeB}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: eno1, namespace: metallb-system}
spec:
  interfaces: [eno1]
`;

  it('reads a file of MetalLB resources: a summary in MetalLB\'s words, with the L2Advertisements of each pool', async () => {
    const run = await fulcrum(['check-config', file('metallb.yaml', METALLB)]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^config OK: 3 pools from MetalLB resources, 0 warnings\n/);
    assert.match(run.stdout, /^cheap\s+2\s+256\s+18,446,744,073,709,551,616 \(2\^64\)\s+L2Advertisements: metallb-system\/eno1, metallb-system\/example$/m);
    assert.match(run.stdout, /^expensive\s+1\s+4\s+-\s+autoAssign: false, L2Advertisements: metallb-system\/eno1$/m);
    assert.match(
      run.stdout,
      /^ippool-ns-service-alloc-sample\s+1\s+254\s+-\s+avoidBuggyIPs, serviceAllocation: \{priority: 50, namespaces: \[namespace-a, namespace-b\], namespaceSelectors: 1, serviceSelectors: 1\}, L2Advertisements: metallb-system\/eno1, metallb-system\/example$/m,
    );
  });

  it('reads a kubectl get ipaddresspools,l2advertisements -A -o yaml List from stdin, and warns about a pool nothing announces', async () => {
    const list = `apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: metallb.io/v1beta1
  kind: IPAddressPool
  metadata: {name: first-pool, namespace: metallb-system, uid: 0b6c, resourceVersion: "812", creationTimestamp: "2024-05-01T10:00:00Z"}
  spec: {addresses: [192.168.1.240-192.168.1.250], autoAssign: true, avoidBuggyIPs: false}
  status: {assignedIPv4: 2, assignedIPv6: 0, availableIPv4: 9, availableIPv6: 0}
- apiVersion: metallb.io/v1beta1
  kind: IPAddressPool
  metadata: {name: second-pool, namespace: metallb-system}
  spec: {addresses: [192.168.2.0/28]}
- apiVersion: metallb.io/v1beta1
  kind: L2Advertisement
  metadata: {name: example, namespace: metallb-system}
  spec: {ipAddressPools: [first-pool]}
`;
    const run = await fulcrum(['check-config', '-'], list);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^config OK: 2 pools from MetalLB resources, 1 warning$/m);
    assert.match(run.stdout, /^first-pool\s+1\s+11\s+-\s+L2Advertisements: metallb-system\/example$/m);
    assert.match(run.stdout, /^second-pool\s+1\s+16\s+-\s+not announced \(no L2Advertisement\)$/m);
    assert.match(run.stdout, /^warning: IPAddressPool "metallb-system\/second-pool": no L2Advertisement selects the pool: its addresses are assigned but not announced$/m);
  });

  it('says which MetalLB kinds and fields it does not support, one error per line, and exits 1', async () => {
    const text = `${METALLB}---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: external, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: frontend-services, namespace: metallb-system}
spec:
  ipAddressPools: [cheap]
  interfaces: [eth0]
  serviceSelectors:
  - matchLabels: {tier: frontend}
  preferredNodeSelectors:
  - {weight: 100, preference: {matchLabels: {node-role: edge}}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: web, namespace: metallb-system}
spec:
  addresses: [192.168.10.128/25, 192.168.30.300/32]
  autoAsign: false
`;
    const run = await fulcrum(['check-config', file('metallb-bad.yaml', text)]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.deepEqual(run.stderr.trimEnd().split('\n'), [
      'BGPPeer "metallb-system/peer1": BGP is not supported, layer2 only',
      'BGPAdvertisement "metallb-system/external": BGP is not supported, layer2 only',
      'L2Advertisement "metallb-system/frontend-services": spec.serviceSelectors is not supported: Fulcrum announces every Service of a pool the same way; give those Services a pool of their own (serviceAllocation) and an L2Advertisement for it',
      'IPAddressPool "metallb-system/web": spec: unknown key "autoAsign" (did you mean "autoAssign"?)',
      'IPAddressPool "metallb-system/web": spec.addresses[1]: "192.168.30.300/32" is not an IP range',
      'IPAddressPool "metallb-system/web": spec.addresses[0]: "192.168.10.128/25" overlaps "192.168.10.0/24" of IPAddressPool "metallb-system/cheap"',
      'warning: L2Advertisement "metallb-system/frontend-services": spec.preferredNodeSelectors is ignored: Fulcrum elects the owner of an address among the eligible nodes by its own order (nodes with local endpoints first, then a hash)',
    ]);
  });

  it('refuses MetalLB resources and the ConfigMap in one file: Fulcrum reads one source', async () => {
    const run = await fulcrum(['check-config', file('both.yaml', `${METALLB}---\n${readFileSync(join(ROOT, 'config', 'examples', 'pools.yaml'), 'utf8')}`)]);
    assert.equal(run.code, 1);
    assert.deepEqual(run.stderr.trimEnd().split('\n'), ['input has both MetalLB resources and ConfigMap "fulcrum-system/config" with data.config: Fulcrum reads one source, remove one of them']);
  });

  const unreadable: Array<{ name: string; args: () => string[]; stdin?: Buffer; stderr: RegExp }> = [
    { name: 'a missing file is a clear error', args: () => ['check-config', join(dir, 'nope.yaml')], stderr: /^fulcrum check-config: cannot read ".*nope\.yaml": no such file \(FUL_ERR_CONFIG_READ\)\n$/ },
    { name: 'a directory is a clear error', args: () => ['check-config', dir], stderr: /: it is a directory \(FUL_ERR_CONFIG_READ\)\n$/ },
    { name: 'a binary file is not YAML', args: () => ['check-config', file('bin', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0xff, 0xfe, 0x00]))], stderr: /^input is not YAML: it is not UTF-8 text \(a binary file\?\)\n$/ },
    { name: 'binary on stdin is not YAML', args: () => ['check-config', '-'], stdin: Buffer.from('\u0000\u0001\u0002 garbage'), stderr: /^input is not YAML: it contains control characters/ },
    { name: 'text that is not YAML', args: () => ['check-config', file('broken.yaml', 'address-pools: [\n  - {name: x\n')], stderr: /^input is not YAML: / },
    { name: 'an empty stdin has no pools, but is not a crash', args: () => ['check-config', '-'], stderr: /^$/ },
  ];
  for (const row of unreadable) {
    it(`${row.name}, with no stack trace`, async () => {
      const run = await fulcrum(row.args(), row.stdin);
      assertNoStack(run);
      assert.match(run.stderr, row.stderr);
      assert.equal(run.code, run.stderr === '' ? 0 : 1, run.stderr);
    });
  }

  it('without a FILE it is a usage error (exit 2)', async () => {
    const run = await fulcrum(['check-config']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /give one FILE, or - for stdin/);
    assert.match(run.stderr, /Usage: fulcrum check-config FILE\|-/);
  });

  it('--help prints the usage and exits 0', async () => {
    const run = await fulcrum(['check-config', '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: fulcrum check-config FILE\|-/);
  });
});
