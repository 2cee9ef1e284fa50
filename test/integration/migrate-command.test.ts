import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Service } from '@kubernetes/client-node';
import YAML from 'yaml';
import { createService, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { suiteTitle } from '../helpers/api-target.js';
import { raw, type RawReply } from '../helpers/apiserver.js';
import { l2, namespace, pool, service, type Obj } from '../unit/migrate-fixtures.js';

// `fulcrum migrate-from-metallb` as a process: the compiled main of this build (the one
// bin/fulcrum runs from dist/), on files and against the API emulator.
const MAIN = new URL('../../bin/main.js', import.meta.url).href;
const RUN_MAIN = `import(${JSON.stringify(MAIN)}).then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; })`;

const CRDS = fileURLToPath(new URL('../../../config/01-crds-metallb.yaml', import.meta.url));

/** A create right after its CRD: retried while the new kind is not served yet (404). */
async function waitForCreate(create: () => Promise<RawReply>): Promise<RawReply> {
  for (let i = 0; ; i++) {
    const r = await create();
    if (r.status !== 404 || i >= 50) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type Run = { code: number | null; stdout: string; stderr: string };

function fulcrum(args: readonly string[], stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', RUN_MAIN, '--', ...args], { env: { ...process.env, FULCRUM_LOG_LEVEL: 'silent', FULCRUM_DEBUG: '', KUBECONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function assertNoStack(run: Run): void {
  assert.doesNotMatch(run.stderr + run.stdout, /\n\s+at .*:\d+:\d+\)?\n/, 'no stack trace');
}

/** A MetalLB v0.14 install as `kubectl get ipaddresspools,l2advertisements,services,namespaces -A -o yaml` lists it. */
const INSTALL: readonly Obj[] = [
  pool('blue', { addresses: ['192.0.2.0/27', '2001:db8:b::/120'] }),
  pool('team-a', { addresses: ['198.51.100.0/28'], avoidBuggyIPs: true, serviceAllocation: { priority: 10, namespaces: ['team-a'] } }),
  pool('expensive', { addresses: ['203.0.113.8/30'], autoAssign: false }),
  l2('l2-all', { ipAddressPools: ['blue', 'team-a'] }),
  l2('l2-edge', { ipAddressPools: ['expensive'], nodeSelectors: [{ matchLabels: { 'node-role.kubernetes.io/edge': '' } }], interfaces: ['eth1'] }),
  namespace('team-a', { team: 'a' }),
  service({ key: 'default/web', ips: ['192.0.2.1'], annotations: { 'metallb.io/ip-allocated-from-pool': 'blue' } }),
  service({ key: 'default/dns-tcp', ips: ['192.0.2.10'], annotations: { 'metallb.io/allow-shared-ip': 'dns' }, spec: { loadBalancerIP: '192.0.2.10', ports: [{ port: 53, protocol: 'TCP' }], selector: { app: 'dns' } } }),
  service({ key: 'default/dns-udp', ips: ['192.0.2.10'], annotations: { 'metallb.universe.tf/allow-shared-ip': 'dns' }, spec: { loadBalancerIP: '192.0.2.10', ports: [{ port: 53, protocol: 'UDP' }], selector: { app: 'dns' } } }),
  service({ key: 'team-a/api', ips: ['198.51.100.1'] }),
  service({ key: 'default/pay', ips: ['203.0.113.9'], annotations: { 'metallb.io/loadBalancerIPs': '203.0.113.9' } }),
  service({ key: 'default/dual', ips: ['192.0.2.2', '2001:db8:b::2'], spec: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv6', 'IPv4'], clusterIPs: ['fd00::10', '10.96.0.20'] } }),
];
/** The same install with one Service outside every pool and one in a namespace team-a's pool refuses. */
const BROKEN: readonly Obj[] = [...INSTALL, service({ key: 'legacy/old', ips: ['192.0.2.200'] }), service({ key: 'team-b/api', ips: ['198.51.100.2'] })];

const list = (items: readonly Obj[]) => YAML.stringify({ apiVersion: 'v1', kind: 'List', items });

describe('fulcrum migrate-from-metallb: files (real CLI process)', function () {
  this.timeout(20_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'fulcrum-migrate-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, content: string): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  }

  it('says every Service keeps its address and exits 0 for a clean install', async () => {
    const run = await fulcrum(['migrate-from-metallb', '--file', file('install.yaml', list(INSTALL))]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^MetalLB resources: 3 pools, 6 LoadBalancer Services\n\nConfig: valid \(0 errors, 0 warnings\)\n/);
    assert.match(run.stdout, /^ {2}default\/dns-udp +192\.0\.2\.10 +keeps 192\.0\.2\.10 \(pool blue\)\n {6}note: shares 192\.0\.2\.10 with default\/dns-tcp$/m);
    assert.match(run.stdout, /^ {2}default\/pay +203\.0\.113\.9 +keeps 203\.0\.113\.9 \(pool expensive\)$/m);
    assert.match(run.stdout, /^ {2}default\/dual +192\.0\.2\.2,2001:db8:b::2 +keeps 2001:db8:b::2, 192\.0\.2\.2 \(pool blue\)$/m);
    assert.match(run.stdout, /^ {4}announced by: L2Advertisement "metallb-system\/l2-edge" \(nodes \{node-role\.kubernetes\.io\/edge=\}, interfaces eth1\)$/m);
    assert.match(run.stdout, /\nResult: 6 of 6 Services with an address keep it\. Safe to migrate: no Service changes its address\.\n$/);
  });

  it('names each Service that would lose its address, why, and what it gets instead, and exits 1', async () => {
    const run = await fulcrum(['migrate-from-metallb', '--file', file('broken.yaml', list(BROKEN))]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^ {2}legacy\/old +192\.0\.2\.200 +LOSES 192\.0\.2\.200: 192\.0\.2\.200 is not in any pool \(notInAnyPool\); gets 192\.0\.2\.0 \(pool blue\) instead$/m);
    assert.match(run.stdout, /^ {2}team-b\/api +198\.51\.100\.2 +LOSES 198\.51\.100\.2: .*pool "team-a" serves only namespaces "team-a" \(serviceAllocation\), not team-b\/api \(poolPinned\); gets 192\.0\.2\.3 \(pool blue\) instead$/m);
    assert.match(run.stdout, /Result: 6 of 8 Services with an address keep it, 2 lose it\. Not safe to migrate/);
    assertNoStack(run);
  });

  it('answers JSON with -o json, from stdin with --file -', async () => {
    const run = await fulcrum(['migrate-from-metallb', '--file', '-', '-o', 'json'], list(BROKEN));
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as { ok: boolean; counts: Record<string, number>; services: { service: string; outcome: { kind: string; reason?: string } }[]; pools: { name: string; services: string[] }[] };
    assert.equal(report.ok, false);
    assert.deepEqual(report.counts, { keeps: 6, gets: 0, pending: 0, loses: 2, invalid: 0, notServed: 0, unchecked: 0 });
    assert.deepEqual(report.services.find((s) => s.service === 'legacy/old')?.outcome.reason, 'notInAnyPool');
    assert.deepEqual(report.pools.find((p) => p.name === 'team-a')?.services, ['team-a/api']);
  });

  it('reads the manifests a user applies (several documents), and a BGP kind makes the config invalid', async () => {
    const bgp = { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'peer', namespace: 'metallb-system' }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.1' } };
    const text = [...INSTALL, bgp].map((o) => YAML.stringify(o)).join('---\n');
    const run = await fulcrum(['migrate-from-metallb', '--file', file('manifests.yaml', text)]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^Config: INVALID \(1 error, 0 warnings\): Fulcrum refuses it as a whole and assigns nothing\n {2}error: BGPPeer "metallb-system\/peer": BGP is not supported, layer2 only$/m);
    assert.match(run.stdout, /^ {2}default\/web +192\.0\.2\.1 +not checked: the config has errors/m);
  });

  it('reads the legacy ConfigMap with the Services', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: 'metallb-system' }, data: { config: 'address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/27]\n' } };
    const run = await fulcrum(['migrate-from-metallb', '--file', file('legacy.yaml', list([cm, service({ key: 'default/web', ips: ['192.0.2.1'] })]))]);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /^MetalLB's legacy ConfigMap: 1 pool, 1 LoadBalancer Service$/m);
    assert.match(run.stdout, /^ {4}announced by: the ConfigMap \(every node, every interface\)$/m);
  });

  it('a missing file is one line and exit 1; bad flags are usage errors (exit 2)', async () => {
    const missing = await fulcrum(['migrate-from-metallb', '--file', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `fulcrum migrate-from-metallb: cannot read "${join(dir, 'nope.yaml')}": no such file (FUL_ERR_CONFIG_READ)\n`);
    for (const [args, message] of [
      [['-o', 'xml', '--file', '-'], /--output: "xml" is not text or json/],
      [['dump.yaml'], /unexpected argument "dump\.yaml": give the file with --file FILE/],
      [['--file', 'x.yaml', '-n', 'metallb'], /--file "x\.yaml" reads a file: --kubeconfig and --namespace are for reading a cluster/],
      [['--lb-class', '', '--file', '-'], /--lb-class: "" is not a class/],
    ] as const) {
      const run = await fulcrum(['migrate-from-metallb', ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.match(run.stderr, /Usage: fulcrum migrate-from-metallb --file FILE\|-/);
    }
  });

  it('is listed by fulcrum --help, and has its own --help', async () => {
    const top = await fulcrum(['--help']);
    assert.match(top.stdout, /^ {2}migrate-from-metallb +print what Fulcrum will do with a MetalLB install/m);
    const own = await fulcrum(['migrate-from-metallb', '--help']);
    assert.equal(own.code, 0);
    assert.match(own.stdout, /Exit codes: 0 the config is valid and every Service keeps its address/);
  });
});

describe(suiteTitle('fulcrum migrate-from-metallb: a cluster (real CLI process)'), function () {
  this.timeout(30_000);
  let cluster: TestCluster;

  async function withStatus(svc: V1Service, ips: readonly string[]): Promise<void> {
    const created = await createService(cluster.clients, svc);
    await cluster.clients.core.replaceNamespacedServiceStatus({
      name: svc.metadata!.name!, namespace: svc.metadata!.namespace!,
      body: { ...created, status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } } as V1Service,
    });
  }

  before(async () => {
    cluster = await startTestCluster();
    await cluster.clients.core.createNamespace({ body: { metadata: { name: 'metallb-system' } } });
    await withStatus(lbService('web', { annotations: { 'metallb.io/ip-allocated-from-pool': 'default' } }), ['192.0.2.1']);
    await withStatus(lbService('old'), ['10.9.9.9']);
    await createService(cluster.clients, lbService('waiting'));
  });
  after(() => cluster.close());

  it('says when the metallb.io CRDs are missing and there is no legacy ConfigMap either (exit 1)', async () => {
    const run = await fulcrum(['migrate-from-metallb', '--kubeconfig', cluster.kubeconfig]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /^note: the cluster has no ipaddresspools\.metallb\.io CRD: MetalLB's resources are not installed/m);
    assert.match(run.stderr, /^note: namespace "metallb-system" has no legacy ConfigMap "config" either$/m);
    assert.match(run.stdout, /^ {2}error: input has no IPAddressPool or L2Advertisement/m);
    assert.match(run.stdout, /^ {2}default\/web +192\.0\.2\.1 +not checked/m);
    assertNoStack(run);
  });

  it("reads the Services and MetalLB's legacy ConfigMap from the cluster", async () => {
    await cluster.clients.core.createNamespacedConfigMap({
      namespace: 'metallb-system',
      body: { metadata: { name: 'config', namespace: 'metallb-system' }, data: { config: 'address-pools:\n- {name: default, protocol: layer2, addresses: [192.0.2.0/28]}\n' } },
    });
    const run = await fulcrum(['migrate-from-metallb', '--kubeconfig', cluster.kubeconfig, '-o', 'json']);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as { source: string; notes: string[]; services: { service: string; outcome: { kind: string; reason?: string } }[] };
    assert.equal(report.source, 'configMap');
    const outcomes = Object.fromEntries(report.services.map((s) => [s.service, `${s.outcome.kind}${s.outcome.reason ? ` ${s.outcome.reason}` : ''}`]));
    assert.deepEqual(outcomes, { 'default/old': 'loses notInAnyPool', 'default/waiting': 'gets', 'default/web': 'keeps' });
    assert.ok(report.notes.some((n) => /no ipaddresspools\.metallb\.io CRD/.test(n)), JSON.stringify(report.notes));
  });

  it('reads the IPAddressPools and L2Advertisements of --namespace when the CRDs are served', async function () {
    for (const doc of YAML.parseAllDocuments(readFileSync(CRDS, 'utf8'))) {
      const r = await raw(cluster.api, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: doc.toJS() });
      if (r.status === 404) this.skip(); // an emulator that does not serve CustomResourceDefinitions yet
      assert.ok(r.status === 201 || r.status === 409, `creating a CRD: ${r.status} ${r.text}`);
    }
    await cluster.clients.core.createNamespace({ body: { metadata: { name: 'metallb-crds' } } });
    const objects: Obj[] = [pool('default', { addresses: ['192.0.2.0/28'] }), l2('l2')].map((o) => ({ ...o, metadata: { ...(o.metadata as Obj), namespace: 'metallb-crds' } }));
    for (const o of objects) {
      const plural = o.kind === 'IPAddressPool' ? 'ipaddresspools' : 'l2advertisements';
      const created = await waitForCreate(() => raw(cluster.api, 'POST', `/apis/metallb.io/v1beta1/namespaces/metallb-crds/${plural}`, { body: o }));
      assert.equal(created.status, 201, created.text);
    }
    const run = await fulcrum(['migrate-from-metallb', '--kubeconfig', cluster.kubeconfig, '-n', 'metallb-crds']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.equal(run.stderr, '', 'no note: the resources are there');
    assert.match(run.stdout, /^MetalLB resources: 1 pool, 3 LoadBalancer Services$/m);
    assert.match(run.stdout, /^ {4}announced by: L2Advertisement "metallb-crds\/l2" \(every node, every interface\)$/m);
    assert.match(run.stdout, /^ {2}default\/web +192\.0\.2\.1 +keeps 192\.0\.2\.1 \(pool default\)$/m);
    assert.match(run.stdout, /^ {2}default\/old +10\.9\.9\.9 +LOSES 10\.9\.9\.9: 10\.9\.9\.9 is not in any pool \(notInAnyPool\)/m);
  });

  it('a bad kubeconfig is one line and exit 1', async () => {
    const run = await fulcrum(['migrate-from-metallb', '--kubeconfig', join(cluster.dir, 'missing.kubeconfig')]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^fulcrum migrate-from-metallb: kubeconfig ".*missing\.kubeconfig": cannot load it: .*\(FUL_ERR_KUBECONFIG\)\n$/);
  });
});
