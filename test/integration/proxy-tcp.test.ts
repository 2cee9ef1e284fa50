import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { waitFor } from '../helpers/wait.js';
import { backend, collect, endpoint, frontend, model, Resources, whoAnswers } from './proxy-harness.js';

describe('proxy TCP frontend (real sockets on loopback)', () => {
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('carries bytes both ways to an echo backend', async () => {
    const echo = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('echo')], [backend('echo', [endpoint(echo.port)])]));
    const c = await res.connect(engine.frontendPort('echo')!);
    const done = collect(c);
    c.end('hello through fulcrum');
    assert.equal((await done).data.toString(), 'hello through fulcrum');
    const stats = engine.frontend('echo')!.ctx.stats;
    assert.deepEqual([stats.bytesIn, stats.bytesOut, stats.connectionsTotal], [21, 21, 1]);
  });

  it('works on an IPv6 listener and an IPv6 endpoint', async () => {
    const echo = await res.server(undefined, '::1');
    const engine = res.engine();
    await engine.apply(model([frontend('v6', { listen: { address: '::1', port: 0 } })], [backend('v6', [endpoint(echo.port, { address: '::1' })])]));
    const c = await res.connect(engine.frontendPort('v6')!, { host: '::1' });
    const done = collect(c);
    c.end('six');
    assert.equal((await done).data.toString(), 'six');
  });

  it('half-close: the client FIN reaches the backend, which can still answer afterwards', async () => {
    const backendSaw: string[] = [];
    const srv = await res.server((s) => {
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('end', () => {
        backendSaw.push(got);
        // The client has finished sending; the answer goes out after its FIN.
        setImmediate(() => s.end(`you said ${got.length} bytes`));
      });
    });
    const engine = res.engine();
    await engine.apply(model([frontend('hc')], [backend('hc', [endpoint(srv.port)])]));
    const c = await res.connect(engine.frontendPort('hc')!);
    const done = collect(c);
    c.end('12345');
    const r = await done;
    assert.equal(r.data.toString(), 'you said 5 bytes');
    assert.deepEqual(backendSaw, ['12345']);
  });

  it('backpressure: a slow reader stops the proxy reading from the backend, and nothing is lost', async () => {
    const total = 64 * 1024 * 1024;
    const payload = randomBytes(1024 * 1024);
    let backendSocket: net.Socket | undefined;
    let written = 0;
    const srv = await res.server((s) => {
      backendSocket = s;
      const pump = (): void => {
        while (written < total) {
          written += payload.length;
          if (!s.write(payload)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    const engine = res.engine();
    await engine.apply(model([frontend('bp')], [backend('bp', [endpoint(srv.port)])]));
    const c = await res.connect(engine.frontendPort('bp')!);
    c.pause();
    const stats = engine.frontend('bp')!.ctx.stats;
    // Wait until the flow stops: the backend is blocked on a full buffer and the proxy stopped moving.
    let last = -1;
    await waitFor('the proxy to stop forwarding while the client does not read', () => {
      const stalled = stats.bytesOut === last && backendSocket !== undefined && backendSocket.writableLength > 0;
      last = stats.bytesOut;
      return stalled;
    }, { intervalMs: 200 });
    assert.ok(stats.bytesOut < total / 4, `proxy forwarded ${stats.bytesOut} of ${total} bytes to a client that reads nothing`);
    const hash = createHash('sha256');
    let received = 0;
    c.on('data', (d: Buffer) => {
      received += d.length;
      hash.update(d);
    });
    c.resume();
    await new Promise((r) => c.once('end', r));
    assert.equal(received, total);
    const want = createHash('sha256');
    for (let i = 0; i < total / payload.length; i++) want.update(payload);
    assert.equal(hash.digest('hex'), want.digest('hex'), 'bytes arrive intact and in order');
  });

  it('backpressure the other way: a slow backend stops the proxy reading from the client, and nothing is lost', async () => {
    const total = 32 * 1024 * 1024;
    const payload = randomBytes(1024 * 1024 + 7); // not a multiple of the 64 KiB read buffer
    let backendSocket: net.Socket | undefined;
    const hash = createHash('sha256');
    let received = 0;
    let ended: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (ended = resolve));
    const srv = await res.server((s) => {
      backendSocket = s;
      s.pause();
      s.on('data', (d: Buffer) => {
        received += d.length;
        hash.update(d);
      });
      s.on('end', () => ended());
    });
    const engine = res.engine();
    await engine.apply(model([frontend('bp2')], [backend('bp2', [endpoint(srv.port)])]));
    const c = await res.connect(engine.frontendPort('bp2')!);
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(payload.length, total - sent);
        sent += n;
        if (!c.write(payload.subarray(0, n))) return void c.once('drain', pump);
      }
      c.end();
    };
    pump();
    const stats = engine.frontend('bp2')!.ctx.stats;
    let last = -1;
    await waitFor('the proxy to stop forwarding while the backend does not read', () => {
      const stalled = stats.bytesIn === last && c.writableLength > 0;
      last = stats.bytesIn;
      return stalled;
    }, { intervalMs: 200 });
    assert.ok(stats.bytesIn < total / 2, `proxy read ${stats.bytesIn} of ${total} bytes for a backend that reads nothing`);
    backendSocket!.resume();
    await finished;
    assert.equal(received, total);
    const want = createHash('sha256');
    for (let done = 0; done < total; done += payload.length) want.update(payload.subarray(0, Math.min(payload.length, total - done)));
    assert.equal(hash.digest('hex'), want.digest('hex'), 'bytes arrive intact and in order');
  });

  it('retries the connect on another endpoint when one refuses', async () => {
    const dead = await res.deadPort();
    const live = await res.namedServer('live');
    const engine = res.engine();
    await engine.apply(model([frontend('r')], [backend('r', [endpoint(dead), endpoint(live.port)], { passiveEjection: { consecutiveFailures: 100, baseEjectMs: 1000, maxEjectMs: 1000 } })]));
    const port = engine.frontendPort('r')!;
    for (let i = 0; i < 6; i++) assert.equal(await whoAnswers(port), 'live', `connection ${i}`);
    const deadEp = engine.pool('r')!.endpoints.find((e) => e.port === dead)!;
    assert.equal(deadEp.errors.connectRefused, 3, 'roundrobin sent every other connection to the dead endpoint first');
    assert.equal(engine.frontend('r')!.ctx.stats.rejected.connectFailed, 0);
  });

  it('gives up after the bounded number of attempts and resets the client', async () => {
    const ports = [await res.deadPort(), await res.deadPort(), await res.deadPort()];
    const engine = res.engine();
    await engine.apply(model([frontend('x')], [backend('x', ports.map((p) => endpoint(p)), { connectAttempts: 2 })]));
    const c = net.connect(engine.frontendPort('x')!, '127.0.0.1');
    const r = await collect(c);
    assert.equal(r.data.length, 0);
    assert.equal(r.error, 'ECONNRESET');
    const errors = engine.pool('x')!.endpoints.reduce((n, e) => n + e.errors.connectRefused, 0);
    assert.equal(errors, 2, 'two attempts, not three');
    assert.equal(engine.frontend('x')!.ctx.stats.rejected.connectFailed, 1);
  });

  it('with no endpoint at all, a connection is reset at once rather than left hanging', async () => {
    const engine = res.engine();
    await engine.apply(model([frontend('empty')], [backend('empty', [])]));
    const c = net.connect(engine.frontendPort('empty')!, '127.0.0.1');
    const r = await collect(c);
    assert.equal(r.error, 'ECONNRESET');
    assert.equal(engine.frontend('empty')!.ctx.stats.rejected.noEndpoint, 1);
  });

  it('closes a connection idle for longer than idleMs, and keeps a busy one', async () => {
    const echo = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('idle', { timeouts: { connectMs: 1000, idleMs: 600 } })], [backend('idle', [endpoint(echo.port)])]));
    const port = engine.frontendPort('idle')!;
    const quiet = await res.connect(port);
    const busy = await res.connect(port);
    const quietClosed = collect(quiet);
    let busyClosed = false;
    busy.on('close', () => (busyClosed = true));
    const ticker = setInterval(() => busy.write('x'), 100);
    try {
      await quietClosed;
      assert.equal(busyClosed, false, 'a connection with traffic every 100 ms is not idle');
    } finally {
      clearInterval(ticker);
    }
  });

  it('source ranges: a client outside them is reset and counted, one inside gets through', async () => {
    const named = await res.namedServer('in');
    const engine = res.engine();
    await engine.apply(model([frontend('acl', { sourceRanges: ['127.0.0.2/32'] })], [backend('acl', [endpoint(named.port)])]));
    const port = engine.frontendPort('acl')!;
    assert.equal(await whoAnswers(port, '127.0.0.1'), undefined);
    assert.equal(await whoAnswers(port, '127.0.0.2'), 'in');
    assert.equal(engine.frontend('acl')!.ctx.stats.rejected.sourceRange, 1);
    assert.equal(named.accepted(), 1, 'the rejected client never reached the backend');
  });
});
