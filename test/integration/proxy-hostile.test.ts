// Hostile L4 input against the TCP frontend (issue 17, "Limits and floods"): connection floods
// past the frontend's and the process's limits, a per-source rate, idle and half-open
// connections, a client that never reads, an RST storm. Each is bounded and quick, and ends
// with the descriptors and the heap back near where they started. Figures are printed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { processBudget } from '../../speaker/proxy/process-limits.js';
import type { TcpFrontend } from '../../speaker/proxy/tcp-frontend.js';
import { waitFor } from '../helpers/wait.js';
import { assertBackToBaseline, baseline, echo, tally, tryConnection } from './proxy-hostile-helpers.js';
import { backend, endpoint, frontend, model, Resources } from './proxy-harness.js';

describe('proxy under hostile TCP input', function () {
  this.timeout(20_000);
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('a connection flood past the frontend maxconn is refused at once, established ones carry on, the endpoint stays up, and the port accepts again at once', async () => {
    const echoServer = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('fl', { maxconn: 20 })], [backend('fl', [endpoint(echoServer.port)])]));
    const port = engine.frontendPort('fl')!;
    const before = baseline();
    const established = await Promise.all(Array.from({ length: 20 }, () => tryConnection(port)));
    for (const c of established) res.add(() => void c.socket.destroy());
    assert.deepEqual(tally(established.map((c) => c.outcome)), { answered: 20, closed: 0, reset: 0, error: 0 });
    const started = performance.now();
    const flood = await Promise.all(Array.from({ length: 300 }, () => tryConnection(port)));
    const floodMs = performance.now() - started;
    for (const c of flood) c.socket.destroy();
    const refused = tally(flood.map((c) => c.outcome));
    assert.equal(refused.answered, 0, 'nothing past the limit reached the backend');
    assert.equal(refused.error, 0, 'every refusal was prompt (no timeout)');
    const fe = engine.frontend('fl') as TcpFrontend;
    assert.equal(fe.ctx.stats.rejected.maxconn, 300);
    const stillUp = await Promise.all(established.map((c, i) => echo(c.socket, `e${i}`)));
    assert.deepEqual(stillUp, established.map((_, i) => `e${i}`), 'every established connection still echoes');
    for (const c of established) c.socket.destroy();
    await waitFor('the established sessions to end', () => fe.sessions.size === 0);
    const after = await tryConnection(port);
    after.socket.destroy();
    assert.equal(after.outcome, 'answered', 'the first connection after the flood is served');
    const e = engine.pool('fl')!.endpoints[0]!;
    assert.deepEqual([e.available, e.ejected, e.consecutiveFailures, e.errors], [true, false, 0, { connectRefused: 0, connectTimeout: 0, connectError: 0, reset: 0 }]);
    const back = await assertBackToBaseline(before, 'the flood');
    console.log(`      flood: 300 connections past maxconn 20 in ${floodMs.toFixed(0)} ms: refused ${refused.closed} (closed) + ${refused.reset} (reset), answered 0; 20 established echoed; fds back to ${back.fds} (baseline ${before.fds}), heap ${back.heapDeltaKiB} KiB`);
  });

  it('the process maxconn (the file\'s top-level key) spans frontends: over it new connections are reset, and it is undone on stop', async () => {
    const echoServer = await res.server();
    const engine = res.engine();
    const open = processBudget.connections;
    await engine.apply({ ...model([frontend('pa'), frontend('pb')], [backend('pa', [endpoint(echoServer.port)]), backend('pb', [endpoint(echoServer.port)])]), maxconn: open + 6 });
    assert.equal(processBudget.maxconn, open + 6);
    const [pa, pb] = [engine.frontendPort('pa')!, engine.frontendPort('pb')!];
    const held = await Promise.all([pa, pa, pa, pb, pb, pb].map((p) => tryConnection(p)));
    for (const c of held) res.add(() => void c.socket.destroy());
    assert.deepEqual(held.map((c) => c.outcome), Array(6).fill('answered'));
    const over = await Promise.all([pa, pb, pb].map((p) => tryConnection(p)));
    for (const c of over) c.socket.destroy();
    assert.deepEqual(over.map((c) => c.outcome), ['reset', 'reset', 'reset']);
    assert.deepEqual([engine.frontend('pa')!.ctx.stats.rejected.processMaxconn, engine.frontend('pb')!.ctx.stats.rejected.processMaxconn], [1, 2]);
    held[0]!.socket.destroy();
    await waitFor('the process count to go down', () => processBudget.connections === open + 5);
    const again = await tryConnection(pb);
    again.socket.destroy();
    assert.equal(again.outcome, 'answered', 'a freed slot is usable at once, on any frontend');
    await engine.stop({ drainTimeoutMs: 0 });
    assert.notEqual(processBudget.maxconn, open + 6, 'the default is back once the engine that set it stopped');
  });

  it('max-connection-rate-per-source resets a source over its rate, and only that source', async () => {
    const echoServer = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('rl', { maxConnectionRatePerSource: { count: 5, perMs: 60_000 } })], [backend('rl', [endpoint(echoServer.port)])]));
    const port = engine.frontendPort('rl')!;
    const first = [];
    for (let i = 0; i < 6; i++) first.push(await tryConnection(port, { localAddress: '127.0.0.1' }));
    const other = await tryConnection(port, { localAddress: '127.0.0.2' });
    for (const c of [...first, other]) c.socket.destroy();
    assert.deepEqual(first.map((c) => c.outcome), ['answered', 'answered', 'answered', 'answered', 'answered', 'reset']);
    assert.equal(other.outcome, 'answered');
    assert.equal(engine.frontend('rl')!.ctx.stats.rejected.rateLimited, 1);
  });

  it('idle and half-open connections are closed by the idle timeout, on both sides', async () => {
    let ends = 0;
    // reads and counts FINs, never writes, never closes: the proxy alone must end these connections
    const silent = await res.server((s) => {
      s.on('end', () => ends++);
      s.resume();
    });
    const engine = res.engine();
    await engine.apply(model([frontend('idle', { timeouts: { connectMs: 1000, idleMs: 500 } })], [backend('idle', [endpoint(silent.port)])]));
    const port = engine.frontendPort('idle')!;
    const before = baseline();
    const quiet = await res.connect(port); // sends nothing at all
    const halfOpen = await res.connect(port);
    await waitFor('the backend to see both', () => silent.accepted() === 2);
    halfOpen.end('bye'); // FIN after a few bytes; keeps reading, the backend never answers nor closes
    await waitFor('the half-close to reach the backend', () => ends === 1);
    const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
    const started = performance.now();
    await Promise.all([closed(quiet), closed(halfOpen)]);
    const ms = performance.now() - started;
    await waitFor('the proxy to close its endpoint side of the silent one too', () => ends === 2);
    assert.ok(ms < 2000, `closed after ${ms.toFixed(0)} ms (idle timeout 500 ms, 250 ms ticks)`);
    const fe = engine.frontend('idle') as TcpFrontend;
    await waitFor('both sessions to finish', () => fe.sessions.size === 0);
    assert.equal(engine.pool('idle')!.endpoints[0]!.activeConnections, 0);
    for (const s of silent.sockets) s.destroy(); // the test's backend keeps half-open sockets of its own
    await assertBackToBaseline(before, 'the idle timeouts');
    console.log(`      idle: a silent and a half-open connection closed after ${ms.toFixed(0)} ms (idleMs 500)`);
  });

  it('a client that never reads: the endpoint is paused, the proxy holds at most one chunk, and everything arrives once it reads', async () => {
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let written = 0;
    let stalled = false;
    const writer = await res.server((s) => {
      const pump = (): void => {
        while (written < total) {
          written += chunk.length;
          if (!s.write(chunk)) {
            stalled = true;
            s.once('drain', () => {
              stalled = false;
              pump();
            });
            return;
          }
        }
        s.end();
      };
      pump();
    });
    const engine = res.engine();
    await engine.apply(model([frontend('slow')], [backend('slow', [endpoint(writer.port)])]));
    const heapBefore = baseline().heapBytes;
    const client = await res.connect(engine.frontendPort('slow')!);
    client.pause(); // never reads, until told
    const fe = engine.frontend('slow') as TcpFrontend;
    const session = await waitFor('the proxy to pause the endpoint', () => [...fe.sessions].find((s) => s.upstreamPaused && stalled));
    const queued = session.client.writableLength;
    const writtenAtStall = written;
    const heapDelta = (baseline().heapBytes - heapBefore) / 1024;
    assert.ok(queued <= 64 * 1024, `the proxy queues ${queued} bytes for the client (one 64 KiB read at most)`);
    assert.ok(writtenAtStall < total / 2, `the backend got to write only ${writtenAtStall} of ${total} bytes before it stalled (kernel buffers)`);
    assert.ok(heapDelta < 8 * 1024, `heap grew by ${heapDelta.toFixed(0)} KiB while stalled`);
    let got = 0;
    client.on('data', (c: Buffer) => (got += c.length));
    client.resume();
    await new Promise<void>((r) => client.once('end', () => r()));
    assert.equal(got, total, 'every byte arrives once the client reads');
    console.log(`      slow reader: stalled with ${(writtenAtStall / 1048576).toFixed(1)} MiB written by the backend, ${queued} B queued in the proxy, heap +${heapDelta.toFixed(0)} KiB; all ${total / 1048576} MiB delivered after`);
  });

  it('an RST storm (clients resetting at once, some before the endpoint connected) leaves no session, no error on the endpoint, nothing open', async () => {
    const echoServer = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('rst')], [backend('rst', [endpoint(echoServer.port)])]));
    const port = engine.frontendPort('rst')!;
    const before = baseline();
    const storm = await Promise.all(
      Array.from({ length: 300 }, (_, i) => new Promise<void>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.on('error', () => undefined);
        s.once('close', () => resolve());
        s.once('connect', () => {
          if (i % 2 === 0) s.write('some bytes in flight');
          if (i % 3 === 0) setImmediate(() => s.resetAndDestroy()); // after the proxy may have connected
          else s.resetAndDestroy();
        });
      })),
    );
    assert.equal(storm.length, 300);
    const fe = engine.frontend('rst') as TcpFrontend;
    await waitFor('every session to end', () => fe.sessions.size === 0, { describe: () => fe.sessions.size });
    await waitFor('the backend sockets to close', () => echoServer.sockets.size === 0);
    const e = engine.pool('rst')!.endpoints[0]!;
    assert.deepEqual([e.ejected, e.consecutiveFailures, e.activeConnections], [false, 0, 0]);
    const after = await tryConnection(port);
    after.socket.destroy();
    assert.equal(after.outcome, 'answered');
    const back = await assertBackToBaseline(before, 'the RST storm');
    console.log(`      RST storm: 300 resets, ${fe.ctx.stats.connectionsTotal} sessions all ended, fds back to ${back.fds} (baseline ${before.fds}), heap ${back.heapDeltaKiB} KiB`);
  });
});
