import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { removeLeftovers } from '../../lab/leftovers.js';
import { ip, nsRun, nsSysctl } from '../../lab/netns.js';
import { nodesTopology, setupCommands, sysctlsOf } from '../../bench/nodes/config.js';
import { KernelApplier, nftRunner, type SysctlPort } from '../../speaker/kernel/applier.js';
import { countKernelFlows } from '../../speaker/kernel/conntrack.js';
import { UNANSWERED_FLOW_TIMEOUT_S, type KernelPort } from '../../speaker/kernel/ruleset.js';
import { seedOf } from '../../speaker/kernel/slots.js';
import { kernelTableOf } from '../../speaker/kernel/table.js';
import { componentLogger } from '../../src/log.js';

// Kernel mode and the owner node's conntrack, in namespaces (client → node → backend, the bench's
// topology). SNAT to the VIP keeps the client's port unless another client's flow to the same
// endpoint already has it: how often that happens is measured. Then a SYN flood: half-open flows are tracked by the node's conntrack, which every flow of the node
// shares. The kernel's default lifetime of a half-open entry is 60 s (SYN_RECV) or 120 s
// (SYN_SENT); kernel mode's table gives them 5 s, so the flood's entries stay at about rate × 5 s
// and are gone 5 s after it stops, while a real client keeps being served. The counts come from
// the node's /proc/net/nf_conntrack through the function behind `fulcrum_kernel_flows`.
const PREFIX = 'fkc';
const t = nodesTopology(PREFIX);
const PORT = 80;
const TARGET_PORT = 8080;
/** The flood: one SYN per connection, from ports 20000…, never answered (the client drops the SYN-ACKs to them). */
const FLOOD_RATE = 400; // per second
const FLOOD_SECONDS = 12;
const FLOOD_PORTS = '20000-29999';

const sysctl = (ns: string): SysctlPort => ({
  read: async (name) => (await nsRun(ns, 'sysctl', ['-n', name])).trim(),
  write: async (name, value) => void (await nsSysctl(ns, { [name]: value })),
});

const webPort: KernelPort = {
  name: `e2e/web:${PORT}/TCP@${t.vip}`, address: t.vip, port: PORT, protocol: 'tcp', seed: seedOf('e2e/web', PORT, 'tcp'),
  hashOn: 'flow', snat: true, sourceRanges: [], denyAll: false,
};

// Runs in the client namespace: FLOOD_RATE connections a second from ports 20000 + i, each
// dropped 50 ms later while still in SYN_SENT (Linux sends nothing when it drops those).
const FLOOD = `
const net = require('node:net');
const [host, port, rate, seconds] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
let i = 0;
const total = rate * seconds;
const timer = setInterval(() => {
  for (let k = 0; k < rate / 20 && i < total; k++, i++) {
    const s = net.connect({ host, port, localPort: 20000 + i });
    s.on('error', () => undefined);
    setTimeout(() => s.destroy(), 50);
  }
  if (i >= total) { clearInterval(timer); setTimeout(() => { process.stdout.write('sent ' + i + '\\n'); process.exit(0); }, 100); }
}, 50);
`;
// A real client: one connection, prints what the backend says.
const CLIENT = `
const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
let got = '';
s.setTimeout(3000, () => { process.stdout.write('timeout\\n'); process.exit(1); });
s.on('data', (d) => (got += d));
s.on('end', () => { process.stdout.write(got + '\\n'); process.exit(0); });
s.on('error', (e) => { process.stdout.write(e.code + '\\n'); process.exit(1); });
`;
// The backend answers with the peer it sees (after the node's SNAT) and closes. Its backlog holds
// every flow opened at once: with the default 511, a full accept queue dropped the client's last
// handshake ACK (SYN cookies on), and a client that waits for the server to speak hung there.
const BACKEND = `require('node:net').createServer((s) => s.end(s.remoteAddress + ' ' + s.remotePort)).listen({ port: ${TARGET_PORT}, host: '0.0.0.0', backlog: 4096 }, () => process.stdout.write('ready\\n'));`;
const SERVED = new RegExp(`^${t.vip.replace(/\./g, '\\.')} \\d+$`);
/** Client addresses for the SNAT measure: 198.51.100.20 … .59. */
const CLIENTS = Array.from({ length: 40 }, (_, i) => `198.51.100.${20 + i}`);
// Runs in the client namespace: N flows from random client addresses and ports (a seeded
// generator; no address and port twice), all opened at once, each waiting for its answer; prints how
// many the backend saw from the VIP and with the client's own port.
const SNAT_FLOWS = `
const net = require('node:net');
const [host, port, n, seed] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const clients = process.argv.slice(5);
let x = seed >>> 0;
const next = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const used = new Set();
let answered = 0, fromVip = 0, portKept = 0, failed = 0;
const others = []; // up to 5 answers not from the VIP, for the assertion's message
const sockets = [];
for (let i = 0; i < n; i++) {
  let address, localPort;
  do { address = clients[Math.floor(next() * clients.length)]; localPort = 32768 + Math.floor(next() * 28232); } while (used.has(address + ':' + localPort));
  used.add(address + ':' + localPort);
  const s = net.connect({ host, port, localAddress: address, localPort });
  sockets.push(s);
  let got = '';
  s.on('data', (d) => (got += d));
  s.on('end', () => {
    const [peer, peerPort] = got.split(' ');
    answered++;
    if (peer === host) fromVip++;
    else if (others.length < 5) others.push(got);
    if (Number(peerPort) === localPort) portKept++;
    done();
  });
  s.on('error', () => { failed++; done(); });
}
function done() { if (answered + failed === n) { process.stdout.write(JSON.stringify({ n, answered, fromVip, portKept, failed, others }) + '\\n'); process.exit(0); } }
setTimeout(() => { process.stdout.write(JSON.stringify({ n, answered, fromVip, portKept, failed, timeout: true }) + '\\n'); process.exit(1); }, 30000);
`;

function nodeIn(ns: string, script: string, args: string[] = []): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}
async function outputOf(child: ChildProcess): Promise<string> {
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise((resolve) => child.once('exit', resolve));
  return out.trim();
}
async function openingFlows(): Promise<number> {
  const text = await nsRun(t.ns.node, 'cat', ['/proc/net/nf_conntrack']);
  const c = countKernelFlows(text, [webPort]).get(webPort.name)!;
  return c.opening;
}

describe('kernel mode e2e: the owner node\'s conntrack (SNAT port collisions, a SYN flood)', function () {
  this.timeout(90_000);
  const children: ChildProcess[] = [];
  let applier: KernelApplier | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await removeLeftovers(PREFIX);
    for (const argv of setupCommands(t)) await ip(argv);
    for (const [ns, settings] of Object.entries(sysctlsOf(t))) await nsSysctl(ns, settings);
    for (const a of CLIENTS) await ip(['-n', t.ns.client, 'addr', 'add', `${a}/24`, 'dev', t.links.client]);
    // real clients from 40000…, the flood from 20000…; the client drops SYN-ACKs to the flood's ports
    await nsSysctl(t.ns.client, { 'net.ipv4.ip_local_port_range': '40000 60000' });
    await nsRun(t.ns.client, 'nft', ['add table inet flood; add chain inet flood in { type filter hook input priority 0; }; add rule inet flood in tcp dport ' + FLOOD_PORTS + ' tcp flags & (syn | ack) == syn | ack drop']);
    const backend = nodeIn(t.ns.backend, BACKEND);
    children.push(backend);
    await new Promise<void>((resolve, reject) => {
      backend.stdout!.once('data', () => resolve());
      backend.once('exit', (code) => reject(new Error(`backend exited ${code}`)));
    });
    applier = new KernelApplier({ logger: componentLogger('kernel-conntrack-test'), run: nftRunner(t.ns.node), sysctl: sysctl(t.ns.node) });
    assert.deepEqual(await applier.start(), { kind: 'enabled' });
    const table = kernelTableOf({ ...webPort, endpoints: t.endpoints.map((a) => ({ key: `${a}:${TARGET_PORT}`, address: a, port: TARGET_PORT, weight: 1 })) });
    assert.equal(table.kind, 'ok');
    if (table.kind === 'ok') await applier.apply([table.table]);
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await applier?.close().catch(() => undefined);
    await removeLeftovers(PREFIX);
  });

  for (const perEndpoint of [100, 1000])
    it(`SNAT to the VIP keeps the client's port but for collisions: ${perEndpoint} flows per endpoint from ${CLIENTS.length} clients`, async () => {
      const n = perEndpoint * t.endpoints.length;
      const out = await outputOf(nodeIn(t.ns.client, SNAT_FLOWS, [t.vip, String(PORT), String(n), String(perEndpoint), ...CLIENTS]));
      const r = JSON.parse(out) as { n: number; answered: number; fromVip: number; portKept: number; failed: number; others: string[]; timeout?: boolean };
      const moved = r.answered - r.portKept;
      console.log(`      ${n} flows opened at once (${perEndpoint} per endpoint): ${moved} got another port from the SNAT (${((100 * moved) / n).toFixed(2)} %), ${r.failed} failed`);
      assert.equal(r.failed, 0, 'a collision costs the flow its port, not the connection');
      assert.equal(r.answered, n, `${n - r.answered} flows had no answer${r.timeout ? ' after 30 s' : ''}`);
      assert.equal(r.fromVip, n, `every flow reached its endpoint from the VIP; others answered ${JSON.stringify(r.others)}`);
      assert.ok(r.portKept >= n * 0.95, `most flows kept their port: ${r.portKept} of ${n}`);
    });

  it(`keeps half-open entries to about rate × ${UNANSWERED_FLOW_TIMEOUT_S} s, serves a real client meanwhile, and drains once it stops`, async () => {
    assert.match(await outputOf(nodeIn(t.ns.client, CLIENT, [t.vip, String(PORT)])), SERVED, 'served before the flood');
    const flood = nodeIn(t.ns.client, FLOOD, [t.vip, String(PORT), String(FLOOD_RATE), String(FLOOD_SECONDS)]);
    children.push(flood);
    const sent = outputOf(flood);
    let done = false;
    void sent.then(() => (done = true));
    let peak = 0;
    let servedDuring = 0;
    let tries = 0;
    let samples = 0;
    while (!done && samples < FLOOD_SECONDS * 4 + 40) {
      samples++;
      peak = Math.max(peak, await openingFlows());
      if (samples % 8 === 0) {
        tries++;
        if (SERVED.test(await outputOf(nodeIn(t.ns.client, CLIENT, [t.vip, String(PORT)])))) servedDuring++;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const total = Number(/sent (\d+)/.exec(await sent)?.[1]);
    assert.equal(total, FLOOD_RATE * FLOOD_SECONDS, 'the whole flood was sent');
    const stoppedAt = Date.now();
    // Drained: no half-open entry of the port left. With the kernel's defaults they would stay 60 s.
    let left = await openingFlows();
    for (let i = 0; i < 80 && left > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      left = await openingFlows();
    }
    const drainMs = Date.now() - stoppedAt;
    const bound = FLOOD_RATE * UNANSWERED_FLOW_TIMEOUT_S;
    const nodeCount = Number((await nsRun(t.ns.node, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count'])).trim());
    console.log(`      flood: ${total} SYNs in ${FLOOD_SECONDS} s; half-open entries peaked at ${peak} (rate × ${UNANSWERED_FLOW_TIMEOUT_S} s = ${bound}); a real client served ${servedDuring} of ${tries} tries during it; drained ${drainMs} ms after; node table then ${nodeCount} entries`);
    assert.ok(peak > bound / 2, `the flood reached conntrack (peak ${peak})`);
    assert.ok(peak < total * 0.75, `half-open entries were bounded by their timeout: peak ${peak} of ${total} sent`);
    assert.ok(tries > 0 && servedDuring === tries, `a real client was served during the flood: ${servedDuring} of ${tries}`);
    assert.equal(left, 0, `half-open entries left ${drainMs} ms after the flood`);
  });
});
