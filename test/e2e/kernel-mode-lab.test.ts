import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { checkAddress, ownerSeenByClient } from '../../lab/check.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { POD_PORTS, SAMPLE_NAMESPACE } from '../../lab/samples.js';
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
// with the speaker restarted at once, as a kubelet does, all 50, those included (the address may
// go back to it: a second takeover); through a SIGTERM all 50.
// Server-first too: the Service's second port goes to the pods' `tick` port (a banner on accept,
// then a line every 100 ms, and an echo). Through a link down and a SIGKILL, the endpoints write
// first after the takeover: the test waits until each surviving flow's endpoint packet has
// reached the new owner (a probe table there records them), and only then does the client
// write; its echo and a tick after it must come (the new owner drops the endpoint's packets that
// no flow knows until the client's makes the entry, and the endpoint retransmits).
// externalTrafficPolicy Local (a third Service): the owner forwards only to its own pod, so a
// link down takes every flow's endpoint with it and none can survive. Its speaker dying is
// another matter: the node and its pod keep running, and the new owner hands the flows it does
// not know to that node (a SIGTERM's handoff; after a SIGKILL, the Local kernel-mode ports alone),
// whose conntrack entries still DNAT them. All 50 must survive both, client-first and server-first.
const PREFIX = 'fkw';
const NAME = 'echo-kernel';
/** TCP and UDP echo, both families. */
const DUAL_NAME = 'echo-kernel-dual';
/** TCP echo and tick, externalTrafficPolicy Local. */
const LOCAL_NAME = 'echo-kernel-local';
const PORT = 5678;
/** The pods' server-first port (`tick`), the kernel-mode Service's second port. */
const TICK_PORT = POD_PORTS.tcpTick;
const CONNECTIONS = 50;
/** What a held client speaks: the TCP or UDP echo (client-first), or the tick port (server-first). */
type Flow = 'tcp' | 'udp' | 'tick';
const portOf = (flow: Flow): number => (flow === 'tick' ? TICK_PORT : PORT);
const protocolOf = (flow: Flow): 'tcp' | 'udp' => (flow === 'udp' ? 'udp' : 'tcp');
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

// Server-first, on the tick port: opens N connections and writes nothing until each has its
// banner; on "check" writes "again <port>" on each, which answers when its echo and a tick after
// it have come within 10 s (the endpoint may have to retransmit after a takeover); reports the
// lost and the slowest answer.
const TICK_CLIENT = `
const net = require('node:net'); const rl = require('node:readline').createInterface({ input: process.stdin });
const [vip, port, n] = process.argv.slice(1); const socks = []; let opened = 0;
const until = (s, test, ms, cb) => { const t = setTimeout(() => done(false), ms); const on = () => { if (test(s.got)) done(true); };
  const done = (ok) => { clearTimeout(t); s.off('data', on); cb(ok); }; s.on('data', on); on(); };
for (let i = 0; i < +n; i++) { const s = net.connect(+port, vip); s.got = ''; s.setEncoding('utf8'); s.on('data', (d) => { s.got += d; });
  let settled = false; const settle = (ok) => { if (settled) return; settled = true; if (ok) socks.push([s, s.localPort]); if (++opened === +n) console.log(JSON.stringify({ open: socks.map((x) => x[1]) })); };
  s.on('error', () => settle(false)); s.on('connect', () => until(s, (g) => /^tick \\S+ 0\\n/.test(g), 5000, settle)); }
rl.on('line', () => { const lost = []; let seen = 0, slowestMs = 0; const t0 = Date.now();
  for (const [s, p] of socks) { const msg = 'again ' + p + '\\n'; const from = s.got.length; s.write(msg);
    until(s, (g) => { const i = g.indexOf(msg, from); return i >= 0 && /^tick [^\\n]*\\n/m.test(g.slice(i + msg.length)); }, 10000, (ok) => {
      if (ok) slowestMs = Math.max(slowestMs, Date.now() - t0); else lost.push(p);
      if (++seen === socks.length) { console.log(JSON.stringify({ lost, ...(lost.length < socks.length ? { slowestMs } : {}) })); process.exit(0); } }); } });
`;

interface HeldClient {
  readonly child: ChildProcess;
  readonly ports: number[];
  /** The flows lost, by client port; for server-first, also the slowest answer. */
  check(): Promise<{ lost: number[]; slowestMs?: number }>;
}

async function holdConnections(lab: Lab, address: string, children: ChildProcess[], flow: Flow = 'tcp'): Promise<HeldClient> {
  const script = { tcp: CLIENT, udp: UDP_CLIENT, tick: TICK_CLIENT }[flow];
  const child = spawn('ip', ['netns', 'exec', lab.topology.client.namespace, process.execPath, '-e', script, address, String(portOf(flow)), String(CONNECTIONS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const line = async () => JSON.parse(String((await lines.next()).value ?? '{}')) as { open?: number[]; lost?: number[]; slowestMs?: number };
  const { open } = await line();
  assert.equal(open?.length, CONNECTIONS, 'every connection answered before the fault');
  return {
    child,
    ports: open!,
    async check() {
      child.stdin!.write('check\n');
      const { lost, slowestMs } = await line();
      assert.ok(lost, 'the client reported');
      return { lost, slowestMs };
    },
  };
}

/** The kernel-mode flows in a node's conntrack: client port → endpoint address and the port the endpoint sees (the SNAT port). */
/** One spelling per address: conntrack writes IPv6 addresses in full (2001:0db8:0000:…), the API compressed. */
const canonical = (a: string): string => (a.includes(':') ? new URL(`http://[${a}]`).hostname.slice(1, -1) : a);

async function flowsOf(lab: Lab, node: string, address: string, protocol: 'tcp' | 'udp' = 'tcp', port = PORT): Promise<Map<number, { endpoint: string; peerPort: number }>> {
  const r = await lab.topology.exec(lab.topology.node(node).namespace, 'cat', ['/proc/net/nf_conntrack']);
  const out = new Map<number, { endpoint: string; peerPort: number }>();
  for (const line of r.stdout.split('\n')) {
    if (line.split(/\s+/)[2] !== protocol) continue;
    const m = /src=\S+ dst=(\S+) sport=(\d+) dport=(\d+) .*?src=(\S+) dst=\S+ sport=\d+ dport=(\d+)/.exec(line);
    if (m && canonical(m[1]!) === canonical(address) && Number(m[3]) === port) out.set(Number(m[2]), { endpoint: canonical(m[4]!), peerPort: Number(m[5]) });
  }
  return out;
}

/** Why flows were lost, from the new owner's conntrack: SNAT ports remapped (a clash with an entry it already had), flows it never saw. */
async function lossDiagnosis(lab: Lab, node: string, address: string, lost: readonly number[], protocol: 'tcp' | 'udp' = 'tcp', port = PORT): Promise<string> {
  const flows = await flowsOf(lab, node, address, protocol, port);
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

/**
 * A probe table on every node that records, in set `seen`, the destination port of each packet
 * from an endpoint's tick port to `address` that arrives while the node holds the address: the
 * SNAT port of a flow whose endpoint wrote to that node as owner (the speaker's own table is not
 * touched; priority raw, before its drop).
 */
const PROBE_TABLE = 'fkw_probe';
async function watchEndpointWrites(lab: Lab, address: string): Promise<void> {
  const rules = [
    `add table ip ${PROBE_TABLE}`, `delete table ip ${PROBE_TABLE}`, `add table ip ${PROBE_TABLE}`,
    `add set ip ${PROBE_TABLE} seen { type inet_service; flags dynamic; size 65535; }`,
    `add chain ip ${PROBE_TABLE} pre { type filter hook prerouting priority -300; policy accept; }`,
    `add rule ip ${PROBE_TABLE} pre ip daddr ${address} tcp sport ${TICK_PORT} fib daddr type local add @seen { tcp dport }`,
  ].join('; ');
  for (const n of lab.topology.nodes) {
    const r = await lab.topology.exec(n.namespace, 'nft', [rules]);
    assert.equal(r.code, 0, `the probe table on ${n.name}: ${r.stderr}`);
  }
}

async function unwatchEndpointWrites(lab: Lab): Promise<void> {
  for (const n of lab.topology.nodes) await lab.topology.exec(n.namespace, 'nft', [`delete table ip ${PROBE_TABLE}`]);
}

/** Waits until every one of `snatPorts` has been recorded on `node` (its endpoint wrote to it as owner); returns how long that took. */
async function endpointsWroteTo(lab: Lab, node: string, snatPorts: readonly number[]): Promise<number> {
  const t0 = Date.now();
  await waitFor(`the endpoints of ${snatPorts.length} flows to write to the new owner ${node}`, async () => {
    const r = await lab.topology.exec(lab.topology.node(node).namespace, 'nft', ['-j', 'list', 'set', 'ip', PROBE_TABLE, 'seen']);
    const set = (JSON.parse(r.stdout) as { nftables: { set?: { elem?: number[] } }[] }).nftables.find((x) => x.set)?.set;
    const seen = new Set(set?.elem ?? []);
    return snatPorts.every((p) => seen.has(p));
  }, { timeoutMs: 30_000, intervalMs: 100 });
  return Date.now() - t0;
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
  let local: string;
  const children: ChildProcess[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (kernel mode lab e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
    lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, speakerArgs: ['--data-plane-kernel', 'auto'], componentEnv: { FULCRUM_LOG_LEVEL: 'info' } });
    await hideHostAddressesFromLab(lab);
    const echoPorts = [{ name: 'echo', port: PORT, targetPort: 'echo', protocol: 'TCP' }, { name: 'tick', port: TICK_PORT, targetPort: 'tick', protocol: 'TCP' }];
    const kernelServices: [string, Record<string, unknown>][] = [
      [NAME, { externalTrafficPolicy: 'Cluster', ports: echoPorts }],
      [DUAL_NAME, { externalTrafficPolicy: 'Cluster', ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], ports: [echoPorts[0], { name: 'echo-udp', port: PORT, targetPort: 'echo-udp', protocol: 'UDP' }] }],
      [LOCAL_NAME, { externalTrafficPolicy: 'Local', ports: echoPorts }],
    ];
    for (const [name, spec] of kernelServices) {
      await apiRequest(lab.apiTarget, 'POST', `/api/v1/namespaces/${SAMPLE_NAMESPACE}/services`, {
        apiVersion: 'v1', kind: 'Service',
        metadata: { name, namespace: SAMPLE_NAMESPACE, annotations: { 'fulcrum-lb.io/data-plane': 'kernel' } },
        spec: { type: 'LoadBalancer', selector: { app: 'web' }, ...spec },
      });
    }
    const l = lab;
    local = await waitFor('an address on the Local kernel-mode Service', async () => (await l.services()).find((s) => s.name === LOCAL_NAME)?.addresses[0], { timeoutMs: 30_000, intervalMs: 250 });
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

  /**
   * Server-first: waits until the endpoint of every flow in `survivors` (client ports) has
   * written to the new owner, before the client writes; returns the text for the report.
   */
  async function serverFirst(next: string, flows: ReadonlyMap<number, { peerPort: number }>, survivors: readonly number[]): Promise<string> {
    const ms = await endpointsWroteTo(lab!, next, survivors.map((p) => flows.get(p)?.peerPort ?? p));
    return `; the endpoints of the other ${survivors.length} wrote to ${next} first (all of them within ${ms} ms of the takeover being seen)`;
  }

  /** The owner's link down with CONNECTIONS flows held: every flow whose endpoint is not on the cut node survives. */
  async function linkDown(what: string, target: string, flow: Flow): Promise<void> {
    const l = lab!;
    const protocol = protocolOf(flow);
    const port = portOf(flow);
    const owner = await holderOf(l, target);
    if (flow === 'tick') await watchEndpointWrites(l, target);
    const client = await holdConnections(l, target, children, flow);
    const flows = await flowsOf(l, owner, target, protocol, port);
    const endpoints = new Map([...flows].map(([p, f]) => [p, f.endpoint]));
    const v6 = target.includes(':');
    const ownPods = new Set(l.pods.filter((p) => p.nodeName === owner).map((p) => canonical(v6 ? p.plan.ipv6 : p.plan.ipv4)));
    const doomed = client.ports.filter((p) => ownPods.has(endpoints.get(p) ?? ''));
    const t0 = Date.now();
    await l.topology.setNodeLink(owner, 'down');
    try {
      const next = await takenOverFrom(l, target, owner);
      console.log(`    ${what}: ${next} took ${target} over in ${Date.now() - t0} ms`);
      const first = flow === 'tick' ? await serverFirst(next, flows, client.ports.filter((p) => !doomed.includes(p))) : '';
      const { lost, slowestMs } = await client.check();
      const slowest = slowestMs === undefined ? '' : `; the slowest echo and tick came ${slowestMs} ms after the client wrote`;
      report(what, lost, CONNECTIONS, ` (${doomed.length} to the pod on the crashed node ${owner})${first}${slowest}${await lossDiagnosis(l, next, target, lost, protocol, port)}`);
      const unexpected = lost.filter((p) => !doomed.includes(p));
      assert.deepEqual(unexpected, [], `flows lost whose endpoint was on a surviving node: ${unexpected.map((p) => `${p}→${endpoints.get(p)}`).join(' ')}`);
    } finally {
      client.child.kill('SIGKILL');
      await l.topology.setNodeLink(owner, 'up');
      if (flow === 'tick') await unwatchEndpointWrites(l);
    }
    assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again');
  }

  it(`link down: ${CONNECTIONS} connections through the owner's crash (flows to its own pod are lost with it)`, () => linkDown('link down', address, 'tcp'));

  it(`link down, server-first: ${CONNECTIONS} connections whose endpoints write first after the takeover`, () => linkDown('server-first link down', address, 'tick'));

  it(`link down, IPv6: ${CONNECTIONS} TCP connections to the dual-stack Service's IPv6 address`, () => linkDown('link down, IPv6 TCP', dual.v6, 'tcp'));

  it(`link down, UDP: ${CONNECTIONS} UDP flows (a connected socket each) to the dual-stack Service's IPv4 address`, () => linkDown('link down, UDP', dual.v4, 'udp'));

  /**
   * The owner's speaker SIGKILLed with CONNECTIONS flows held: every flow whose endpoint is not on
   * its node survives. `restarted`: the speaker is started again once the address has moved, as a
   * kubelet restarts a crashed container, and the client writes once every speaker is ready: the
   * restarted one takes the stale VIP off lo, so the flows to its node's pod must survive too.
   */
  async function sigkill(what: string, flow: 'tcp' | 'tick', restarted = false): Promise<void> {
    const l = lab!;
    const port = portOf(flow);
    const owner = await holderOf(l, address);
    if (flow === 'tick') await watchEndpointWrites(l, address);
    const client = await holdConnections(l, address, children, flow);
    const flows = await flowsOf(l, owner, address, 'tcp', port);
    const endpoints = new Map([...flows].map(([p, f]) => [p, f.endpoint]));
    const ownPods = new Set(l.pods.filter((p) => p.nodeName === owner).map((p) => p.plan.ipv4));
    const onOwner = client.ports.filter((p) => ownPods.has(endpoints.get(p) ?? ''));
    const speaker = l.speakers.get(owner)!;
    speaker.signal('SIGKILL');
    await speaker.exited;
    let started = false;
    let back: string | undefined;
    try {
      const next = await takenOverFrom(l, address, owner);
      if (restarted) {
        l.startSpeaker(owner);
        started = true;
        assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again before the client writes');
        // The returning node may take the address back (the election prefers it): a second takeover, which the flows must survive as well.
        back = await holderOf(l, address);
      }
      const first = flow === 'tick' ? await serverFirst(next, flows, client.ports.filter((p) => !onOwner.includes(p))) : '';
      const { lost, slowestMs } = await client.check();
      const slowest = slowestMs === undefined ? '' : `; the slowest echo and tick came ${slowestMs} ms after the client wrote`;
      const lostOnOwner = lost.filter((p) => onOwner.includes(p));
      const why = restarted ? `whose speaker was restarted; the address then on ${back}` : 'whose node keeps the stale VIP on lo';
      report(what, lost, CONNECTIONS, ` (${lostOnOwner.length} of the ${onOwner.length} to the pod on ${owner}, ${why})${first}${slowest}${await lossDiagnosis(l, next, address, lost, 'tcp', port)}`);
      if (restarted) assert.deepEqual(lost, [], 'every flow survives once the crashed speaker is back');
      else assert.deepEqual(lost.filter((p) => !onOwner.includes(p)), [], 'no flow to a pod on another node is lost');
    } finally {
      client.child.kill('SIGKILL');
      if (!started) l.startSpeaker(owner);
      if (flow === 'tick') await unwatchEndpointWrites(l);
    }
    assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again');
  }

  it(`SIGKILL of the owner's speaker: ${CONNECTIONS} connections keep working after the takeover`, () => sigkill('SIGKILL', 'tcp'));

  it(`SIGKILL of the owner's speaker, server-first: ${CONNECTIONS} connections whose endpoints write first after the takeover`, () => sigkill('server-first SIGKILL', 'tick'));

  it(`SIGKILL of the owner's speaker, restarted as a kubelet would: all ${CONNECTIONS} connections, those to its node's pod included, keep working`, () => sigkill('SIGKILL, speaker restarted', 'tcp', true));

  /**
   * Local: the owner's speaker dies (SIGKILL) or stops (SIGTERM) with CONNECTIONS flows held, all
   * to its node's pod; the new owner hands them to that node, and every one survives.
   */
  async function localSpeakerGone(what: string, flow: 'tcp' | 'tick', signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const l = lab!;
    const owner = await holderOf(l, local);
    const client = await holdConnections(l, local, children, flow);
    const flows = await flowsOf(l, owner, local, 'tcp', portOf(flow));
    const ownPod = l.pods.find((p) => p.nodeName === owner)?.plan.ipv4;
    assert.deepEqual(client.ports.filter((p) => flows.get(p)?.endpoint !== ownPod), [], `Local: every flow to the owner's own pod ${ownPod}`);
    assert.ok(client.ports.every((p) => flows.get(p)?.peerPort === p), 'Local: no SNAT, the pod sees the client\'s own port');
    const speaker = l.speakers.get(owner)!;
    speaker.signal(signal);
    try {
      const exit = await speaker.exited;
      if (signal === 'SIGTERM') assert.equal(exit.code, 0, `exit ${exit.code ?? exit.signal}: ${speaker.output().slice(-500)}`);
      const t0 = Date.now();
      const next = await takenOverFrom(l, local, owner);
      const { lost, slowestMs } = await client.check();
      const slowest = slowestMs === undefined ? '' : `; the slowest echo and tick came ${slowestMs} ms after the client wrote`;
      report(what, lost, CONNECTIONS, ` (all to the pod on ${owner}; ${next} took ${local} over, seen ${Date.now() - t0} ms after the speaker exited, and handed them to ${owner})${slowest}`);
      assert.deepEqual(lost, [], `every flow survives: the new owner ${next} hands them to ${owner}, whose pod still serves`);
    } finally {
      client.child.kill('SIGKILL');
      l.startSpeaker(owner);
    }
    assert.deepEqual(await l.waitForSpeakers(30_000), [], 'every speaker ready again');
  }

  it(`Local, SIGKILL of the owner's speaker: ${CONNECTIONS} connections to its node's pod keep working, handed to that node by the new owner`, () => localSpeakerGone('Local, SIGKILL', 'tcp', 'SIGKILL'));

  it(`Local, SIGKILL of the owner's speaker, server-first: ${CONNECTIONS} tick connections keep working`, () => localSpeakerGone('Local, server-first SIGKILL', 'tick', 'SIGKILL'));

  it(`Local, SIGTERM handoff: ${CONNECTIONS} connections keep working after the owner's speaker stops`, () => localSpeakerGone('Local, SIGTERM handoff', 'tcp', 'SIGTERM'));

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
      const { lost } = await client.check();
      report('SIGTERM handoff', lost, CONNECTIONS, await lossDiagnosis(l, next, address, lost));
      assert.deepEqual(lost, [], 'every connection survives the handoff');
    } finally {
      client.child.kill('SIGKILL');
      l.startSpeaker(owner);
    }
  });
});
