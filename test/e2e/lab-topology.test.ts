import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HOST_IPV4, HOST_IPV6, type PodPlan } from '../../lab/addressing.js';
import { onPath } from '../../lab/host-link.js';
import { listLinks, listNamespaces, waitFor } from '../../lab/netns.js';
import { parseProbeOutput } from '../../lab/probe.js';
import { Topology } from '../../lab/topology.js';

// Real namespaces, veths, bridge and kernel neighbour tables; prefix `flt` is this file's own.
const PREFIX = 'flt';
const isRoot = process.getuid?.() === 0;
const PROBE = fileURLToPath(new URL('../../lab/probe.js', import.meta.url));
// Runs in a namespace: sends one line (argv[1]) to every TCP client and closes, on port argv[2], both families.
const BANNER_SERVER = `
const [line, port] = process.argv.slice(1);
require('node:net').createServer((s) => s.end(line + '\\n')).listen({ port: Number(port), host: '::', ipv6Only: false }, () => console.log('listening'));
`;

function skipUnlessRoot(ctx: Mocha.Context): void {
  if (!isRoot) {
    console.log('    (lab topology e2e skipped: needs root for network namespaces)');
    ctx.skip();
  }
}

async function labNamespaces(): Promise<string[]> {
  return (await listNamespaces()).filter((n) => n.startsWith(`${PREFIX}-`));
}

async function labRootLinks(): Promise<string[]> {
  return (await listLinks()).filter((n) => n.startsWith(`${PREFIX}-`));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('lab topology: leftovers of a crashed run', function () {
  before(function () {
    skipUnlessRoot(this);
  });

  afterEach(() => {
    // also on failure: nothing with our prefix survives this block
    execFileSync('sh', ['-c', `for n in $(ip netns list | awk '{print $1}' | grep '^${PREFIX}-'); do ip netns pids $n | xargs -r kill -9; ip netns del $n; done; ip link del ${PREFIX}-host 2>/dev/null; true`]);
  });

  it('a new start removes namespaces, the processes inside them and root links left by an earlier run', async () => {
    execFileSync('ip', ['netns', 'add', `${PREFIX}-n1`]);
    execFileSync('ip', ['link', 'add', `${PREFIX}-host`, 'type', 'veth', 'peer', 'name', `${PREFIX}-hp`]);
    const sleeper = spawnSync('sh', ['-c', `ip netns exec ${PREFIX}-n1 sleep 300 >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
    const pid = Number(sleeper.stdout.trim());
    assert.ok(pidAlive(pid), 'the leftover process runs before the start');
    const topo = await Topology.create({ prefix: PREFIX, nodes: 1 });
    try {
      assert.ok(!pidAlive(pid) || execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).startsWith('Z'), 'the leftover process was killed');
      assert.ok(!(await listLinks()).includes(`${PREFIX}-hp`), 'the leftover root link was removed');
      assert.deepEqual((await labNamespaces()).sort(), [`${PREFIX}-cl`, `${PREFIX}-n1`, `${PREFIX}-sw`]);
    } finally {
      await topo.destroy();
    }
  });

  it('a process that dies with an uncaught error after building removes its topology on exit', async () => {
    const topologyModule = fileURLToPath(new URL('../../lab/topology.js', import.meta.url));
    const script = `import(${JSON.stringify(topologyModule)}).then(async (m) => { await m.Topology.create({ prefix: '${PREFIX}', nodes: 2 }); console.log('built'); throw new Error('boom'); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, FULCRUM_LOG_LEVEL: 'silent' }, timeout: 20_000 });
    assert.match(r.stdout, /built/, `the child built its topology: ${r.stderr}`);
    assert.notEqual(r.status, 0, 'the child crashed');
    assert.deepEqual(await labNamespaces(), []);
    assert.deepEqual(await labRootLinks(), []);
  });
});

describe('lab topology: 3 nodes, 2 pods', function () {
  let topo: Topology;
  let pod1: PodPlan;
  let pod2: PodPlan;
  let hostServer: Server | undefined;

  before(async function () {
    skipUnlessRoot(this);
    topo = await Topology.create({ prefix: PREFIX, nodes: 3 });
    pod1 = await topo.addPod(1);
    pod2 = await topo.addPod(2);
  });

  after(async () => {
    hostServer?.close();
    await topo?.destroy();
  });

  async function reachable(namespace: string, address: string): Promise<void> {
    await waitFor(`${namespace} to ping ${address}`, async () => (await topo.exec(namespace, 'ping', ['-c', '1', '-W', '1', address])).code === 0, 5000);
  }

  /** The first line a TCP server sends, read by the lab's probe from inside `namespace`. */
  async function tcpAnswer(namespace: string, address: string, port: number): Promise<string> {
    return waitFor(`${namespace} to connect to ${address}:${port}`, async () => {
      const r = parseProbeOutput((await topo.exec(namespace, process.execPath, [PROBE, 'tcp', address, String(port), '', '--timeout-ms', '2000'])).stdout);
      return r?.ok && r.reply ? r.reply : undefined;
    }, 5000);
  }

  it('names every namespace and root link with the prefix, within 15 characters', async () => {
    assert.deepEqual((await labNamespaces()).sort(), [`${PREFIX}-cl`, `${PREFIX}-n1`, `${PREFIX}-n1-p1`, `${PREFIX}-n2`, `${PREFIX}-n2-p1`, `${PREFIX}-n3`, `${PREFIX}-sw`]);
    assert.deepEqual(await labRootLinks(), [`${PREFIX}-host`]);
    for (const ns of [topo.names.switchNamespace, ...topo.nodes.map((n) => n.namespace)]) {
      for (const link of await listLinks(ns)) assert.ok(link.length <= 15, `${ns}: ${link}`);
    }
  });

  it('gives nodes their fixed addresses and MACs on eth0', async () => {
    const n2 = topo.node(2);
    const out = await topo.run(n2.namespace, 'ip', ['-j', 'addr', 'show', 'eth0']);
    const [link] = JSON.parse(out) as { address: string; addr_info: { local: string; prefixlen: number; tentative?: boolean }[] }[];
    assert.equal(link!.address, n2.mac);
    const addrs = link!.addr_info.filter((a) => !a.local.startsWith('fe80')).map((a) => `${a.local}/${a.prefixlen}`);
    assert.deepEqual(addrs.sort(), ['192.0.2.12/24', '2001:db8::12/64']);
    assert.ok(link!.addr_info.every((a) => !a.tentative), 'no address waits for DAD');
  });

  it('a pod reaches its node and its node reaches the pod (IPv4 and IPv6)', async () => {
    await reachable(pod1.namespace, topo.node(1).ipv4);
    await reachable(topo.node(1).namespace, pod1.ipv4);
    await reachable(topo.node(1).namespace, pod1.ipv6);
  });

  it('another node reaches a pod through its node, over TCP (IPv4 and IPv6)', async () => {
    const server = topo.spawn(pod1.namespace, process.execPath, ['-e', BANNER_SERVER, 'pod-one', '5678'], { name: 'pod1-banner' });
    await server.waitForOutput(/listening/, 5000);
    assert.equal(await tcpAnswer(topo.node(3).namespace, pod1.ipv4, 5678), 'pod-one');
    assert.equal(await tcpAnswer(topo.node(2).namespace, pod1.ipv6, 5678), 'pod-one');
    await reachable(pod2.namespace, pod1.ipv4);
  });

  it('the client reaches node addresses but not pod addresses', async () => {
    for (const node of topo.nodes) {
      await reachable(topo.client.namespace, node.ipv4);
      await reachable(topo.client.namespace, node.ipv6);
    }
    const r = await topo.exec(topo.client.namespace, 'ping', ['-c', '1', '-W', '1', pod1.ipv4]);
    assert.notEqual(r.code, 0, 'the client has no route to pods');
  });

  it('every node reaches the lab host in the root namespace over TCP (where the API emulator listens)', async () => {
    hostServer = createServer((s) => s.end('host\n'));
    await new Promise<void>((resolve) => hostServer!.listen(0, '::', resolve));
    const port = (hostServer.address() as { port: number }).port;
    for (const node of topo.nodes) {
      assert.equal(await tcpAnswer(node.namespace, HOST_IPV4, port), 'host');
      assert.equal(await tcpAnswer(node.namespace, HOST_IPV6, port), 'host');
    }
  });

  it('shows the node MAC in the client neighbour table and the exchange on the bridge', async () => {
    const capture = await topo.captureNeighbourTraffic();
    await topo.run(topo.client.namespace, 'ip', ['neigh', 'flush', 'all']);
    await reachable(topo.client.namespace, topo.node(3).ipv4);
    await reachable(topo.client.namespace, topo.node(3).ipv6);
    const n3 = topo.node(3);
    const neigh = await topo.neighbours(topo.client.namespace);
    assert.equal(neigh.find((e) => e.ip === n3.ipv4)?.mac, n3.mac);
    assert.equal(neigh.find((e) => e.ip === n3.ipv6)?.mac, n3.mac);
    await capture.waitForEvent('ARP reply from node 3', (e) => e.op === 'arp-reply' && e.targetIp === n3.ipv4, 3000);
    await capture.waitForEvent('NA from node 3', (e) => e.op === 'ndp-advert' && e.targetIp === n3.ipv6, 3000);
    const events = await capture.stop();
    const answers = events.filter((e) => (e.op === 'arp-reply' || e.op === 'ndp-advert') && (e.targetIp === n3.ipv4 || e.targetIp === n3.ipv6));
    assert.ok(answers.every((e) => e.srcMac === n3.mac && e.port === n3.switchPort), JSON.stringify(answers));
    assert.ok(events.some((e) => e.op === 'arp-request' && e.targetIp === n3.ipv4 && e.srcMac === topo.client.mac && e.port === topo.client.switchPort));
  });

  it('a node whose link is down is unreachable until it comes back', async () => {
    const n1 = topo.node(1);
    await topo.setNodeLink(1, 'down');
    const down = await topo.exec(topo.client.namespace, 'ping', ['-c', '1', '-W', '1', n1.ipv4]);
    assert.notEqual(down.code, 0, 'node 1 answered with its link down');
    await topo.setNodeLink(1, 'up');
    await reachable(topo.client.namespace, n1.ipv4);
    await reachable(topo.client.namespace, n1.ipv6);
  });

  it('removing a pod stops its processes and removes its namespace', async () => {
    const server = topo.processes().find((p) => p.namespace === pod1.namespace);
    assert.ok(server?.running, 'the pod server runs');
    await topo.removePod(pod1);
    assert.ok(!server.running);
    assert.ok(!(await labNamespaces()).includes(pod1.namespace));
    const r = await topo.exec(topo.node(1).namespace, 'ping', ['-c', '1', '-W', '1', pod1.ipv4]);
    assert.notEqual(r.code, 0, 'the removed pod still answers');
    const again = await topo.addPod(1);
    assert.equal(again.ipv4, pod1.ipv4, 'the lowest free pod index is reused');
    await reachable(topo.node(3).namespace, again.ipv4);
  });

  it('destroy removes every namespace, root link, rule and process', async () => {
    const sleeper = topo.spawn(topo.node(2).namespace, 'sleep', ['300']);
    const rootSleeper = topo.spawn(undefined, 'sleep', ['300']);
    await waitFor('the sleepers to start', () => sleeper.pid > 0 && pidAlive(sleeper.pid) && pidAlive(rootSleeper.pid), 2000);
    const table = topo.host.table;
    await topo.destroy();
    assert.deepEqual(await labNamespaces(), []);
    assert.deepEqual(await labRootLinks(), []);
    assert.ok(!pidAlive(sleeper.pid) && !pidAlive(rootSleeper.pid), 'processes were stopped');
    assert.ok(!execFileSync('ip', ['rule', 'show'], { encoding: 'utf8' }).includes(`lookup ${table}`), 'the fwmark rule is gone');
    if (onPath('nft')) assert.ok(!execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(topo.names.nftTable), 'the nftables table is gone');
  });
});
