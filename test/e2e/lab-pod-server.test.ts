import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { PodPlan } from '../../lab/addressing.js';
import { waitFor, type LabProcess } from '../../lab/netns.js';
import { parseProbeOutput } from '../../lab/probe.js';
import { Topology } from '../../lab/topology.js';

// The backend program in a real pod namespace, reached from another node. Prefix `flp`.
const PREFIX = 'flp';
const POD_SERVER = fileURLToPath(new URL('../../lab/pod-server.js', import.meta.url));
const PROBE = fileURLToPath(new URL('../../lab/probe.js', import.meta.url));

// A client run inside a namespace: connects, writes `hex` (a PROXY header, or nothing) and an
// HTTP request, prints the answer's body.
const HTTP_CLIENT = `
const net = require('node:net');
const [host, port, hex] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) }, () => {
  if (hex) s.write(Buffer.from(hex, 'hex'));
  s.write('GET / HTTP/1.1\\r\\nHost: lab\\r\\nConnection: close\\r\\n\\r\\n');
});
let out = '';
s.on('data', (d) => (out += d));
s.on('end', () => process.stdout.write(out.slice(out.indexOf('\\r\\n\\r\\n') + 4)));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

// A server-first client: connects, writes `hex` (a PROXY header, or nothing), then nothing until
// the banner and three ticks have come; then writes "ping\n" and waits for its echo and a tick
// after it. Prints every line received with its time (ms since connect); exits 2 after 5 s.
const TICK_CLIENT = `
const net = require('node:net');
const [host, port, hex] = process.argv.slice(1);
const t0 = Date.now(); const lines = []; let buf = ''; let wrote = false;
const end = (code) => { console.log(JSON.stringify(lines)); process.exit(code); };
const s = net.connect({ host, port: Number(port) }, () => { if (hex) s.write(Buffer.from(hex, 'hex')); });
s.setEncoding('utf8');
s.on('data', (d) => {
  buf += d;
  for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) lines.push({ line: buf.slice(0, i), ms: Date.now() - t0 });
  if (!wrote && lines.length >= 4) { wrote = true; s.write('ping\\n'); }
  const p = lines.findIndex((l) => l.line === 'ping');
  if (p >= 0 && lines.length > p + 1) end(0);
});
s.on('error', (e) => { console.error(e.message); process.exit(1); });
setTimeout(() => end(2), 5000);
`;

describe('lab pod server in a pod namespace', function () {
  let topo: Topology;
  let pod: PodPlan;
  let server: LabProcess;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (lab pod server e2e skipped: needs root for network namespaces)');
      this.skip();
    }
    topo = await Topology.create({ prefix: PREFIX, nodes: 2 });
    pod = await topo.addPod(1);
    server = topo.spawn(pod.namespace, process.execPath, [POD_SERVER, '--name', 'web-1', '--http', '8080', '--tcp-echo', '5678', '--tcp-tick', '5679', '--udp-echo', '5678', '--accept-proxy'], { name: 'pod-server' });
    await server.waitForOutput(/"event":"ready"/, 10_000);
  });

  after(async () => {
    await topo?.destroy();
  });

  async function httpGet(namespace: string, address: string, headerHex = ''): Promise<Record<string, unknown>> {
    const r = await topo.exec(namespace, process.execPath, ['-e', HTTP_CLIENT, address, '8080', headerHex]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  it('answers HTTP with its name and the address of the node that connected (IPv4 and IPv6)', async () => {
    const n2 = topo.node(2);
    assert.deepEqual(await httpGet(n2.namespace, pod.ipv4).then((b) => [b.pod, (b.client as { address: string }).address, b.proxyProtocol]), ['web-1', n2.ipv4, null]);
    assert.deepEqual(await httpGet(n2.namespace, pod.ipv6).then((b) => [b.pod, (b.client as { address: string }).address]), ['web-1', n2.ipv6]);
  });

  it('reports the client address of a PROXY v1 header, and the proxy as the peer', async () => {
    const header = Buffer.from(`PROXY TCP4 192.0.2.2 192.0.2.64 40000 80\r\n`).toString('hex');
    const b = await httpGet(topo.node(2).namespace, pod.ipv4, header);
    assert.deepEqual(b.client, { address: '192.0.2.2', port: 40000 });
    assert.equal(b.proxyProtocol, 'v1');
    assert.equal((b.peer as { address: string }).address, topo.node(2).ipv4);
  });

  it('reports the client address of a PROXY v2 header (IPv6)', async () => {
    const header = '0d0a0d0a000d0a515549540a' + '2121' + '0024' + '20010db8000000000000000000000002' + '20010db8000000000000000000000100' + '9c400050';
    const b = await httpGet(topo.node(1).namespace, pod.ipv6, header);
    assert.deepEqual(b.client, { address: '2001:db8::2', port: 40000 });
    assert.equal(b.proxyProtocol, 'v2');
  });

  it('echoes TCP and UDP', async () => {
    const ns = topo.node(2).namespace;
    const probe = async (kind: 'tcp' | 'udp', address: string, text: string) => parseProbeOutput((await topo.exec(ns, process.execPath, [PROBE, kind, address, '5678', text])).stdout);
    const tcp = await probe('tcp', pod.ipv4, 'hello tcp');
    assert.deepEqual([tcp?.ok, tcp?.reply], [true, 'hello tcp'], JSON.stringify(tcp));
    const udp = await waitFor('a UDP echo', async () => {
      const r = await probe('udp', pod.ipv6, 'hello udp');
      return r?.ok ? r.reply : undefined;
    }, 5000);
    assert.equal(udp, 'hello udp');
  });

  async function tickLines(address: string, headerHex = ''): Promise<{ line: string; ms: number }[]> {
    const r = await topo.exec(topo.node(2).namespace, process.execPath, ['-e', TICK_CLIENT, address, '5679', headerHex]);
    assert.equal(r.code, 0, `${r.stderr} ${r.stdout}`);
    return JSON.parse(r.stdout) as { line: string; ms: number }[];
  }

  it('writes first on the tick port: a banner unasked, a tick every 100 ms, and an echo between ticks', async () => {
    const lines = await tickLines(pod.ipv4);
    assert.deepEqual(lines.slice(0, 4).map((l) => l.line), ['tick web-1 0', 'tick web-1 1', 'tick web-1 2', 'tick web-1 3'], 'the banner before the client wrote anything, then ticks');
    const spacing = lines[3]!.ms - lines[0]!.ms;
    assert.ok(spacing >= 250 && spacing < 3000, `three ticks 100 ms apart took ${spacing} ms`);
    const ping = lines.findIndex((l) => l.line === 'ping');
    assert.ok(ping >= 4, `the echo after the ticks: ${JSON.stringify(lines)}`);
    assert.match(lines[ping + 1]!.line, /^tick web-1 \d+$/, 'the ticks go on after the echo');
  });

  it('sends the banner after a PROXY header on the tick port (IPv6), and does not echo the header', async () => {
    const header = Buffer.from('PROXY TCP6 2001:db8::2 2001:db8::100 40000 5679\r\n').toString('hex');
    const lines = await tickLines(pod.ipv6, header);
    assert.equal(lines[0]?.line, 'tick web-1 0');
    const ping = lines.findIndex((l) => l.line === 'ping');
    assert.ok(ping >= 4 && !lines.some((l) => l.line.startsWith('PROXY')), JSON.stringify(lines));
  });

  it('exits 0 on SIGTERM', async () => {
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
  });
});
