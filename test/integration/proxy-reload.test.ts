import assert from 'node:assert/strict';
import net from 'node:net';
import { waitFor } from '../helpers/wait.js';
import { backend, collect, endpoint, frontend, model, Resources, whoAnswers } from './proxy-harness.js';

async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('proxy apply: config changes as a diff, drains with a deadline', () => {
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('the same model twice is a no-op', async () => {
    const echo = await res.server();
    const engine = res.engine();
    const m = model([frontend('a')], [backend('a', [endpoint(echo.port)])]);
    assert.equal((await engine.apply(m)).kind, 'applied');
    assert.deepEqual(await engine.apply(JSON.parse(JSON.stringify(m))), { kind: 'unchanged' });
  });

  it('an in-place update keeps the listening socket and open connections', async () => {
    const [a, b] = [await res.namedServer('a'), await res.namedServer('b')];
    const engine = res.engine();
    const listen = { address: '127.0.0.1', port: 0 };
    await engine.apply(model([frontend('f', { listen })], [backend('f', [endpoint(a.port)])]));
    const port = engine.frontendPort('f')!;
    const open = await res.connect(port);
    let got = '';
    open.on('data', (d: Buffer) => (got += d.toString()));
    const r = await engine.apply(model([frontend('f', { listen, timeouts: { connectMs: 1000, idleMs: 60_000 } })], [backend('f', [endpoint(b.port)], { balance: 'leastconn' })]));
    assert.deepEqual(r.kind === 'applied' && [r.plan.update.length, r.plan.add.length, r.plan.drain.length], [1, 0, 0]);
    assert.equal(engine.frontendPort('f'), port, 'same socket, same port');
    assert.equal(engine.frontend('f')!.ctx.generation, 2);
    assert.equal(await whoAnswers(port), 'b');
    open.write('ping');
    await waitFor('the old connection to keep working', () => got === 'a\nping');
  });

  it('a removed frontend stops accepting at once but lets a live connection finish', async () => {
    const echo = await res.server();
    const engine = res.engine({ drainTimeoutMs: 30_000 });
    await engine.apply(model([frontend('gone'), frontend('stays')], [backend('gone', [endpoint(echo.port)]), backend('stays', [endpoint(echo.port)])]));
    const port = engine.frontendPort('gone')!;
    const live = await res.connect(port);
    let got = '';
    live.on('data', (d: Buffer) => (got += d.toString()));
    await engine.apply(model([frontend('stays')], [backend('stays', [endpoint(echo.port)])]));
    assert.equal(await refused(port), true, 'no new connections on the removed frontend');
    assert.equal(engine.drainingCount, 1);
    live.write('still served');
    await waitFor('the draining connection to keep working', () => got === 'still served');
    const closed = collect(live);
    live.end();
    await closed;
    await waitFor('the drain to finish once its last connection closed', () => engine.drainingCount === 0);
  });

  it('the drain deadline closes connections that do not finish', async () => {
    const echo = await res.server();
    const engine = res.engine({ drainTimeoutMs: 300 });
    await engine.apply(model([frontend('d')], [backend('d', [endpoint(echo.port)])]));
    const live = await res.connect(engine.frontendPort('d')!);
    const closed = collect(live);
    await engine.apply(model([], []));
    await closed;
    await waitFor('the drain to finish', () => engine.drainingCount === 0);
  });

  it('moving a frontend to another port drains the old listener and binds the new one', async () => {
    const echo = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('m')], [backend('m', [endpoint(echo.port)])]));
    const oldPort = engine.frontendPort('m')!;
    const free = await res.deadPort();
    const r = await engine.apply(model([frontend('m', { listen: { address: '127.0.0.1', port: free } })], [backend('m', [endpoint(echo.port)])]));
    assert.deepEqual(r.kind === 'applied' && [r.plan.drain, r.plan.add.map((f) => f.name)], [['m'], ['m']]);
    assert.equal(engine.frontendPort('m'), free);
    assert.equal(await refused(oldPort), true);
  });

  it('a bind that fails is reported with its frontend and address, and the others still apply', async () => {
    const taken = await res.server();
    const engine = res.engine();
    const r = await engine.apply(model([frontend('clash', { listen: { address: '127.0.0.1', port: taken.port } }), frontend('ok')], [backend('clash', []), backend('ok', [])]));
    assert.equal(r.kind, 'applied');
    if (r.kind !== 'applied') return;
    assert.equal(r.failed.length, 1);
    assert.equal(r.failed[0]!.error.code, 'FUL_ERR_PROXY_BIND');
    assert.match(r.failed[0]!.error.message, new RegExp(`frontend "clash": binding tcp 127.0.0.1:${taken.port}: .*EADDRINUSE`));
    assert.ok(engine.frontendPort('ok')! > 0);
  });

  it('stop drains every frontend and resolves once connections are closed', async () => {
    const echo = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('s')], [backend('s', [endpoint(echo.port)])]));
    const port = engine.frontendPort('s')!;
    const live = await res.connect(port);
    const closed = collect(live);
    await engine.stop({ drainTimeoutMs: 200 });
    await closed;
    assert.equal(await refused(port), true);
  });
});
