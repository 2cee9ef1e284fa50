import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { waitFor } from '../helpers/wait.js';
import { backend, endpoint, model, Resources } from './proxy-harness.js';
import { httpBackend, httpFrontend, rawExchange, request, statuses } from './proxy-http-harness.js';

describe('proxy HTTP frontend (real node:http clients and backends on loopback)', function () {
  this.timeout(20_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('forwards a GET and its response, keeps the client connection alive and reuses the endpoint connection', async () => {
    const b = await httpBackend(res, 'web');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const port = engine.frontendPort('web')!;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    res.add(() => agent.destroy());
    for (let i = 0; i < 5; i++) {
      const r = await request(port, { path: `/x/${i}?q=1`, agent });
      assert.equal(r.status, 200);
      assert.equal(r.body, `web GET /x/${i}?q=1 0`);
    }
    assert.equal(b.seen.length, 5);
    assert.equal(b.connections(), 1, 'one endpoint connection carried every request');
    assert.equal(engine.frontend('web')!.ctx.stats.connectionsTotal, 1, 'one client connection');
  });

  it('sets X-Forwarded-For/-Proto/-Port, replaces an untrusted X-Forwarded-For, and removes hop-by-hop headers', async () => {
    const b = await httpBackend(res, 'web');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const port = engine.frontendPort('web')!;
    await request(port, { headers: { 'X-Forwarded-For': '203.0.113.9', 'Keep-Alive': 'timeout=5', 'X-Custom': 'kept', Connection: 'keep-alive, X-Drop', 'X-Drop': 'gone', TE: 'trailers' } });
    const h = b.seen[0]!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1', 'an untrusted client cannot inject a forwarded address');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-port'], String(port));
    assert.equal(h['x-custom'], 'kept');
    for (const gone of ['keep-alive', 'x-drop', 'te']) assert.equal(h[gone], undefined, `${gone} removed`);
  });

  it('appends to X-Forwarded-For from a trusted source, and adds Forwarded when asked', async () => {
    const b = await httpBackend(res, 'web');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web', { http: { trustForwardedFrom: ['127.0.0.0/8'], forwardedHeader: true } })], [backend('web', [endpoint(b.port)])]));
    await request(engine.frontendPort('web')!, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    const h = b.seen[0]!.headers;
    assert.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.match(String(h.forwarded), /for=127\.0\.0\.1/);
    assert.match(String(h.forwarded), /proto=http/);
  });

  it('routes by Host and path prefix between two backends on one frontend; no match is 404', async () => {
    const a = await httpBackend(res, 'a');
    const api = await httpBackend(res, 'api');
    const engine = res.engine();
    const routes = [
      { match: { kind: 'http' as const, hosts: ['a.example.com'], pathPrefix: '/api' }, backend: 'api' },
      { match: { kind: 'http' as const, hosts: ['a.example.com', '*.b.example.com'], pathPrefix: '/' }, backend: 'a' },
    ];
    await engine.apply(model([httpFrontend('web', { routes })], [backend('a', [endpoint(a.port)]), backend('api', [endpoint(api.port)])]));
    const port = engine.frontendPort('web')!;
    assert.match((await request(port, { path: '/api/v1', headers: { Host: 'a.example.com' } })).body, /^api /);
    assert.match((await request(port, { path: '/', headers: { Host: 'A.Example.com:8080' } })).body, /^a /);
    assert.match((await request(port, { path: '/x', headers: { Host: 'c.b.example.com' } })).body, /^a /);
    const miss = await request(port, { headers: { Host: 'other.example.org' } });
    assert.equal(miss.status, 404);
  });

  it('streams a chunked upload and a chunked response, both ways', async () => {
    const b = await httpBackend(res, 'web', (_req, resp, body) => {
      resp.write(`got ${body.length} `);
      resp.end('done');
    });
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const port = engine.frontendPort('web')!;
    const reply = await new Promise<{ status: number; body: string; te: string | undefined }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/up', agent: false }, (resp) => {
        let body = '';
        resp.on('data', (d: Buffer) => (body += d.toString()));
        resp.on('end', () => resolve({ status: resp.statusCode!, body, te: resp.headers['transfer-encoding'] }));
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
      req.end();
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'got 10000 done');
    assert.equal(reply.te, 'chunked');
    assert.equal(b.seen[0]!.body.length, 10000);
  });

  it('Expect: 100-continue: the endpoint\'s 100 reaches the client, then the body goes through', async () => {
    const b = await httpBackend(res, 'web');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const port = engine.frontendPort('web')!;
    const got = await new Promise<{ continued: boolean; body: string }>((resolve, reject) => {
      let continued = false;
      const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/c', headers: { Expect: '100-continue', 'Content-Length': 5 }, agent: false }, (resp) => {
        let body = '';
        resp.on('data', (d: Buffer) => (body += d.toString()));
        resp.on('end', () => resolve({ continued, body }));
      });
      req.on('continue', () => {
        continued = true;
        req.end('hello');
      });
      req.on('error', reject);
    });
    assert.equal(got.continued, true);
    assert.equal(got.body, 'web PUT /c 5');
  });

  it('HTTP/1.0 clients: the response is delimited by the close when the endpoint chunks it', async () => {
    const b = await httpBackend(res, 'web', (_req, resp) => {
      resp.write('a');
      resp.end('b');
    });
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const r = await rawExchange(engine.frontendPort('web')!, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n');
    assert.equal(r.closed, true);
    assert.match(r.text, /^HTTP\/1\.[01] 200/);
    assert.doesNotMatch(r.text, /transfer-encoding/i);
    assert.match(r.text, /\r\n\r\nab$/);
  });

  it('answers 503 when the backend has no endpoint, 502 when the endpoint refuses, 504 when it is too slow', async () => {
    const slow = await httpBackend(res, 'slow', () => undefined); // never answers
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const engine = res.engine();
    await engine.apply(model(
      [httpFrontend('empty'), httpFrontend('refused'), httpFrontend('slow', { http: { timeouts: { httpRequestMs: 5000, httpKeepAliveMs: 60000, serverMs: 300, tunnelMs: 60000 } } })],
      [backend('empty', []), backend('refused', [endpoint(deadPort)]), backend('slow', [endpoint(slow.port)])],
    ));
    assert.equal((await request(engine.frontendPort('empty')!)).status, 503);
    assert.equal((await request(engine.frontendPort('refused')!)).status, 502);
    assert.equal((await request(engine.frontendPort('slow')!)).status, 504);
    const own = engine.frontend('empty')!.ctx.stats.http!.own;
    assert.equal(own.get('503 noEndpoint'), 1);
  });

  it('a bad request is answered 400 and closed, and nothing reaches the endpoint', async () => {
    const b = await httpBackend(res, 'web');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const port = engine.frontendPort('web')!;
    const smuggle = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await rawExchange(port, smuggle);
    assert.deepEqual(statuses(r.text), [400]);
    assert.equal(r.closed, true);
    const noHost = await rawExchange(port, 'GET / HTTP/1.1\r\n\r\n');
    assert.deepEqual(statuses(noHost.text), [400]);
    assert.equal(b.seen.length, 0, 'the endpoint saw nothing');
  });

  it('headers too large: 431', async () => {
    const b = await httpBackend(res, 'web');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const r = await rawExchange(engine.frontendPort('web')!, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.deepEqual(statuses(r.text), [431]);
    assert.equal(b.seen.length, 0);
  });

  it('a client too slow to send its headers gets 408 (slowloris bounded by the request timeout)', async () => {
    const b = await httpBackend(res, 'web');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web', { http: { timeouts: { httpRequestMs: 300, httpKeepAliveMs: 60_000, serverMs: 50_000, tunnelMs: 60_000 } } })], [backend('web', [endpoint(b.port)])]));
    const r = await rawExchange(engine.frontendPort('web')!, 'GET / HTTP/1.1\r\nHost: x\r\nX-A: ', { untilMs: 5000 });
    assert.deepEqual(statuses(r.text), [408]);
    assert.equal(r.closed, true);
  });

  it('redirectToHttps answers 308 to https://host/path', async () => {
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web', { http: { redirectToHttps: true } })], [backend('web', [])]));
    const r = await request(engine.frontendPort('web')!, { path: '/a/b?c=d', headers: { Host: 'shop.example.com:80' } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, 'https://shop.example.com/a/b?c=d');
  });

  it('pipelined requests are answered in order', async () => {
    const b = await httpBackend(res, 'web');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const r = await rawExchange(engine.frontendPort('web')!, 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(statuses(r.text), [200, 200, 200]);
    assert.deepEqual([...r.text.matchAll(/web GET (\/\d)/g)].map((m) => m[1]), ['/1', '/2', '/3']);
    assert.equal(r.closed, true);
  });

  it('a HEAD response has no body, and the connection goes on', async () => {
    const b = await httpBackend(res, 'web', (_req, resp) => resp.end('body of a GET'));
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const r = await rawExchange(engine.frontendPort('web')!, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(statuses(r.text), [200, 200]);
    assert.equal(r.text.split('body of a GET').length, 2, 'only the GET carries the body');
  });

  it('cookie stickiness: the endpoint named in the cookie takes the next requests', async () => {
    const b1 = await httpBackend(res, 'one');
    const b2 = await httpBackend(res, 'two');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b1.port), endpoint(b2.port)], { stickyCookie: 'SRV' })]));
    const port = engine.frontendPort('web')!;
    const first = await request(port);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    assert.match(cookie, /^SRV=[0-9a-f]{8}$/);
    const who = first.body.split(' ')[0];
    for (let i = 0; i < 4; i++) {
      const r = await request(port, { headers: { Cookie: `a=b; ${cookie}` } });
      assert.equal(r.body.split(' ')[0], who, 'the same endpoint');
      assert.equal(r.headers['set-cookie'], undefined, 'no new cookie when it was honoured');
    }
  });

  it('a reused endpoint connection the endpoint closed is retried on a new one for an idempotent request', async () => {
    let n = 0;
    const b = await httpBackend(res, 'web', (req, resp) => {
      n++;
      resp.end('ok');
      // close the keep-alive connection right after answering, as a server with a short keep-alive timeout does
      req.socket.end();
    });
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)])]));
    const port = engine.frontendPort('web')!;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    res.add(() => agent.destroy());
    assert.equal((await request(port, { agent })).status, 200);
    await waitFor('the endpoint to close its side', () => b.connections() >= 1, { timeoutMs: 2000 });
    assert.equal((await request(port, { agent })).status, 200);
    assert.equal(n, 2);
  });

  it('WebSocket-style Upgrade: 101, then bytes both ways through the tunnel', async () => {
    const server = http.createServer();
    server.on('upgrade', (_req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
      socket.on('end', () => socket.end()); // the client's FIN comes through the tunnel: close our side too
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    res.add(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const engine = res.engine();
    await engine.apply(model([httpFrontend('ws')], [backend('ws', [endpoint((server.address() as net.AddressInfo).port)])]));
    const port = engine.frontendPort('ws')!;
    const text = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      let got = '';
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        got += d;
        if (got.includes('\r\n\r\n') && !got.includes('echo:')) s.write('ping');
        if (got.includes('echo:ping')) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
      s.write('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    });
    assert.match(text, /^HTTP\/1\.1 101/);
    assert.match(text, /echo:ping$/);
  });

  it('HTTP health checks eject an endpoint whose check fails and bring it back when it passes', async () => {
    let healthy = true;
    const b1 = await httpBackend(res, 'one', (req, resp) => {
      if (req.url === '/healthz') {
        resp.statusCode = healthy ? 200 : 503;
        resp.end();
        return;
      }
      resp.end('one');
    });
    const b2 = await httpBackend(res, 'two');
    const engine = res.engine();
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b1.port), endpoint(b2.port)], { healthCheck: { type: 'http', path: '/healthz', expectStatus: { min: 200, max: 399 }, intervalMs: 50, rise: 2, fall: 2, timeoutMs: 500 } })]));
    const pool = engine.pool('web')!;
    const e1 = pool.endpoints.find((e) => e.port === b1.port)!;
    healthy = false;
    await waitFor('the failing endpoint to be taken out', () => !e1.healthy, { timeoutMs: 3000 });
    const port = engine.frontendPort('web')!;
    for (let i = 0; i < 4; i++) assert.match((await request(port)).body, /^two /);
    healthy = true;
    await waitFor('the endpoint to come back', () => e1.healthy, { timeoutMs: 3000 });
  });
});
