import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { apiRequest } from '../../lab/kube-rest.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { listLinks, listNamespaces, waitFor } from '../../lab/netns.js';
import { SAMPLE_SERVICES, sampleAddressCount, sampleCheckCount } from '../../lab/samples.js';
import type { LabState } from '../../lab/state.js';

// startLab in-process, as the speaker's e2e tests use it: allocator on, speakers off (this file
// stands in for one speaker by hand to check that the lab's checks and owner detection work).
const PREFIX = 'fls';
// Runs in a node namespace: relays every TCP connection to listenHost:listenPort on to host:port.
const TCP_RELAY = `
const net = require('node:net');
const [listenHost, listenPort, host, port] = process.argv.slice(1);
net.createServer((c) => {
  const b = net.connect({ host, port: Number(port) });
  c.pipe(b).pipe(c);
  c.on('error', () => b.destroy());
  b.on('error', () => c.destroy());
}).listen({ host: listenHost, port: Number(listenPort) }, () => console.log('listening'));
`;

function inLabPools(address: string): boolean {
  const v4 = /^192\.0\.2\.(\d+)$/.exec(address);
  if (v4) return Number(v4[1]) >= 64 && Number(v4[1]) <= 127;
  return /^2001:db8::1[0-9a-f]{2}$/.test(address);
}

describe('lab: startLab in-process (2 nodes, allocator, no speakers)', function () {
  this.timeout(60_000);
  let lab: Lab;
  let stateDir: string;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (lab start e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    stateDir = mkdtempSync(join(tmpdir(), 'fulcrum-lab-'));
    lab = await startLab({ prefix: PREFIX, nodes: 2, speakers: false, stateDir });
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  function state(): LabState {
    return JSON.parse(readFileSync(lab.statePath, 'utf8')) as LabState;
  }

  it('writes state.json with the prefix, client namespace, kubeconfig and nodes', () => {
    const s = state();
    assert.equal(s.phase, 'starting');
    assert.equal(s.prefix, PREFIX);
    assert.equal(s.clientNamespace, `${PREFIX}-cl`);
    assert.equal(s.kubeconfig, join(stateDir, 'admin.kubeconfig'));
    assert.deepEqual(s.nodes, [
      { name: `${PREFIX}-n1`, namespace: `${PREFIX}-n1`, addresses: ['192.0.2.11', '2001:db8::11'], mac: '02:1a:b0:00:01:01' },
      { name: `${PREFIX}-n2`, namespace: `${PREFIX}-n2`, addresses: ['192.0.2.12', '2001:db8::12'], mac: '02:1a:b0:00:01:02' },
    ]);
    assert.ok(s.components.allocator && s.components.allocator.pid > 0);
  });

  it('the admin kubeconfig reaches the emulator and sees both nodes Ready', async () => {
    const kc = parse(readFileSync(state().kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[]; users: { user: { token: string } }[] };
    const target = { url: kc.clusters[0]!.cluster.server, token: kc.users[0]!.user.token };
    assert.match(target.url, /^https?:\/\/192\.0\.2\.254:\d+/);
    const nodes = (await apiRequest(target, 'GET', '/api/v1/nodes')).items as { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }[];
    assert.deepEqual(nodes.map((n) => [n.metadata.name, n.status.conditions.find((c) => c.type === 'Ready')?.status]).sort(), [[`${PREFIX}-n1`, 'True'], [`${PREFIX}-n2`, 'True']]);
  });

  it('every node namespace reaches the emulator on the lab host address with the speaker kubeconfig', async () => {
    const kc = parse(readFileSync(lab.kubeconfigs.speaker, 'utf8')) as { clusters: { cluster: { server: string } }[]; users: { user: { token: string } }[] };
    const { server } = kc.clusters[0]!.cluster;
    for (const node of lab.topology.nodes) {
      const r = await lab.topology.exec(node.namespace, 'curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${kc.users[0]!.user.token}`, `${server}/api/v1/services`]);
      assert.equal(r.stdout, '200', `${node.name}: ${r.stderr}`);
    }
  });

  it('runs the sample pods, which answer on their pod addresses from any node', async () => {
    assert.deepEqual(lab.pods.map((p) => [p.name, p.nodeName]), [['web-1', `${PREFIX}-n1`], ['web-2', `${PREFIX}-n2`]]);
    for (const pod of lab.pods) {
      const r = await lab.topology.exec(lab.topology.node(1).namespace, 'curl', ['-s', '--max-time', '3', `http://${pod.plan.ipv4}:8080/`]);
      assert.equal((JSON.parse(r.stdout) as { pod: string }).pod, pod.name);
    }
  });

  it('the allocator gives every sample Service an address from the lab pools (two for each dual-stack one)', async () => {
    const svcs = await lab.waitForAddresses(30_000);
    assert.deepEqual(svcs.map((s) => s.name).sort(), SAMPLE_SERVICES.map((s) => s.name).sort());
    for (const s of svcs) {
      assert.equal(s.addresses.length, sampleAddressCount(SAMPLE_SERVICES.find((x) => x.name === s.name)!), `${s.name}: ${s.addresses.join(', ')}`);
      for (const a of s.addresses) assert.ok(inLabPools(a), `${s.name}: ${a}`);
    }
    assert.equal(svcs.find((s) => s.name === 'web-local')!.endpoints, `1 ready (${PREFIX}-n2)`);
  });

  it('with no speaker, no address answers and every check says so', async () => {
    const rows = await lab.check();
    assert.equal(rows.length, sampleCheckCount(), 'one check per address and port');
    for (const r of rows) assert.match(r.result, /^FAIL /, `${r.service} ${r.address}`);
  });

  it('when a node serves an address by hand, the check passes through it and names it the owner', async () => {
    const web = (await lab.services()).find((s) => s.name === 'web')!;
    const vip = web.addresses[0]!;
    const n2 = lab.topology.node(2);
    const backend = lab.pods.find((p) => p.name === 'web-1')!;
    // a stand-in speaker: the address on eth0 (the kernel answers ARP) and a TCP relay to a pod
    await lab.topology.run(n2.namespace, 'ip', ['addr', 'add', `${vip}/32`, 'dev', 'eth0']);
    const relay = lab.topology.spawn(n2.namespace, process.execPath, ['-e', TCP_RELAY, vip, '80', backend.plan.ipv4, '8080'], { name: 'stand-in' });
    await relay.waitForOutput(/listening/, 5000);
    const row = await waitFor('the web row to pass', async () => (await lab.check()).find((r) => r.service === 'default/web' && r.result.startsWith('ok')), 10_000, 200);
    assert.equal(row.owner, n2.name);
    assert.equal(row.result, `ok web-1 saw ${n2.ipv4}`);
    await lab.writeState('ready');
    const s = state();
    assert.equal(s.phase, 'ready');
    const webState = s.services.find((x) => x.name === 'web')!;
    assert.deepEqual([webState.namespace, webState.addresses, webState.ports, webState.owner], ['default', [vip], [{ port: 80, protocol: 'TCP' }], n2.name]);
  });

  it('stop removes state.json, every namespace and root link, and the allocator', async () => {
    const allocator = lab.allocator!;
    await lab.stop();
    assert.ok(!existsSync(lab.statePath));
    assert.ok(!allocator.running);
    assert.deepEqual((await listNamespaces()).filter((n) => n.startsWith(`${PREFIX}-`)), []);
    assert.deepEqual((await listLinks()).filter((n) => n.startsWith(`${PREFIX}-`)), []);
  });
});
