import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { labTlsSecret, type LabTlsSecret } from '../../lab/certificates.js';
import { probeArgs } from '../../lab/check.js';
import { applyManifest } from '../../lab/components.js';
import type { Lab } from '../../lab/lab.js';
import { parseProbeOutput, type ProbeResult } from '../../lab/probe.js';
import { checkSpec, SAMPLE_SERVICES, SHARED_HTTP_KEY, shardOfPod, TLS_SECRET, type CheckSpec, type SampleService } from '../../lab/samples.js';
import { waitFor } from '../helpers/wait.js';
import { addressOf, skipUnlessRoot, startReadyLab, stopLab, waitForOneHolderEach, type Started } from './helpers-resilience.js';

// The lab's L7 samples from the client namespace, with real clients (the lab probe on Node's TLS,
// curl on OpenSSL): HTTPS ended by the proxy (`web-tls`), two Services told apart by Host on one
// shared address (`shop`, `blog`), and the TLS Secret renewed while a connection is open. What
// each Service must do is read from lab/samples.ts. 2 nodes, lab prefix fl7.
const PREFIX = 'fl7';
const FAMILIES = [4, 6] as const;
const UNKNOWN_HOST = 'nobody.lab.example';

/** What the pod server answers to GET / (lab/pod-server.ts). */
interface PodAnswer {
  readonly pod: string;
  readonly host: string | null;
  readonly forwardedFor: string | null;
  readonly forwardedProto: string | null;
}

// Runs in the client namespace: one keep-alive HTTPS connection (an agent with one socket),
// verified against the lab CA; GET / at start and again on each SIGUSR1, one JSON line per answer
// saying whether the socket was reused, its local port and the certificate it was opened with.
const KEEP_ALIVE_CLIENT = `
const https = require('node:https');
const fs = require('node:fs');
const [host, port, name, caFile] = process.argv.slice(1);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
const ca = fs.readFileSync(caFile);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
function get() {
  const req = https.request({ host, port: Number(port), path: '/', servername: name, headers: { host: name }, ca, agent }, (res) => {
    const s = res.socket;
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (body += d));
    res.on('end', () => say({ status: res.statusCode, body: JSON.parse(body), reused: req.reusedSocket, localPort: s.localPort, fingerprint: s.getPeerCertificate().fingerprint256, authorized: s.authorized }));
  });
  req.on('error', (e) => say({ error: e.code || e.message }));
  req.end();
}
process.on('SIGUSR1', get);
setInterval(() => {}, 60000); // the agent unrefs its idle socket: this keeps the process up
get();
`;

interface KeepAliveAnswer {
  readonly status?: number;
  readonly body?: PodAnswer;
  readonly reused?: boolean;
  readonly localPort?: number;
  readonly fingerprint?: string;
  readonly authorized?: boolean;
  readonly error?: string;
}

function sample(name: string): SampleService {
  const s = SAMPLE_SERVICES.find((x) => x.name === name);
  assert.ok(s, `lab/samples.ts has a Service ${name}`);
  return s;
}

/** The sample's one checked port and how the lab checks it. */
function checkedPort(s: SampleService): { port: number; spec: CheckSpec } {
  const [port, check] = Object.entries(s.checks)[0]!;
  return { port: Number(port), spec: checkSpec(check) };
}

/** The last hop of X-Forwarded-For: the address the proxy saw the request come from. */
function lastForwarded(xff: string | null): string | undefined {
  return xff?.split(',').pop()?.trim();
}

/** The SHA-256 fingerprint of the leaf certificate in a TLS Secret, as a TLS peer shows it. */
function leafFingerprint(secret: LabTlsSecret): string {
  const pem = Buffer.from((secret.data as Record<string, string>)['tls.crt']!, 'base64').toString('utf8');
  return new X509Certificate(pem).fingerprint256;
}

/** The lab probe in the client namespace (Node's TLS; with the lab CA for https). */
async function probe(lab: Lab, spec: CheckSpec, address: string, port: number): Promise<ProbeResult> {
  const r = await lab.topology.exec(lab.topology.client.namespace, process.execPath, probeArgs(spec, address, port, lab.caFile), { timeoutMs: 6000 });
  const result = parseProbeOutput(r.stdout);
  assert.ok(result, `probe ${spec.kind} ${address} ${port}: exit ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 300)}`);
  return result;
}

/** curl in the client namespace: the status and the body (parsed when JSON). */
async function curl(lab: Lab, args: readonly string[]): Promise<{ status: number; body: unknown; extra: string }> {
  const r = await lab.topology.exec(lab.topology.client.namespace, 'curl', ['-sS', '-g', '--max-time', '5', '-w', '\n%{http_code} %{ssl_verify_result}', ...args], { timeoutMs: 8000 });
  assert.equal(r.code, 0, `curl ${args.join(' ')}: ${r.stderr.trim()}`);
  const nl = r.stdout.lastIndexOf('\n');
  const [status, extra] = r.stdout.slice(nl + 1).split(' ') as [string, string];
  const text = r.stdout.slice(0, nl);
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // not JSON: kept as text
  }
  return { status: Number(status), body, extra };
}

const bracketed = (address: string) => (address.includes(':') ? `[${address}]` : address);

describe('speaker e2e: L7 samples of the lab (HTTPS, Host routing, a renewed certificate)', function () {
  this.timeout(90_000);
  let started: Started | undefined;

  before(async function () {
    skipUnlessRoot(this, 'speaker L7 e2e');
    started = await startReadyLab(PREFIX, 2);
    // A node that lost an address at start-up keeps it on lo until its proxy has drained it.
    await waitForOneHolderEach(started.lab);
  });

  after(async () => {
    await stopLab(started);
  });

  it('HTTPS to web-tls over IPv4 and IPv6: verified against the lab CA, TLS 1.2 or later, a local pod answers and X-Forwarded-For is the client', async () => {
    const { lab, svcs } = started!;
    const webTls = sample('web-tls');
    const { port, spec } = checkedPort(webTls);
    assert.equal(spec.kind, 'https');
    const host = spec.host!;
    const local = (webTls.manifest.spec as { externalTrafficPolicy?: string }).externalTrafficPolicy === 'Local';
    const holders = await waitForOneHolderEach(lab);
    for (const family of FAMILIES) {
      const address = addressOf(svcs, webTls.name, family);
      const client = family === 4 ? lab.topology.client.ipv4 : lab.topology.client.ipv6;
      const what = `IPv${family} ${address}`;
      // Node's TLS through the lab probe
      const r = await probe(lab, spec, address, port);
      assert.ok(r.ok && r.status === 200, `${what}: ${JSON.stringify(r)}`);
      assert.ok(r.tls, `${what}: a TLS handshake`);
      assert.equal(r.tls.verified, true, `${what}: the certificate verifies against the lab CA`);
      assert.ok(['TLSv1.2', 'TLSv1.3'].includes(r.tls.version), `${what}: ${r.tls.version}`);
      assert.equal(r.tls.certificateName, host);
      const body = r.body as PodAnswer;
      const pod = lab.pods.find((p) => p.name === body.pod);
      assert.ok(pod, `${what}: a sample pod answered (${JSON.stringify(body)})`);
      if (local) assert.equal(pod.nodeName, holders.get(address)?.[0], `${what}: externalTrafficPolicy Local: the pod on the node holding the address`);
      assert.equal(lastForwarded(body.forwardedFor), client, `${what}: X-Forwarded-For ends with the client's address`);
      assert.equal(body.forwardedProto, 'https');
      // OpenSSL through curl: the name, the chain and TLS 1.2 as the floor
      const c = await curl(lab, ['--cacert', lab.caFile!, '--tlsv1.2', '--resolve', `${host}:${port}:${bracketed(address)}`, `https://${host}:${port}/`]);
      assert.equal(c.status, 200, `${what}: curl: ${JSON.stringify(c.body)}`);
      assert.equal(c.extra, '0', `${what}: curl verified the certificate`);
      assert.equal(lastForwarded((c.body as PodAnswer).forwardedFor), client);
    }
  });

  it('Host routing: the Services sharing one address and port each get their own Host, an unknown Host gets 404 (IPv4 and IPv6)', async () => {
    const { lab, svcs } = started!;
    const routed = SAMPLE_SERVICES.filter((s) => (s.manifest.metadata.annotations as Record<string, string> | undefined)?.['fulcrum-lb.io/allow-shared-ip'] === SHARED_HTTP_KEY);
    assert.ok(routed.length >= 2, `two or more samples share key ${SHARED_HTTP_KEY}`);
    const ports = new Set(routed.map((s) => checkedPort(s).port));
    assert.equal(ports.size, 1, 'they share one port');
    const [port] = ports;
    for (const family of FAMILIES) {
      const shared = new Set(routed.map((s) => addressOf(svcs, s.name, family)));
      assert.equal(shared.size, 1, `IPv${family}: one address for ${routed.map((s) => s.name).join(', ')} (${[...shared].join(', ')})`);
      const [address] = shared as Set<string>;
      const url = `http://${bracketed(address)}:${port}/`;
      for (const s of routed) {
        const { host, shard } = checkedPort(s).spec;
        const pods = lab.pods.map((p) => p.name).filter((n) => shardOfPod(n) === shard);
        assert.ok(host && pods.length > 0, `${s.name}: a Host and pods of shard ${shard}`);
        // a few requests: each one must reach this Service's pods, never the other's
        for (let i = 0; i < 4; i++) {
          const c = await curl(lab, ['-H', `Host: ${host}`, url]);
          const body = c.body as PodAnswer;
          assert.equal(c.status, 200, `IPv${family} Host ${host}: ${JSON.stringify(c.body)}`);
          assert.ok(pods.includes(body.pod), `IPv${family} Host ${host}: ${body.pod} is not one of ${s.name}'s pods (${pods.join(', ')})`);
          assert.equal(body.host, host);
          assert.equal(lastForwarded(body.forwardedFor), family === 4 ? lab.topology.client.ipv4 : lab.topology.client.ipv6);
        }
      }
      const unknown = await curl(lab, ['-H', `Host: ${UNKNOWN_HOST}`, url]);
      assert.equal(unknown.status, 404, `IPv${family} Host ${UNKNOWN_HOST}: ${JSON.stringify(unknown.body)}`);
    }
  });

  it(`the ${TLS_SECRET} Secret renewed (new key, same names and CA): new handshakes get the new certificate, a connection opened before goes on working`, async () => {
    const { lab, svcs } = started!;
    const webTls = sample('web-tls');
    const { port, spec } = checkedPort(webTls);
    const oldFingerprint = leafFingerprint(lab.tls!.secret);
    const answers: KeepAliveAnswer[] = [];
    const address = addressOf(svcs, webTls.name, 4);
    const client = lab.topology.spawn(lab.topology.client.namespace, process.execPath, ['-e', KEEP_ALIVE_CLIENT, address, String(port), spec.host!, lab.caFile!], {
      name: 'keep-alive https client',
      onStdoutLine: (line) => answers.push(JSON.parse(line) as KeepAliveAnswer),
    });
    try {
      const first = await waitFor('the first answer on the kept-alive connection', () => answers[0], { timeoutMs: 5000, describe: () => client.output() });
      assert.equal(first.status, 200, JSON.stringify(first));
      assert.equal(first.authorized, true);
      assert.equal(first.fingerprint, oldFingerprint, 'the connection was opened with the certificate the lab applied');

      const renewed = labTlsSecret(lab.tls!.ca);
      const newFingerprint = leafFingerprint(renewed);
      assert.notEqual(newFingerprint, oldFingerprint);
      await applyManifest(lab.apiTarget, renewed);
      // Every address of the Service (the families may be held by different nodes): a new handshake presents the new certificate, verified.
      for (const family of FAMILIES) {
        const a = addressOf(svcs, webTls.name, family);
        const r = await waitFor(`a new handshake on ${a} to present the renewed certificate`, async () => {
          const x = await probe(lab, spec, a, port);
          return x.tls?.fingerprint256 === newFingerprint ? x : undefined;
        }, { timeoutMs: 15_000, intervalMs: 200, describe: () => probe(lab, spec, a, port) });
        assert.ok(r.ok && r.status === 200 && r.tls?.verified, `${a}: ${JSON.stringify(r)}`);
      }

      client.signal('SIGUSR1');
      const second = await waitFor('the second answer on the connection opened before the renewal', () => answers[1], { timeoutMs: 5000, describe: () => client.output() });
      assert.equal(second.status, 200, JSON.stringify(second));
      assert.equal(second.reused, true, 'sent on the kept-alive socket, not a new one');
      assert.equal(second.localPort, first.localPort);
      assert.equal(second.fingerprint, oldFingerprint, 'the open connection keeps the certificate it was opened with');
      assert.ok(lab.pods.some((p) => p.name === second.body?.pod), JSON.stringify(second.body));
    } finally {
      await client.stop(1000);
    }
  });
});
