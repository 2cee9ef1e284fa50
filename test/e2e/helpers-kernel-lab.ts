import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ownerSeenByClient } from '../../lab/check.js';
import type { Lab } from '../../lab/lab.js';
import { POD_PORTS } from '../../lab/samples.js';
import { canonicalAddress } from '../../src/address.js';
import { waitFor } from '../helpers/wait.js';
import { vipHolders, waitForOneHolderEach } from './helpers-resilience.js';

// The kernel-mode lab e2e's pieces (kernel-mode-lab.test.ts): clients that hold connections open
// through a fault from the lab's client namespace (TCP and UDP echo, client-first; the pods' tick
// port, server-first), the flows as a node's conntrack holds them, who holds an address and who
// took it over, and a probe table that sees endpoints write to a new owner.

export const PORT = 5678;
/** The pods' server-first port (`tick`), the kernel-mode Service's second port. */
export const TICK_PORT = POD_PORTS.tcpTick;
export const CONNECTIONS = 50;
/** What a held client speaks: the TCP or UDP echo (client-first), or the tick port (server-first). */
export type Flow = 'tcp' | 'udp' | 'tick';
export const portOf = (flow: Flow): number => (flow === 'tick' ? TICK_PORT : PORT);
export const protocolOf = (flow: Flow): 'tcp' | 'udp' => (flow === 'udp' ? 'udp' : 'tcp');
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

export interface HeldClient {
  readonly child: ChildProcess;
  readonly ports: number[];
  /** The flows lost, by client port; for server-first, also the slowest answer. */
  check(): Promise<{ lost: number[]; slowestMs?: number }>;
}

export async function holdConnections(lab: Lab, address: string, children: ChildProcess[], flow: Flow = 'tcp'): Promise<HeldClient> {
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

/** One spelling per address: conntrack writes IPv6 addresses in full (2001:0db8:0000:…), the API compressed. */
export const canonical = (a: string): string => canonicalAddress(a) ?? a;

/** The kernel-mode flows in a node's conntrack: client port → endpoint address and the port the endpoint sees (the SNAT port). */
export async function flowsOf(lab: Lab, node: string, address: string, protocol: 'tcp' | 'udp' = 'tcp', port = PORT): Promise<Map<number, { endpoint: string; peerPort: number }>> {
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
export async function lossDiagnosis(lab: Lab, node: string, address: string, lost: readonly number[], protocol: 'tcp' | 'udp' = 'tcp', port = PORT): Promise<string> {
  const flows = await flowsOf(lab, node, address, protocol, port);
  const remapped = lost.filter((p) => flows.has(p) && flows.get(p)!.peerPort !== p).length;
  const unseen = lost.filter((p) => !flows.has(p)).length;
  return `; of the ${lost.length} lost, on the new owner ${node}: ${remapped} with the SNAT port remapped, ${unseen} not in its conntrack`;
}

export async function holderOf(lab: Lab, address: string): Promise<string> {
  const h = await waitForOneHolderEach(lab, 30_000);
  const nodes = h.get(address) ?? [];
  assert.equal(nodes.length, 1, `${address} on one node (${nodes.join(', ')})`);
  return nodes[0]!;
}

/** Another node holds the address and the client's neighbour entry names it. */
export async function takenOverFrom(lab: Lab, address: string, owner: string): Promise<string> {
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
export const PROBE_TABLE = 'fkw_probe';
export async function watchEndpointWrites(lab: Lab, address: string): Promise<void> {
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

export async function unwatchEndpointWrites(lab: Lab): Promise<void> {
  for (const n of lab.topology.nodes) await lab.topology.exec(n.namespace, 'nft', [`delete table ip ${PROBE_TABLE}`]);
}

/** Waits until every one of `snatPorts` has been recorded on `node` (its endpoint wrote to it as owner); returns how long that took. */
export async function endpointsWroteTo(lab: Lab, node: string, snatPorts: readonly number[]): Promise<number> {
  const t0 = Date.now();
  await waitFor(`the endpoints of ${snatPorts.length} flows to write to the new owner ${node}`, async () => {
    const r = await lab.topology.exec(lab.topology.node(node).namespace, 'nft', ['-j', 'list', 'set', 'ip', PROBE_TABLE, 'seen']);
    const set = (JSON.parse(r.stdout) as { nftables: { set?: { elem?: number[] } }[] }).nftables.find((x) => x.set)?.set;
    const seen = new Set(set?.elem ?? []);
    return snatPorts.every((p) => seen.has(p));
  }, { timeoutMs: 30_000, intervalMs: 100 });
  return Date.now() - t0;
}
