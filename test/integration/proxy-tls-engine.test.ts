// TLS through the proxy engine, as a Service's ports use it: HTTPS terminated on an http
// frontend, TLS terminated on a tcp frontend, and re-encryption towards endpoints that speak TLS
// (verified against a CA), with real node:https/node:tls clients and servers on loopback.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { makeCertificate, makeKey, type Certificate, type KeyPair } from '../../lab/x509.js';
import type { FrontendTls, TlsCertificate } from '../../speaker/proxy/model.js';
import { parseProxyHeader } from '../../speaker/proxy/proxy-protocol.js';
import { backend, endpoint, frontend, model, Resources } from './proxy-harness.js';
import { httpBackend, httpFrontend } from './proxy-http-harness.js';

interface Answer {
  status: number;
  body: string;
  protocol: string | null;
  alpn: string | false | null;
  subject: string;
}

function httpsGet(port: number, servername: string, ca: string, path = '/'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions & tls.ConnectionOptions = { host: '127.0.0.1', port, path, servername, ca, ALPNProtocols: ['http/1.1'], headers: { Host: servername }, agent: false };
    const req = https.request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const s = res.socket as tls.TLSSocket;
        resolve({ status: res.statusCode ?? 0, body, protocol: s.getProtocol?.() ?? null, alpn: s.alpnProtocol ?? null, subject: String(s.getPeerCertificate?.().subject?.CN ?? '') });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** One line over TLS to a tcp frontend, the echo's answer back. */
function tlsEcho(port: number, servername: string, ca: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca }, () => s.end(line));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

describe('TLS through the proxy engine (terminate on http and tcp frontends, re-encrypt to endpoints)', function () {
  this.timeout(20_000);
  const res = new Resources();
  afterEach(() => res.closeAll());
  let caKey: KeyPair;
  let ca: Certificate;
  const issue = (dns: string[], source: string): TlsCertificate => {
    const key = makeKey('ec');
    return { source, certPem: makeCertificate({ cn: dns[0], dns, key, issuer: { cert: ca, key: caKey } }).pem, keyPem: key.keyPem };
  };
  const spec = (...certificates: TlsCertificate[]): FrontendTls => ({ certificates, minVersion: 'TLSv1.2' });

  before(() => {
    caKey = makeKey('ec');
    ca = makeCertificate({ cn: 'Fulcrum engine test CA', ca: true, key: caKey });
  });

  it('HTTPS on an http frontend: SNI picks the certificate, ALPN http/1.1, X-Forwarded-Proto https, and routing by Host', async () => {
    const shop = await httpBackend(res, 'shop');
    const blog = await httpBackend(res, 'blog');
    const engine = res.engine();
    const routes = [
      { match: { kind: 'http' as const, hosts: ['shop.example.com'], pathPrefix: '/' }, backend: 'shop' },
      { match: { kind: 'http' as const, hosts: ['blog.example.com'], pathPrefix: '/' }, backend: 'blog' },
    ];
    const tlsSpec = spec(issue(['shop.example.com'], 'secret web/shop'), issue(['blog.example.com'], 'secret web/blog'));
    await engine.apply(model([httpFrontend('web', { routes, tls: tlsSpec })], [backend('shop', [endpoint(shop.port)], { protocol: 'http' }), backend('blog', [endpoint(blog.port)], { protocol: 'http' })]));
    const port = engine.frontendPort('web')!;
    const a = await httpsGet(port, 'shop.example.com', ca.pem, '/cart');
    const b = await httpsGet(port, 'blog.example.com', ca.pem, '/post');
    assert.deepEqual([a.status, a.subject, a.alpn, a.body], [200, 'shop.example.com', 'http/1.1', 'shop GET /cart 0']);
    assert.deepEqual([b.status, b.subject, b.body], [200, 'blog.example.com', 'blog GET /post 0']);
    assert.equal(shop.seen[0]!.headers['x-forwarded-proto'], 'https');
    assert.equal(blog.seen[0]!.headers['x-forwarded-proto'], 'https');
  });

  it('TLS on a tcp frontend: the endpoint gets the plain stream', async () => {
    const echo = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('db', { tls: spec(issue(['db.example.com'], 'secret data/db')) })], [backend('db', [endpoint(echo.port)])]));
    assert.equal(await tlsEcho(engine.frontendPort('db')!, 'db.example.com', ca.pem, 'hello over TLS\n'), 'hello over TLS\n');
  });

  it('re-encrypts to https endpoints verified against the CA, and refuses (502) an endpoint whose name does not match', async () => {
    const serverKey = makeKey('ec');
    const cert = makeCertificate({ cn: 'pods.web.svc', dns: ['pods.web.svc'], key: serverKey, issuer: { cert: ca, key: caKey } });
    const seen: string[] = [];
    const server = https.createServer({ cert: cert.pem, key: serverKey.keyPem }, (req, resp) => {
      seen.push(`${req.method} ${req.url} ${(req.socket as tls.TLSSocket).getProtocol()}`);
      resp.end('from the encrypted pod');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    res.add(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const port = (server.address() as net.AddressInfo).port;
    const engine = res.engine();
    const front = httpFrontend('web', { tls: spec(issue(['web.example.com'], 'secret web/web')) });
    await engine.apply(model([front], [backend('web', [endpoint(port)], { protocol: 'https', tls: { caPem: ca.pem, serverName: 'pods.web.svc' } })]));
    const ok = await httpsGet(engine.frontendPort('web')!, 'web.example.com', ca.pem, '/x');
    assert.deepEqual([ok.status, ok.body], [200, 'from the encrypted pod']);
    assert.match(seen[0]!, /^GET \/x TLSv1\.[23]$/);

    await engine.apply(model([front], [backend('web', [endpoint(port)], { protocol: 'https', tls: { caPem: ca.pem, serverName: 'other.web.svc' } })]));
    const refused = await httpsGet(engine.frontendPort('web')!, 'web.example.com', ca.pem, '/y');
    assert.equal(refused.status, 502, 'a certificate for another name is not trusted');
    assert.equal(seen.length, 1, 'the request never reached the pod');
  });

  it('re-encrypts a tcp frontend to a tls backend', async () => {
    const serverKey = makeKey('ec');
    const cert = makeCertificate({ cn: 'db.pods', dns: ['db.pods'], key: serverKey, issuer: { cert: ca, key: caKey } });
    const server = tls.createServer({ cert: cert.pem, key: serverKey.keyPem }, (s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const sockets = new Set<net.Socket>();
    server.on('secureConnection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    res.add(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
    const engine = res.engine();
    await engine.apply(model([frontend('db')], [backend('db', [endpoint((server.address() as net.AddressInfo).port)], { protocol: 'tls', tls: { caPem: ca.pem, serverName: 'db.pods' } })]));
    const plain = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: engine.frontendPort('db')! }, () => s.end('plain in, TLS out\n'));
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.equal(plain, 'plain in, TLS out\n');
  });

  it('a PROXY header to a tls backend comes first, in clear, before the handshake (tcp and http frontends)', async () => {
    const serverKey = makeKey('ec');
    const cert = makeCertificate({ cn: 'pp.pods', dns: ['pp.pods'], key: serverKey, issuer: { cert: ca, key: caKey } });
    const context = tls.createSecureContext({ cert: cert.pem, key: serverKey.keyPem });
    const headers: string[] = [];
    // Reads the PROXY header off the raw connection, then speaks TLS on the rest.
    const server = await res.server((raw) => {
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        buf = Buffer.concat([buf, d]);
        const p = parseProxyHeader(buf);
        if (p.kind === 'incomplete') return;
        raw.removeListener('data', onData);
        headers.push(p.kind === 'proxy' ? `${p.source.address}:${p.source.port}` : p.kind);
        const rest = p.kind === 'proxy' ? buf.subarray(p.length) : buf;
        const stream = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { raw.write(chunk, cb); }, final(cb) { raw.end(); cb(); } });
        raw.on('data', (more: Buffer) => stream.push(more));
        raw.on('end', () => stream.push(null));
        if (rest.length > 0) stream.push(rest);
        const secure = new tls.TLSSocket(stream, { isServer: true, secureContext: context });
        secure.on('error', () => raw.destroy());
        secure.on('end', () => secure.end()); // the client's FIN (through the proxy) ends the connection
        secure.on('data', (line: Buffer) => {
          const text = String(line);
          secure.write(text.startsWith('GET ') ? `HTTP/1.1 200 OK\r\nContent-Length: ${headers.at(-1)!.length}\r\n\r\n${headers.at(-1)!}` : `tls:${text}`);
        });
      };
      raw.on('data', onData);
    });
    const engine = res.engine();
    const pods = backend('pp', [endpoint(server.port)], { protocol: 'tls', proxyProtocol: 'v1', tls: { caPem: ca.pem, serverName: 'pp.pods' } });
    await engine.apply(model([frontend('pp')], [pods]));
    const local = await new Promise<{ got: string; port: number }>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: engine.frontendPort('pp')! }, () => s.write('ping'));
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        resolve({ got: d, port: s.localPort! });
        s.destroy();
      });
      s.on('error', reject);
    });
    assert.deepEqual([local.got, headers], ['tls:ping', [`127.0.0.1:${local.port}`]]);

    await engine.apply(model([httpFrontend('pp-http', { backend: 'pp-https' })], [{ ...pods, name: 'pp-https', protocol: 'https' }]));
    const answer = await new Promise<{ body: string; port: number }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: engine.frontendPort('pp-http')!, agent: false }, (resp) => {
        let body = '';
        resp.on('data', (d: Buffer) => (body += String(d)));
        resp.on('end', () => resolve({ body, port: req.socket!.localPort! }));
      });
      req.on('error', reject);
    });
    assert.equal(answer.body, `127.0.0.1:${answer.port}`, 'the https endpoint read the PROXY header naming the HTTP client');
  });

  it('a frontend whose TLS has no certificate that can be served fails alone, naming the certificate and why', async () => {
    const echo = await res.server();
    const engine = res.engine();
    const bad: TlsCertificate = { source: 'secret data/broken', certPem: 'not a certificate', keyPem: 'nor a key' };
    const r = await engine.apply(model([frontend('good'), frontend('broken', { backend: 'good', tls: spec(bad) })], [backend('good', [endpoint(echo.port)])]));
    assert.equal(r.kind, 'applied');
    assert.deepEqual(r.kind === 'applied' ? r.failed.map((f) => f.frontend) : [], ['broken']);
    const message = r.kind === 'applied' ? r.failed[0]!.error.message : '';
    assert.match(message, /broken/);
    assert.match(message, /secret data\/broken/);
    assert.ok(engine.frontendPort('good')! > 0, 'the other frontend runs');
    assert.equal(engine.frontendPort('broken'), undefined);
  });
});
