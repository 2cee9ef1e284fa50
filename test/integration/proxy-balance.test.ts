import assert from 'node:assert/strict';
import { waitFor } from '../helpers/wait.js';
import { backend, endpoint, frontend, model, Resources, whoAnswers, type TestServer } from './proxy-harness.js';

/** Clients from distinct loopback source addresses (all of 127/8 is local on Linux). */
const clientAddress = (i: number): string => `127.0.${Math.floor(i / 250)}.${(i % 250) + 2}`;

describe('proxy balancing through real connections', () => {
  const res = new Resources();
  afterEach(() => res.closeAll());

  async function named(n: number): Promise<TestServer[]> {
    const out: TestServer[] = [];
    for (let i = 0; i < n; i++) out.push(await res.namedServer(`e${i}`));
    return out;
  }

  it('roundrobin spreads connections by weight (3:1)', async () => {
    const [a, b] = await named(2);
    const engine = res.engine();
    await engine.apply(model([frontend('rr')], [backend('rr', [endpoint(a!.port, { weight: 3 }), endpoint(b!.port, { weight: 1 })])]));
    const got: string[] = [];
    for (let i = 0; i < 8; i++) got.push((await whoAnswers(engine.frontendPort('rr')!))!);
    assert.deepEqual(got.filter((g) => g === 'e0').length, 6, `answers: ${got.join(' ')}`);
  });

  it('leastconn sends a new connection to the endpoint with fewer open ones', async () => {
    const [a, b] = await named(2);
    const engine = res.engine();
    await engine.apply(model([frontend('lc')], [backend('lc', [endpoint(a!.port), endpoint(b!.port)], { balance: 'leastconn' })]));
    const port = engine.frontendPort('lc')!;
    // Hold two connections open on whichever endpoint they land; then the third goes to the other.
    const held = [await res.connect(port), await res.connect(port)];
    await waitFor('both held connections to reach backends', () => a!.sockets.size + b!.sockets.size === 2);
    const busy = a!.sockets.size > b!.sockets.size ? 'e0' : a!.sockets.size < b!.sockets.size ? 'e1' : undefined;
    if (busy !== undefined) {
      assert.equal(await whoAnswers(port), busy === 'e0' ? 'e1' : 'e0');
    } else {
      // One each: close one side's connection and the next new one must go there.
      held[0]!.destroy();
      await waitFor('one endpoint to be idle', () => a!.sockets.size + b!.sockets.size === 1);
      const idle = a!.sockets.size === 0 ? 'e0' : 'e1';
      assert.equal(await whoAnswers(port), idle);
    }
  });

  it('ClientIP affinity keeps a client on its endpoint, and expires after timeoutSeconds', async () => {
    const servers = await named(3);
    const engine = res.engine();
    await engine.apply(model([frontend('aff')], [backend('aff', servers.map((s) => endpoint(s.port)), { affinity: { clientIP: true, timeoutSeconds: 1 } })]));
    const port = engine.frontendPort('aff')!;
    const first = await whoAnswers(port, '127.0.0.5');
    for (let i = 0; i < 5; i++) assert.equal(await whoAnswers(port, '127.0.0.5'), first, 'roundrobin would have moved it');
    const other = await whoAnswers(port, '127.0.0.6');
    assert.notEqual(other, first, 'another client still gets the next endpoint of roundrobin');
    assert.equal(engine.pool('aff')!.affinityEntries, 2);
    // After the timeout the sweep forgets the entry (coarse timer), and roundrobin decides again.
    await waitFor('the affinity entries to expire', () => engine.pool('aff')!.affinityEntries === 0, { timeoutMs: 5000, intervalMs: 100 });
    const answers = new Set<string | undefined>();
    for (let i = 0; i < 3; i++) {
      answers.add(await whoAnswers(port, '127.0.0.5'));
      await waitFor('the entry to expire again', () => engine.pool('aff')!.affinityEntries === 0, { timeoutMs: 5000, intervalMs: 100 });
    }
    assert.ok(answers.size > 1, `after expiry the client moves between endpoints, got ${[...answers].join(',')}`);
  });

  it('source hashing: each client keeps its endpoint, and removing one of 4 moves only its clients', async function () {
    this.timeout(30_000);
    const servers = await named(4);
    const engine = res.engine();
    const eps = servers.map((s) => endpoint(s.port));
    await engine.apply(model([frontend('src')], [backend('src', eps, { balance: 'source' })]));
    const port = engine.frontendPort('src')!;
    const clients = 120;
    const before: (string | undefined)[] = [];
    for (let i = 0; i < clients; i++) before.push(await whoAnswers(port, clientAddress(i)));
    for (let i = 0; i < 10; i++) assert.equal(await whoAnswers(port, clientAddress(i)), before[i], 'the same client is hashed the same way');
    const counts = new Map<string, number>();
    for (const b of before) counts.set(b!, (counts.get(b!) ?? 0) + 1);
    assert.equal(counts.size, 4, 'every endpoint gets clients');
    await engine.apply(model([frontend('src')], [backend('src', eps.slice(1), { balance: 'source' })]));
    let movedOthers = 0;
    let movedTotal = 0;
    for (let i = 0; i < clients; i++) {
      const now = await whoAnswers(port, clientAddress(i));
      assert.notEqual(now, 'e0', 'nobody goes to the removed endpoint');
      if (now !== before[i]) {
        movedTotal++;
        if (before[i] !== 'e0') movedOthers++;
      }
    }
    assert.equal(movedTotal - movedOthers, counts.get('e0'), "every client of the removed endpoint moved");
    assert.ok(movedOthers <= clients * 0.06, `${movedOthers} of ${clients} clients of the remaining endpoints moved (≈ 1/n expected in total: ${movedTotal})`);
  });

  it('random (power of two) and sed/nq all reach every endpoint of an idle pool', async () => {
    for (const balance of ['random', 'sed', 'nq'] as const) {
      const servers = await named(2);
      const engine = res.engine();
      await engine.apply(model([frontend(balance)], [backend(balance, servers.map((s) => endpoint(s.port)), { balance })]));
      const seen = new Set<string | undefined>();
      for (let i = 0; i < 20 && seen.size < 2; i++) seen.add(await whoAnswers(engine.frontendPort(balance)!));
      assert.equal(seen.size, 2, `${balance} reached ${[...seen].join(',')}`);
    }
  });

  it('an open connection keeps its endpoint when the algorithm and endpoints change', async () => {
    const [a, b] = await named(2);
    const engine = res.engine();
    await engine.apply(model([frontend('chg')], [backend('chg', [endpoint(a!.port)])]));
    const c = await res.connect(engine.frontendPort('chg')!);
    const lines: string[] = [];
    c.on('data', (d: Buffer) => lines.push(d.toString()));
    await waitFor('the greeting', () => lines.join('').includes('e0\n'));
    const r = await engine.apply(model([frontend('chg')], [backend('chg', [endpoint(b!.port)], { balance: 'leastconn' })]));
    assert.equal(r.kind === 'applied' && r.plan.update.length, 1, 'an in-place update');
    c.write('still here');
    await waitFor('the echo through the old endpoint', () => lines.join('').includes('still here'));
    assert.equal(await whoAnswers(engine.frontendPort('chg')!), 'e1', 'new connections use the new endpoint list');
    assert.ok(!c.destroyed);
  });
});
