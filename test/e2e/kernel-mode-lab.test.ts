import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { checkAddress, ownerSeenByClient } from '../../lab/check.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { SAMPLE_NAMESPACE } from '../../lab/samples.js';
import { KERNEL_TABLE } from '../../speaker/kernel/ruleset.js';
import { waitFor } from '../helpers/wait.js';
import { hideHostAddressesFromLab, vipHolders, waitForOneHolderEach } from './helpers-resilience.js';

// Kernel mode through real speakers (issue 19): the lab (3 nodes, allocator, one `fulcrum
// speaker` each) with a Service annotated `fulcrum-lb.io/data-plane: kernel` (TCP echo on the
// lab pods, externalTrafficPolicy Cluster). Every candidate node holds the nftables rules, the
// owner's proxy does not listen on the port, the client is answered, and 50 connections are
// held open through the owner's link going down (also over IPv6 and UDP, on a dual-stack Service
// with a TCP and a UDP port), its speaker's SIGKILL, and a SIGTERM handoff.
// Every flow whose endpoint is still there survives: through a link down all but those to the
// pod on the cut node; through a SIGKILL all but those to the pod on the killed speaker's node,
// which keeps the VIP on lo until its speaker restarts (packets from the VIP are martians there);
// through a SIGTERM all 50.
const PREFIX = 'fkw';
const NAME = 'echo-kernel';
/** TCP and UDP echo, both families. */
const DUAL_NAME = 'echo-kernel-dual';
const PORT = 5678;
const CONNECTIONS = 50;
// The client: opens N connections, echoes once on each, then on "check" writes again on each and reports which answered.
const CLIENT = `
const net = require('node:net'); const rl = require('node:readline').createInterface({ input: process.stdin });
const [vip, port, n] = process.argv.slice(1); const socks = []; let opened = 0;
const echo = (s, msg, cb) => { let got = ''; const t = setTimeout(() => done(false), 3000); const on = (d) => { got += d; if (got === msg) done(true); };
  const done = (ok) => { clearTimeout(t); s.off('data', on); cb(ok); }; s.on('data', on); s.write(msg); };
for (let i = 0; i < +n; i++) { const s = net.connect(+port, vip, () => echo(s, 'hello ' + i, (ok) => { if (ok) socks.push([s, s.localPort]); if (++opened === +n) console.log(JSON.stringify({ open: socks.map((x) => x[1]) })); })); s.setEncoding('utf8'); s.on('error', () => {}); }
rl.on('line', () => { const lost = []; let seen = 0; for (const [s, p] of socks) echo(s, 'again ' + p, (ok) => { if (!ok) lost.push(p); if (++seen === socks.length) { console.log(JSON.stringify({ lost })); process.exit(0); } }); });
`;

// The same over UDP: N connected sockets (udp4 or udp6 by the address), one echo each; on "check" each sends again.
const UDP_CLIENT = `
const dgram = require('node:dgram'); const rl = require('node:readline').createInterface({ input: process.stdin });
const [vip, port, n] = process.argv.slice(1); const socks = []; let opened = 0;
const echo = (s, msg, cb) => { const t = setTimeout(() => done(false), 3000); const on = (d) => { if (String(d) === msg) done(true); };
  const done = (ok) => { clearTimeout(t); s.off('message', on); cb(ok); }; s.on('message', on); s.send(msg); };
for (let i = 0; i < +n; i++) { const s = dgram.createSocket(vip.includes(':') ? 'udp6' : 'udp4'); s.on('error', () => {});
  s.connect(+port, vip, () => echo(s, 'hello ' + i, (ok) => { if (ok) socks.push([s, s.address().port]); if (++opened === +n) console.log(JSON.stringify({ open: socks.map((x) => x[1]) })); })); }
rl.on('line', () => { const lost = []; let seen = 0; for (const [s, p] of socks) echo(s, 'again ' + p, (ok) => { if (!ok) lost.push(p); if (++seen === socks.length) { console.log(JSON.stringify({ lost })); process.exit(0); } }); });
`;

interface HeldClient {
  readonly child: ChildProcess;
  readonly ports: number[];
  check(): Promise<number[]>;
}

async function holdConnections(lab: Lab, address: string, children: ChildProcess[], protocol: 'tcp' | 'udp' = 'tcp'): Promise<HeldClient> {
  const script = protocol === 'tcp' ? CLIENT : UDP_CLIENT;
  const child = spawn('ip', ['netns', 'exec', lab.topology.client.namespace, process.execPath, '-e', script, address, String(PORT), String(CONNECTIONS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const line = async () => JSON.parse(String((await lines.next()).value ?? '{}')) as { open?: number[]; lost?: number[] };
  const { open } = await line();
  assert.equal(open?.length, CONNECTIONS, 'every connection answered before the fault');
  return {
    child,
    ports: open!,
    async check() {
      child.stdin!.write('check\n');
      const { lost } = await line();
      assert.ok(lost, 'the client reported');
      return lost;
    },
  };
}

/** The kernel-mode flows in a node's conntrack: client port → endpoint address and the port the endpoint sees (the SNAT port). */
/** One spelling per address: conntrack writes IPv6 addresses in full (2001:0db8:0000:…), the API compressed. */
const canonical = (a: string): string => (a.includes(':') ? new URL(`http://[${a}]`).hostname.slice(1, -1) : a);

async function flowsOf(lab: Lab, node: string, address: string, protocol: 'tcp' | 'udp' = 'tcp'): Promise<Map<number, { endpoint: string; peerPort: number }>> {
  const r = await lab.topology.exec(lab.topology.node(node).namespace, 'cat', ['/proc/net/nf_conntrack']);
  const out = new Map<number, { endpoint: string; peerPort: number }>();
  for (const line of r.stdout.split('\n')) {
    if (line.split(/\s+/)[2] !== protocol) continue;
    const m = /src=\S+ dst=(\S+) sport=(\d+) dport=(\d+) .*?src=(\S+) dst=\S+ sport=\d+ dport=(\d+)/.exec(line);
    if (m && canonical(m[1]!) === canonical(address) && Number(m[3]) === PORT) out.set(Number(m[2]), { endpoint: canonical(m[4]!), peerPort: Number(m[5]) });
  }
  return out;
}

async function endpointsByClientPort(lab: Lab, node: string, address: string, protocol: 'tcp' | 'udp' = 'tcp'): Promise<Map<number, string>> {
  return new Map([...(await flowsOf(lab, node, address, protocol))].map(([p, f]) => [p, f.endpoint]));
}

/** Why flows were lost, from the new owner's conntrack: SNAT ports remapped (a clash with an entry it already had), flows it never saw. */
async function lossDiagnosis(lab: Lab, node: string, address: string, lost: readonly number[], protocol: 'tcp' | 'udp' = 'tcp'): Promise<string> {
  const flows = await flowsOf(lab, node, address, protocol);
  const remapped = lost.filter((p) => flows.has(p) && flows.get(p)!.peerPort !== p).length;
  const unseen = lost.filter((p) => !flows.has(p)).length;
  return `; of the ${lost.length} lost, on the new owner ${node}: ${remapped} with the SNAT port remapped, ${unseen} not in its conntrack`;
}

async function holderOf(lab: Lab, address: string): Promise<string> {
  const h = await waitForOneHolderEach(lab, 30_000);
  const nodes = h.get(address) ?? [];
  assert.equal(nodes.length, 1, `${address} on one node (${nodes.join(', ')})`);
  return nodes[0]!;
}

/** Another node holds the address and the client's neighbour entry names it. */
async function takenOverFrom(lab: Lab, address: string, owner: string): Promise<string> {
  return waitFor(`another node than ${owner} to take ${address} over`, async () => {
    const holders = ((await vipHolders(lab)).get(address) ?? []).filter((n) => n !== owner);
    const seen = await ownerSeenByClient(lab.topology, address);
    return holders.length === 1 && seen === holders[0] ? seen : undefined;
  }, { timeoutMs: 15_000, intervalMs: 50 });
}

function report(what: string, lost: readonly number[], total: number, extra = ''): void {
  console.log(`    kernel mode, ${what}: survived/total ${total - lost.length}/${total}${extra}`);
}

describe('kernel mode e2e: the lab with 3 speakers, a data-plane: kernel Service', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let stateDir: string | undefined;
  let address: string;
  let dual: { v4: string; v6: string };
  const children: ChildProcess[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (kernel mode lab e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, speakerArgs: ['--data-plane-kernel', 'auto'], componentEnv: { FULCRUM_LOG_LEVEL: 'info' } });
    await hideHostAddressesFromLab(lab);
    await apiRequest(lab.apiTarget, 'POST', `/api/v1/namespaces/${SAMPLE_NAMESPACE}/services`, {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: NAME, namespace: SAMPLE_NAMESPACE, annotations: { 'fulcrum-lb.io/data-plane': 'kernel' } },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', selector: { app: 'web' }, ports: [{ name: 'echo', port: PORT, targetPort: 'echo', protocol: 'TCP' }] },
    });
    await apiRequest(lab.apiTarget, 'POST', `/api/v1/namespaces/${SAMPLE_NAMESPACE}/services`, {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: DUAL_NAME, namespace: SAMPLE_NAMESPACE, annotations: { 'fulcrum-lb.io/data-plane': 'kernel' } },
      spec: {
        type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], selector: { app: 'web' },
        ports: [{ name: 'echo', port: PORT, targetPort: 'echo', protocol: 'TCP' }, { name: 'echo-udp', port: PORT, targetPort: 'echo-udp', protocol: 'UDP' }],
      },
    });
    const l = lab;
    address = await waitFor('an address on the kernel-mode Service', async () => (await l.services()).find((s) => s.name === NAME)?.addresses[0], { timeoutMs: 30_000, intervalMs: 250 });
    dual = await waitFor('both addresses on the dual-stack kernel-mode Service', async () => {
      const a = (await l.services()).find((s) => s.name === DUAL_NAME)?.addresses ?? [];
      const v4 = a.find((x) => !x.includes(':'));
      const v6 = a.find((x) => x.includes(':'));
      return v4 && v6 ? { v4, v6 } : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    assert.deepEqual(await lab.waitForSpeakers(30_000), [], 'every speaker ready');
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.stop();
    // FULCRUM_KERNEL_LAB_LOGS=DIR keeps the component logs for a post-mortem.
    if (stateDir && process.env.FULCRUM_KERNEL_LAB_LOGS) cpSync(join(stateDir, 'logs'), process.env.FULCRUM_KERNEL_LAB_LOGS, { recursive: true });
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('every node holds the rules, the owner does not listen on the port, and the client is answered', async () => {
    const l = lab!;
    const owner = await holderOf(l, address);
    const map = `m_${address.replace(/\./g, '_')}_${PORT}_tcp`;
    for (const n of l.topology.nodes) {
      const listed = await waitFor(`${n.name} to hold the kernel rules of ${address}`, async () => {
        const r = await l.topology.exec(n.namespace, 'nft', ['list', 'table', 'inet', KERNEL_TABLE]);
        return r.stdout.includes(`map @${map}`) ? r.stdout : undefined;
      }, { timeoutMs: 10_000, intervalMs: 100 });
      assert.match(listed, new RegExp(`ip daddr ${address.replace(/\./g, '\\.')} tcp dport ${PORT} fib daddr type local dnat ip to jhash`));
    }
    const listening = await l.topology.exec(l.topology.node(owner).namespace, 'ss', ['-Hltn', `sport = :${PORT}`]);
    assert.ok(!listening.stdout.includes(`${address}:${PORT}`), `the owner's proxy must not listen on ${address}:${PORT}: ${listening.stdout}`);
    const r = await waitFor('the client to be answered', async () => {
      const x = await checkAddress(l.topology, 'tcp-echo', address, PORT);
      return x.ok ? x : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    assert.ok(r.ok, r.detail);
  });

  /** The owner's link down with CONNECTIONS flows held: every flow whose endpoint is not on the cut node survives. */
  async function linkDown(what: string, target: string, protocol: 'tcp' | 'udp'): Promise<void> {
    const l = lab!;
    const owner = await holderOf(l, target);
    const client = await holdConnections(l, target, children, protocol);
    const endpoints = await endpointsByClientPort(l, owner, target, protocol);
    const v6 = target.includes(':');
    const ownPods = new Set(l.pods.filter((p) => p.nodeName === owner).map((p) => canonical(v6 ? p.plan.ipv6 : p.plan.ipv4)));
    const doomed = client.ports.filter((p) => ownPods.has(endpoints.get(p) ?? ''));
    const t0 = Date.now();
    await l.topology.setNodeLink(owner, 'down');
    try {
      const next = await takenOverFrom(l, target, owner);
      console.log(`    ${what}: ${next} took ${target} over in ${Date.now() - t0} ms`);
      const lost = await client.check();
      report(what, lost, CONNECTIONS, ` (${doomed.length} to the pod on the crashed node ${owner})${await lossDiagnosis(l, next, target, lost, protocol)}`);
      const unexpected = lost.filter((p) => !doomed.includes(p));
      assert.deepEqual(unexpected, [], `flows lost whose endpoint was on a surviving node: ${unexpected.map((p) => `${p}→${endpoints.get(p)}`).join(' ')}`);
    } finally {
      client.child.kill('SIGKILL');
      await l.topology.setNodeLink(owner, 'up');
    }
    assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again');
  }

  it(`link down: ${CONNECTIONS} connections through the owner's crash (flows to its own pod are lost with it)`, () => linkDown('link down', address, 'tcp'));

  it(`link down, IPv6: ${CONNECTIONS} TCP connections to the dual-stack Service's IPv6 address`, () => linkDown('link down, IPv6 TCP', dual.v6, 'tcp'));

  it(`link down, UDP: ${CONNECTIONS} UDP flows (a connected socket each) to the dual-stack Service's IPv4 address`, () => linkDown('link down, UDP', dual.v4, 'udp'));

  it(`SIGKILL of the owner's speaker: ${CONNECTIONS} connections keep working after the takeover`, async () => {
    const l = lab!;
    const owner = await holderOf(l, address);
    const client = await holdConnections(l, address, children);
    const endpoints = await endpointsByClientPort(l, owner, address);
    const ownPods = new Set(l.pods.filter((p) => p.nodeName === owner).map((p) => p.plan.ipv4));
    const onOwner = client.ports.filter((p) => ownPods.has(endpoints.get(p) ?? ''));
    const speaker = l.speakers.get(owner)!;
    speaker.signal('SIGKILL');
    await speaker.exited;
    try {
      const next = await takenOverFrom(l, address, owner);
      const lost = await client.check();
      const lostOnOwner = lost.filter((p) => onOwner.includes(p));
      report('SIGKILL', lost, CONNECTIONS, ` (${lostOnOwner.length} of the ${onOwner.length} to the pod on ${owner}, whose node keeps the stale VIP on lo)${await lossDiagnosis(l, next, address, lost)}`);
      assert.deepEqual(lost.filter((p) => !onOwner.includes(p)), [], 'no flow to a pod on another node is lost');
    } finally {
      client.child.kill('SIGKILL');
      l.startSpeaker(owner);
    }
    assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again');
  });

  it(`SIGTERM handoff: ${CONNECTIONS} connections keep working after the owner's speaker stops`, async () => {
    const l = lab!;
    const owner = await holderOf(l, address);
    const client = await holdConnections(l, address, children);
    const speaker = l.speakers.get(owner)!;
    speaker.signal('SIGTERM');
    try {
      const exit = await speaker.exited;
      assert.equal(exit.code, 0, `exit ${exit.code ?? exit.signal}: ${speaker.output().slice(-500)}`);
      const next = await takenOverFrom(l, address, owner);
      const lost = await client.check();
      report('SIGTERM handoff', lost, CONNECTIONS, await lossDiagnosis(l, next, address, lost));
      assert.deepEqual(lost, [], 'every connection survives the handoff');
    } finally {
      client.child.kill('SIGKILL');
      l.startSpeaker(owner);
    }
  });
});
