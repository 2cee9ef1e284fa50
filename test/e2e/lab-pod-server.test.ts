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
    server = topo.spawn(pod.namespace, process.execPath, [POD_SERVER, '--name', 'web-1', '--http', '8080', '--tcp-echo', '5678', '--udp-echo', '5678', '--accept-proxy'], { name: 'pod-server' });
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

  it('exits 0 on SIGTERM', async () => {
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
  });
});
