import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type { FrontendTls, TlsCertificate } from '../../speaker/proxy/model.js';
import { MOZILLA_INTERMEDIATE_CIPHERS, ticketKeyMode, TlsTermination, upstreamTlsOptions, type TlsTerminationOptions } from '../../speaker/proxy/tls.js';
import { registry } from '../../src/metrics.js';
import { waitFor } from '../helpers/wait.js';
import { makeCertificate, makeKey, type Certificate, type KeyPair } from '../../lab/x509.js';

const run = promisify(execFile);
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/**
 * A TLS port as a frontend runtime makes one: a plain net.Server (paused on accept, as the
 * engine's are) whose sockets go through `termination.wrap`. Behind TLS it echoes, except that a
 * request starting with `GET ` gets a small HTTP/1.1 answer naming the SNI and ALPN (for curl).
 */
class TlsPort {
  readonly server: net.Server;
  readonly sockets = new Set<tls.TLSSocket>();
  termination: TlsTermination;

  constructor(termination: TlsTermination) {
    this.termination = termination;
    this.server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (raw) => {
      const s = this.termination.wrap(raw);
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        if (d.subarray(0, 4).toString() !== 'GET ') return void s.write(d);
        const body = `sni=${s.servername} alpn=${s.alpnProtocol} ${s.getProtocol()}\n`;
        s.end(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      });
      s.on('end', () => s.end());
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.termination.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A client connection: resolves once the handshake is done, with the socket (and every session ticket it gets). */
function connect(port: number, opts: tls.ConnectionOptions = {}): Promise<tls.TLSSocket & { sessions: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }) as tls.TLSSocket & { sessions: Buffer[] };
    s.sessions = [];
    s.on('session', (session: Buffer) => s.sessions.push(session));
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes a line and waits for its echo (a round trip also delivers TLS 1.3 session tickets). */
async function echo(s: tls.TLSSocket, text: string): Promise<string> {
  const got = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
  s.write(text);
  return got;
}

/** The name the peer certificate was issued for (its first SAN DNS name). */
function peerName(s: tls.TLSSocket): string {
  return (s.getPeerCertificate().subjectaltname ?? '').split(', ')[0]!.replace(/^DNS:/, '');
}

async function refused(port: number, opts: tls.ConnectionOptions): Promise<string> {
  try {
    const s = await connect(port, opts);
    s.destroy();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
  throw new Error(`the handshake with ${JSON.stringify(opts)} succeeded`);
}

describe('TLS termination (speaker/proxy/tls.ts) with real clients', function () {
  this.timeout(10_000);
  let caKey: KeyPair;
  let ca: Certificate;
  let a: TlsCertificate;
  let b: TlsCertificate;
  let a2: TlsCertificate;
  const ports: TlsPort[] = [];
  const issue = (key: KeyPair, dns: string[], source: string): TlsCertificate => ({ source, certPem: makeCertificate({ cn: dns[0], dns, key, issuer: { cert: ca, key: caKey } }).pem, keyPem: key.keyPem });
  const spec = (...certificates: TlsCertificate[]): FrontendTls => ({ certificates, minVersion: 'TLSv1.2' });

  async function start(s: FrontendTls, alpn: readonly string[] = ['http/1.1'], options: TlsTerminationOptions = {}): Promise<{ port: number; tp: TlsPort }> {
    const tp = new TlsPort(new TlsTermination(s, alpn, `test-${ports.length}`, options));
    ports.push(tp);
    return { port: await tp.listen(), tp };
  }

  before(() => {
    caKey = makeKey('ec');
    ca = makeCertificate({ cn: 'Fulcrum test CA', ca: true, key: caKey });
    a = issue(makeKey('rsa'), ['a.example.com'], 'secret shop/a');
    b = issue(makeKey('ec'), ['b.example.com', '*.b.example.com'], 'secret shop/b');
    a2 = issue(makeKey('ec'), ['a.example.com'], 'secret shop/a');
  });
  after(async () => {
    for (const p of ports) await p.close();
  });

  it('SNI picks the certificate whose name matches, verified against the CA', async () => {
    const { port } = await start(spec(a, b));
    for (const [servername, want] of [['a.example.com', 'a.example.com'], ['b.example.com', 'b.example.com'], ['x.b.example.com', 'b.example.com'], ['A.EXAMPLE.COM', 'a.example.com']] as const) {
      const s = await connect(port, { servername, ca: ca.pem, rejectUnauthorized: true });
      assert.equal(peerName(s), want, `SNI ${servername}`);
      assert.equal(s.authorized, true);
      s.destroy();
    }
  });

  it('a client without SNI, or with an unknown name, gets the default (first) certificate', async () => {
    const { port } = await start(spec(b, a));
    const none = await connect(port);
    assert.equal(peerName(none), 'b.example.com');
    none.destroy();
    const unknown = await connect(port, { servername: 'other.org' });
    assert.equal(peerName(unknown), 'b.example.com');
    unknown.destroy();
  });

  it('speaks TLS 1.3 by default and TLS 1.2 with a Mozilla intermediate cipher when the client caps it', async () => {
    const { port } = await start(spec(a, b));
    const v13 = await connect(port, { servername: 'a.example.com' });
    assert.equal(v13.getProtocol(), 'TLSv1.3');
    v13.destroy();
    for (const servername of ['a.example.com', 'b.example.com']) {
      const v12 = await connect(port, { servername, maxVersion: 'TLSv1.2' });
      assert.equal(v12.getProtocol(), 'TLSv1.2');
      assert.ok(MOZILLA_INTERMEDIATE_CIPHERS.split(':').includes(v12.getCipher().name), `${servername}: ${v12.getCipher().name}`);
      v12.destroy();
    }
  });

  it('refuses TLS 1.1 and clients without a cipher in common, and counts why', async () => {
    const { port, tp } = await start(spec(a));
    assert.equal(await refused(port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    // the alert's name depends on the OpenSSL Node links (3.0: SSLV3_ALERT_, 3.2+: SSL/TLS_ALERT_)
    assert.match(await refused(port, { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:AES256-SHA256:ECDHE-RSA-AES128-SHA' }), /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/);
    await waitFor('both failures counted', () => tp.termination.stats.handshakes.noCipher === 1 && tp.termination.stats.handshakes.protocolVersion === 1);
  });

  it('negotiates ALPN http/1.1 on an http frontend, and none on a tcp one', async () => {
    const http = await start(spec(a));
    const h = await connect(http.port, { ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(h.alpnProtocol, 'http/1.1');
    h.destroy();
    const noAlpn = await connect(http.port);
    assert.equal(noAlpn.alpnProtocol, false, 'a client without ALPN is served');
    noAlpn.destroy();
    assert.equal(await refused(http.port, { ALPNProtocols: ['h2'] }), 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL', 'nothing in common: the fatal alert of RFC 7301');
    await waitFor('counted', () => http.tp.termination.stats.handshakes.noApplicationProtocol === 1);
    const tcp = await start(spec(a), []);
    const t = await connect(tcp.port, { ALPNProtocols: ['http/1.1'] });
    assert.equal(t.alpnProtocol, false);
    t.destroy();
  });

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`resumes a ${version} session with a ticket, through the SNI callback`, async () => {
      const { port, tp } = await start(spec(b, a));
      const first = await connect(port, { servername: 'a.example.com', maxVersion: version });
      assert.equal(await echo(first, 'one'), 'one');
      const session = await waitFor('a session ticket', () => first.sessions.at(-1));
      first.end();
      const again = await connect(port, { servername: 'a.example.com', maxVersion: version, session });
      assert.equal(again.isSessionReused(), true);
      assert.equal(await echo(again, 'two'), 'two');
      again.destroy();
      await waitFor('the resumption counted', () => tp.termination.stats.handshakes.resumed === 1 && tp.termination.stats.handshakes.ok === 1);
    });
  }

  it(`keeps the previous ticket key through one rotation, not two (ticket keys: ${ticketKeyMode()})`, async function () {
    if (ticketKeyMode() !== 'callback') this.skip();
    const { port, tp } = await start(spec(a));
    const first = await connect(port, { maxVersion: 'TLSv1.2' });
    await echo(first, 'x');
    const session = await waitFor('a session ticket', () => first.sessions.at(-1));
    first.destroy();
    tp.termination.rotateTicketKeys();
    const afterOne = await connect(port, { maxVersion: 'TLSv1.2', session });
    assert.equal(afterOne.isSessionReused(), true, 'the previous key still decrypts');
    assert.notDeepEqual(afterOne.getTLSTicket(), first.getTLSTicket(), 'and the ticket is renewed under the current key');
    const renewed = afterOne.getSession()!;
    afterOne.destroy();
    tp.termination.rotateTicketKeys();
    const afterTwo = await connect(port, { maxVersion: 'TLSv1.2', session });
    assert.equal(afterTwo.isSessionReused(), false, 'a key two rotations old is gone');
    afterTwo.destroy();
    const withRenewed = await connect(port, { maxVersion: 'TLSv1.2', session: renewed });
    assert.equal(withRenewed.isSessionReused(), true, 'the ticket renewed under the key that is now the previous one');
    withRenewed.destroy();
  });

  it('without the ticket-key hook (single mode), a rotation ends the older tickets and nothing else', async () => {
    const { port, tp } = await start(spec(a), ['http/1.1'], { ticketKeyMode: 'single' });
    const first = await connect(port);
    await echo(first, 'x');
    const session = await waitFor('a session ticket', () => first.sessions.at(-1));
    first.destroy();
    const before = await connect(port, { session });
    assert.equal(before.isSessionReused(), true);
    before.destroy();
    tp.termination.rotateTicketKeys();
    const after = await connect(port, { session });
    assert.equal(after.isSessionReused(), false);
    assert.equal(await echo(after, 'y'), 'y');
    after.destroy();
  });

  it('update() serves a new certificate on new handshakes while an open connection goes on', async () => {
    const { port, tp } = await start(spec(a, b));
    const open = await connect(port, { servername: 'a.example.com' });
    const oldFingerprint = open.getPeerX509Certificate()!.fingerprint256;
    assert.equal(oldFingerprint, new X509Certificate(a.certPem).fingerprint256);
    assert.equal(await echo(open, 'before'), 'before');
    const openOnServer = [...tp.sockets].find((s) => s.remotePort === open.localPort)!;

    const got = tp.termination.update(spec(a2, b));
    assert.equal(got.kind, 'updated');
    const fresh = await connect(port, { servername: 'a.example.com' });
    assert.equal(fresh.getPeerX509Certificate()!.fingerprint256, new X509Certificate(a2.certPem).fingerprint256, 'new handshakes get the rotated certificate');
    fresh.destroy();

    assert.equal(await echo(open, 'after'), 'after', 'the open connection goes on');
    assert.equal(openOnServer.getX509Certificate()!.fingerprint256, oldFingerprint, 'on the certificate it started with');
    open.destroy();

    assert.equal(tp.termination.update(spec(a2, b)).kind, 'unchanged');
    const bad = tp.termination.update(spec({ source: 'secret shop/a', certPem: a2.certPem, keyPem: b.keyPem }));
    assert.deepEqual(bad, { kind: 'kept', skipped: [{ source: 'secret shop/a', reason: 'has a private key that does not match its certificate' }] });
    const still = await connect(port, { servername: 'b.example.com' });
    assert.equal(peerName(still), 'b.example.com', 'the last good set stays');
    still.destroy();
  });

  it('a bad certificate among good ones is skipped, and the next one becomes the default', async () => {
    const { port, tp } = await start(spec({ source: 'secret shop/broken', certPem: 'garbage', keyPem: a.keyPem }, b));
    assert.deepEqual(tp.termination.certificates().map((c) => c.source), ['secret shop/b']);
    const s = await connect(port);
    assert.equal(peerName(s), 'b.example.com');
    s.destroy();
    assert.throws(() => new TlsTermination(spec({ source: 'secret shop/broken', certPem: 'garbage', keyPem: a.keyPem }), [], 'nothing'), (err: Error & { code?: string }) => err.code === 'FUL_ERR_PROXY_CONFIG' && /frontend "nothing": tls: no certificate can be served: secret shop\/broken holds no PEM certificate/.test(err.message));
  });

  it('counts plain HTTP, clients that leave, and handshakes that time out', async () => {
    const { port, tp } = await start(spec(a), ['http/1.1'], { handshakeTimeoutMs: 300 });
    const plain = net.connect(port, '127.0.0.1', () => plain.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    plain.on('error', () => undefined);
    const leaver = net.connect(port, '127.0.0.1', () => leaver.end());
    const silent = net.connect(port, '127.0.0.1');
    const silentClosed = new Promise((resolve) => silent.on('close', resolve));
    await waitFor('plain HTTP and the leaver counted', () => tp.termination.stats.handshakes.notTls === 1 && tp.termination.stats.handshakes.closed === 1);
    const t0 = Date.now();
    await silentClosed;
    assert.ok(Date.now() - t0 < 1000, 'closed within the timeout and a coarse tick');
    assert.equal(tp.termination.stats.handshakes.timeout, 1);
    assert.equal(tp.termination.pendingHandshakes(), 0);
    plain.destroy();
  });

  it('shows handshakes by result and certificate expiry in the registry', async () => {
    const { port, tp } = await start(spec(a));
    const s = await connect(port);
    await echo(s, 'x'); // a client that leaves at once may reset the connection before its Finished is read
    s.destroy();
    await refused(port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    await waitFor('counted', () => tp.termination.stats.handshakes.ok === 1 && tp.termination.stats.handshakes.protocolVersion === 1);
    const text = await registry.metrics();
    const name = tp.termination.frontend;
    assert.match(text, new RegExp(`fulcrum_proxy_tls_handshakes_total\\{frontend="${name}",result="ok"\\} 1`));
    assert.match(text, new RegExp(`fulcrum_proxy_tls_handshakes_total\\{frontend="${name}",result="protocolVersion"\\} 1`));
    const notAfter = Math.floor(Date.parse(new X509Certificate(a.certPem).validTo) / 1000);
    assert.match(text, new RegExp(`fulcrum_proxy_tls_certificate_expiry_timestamp_seconds\\{frontend="${name}",source="secret shop/a"\\} ${notAfter}`));
  });

  it('openssl s_client: TLS 1.1 refused, TLS 1.3 with ALPN http/1.1', async function () {
    if (!has('openssl')) this.skip();
    const { port } = await start(spec(a, b));
    const sclient = (...args: string[]) => run('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${port} ${args.join(' ')} 2>&1`]).then((r) => r.stdout, (e: { stdout: string }) => e.stdout);
    const v11 = await sclient('-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0', '-servername', 'a.example.com');
    assert.match(v11, /alert protocol version|unsupported protocol|no protocols available/i, v11);
    const v13 = await sclient('-tls1_3', '-alpn', 'h2,http/1.1', '-servername', 'x.b.example.com');
    assert.match(v13, /New, TLSv1\.3, Cipher is TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)/, v13);
    assert.match(v13, /ALPN protocol: http\/1\.1/, v13);
    assert.match(v13, /subject=CN ?= ?b\.example\.com/, v13);
  });

  it('curl: HTTP/1.1 over TLS, verified against the CA, with SNI', async function () {
    if (!has('curl')) this.skip();
    const { port } = await start(spec(a, b));
    const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
    const dir = await mkdtemp('/tmp/fulcrum-tls-');
    try {
      await writeFile(`${dir}/ca.pem`, ca.pem);
      const r = await run('curl', ['-sS', '--cacert', `${dir}/ca.pem`, '--resolve', `x.b.example.com:${port}:127.0.0.1`, '-w', '%{http_version}', `https://x.b.example.com:${port}/`]);
      assert.equal(r.stdout, 'sni=x.b.example.com alpn=http/1.1 TLSv1.3\n1.1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('upstreamTlsOptions: re-encryption towards the pods', () => {
    let port: number;
    before(async () => {
      port = (await start(spec(a, b))).port;
    });
    const dial = (backendTls: Parameters<typeof upstreamTlsOptions>[0]) => connect(port, upstreamTlsOptions(backendTls));

    it('with a CA and a server name: SNI sent, chain and name verified', async () => {
      const s = await dial({ caPem: ca.pem, serverName: 'b.example.com' });
      assert.equal(s.authorized, true);
      assert.equal(peerName(s), 'b.example.com');
      s.destroy();
    });
    it('with a CA and no server name: the chain is verified, no name is checked, no SNI is sent', async () => {
      const s = await dial({ caPem: ca.pem });
      assert.equal(s.authorized, true);
      assert.equal(peerName(s), 'a.example.com', 'no SNI: the default certificate');
      s.destroy();
    });
    it('with a CA and the wrong name: refused', async () => {
      assert.equal(await refused(port, upstreamTlsOptions({ caPem: ca.pem, serverName: 'c.example.com' })), 'ERR_TLS_CERT_ALTNAME_INVALID');
    });
    it('with another CA: refused', async () => {
      const other = makeCertificate({ cn: 'Other CA', ca: true, key: makeKey('ec') });
      assert.equal(await refused(port, upstreamTlsOptions({ caPem: other.pem })), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });
    it('without a CA: not verified, TLS 1.2 at least', async () => {
      const o = upstreamTlsOptions(undefined);
      assert.equal(o.rejectUnauthorized, false);
      assert.equal(o.minVersion, 'TLSv1.2');
      const s = await dial(undefined);
      assert.equal(s.authorized, false);
      s.destroy();
    });
  });
});
