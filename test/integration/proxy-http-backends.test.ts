// HTTP mode towards endpoints that need more than plain HTTP: a real WebSocket client and
// server (ws) through the tunnel, PROXY protocol headers on endpoint connections, and the
// access log line of each request.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import bunyan from 'bunyan';
import WebSocket, { WebSocketServer } from 'ws';
import { parseProxyHeader } from '../../speaker/proxy/proxy-protocol.js';
import { backend, endpoint, model, Resources } from './proxy-harness.js';
import { httpFrontend, request } from './proxy-http-harness.js';

/** A keep-alive HTTP/1.1 endpoint behind a PROXY header: records the header of each connection and answers every request with it. */
async function proxiedHttpServer(res: Resources): Promise<{ port: number; headers: string[] }> {
  const headers: string[] = [];
  const server = await res.server((s) => {
    let buf = Buffer.alloc(0);
    let source: string | null = null;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (source === null) {
        const p = parseProxyHeader(buf);
        if (p.kind === 'incomplete') return;
        source = p.kind === 'proxy' ? `${p.source.address}:${p.source.port}` : `(${p.kind})`;
        headers.push(source);
        buf = buf.subarray(p.kind === 'proxy' || p.kind === 'local' ? p.length : 0);
      }
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        buf = buf.subarray(end + 4); // requests without bodies only
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${source.length}\r\n\r\n${source}`);
      }
    });
  });
  return { port: server.port, headers };
}

describe('proxy HTTP frontend: WebSocket, PROXY protocol to endpoints, access log', function () {
  this.timeout(20_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('a ws client talks to a ws server through the proxy (Upgrade, then frames both ways)', async () => {
    const server = http.createServer((_req, resp) => resp.end('not a websocket'));
    const wss = new WebSocketServer({ server });
    wss.on('connection', (sock, req) => {
      sock.on('message', (data, binary) => sock.send(binary ? data : `echo ${String(data)} via ${req.headers['x-forwarded-for']}`, { binary }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    res.add(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(() => r()); }));
    const engine = res.engine();
    await engine.apply(model([httpFrontend('ws')], [backend('ws', [endpoint((server.address() as net.AddressInfo).port)], { protocol: 'http' })]));
    const client = new WebSocket(`ws://127.0.0.1:${engine.frontendPort('ws')!}/chat`);
    res.add(() => client.terminate());
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
    const replies: (string | Buffer)[] = [];
    const got = new Promise<void>((resolve) => {
      client.on('message', (data, binary) => {
        replies.push(binary ? Buffer.from(data as Buffer) : String(data));
        if (replies.length === 3) resolve();
      });
    });
    const big = Buffer.alloc(200_000, 7); // more than one read: the tunnel streams with backpressure
    client.send('hello');
    client.send(big);
    client.send('bye');
    await got;
    assert.equal(replies[0], 'echo hello via 127.0.0.1');
    assert.ok(Buffer.isBuffer(replies[1]) && replies[1].equals(big), 'the binary frame came back whole');
    assert.equal(replies[2], 'echo bye via 127.0.0.1');
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    client.close(1000);
    assert.equal(await closed, 1000);
  });

  it('PROXY protocol v1 in HTTP mode: each client connection gets its own endpoint connection, whose header names it', async () => {
    const b = await proxiedHttpServer(res);
    const engine = res.engine();
    await engine.apply(model([httpFrontend('pp')], [backend('pp', [endpoint(b.port)], { protocol: 'http', proxyProtocol: 'v1' })]));
    const port = engine.frontendPort('pp')!;
    const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
    res.add(() => agents.forEach((a) => a.destroy()));
    const answers: string[] = [];
    const localPorts: number[] = [];
    for (const agent of agents) {
      for (let i = 0; i < 2; i++) {
        const r = await new Promise<{ body: string; localPort: number }>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port, agent }, (resp) => {
            let body = '';
            resp.on('data', (d: Buffer) => (body += String(d)));
            resp.on('end', () => resolve({ body, localPort: req.socket!.localPort! }));
          });
          req.on('error', reject);
        });
        answers.push(r.body);
        localPorts.push(r.localPort);
      }
    }
    assert.deepEqual(answers, localPorts.map((p) => `127.0.0.1:${p}`), 'every answer names the client connection that asked');
    assert.equal(new Set(localPorts).size, 2, 'two client connections');
    assert.deepEqual(b.headers, [...new Set(answers)], 'one endpoint connection (one header) per client connection, reused for its next request');
  });

  it('writes one access log line per request at debug level, with the fields apart from the message', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = bunyan.createLogger({ name: 'access-test', level: 'debug', streams: [{ level: 'debug', type: 'raw', stream: new Writable({ objectMode: true, write: (rec, _e, cb) => { lines.push(rec as Record<string, unknown>); cb(); } }) as unknown as NodeJS.WritableStream }] });
    const b = await res.server((s) => s.once('data', () => s.end('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n')));
    const engine = res.engine({ log });
    await engine.apply(model([httpFrontend('web')], [backend('web', [endpoint(b.port)], { protocol: 'http' })]));
    const r = await request(engine.frontendPort('web')!, { path: '/orders?id=7', headers: { Host: 'shop.example.com' } });
    assert.equal(r.status, 201);
    const access = lines.filter((l) => l.event === 'httpRequest');
    assert.equal(access.length, 1);
    assert.deepEqual(
      { method: access[0]!.method, host: access[0]!.host, target: access[0]!.target, status: access[0]!.status, backend: access[0]!.backend, endpoint: access[0]!.endpoint, client: access[0]!.client },
      { method: 'GET', host: 'shop.example.com', target: '/orders?id=7', status: 201, backend: 'web', endpoint: `127.0.0.1:${b.port}`, client: '127.0.0.1' },
    );
    assert.equal(typeof access[0]!.ms, 'number');
  });
});
