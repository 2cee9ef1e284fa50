import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { V1Service } from '@kubernetes/client-node';
import { KernelApplier, nftRunner, type SysctlPort } from '../../speaker/kernel/applier.js';
import { KERNEL_TABLE } from '../../speaker/kernel/ruleset.js';
import { ConnectionHandoff } from '../../speaker/vip/handoff.js';
import { kernelTableOf } from '../../speaker/kernel/table.js';
import { splitKernelPorts } from '../../speaker/plan/kernel-ports.js';
import { buildProxyModel } from '../../speaker/plan/service-proxy.js';
import { componentLogger } from '../../src/log.js';
import type { EndpointView } from '../../src/service/endpoints.js';

// Kernel mode across a takeover, by hand: the speaker's own paths are in kernel-mode-lab.test.ts;
// this test builds each node's table with the real planner (splitKernelPorts, kernelTableOf) and
// loads it with the real applier (KernelApplier, nft) in two "node" namespaces, so each mechanism
// is seen alone. A client holds 50 connections open through node 1, the VIP moves to node 2 (VIP
// on lo, the client's neighbour entry follows, as a gratuitous ARP would make it), and each
// connection must still echo. Cluster: node 1 crashes (its link goes down) and the endpoints'
// return route follows node 2. Local: see CASES. Server-first: after the takeover the endpoints
// write first (in Cluster their packets reach node 2, which has no entry for the flow, and must
// drop them rather than reset or forward them), then the client writes and must get both the
// endpoint's bytes and its echo. One flat L2 segment (namespace fkm-sw, bridge):
//   client 198.51.100.1 | n1 198.51.100.11, 203.0.113.11 | n2 .12 | endpoints 203.0.113.21, .22
const run = promisify(execFile);
const P = 'fkm';
const NS = { sw: `${P}-sw`, c: `${P}-c`, n1: `${P}-n1`, n2: `${P}-n2`, b1: `${P}-b1`, b2: `${P}-b2` } as const;
const VIP = '192.0.2.10';
const CONNECTIONS = 50;
const log = componentLogger('kernel-test');

const ip = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
const inNs = (ns: string, ...argv: string[]) => run('ip', ['netns', 'exec', ns, ...argv]);

async function cleanup(): Promise<void> {
  for (const ns of Object.values(NS)) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
}

async function topology(): Promise<Record<'n1' | 'n2', string>> {
  for (const ns of Object.values(NS)) await run('ip', ['netns', 'add', ns]);
  await ip(NS.sw, 'link', 'add', 'br0', 'type', 'bridge');
  await ip(NS.sw, 'link', 'set', 'br0', 'up');
  const addrs: Record<string, string[]> = { c: ['198.51.100.1/24'], n1: ['198.51.100.11/24', '203.0.113.11/24'], n2: ['198.51.100.12/24', '203.0.113.12/24'], b1: ['203.0.113.21/24'], b2: ['203.0.113.22/24'] };
  for (const [k, list] of Object.entries(addrs)) {
    const ns = NS[k as keyof typeof NS];
    await ip(NS.sw, 'link', 'add', `v${k}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip(NS.sw, 'link', 'set', `v${k}`, 'master', 'br0', 'up');
    for (const a of list) await ip(ns, 'addr', 'add', a, 'dev', 'eth0');
    await ip(ns, 'link', 'set', 'eth0', 'up');
    await ip(ns, 'link', 'set', 'lo', 'up');
  }
  for (const n of [NS.n1, NS.n2])
    // Nodes forward back out of eth0: no redirects, no reverse-path filter.
    await inNs(n, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.eth0.send_redirects=0', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0');
  await ip(NS.c, 'route', 'add', `${VIP}/32`, 'dev', 'eth0');
  for (const b of [NS.b1, NS.b2]) await ip(b, 'route', 'add', 'default', 'via', '203.0.113.11');
  const mac = async (ns: string) => JSON.parse((await ip(ns, '-j', 'link', 'show', 'eth0')).stdout)[0].address as string;
  return { n1: await mac(NS.n1), n2: await mac(NS.n2) };
}

function nsSysctl(ns: string): SysctlPort {
  return {
    read: async (name) => (await inNs(ns, 'sysctl', '-n', name)).stdout.trim(),
    write: async (name, value) => void (await inNs(ns, 'sysctl', '-qw', `${name}=${value}`)),
  };
}

function service(policy: 'Cluster' | 'Local'): V1Service {
  return { metadata: { namespace: 'lab', name: 'echo', annotations: { 'fulcrum-lb.io/data-plane': 'kernel' } }, spec: { type: 'LoadBalancer', externalTrafficPolicy: policy, ports: [{ name: 'echo', port: 80, protocol: 'TCP' }] } };
}

/** Each node's tables from the real planner; for Local both endpoints count as the node's own (node 2 sends only a SYN to its table there). */
function tablesFor(node: string, policy: 'Cluster' | 'Local', seedXor = 0) {
  const endpoints: EndpointView[] = ['203.0.113.21', '203.0.113.22'].map((address) => ({ address, nodeName: node, ready: true, serving: true, terminating: false, ports: new Map([['echo', { port: 8080, protocol: 'TCP' }]]) }));
  const { kernel } = splitKernelPorts(service(policy), buildProxyModel(service(policy), endpoints, node, [VIP]));
  assert.equal(kernel.length, 1, 'one kernel-mode port');
  return kernel.map((k) => {
    const t = kernelTableOf({ ...k, seed: (k.seed ^ seedXor) >>> 0 || 1 });
    assert.equal(t.kind, 'ok');
    return t.kind === 'ok' ? t.table : undefined!;
  });
}

// The client: opens N connections, echoes once on each, then on "check" writes again and reports
// how many answered. Server-first ('push' as the third argument): what arrived since the first
// echo must be the endpoint's 'push' followed by the echo (in Local the push comes at once through
// node 1; in Cluster the endpoint may have to retransmit it after its first copies were dropped,
// so the wait is longer).
const CLIENT = `
const net = require('node:net'); const rl = require('node:readline').createInterface({ input: process.stdin });
const [vip, n, first] = process.argv.slice(1); const socks = []; let opened = 0;
const echo = (s, msg, expect, wait, cb) => { const t = setTimeout(() => done(false), wait); const done = (ok) => { clearTimeout(t); s.check = undefined; s.got = ''; cb(ok); };
  s.check = () => { if (s.got === expect) done(true); }; s.write(msg); };
for (let i = 0; i < +n; i++) { const s = net.connect(80, vip, () => echo(s, 'hello ' + i, 'hello ' + i, 3000, (ok) => { if (ok) socks.push(s); if (++opened === +n) console.log('open ' + socks.length); })); s.got = ''; s.setEncoding('utf8'); s.on('data', (d) => { s.got += d; s.check?.(); }); s.on('error', () => {}); }
rl.on('line', () => { let answered = 0, seen = 0; for (const [i, s] of socks.entries()) echo(s, 'again ' + i, (first ?? '') + 'again ' + i, first ? 10000 : 3000, (ok) => { answered += ok ? 1 : 0; if (++seen === socks.length) { console.log('survived ' + answered + '/' + socks.length); process.exit(0); } }); });
`;
// The endpoint: echoes; on a line on stdin writes 'push' on every connection first, and says how many once they are written.
const SERVER = `
const socks = new Set(); require('node:net').createServer((s) => { socks.add(s); s.on('close', () => socks.delete(s)); s.on('error', () => {}); s.pipe(s); }).listen(8080, () => console.log('listening'));
require('node:readline').createInterface({ input: process.stdin }).on('line', () => { let left = socks.size; if (left === 0) console.log('pushed 0'); for (const s of socks) s.write('push', () => { if (--left === 0) console.log('pushed ' + socks.size); }); });
`;

function spawnIn(ns: string, code: string, args: string[] = []): { child: ChildProcess; line: () => Promise<string> } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, line: async () => String((await lines.next()).value ?? `(exited ${child.exitCode})`) };
}

// Cluster: node 1 crashes (its link goes down) and node 2 picks each flow's endpoint by hash.
// Local: node 1's speaker dies, not the node (its pods hold the flows, and no slot of node 2's
// Local table could): node 2 takes the VIP off the stale node 1 (as a restarted speaker does) and
// hands the flows it does not know to node 1 (ConnectionHandoff, a port entry), whose conntrack
// entries DNAT them to its pods. The controls: node 2 hashing with another seed (what jhash without
// `seed` does), and Local without the handoff, must lose flows, or the test proves nothing.
const CASES = [
  { policy: 'Cluster', seedXor: 0, serverFirst: false, handoff: false },
  { policy: 'Local', seedXor: 0, serverFirst: false, handoff: true },
  { policy: 'Cluster', seedXor: 0, serverFirst: true, handoff: false },
  { policy: 'Local', seedXor: 0, serverFirst: true, handoff: true },
  { policy: 'Cluster', seedXor: 0x5a5a5a5a, serverFirst: false, handoff: false },
  { policy: 'Local', seedXor: 0, serverFirst: false, handoff: false },
] as const;

for (const { policy, seedXor, serverFirst, handoff } of CASES) {
  const local = policy === 'Local';
  const control = seedXor !== 0 || (local && !handoff);
  const what = `${policy}${serverFirst ? ', server-first' : ''}${control ? (local ? ' (control, no handoff)' : ' (control, another seed)') : ''}`;
  const fault = local ? `node 1's speaker dying (the node keeps running)${handoff ? '' : ', control: no handoff on node 2'}` : `a crash takeover${control ? ', control: node 2 with another seed' : ''}`;
  describe(`kernel mode e2e (namespaces): ${CONNECTIONS} connections through ${fault}, externalTrafficPolicy ${policy}${serverFirst ? ', the endpoints writing first after it' : ''}`, function () {
    this.timeout(60_000);
    const children: ChildProcess[] = [];
    const appliers: KernelApplier[] = [];
    const servers: ReturnType<typeof spawnIn>[] = [];
    let handoffs: ConnectionHandoff | undefined;
    let macs: Record<'n1' | 'n2', string>;

    before(async function () {
      if (process.getuid?.() !== 0) this.skip();
      await cleanup();
      macs = await topology();
      for (const b of [NS.b1, NS.b2]) {
        const s = spawnIn(b, SERVER);
        children.push(s.child);
        servers.push(s);
        assert.equal(await s.line(), 'listening');
      }
      for (const [ns, node] of [[NS.n1, 'n1'], [NS.n2, 'n2']] as const) {
        const a = new KernelApplier({ logger: log, run: nftRunner(ns), sysctl: nsSysctl(ns) });
        appliers.push(a);
        assert.deepEqual(await a.start(), { kind: 'enabled' });
        await a.apply(tablesFor(node, policy, node === 'n2' ? seedXor : 0));
      }
      if (handoff) {
        handoffs = new ConnectionHandoff({ logger: log, run: async (argv) => (await inNs(NS.n2, ...argv)).stdout });
        assert.equal(await handoffs.start(), true, 'the handoff tables on node 2');
      }
      await ip(NS.n1, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
    });

    after(async () => {
      for (const c of children) c.kill('SIGKILL');
      for (const a of appliers) await a.close();
      await handoffs?.close();
      await cleanup();
    });

    it(control ? 'the control loses flows' : `the same table on both nodes, then the connections survive ${local ? "node 1's speaker dying" : 'node 1 crashing'}`, async () => {
      const listed = await Promise.all([NS.n1, NS.n2].map(async (ns) => (await inNs(ns, 'nft', 'list', 'table', 'inet', KERNEL_TABLE)).stdout));
      if (seedXor === 0) assert.equal(listed[0], listed[1], 'both nodes hold the same ruleset');
      assert.match(listed[0]!, /jhash ip saddr \. tcp sport mod 1021 seed 0x[0-9a-f]{8} map @m_192_0_2_10_80_tcp/);
      const client = spawnIn(NS.c, CLIENT, [VIP, String(CONNECTIONS), ...(serverFirst ? ['push'] : [])]);
      children.push(client.child);
      assert.equal(await client.line(), `open ${CONNECTIONS}`, 'every connection answered through node 1');
      if (local) {
        // Node 1's speaker dies; node 2 takes the VIP, and node 1's stale VIP comes off lo (a restart
        // of its speaker would do that). The endpoints are node 1's pods: their route stays.
        await ip(NS.n2, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
        if (handoff) await handoffs!.forward([{ address: VIP, to: '198.51.100.11', ports: [80] }], 30_000);
        await ip(NS.n1, 'addr', 'del', `${VIP}/32`, 'dev', 'lo');
      } else {
        // The crash: node 1's link goes down; node 2 takes the VIP; the endpoints follow it.
        await ip(NS.n1, 'link', 'set', 'eth0', 'down');
        await ip(NS.n2, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
        for (const b of [NS.b1, NS.b2]) await ip(b, 'route', 'replace', 'default', 'via', '203.0.113.12');
      }
      await ip(NS.c, 'neigh', 'replace', VIP, 'lladdr', macs.n2, 'dev', 'eth0', 'nud', 'permanent');
      if (serverFirst) {
        // The endpoints write first; their segments are on the wire before the client writes.
        let pushed = 0;
        for (const s of servers) {
          s.child.stdin!.write('push\n');
          const said = await s.line();
          const m = /^pushed (\d+)$/.exec(said);
          assert.ok(m, `endpoint said ${JSON.stringify(said)}`);
          pushed += Number(m[1]);
        }
        assert.equal(pushed, CONNECTIONS, 'every endpoint wrote on each of its connections');
      }
      client.child.stdin!.write('check\n');
      const result = await client.line();
      const m = /^survived (\d+)\/(\d+)$/.exec(result);
      assert.ok(m, `client said ${JSON.stringify(result)}`);
      console.log(`    kernel mode, ${what}: survived/total ${m[1]}/${m[2]} after ${local ? "node 1's speaker died" : 'the crash takeover'}`);
      if (control) assert.ok(Number(m[1]) < CONNECTIONS, `the control must lose flows, kept ${m[1]}/${m[2]}`);
      else assert.equal(result, `survived ${CONNECTIONS}/${CONNECTIONS}`);
    });
  });
}
