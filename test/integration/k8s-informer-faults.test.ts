import assert from 'node:assert/strict';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { mergePatchOptions } from '../../src/k8s/client.js';
import { ManualClock } from '../../src/k8s/clock.js';
import { Informer } from '../../src/k8s/informer.js';
import { configMaps } from '../../src/k8s/resources.js';
import { FAST_BACKOFF, retrying, startEmulator, waitFor, type Emulator } from './k8s-harness.js';
import { itOnEmulator, suiteTitle } from '../helpers/api-target.js';

const NO_INJECTED_ERRORS = 'the real kube-apiserver answers 500 or 429 only when broken or overloaded (priority and fairness): nothing injects them on demand';

type Seen = { type: 'add' | 'update' | 'delete'; name: string; value: string | undefined };

/**
 * Fault tests: the informer must lose no update across dropped watches, 410 Expired after
 * compaction, an API server restart, and injected 500/429 answers. On the real server only the
 * faults it can produce run: a restart, a frozen process, a watch that outlives its deadline.
 */
describe(suiteTitle('k8s Informer under API faults'), function () {
  this.timeout(30_000);
  let emu: Emulator;
  let ns = 0;
  const informers: Informer<V1ConfigMap>[] = [];

  before(async () => {
    emu = await startEmulator();
  });
  afterEach(async () => {
    for (const i of informers.splice(0)) await i.stop();
  });
  after(async () => {
    await emu?.close();
  });

  /** A fresh label per test, so tests do not see each other's objects. */
  function setup(opts: { clock?: ManualClock } = {}) {
    const label = `t${++ns}`;
    const seen: Seen[] = [];
    const inf = new Informer<V1ConfigMap>({
      clients: emu.clients,
      resource: configMaps,
      namespace: 'default',
      labelSelector: `test=${label}`,
      backoff: FAST_BACKOFF,
      clock: opts.clock,
    });
    informers.push(inf);
    inf.on({
      add: (o) => seen.push({ type: 'add', name: o.metadata?.name ?? '', value: o.data?.v }),
      update: (o) => seen.push({ type: 'update', name: o.metadata?.name ?? '', value: o.data?.v }),
      delete: (o) => seen.push({ type: 'delete', name: o.metadata?.name ?? '', value: o.data?.v }),
    });
    const core = emu.clients.core;
    const create = (name: string, v: string) =>
      retrying(() => core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `${label}-${name}`, labels: { test: label } }, data: { v } } }));
    const set = (name: string, v: string) =>
      retrying(() => core.patchNamespacedConfigMap({ namespace: 'default', name: `${label}-${name}`, body: { data: { v } } }, mergePatchOptions));
    const remove = (name: string) => retrying(() => core.deleteNamespacedConfigMap({ namespace: 'default', name: `${label}-${name}` }));
    const values = (name: string, type: Seen['type'] = 'update') =>
      seen.filter((s) => s.name === `${label}-${name}` && s.type === type).map((s) => s.value);
    const cached = (name: string) => inf.get(`default/${label}-${name}`)?.data?.v;
    return { inf, seen, label, create, set, remove, values, cached };
  }

  itOnEmulator('watches dropped mid-stream ten times: every one of 100 updates is seen, in order, without a relist', 'the real kube-apiserver ends a watch only at its timeout or when it stops (the restart test below)', async () => {
    const t = setup();
    await t.create('d', '0');
    t.inf.start();
    await t.inf.synced;
    const want: string[] = [];
    for (let i = 1; i <= 100; i++) {
      await t.set('d', String(i));
      want.push(String(i));
      if (i % 10 === 0) emu.server.faults.dropWatches();
    }
    await waitFor('the last update', () => t.cached('d') === '100');
    // the tenth drop comes after the last update, which may have arrived before it: wait for the watch that follows it
    await waitFor('the watch after the tenth drop', () => t.inf.stats().watches >= 11).catch(() => undefined);
    assert.deepEqual(t.values('d'), want, 'updates seen');
    const s = t.inf.stats();
    assert.equal(s.lists, 1, 'resumed from the last resourceVersion, never relisted');
    assert.ok(s.watches >= 11, `at least 11 watches after 10 drops, got ${s.watches}`);
  });

  itOnEmulator('410 Expired after compaction: relists, reports the real changes and no spurious delete', "the real server's watch history cannot be compacted on demand while a watch is away (a restart expires it: the restart test below)", async () => {
    const clock = new ManualClock();
    const t = setup({ clock });
    await t.create('a', '1');
    await t.create('b', '1');
    await t.create('c', '1');
    t.inf.start();
    await t.inf.synced;
    // Drop the idle watch: it ends with no events, so the informer backs off on the manual
    // clock and stays away while the history it would need is changed and compacted.
    // The watch request may still be on its way after `synced`: drop until it was dropped.
    await waitFor('the informer to back off', () => {
      emu.server.faults.dropWatches();
      return t.inf.state() === 'backoff';
    });
    await t.set('a', '2');
    await t.remove('b');
    await t.create('d', '1');
    emu.server.compact();
    const before = t.seen.length;
    clock.advance(60_000);
    await waitFor('the relist', () => t.inf.stats().lists === 2 && t.cached('d') === '1');
    const after = t.seen.slice(before).map((s) => `${s.type} ${s.name.slice(t.label.length + 1)} ${s.value}`);
    assert.deepEqual(after.sort(), ['add d 1', 'delete b 1', 'update a 2']);
    assert.equal(t.inf.stats().expired, 1, 'one 410');
    assert.deepEqual(t.inf.keys().sort(), ['a', 'c', 'd'].map((n) => `default/${t.label}-${n}`));
  });

  it('API server restart: the informer backs off, reconnects (relisting if its resourceVersion expired), then loses no update', async () => {
    const t = setup();
    await t.create('r', '0');
    t.inf.start();
    await t.inf.synced;
    await t.set('r', '1');
    // A write the informer does not see: the server's resourceVersion moves past the informer's,
    // so the restarted server (whose watch history starts now) answers its watch with 410.
    await retrying(() => emu.clients.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `${t.label}-unseen` }, data: { v: '0' } } }));
    await waitFor('r=1 through the watch', () => t.cached('r') === '1');
    await emu.server.stop();
    await waitFor('failed reconnects', () => t.inf.stats().failures >= 2);
    await emu.server.start();
    // Seen once the informer is live again: from then on every update arrives through the watch.
    await t.create('ping', 'after');
    await waitFor('the informer to see an object made after the restart', () => t.cached('ping') === 'after');
    const want: string[] = ['1'];
    for (let i = 2; i <= 20; i++) {
      await t.set('r', String(i));
      want.push(String(i));
    }
    await t.create('s', 'new');
    await waitFor('the updates after the restart', () => t.cached('r') === '20' && t.cached('s') === 'new');
    assert.deepEqual(t.values('r'), want);
    assert.deepEqual(t.seen.filter((s) => s.type === 'delete'), [], 'no spurious delete');
    const s = t.inf.stats();
    assert.deepEqual([s.expired, s.lists], [1, 2], 'the restarted server expired the old resourceVersion: one relist');
  });

  it('a watch silent past its timeout (half-open connection) is abandoned; a relist and a new watch lose no update', async () => {
    const clock = new ManualClock();
    const t = setup({ clock });
    t.inf.start();
    await t.inf.synced;
    await t.create('h', '1');
    await waitFor('the watch to be live', () => t.cached('h') === '1');
    const watches = t.inf.stats().watches;
    // The server never ended the watch; on the informer's clock its deadline (timeout + 30 s) passes.
    clock.advance(700_000);
    await waitFor('a new watch', () => t.inf.stats().watches === watches + 1);
    await t.set('h', '2');
    await waitFor('the update on the new watch', () => t.cached('h') === '2');
    assert.deepEqual(t.values('h'), ['2'], 'the relist itself reported nothing: h had not changed');
    assert.equal(t.inf.stats().lists, 2);
  });

  it('stop() during a list held by a paused server returns before the server answers', async () => {
    // The real kube-apiserver is frozen with SIGSTOP: the kernel accepts the connection, nobody answers.
    const t = setup();
    emu.server.faults.pause(1_500);
    // A request sent after the pause began: it is answered only when the pause ends.
    const pauseOver = emu.clients.core.listNamespacedConfigMap({ namespace: 'default' }).then(() => 'pause over' as const);
    t.inf.start();
    await waitFor('the informer to be listing', () => t.inf.state() === 'listing');
    const first = await Promise.race([t.inf.stop().then(() => 'stopped' as const), pauseOver]);
    assert.equal(first, 'stopped');
    assert.equal(t.inf.state(), 'stopped');
    assert.equal(t.inf.hasSynced(), false);
    await pauseOver;
  });

  for (const code of [500, 429] as const) {
    itOnEmulator(`${code} on the first lists: the informer retries with backoff and syncs`, NO_INJECTED_ERRORS, async () => {
      const t = setup();
      await t.create('l', '1');
      emu.server.faults.failNext(3, code);
      t.inf.start();
      await t.inf.synced;
      assert.equal(t.cached('l'), '1');
      const s = t.inf.stats();
      assert.deepEqual([s.failures, s.lists], [3, 1], 'three failed lists, then one good one');
    });

    itOnEmulator(`${code} on re-watches after a drop: the informer recovers and loses no update`, NO_INJECTED_ERRORS, async () => {
      const t = setup();
      t.inf.start();
      await t.inf.synced;
      await t.create('w', '0');
      await waitFor('the watch to be live', () => t.cached('w') === '0');
      emu.server.faults.failNext(4, code);
      emu.server.faults.dropWatches();
      await waitFor('the failed re-watches', () => t.inf.stats().failures >= 4);
      for (let i = 1; i <= 10; i++) await t.set('w', String(i));
      await waitFor('the updates after recovery', () => t.cached('w') === '10');
      assert.deepEqual(t.values('w'), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    });
  }
});
