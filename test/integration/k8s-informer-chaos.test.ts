import assert from 'node:assert/strict';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { mergePatchOptions } from '../../src/k8s/client.js';
import { Informer } from '../../src/k8s/informer.js';
import { configMaps } from '../../src/k8s/resources.js';
import { FAST_BACKOFF, retrying, startEmulator, waitFor, type Emulator } from './k8s-harness.js';
import { seededRandom as prng } from '../../src/random.js';


/**
 * Writes, deletes and re-creates objects while every fault the emulator offers fires at
 * random. Replaying the handler calls onto an empty map must give exactly the server's final
 * state, and each object's values must only ever move forward.
 */
for (const keepAlive of [false, true]) describe(`k8s Informer under mixed faults (${keepAlive ? 'keep-alive connections' : 'one connection per request'})`, function () {
  this.timeout(60_000);
  let emu: Emulator;
  let inf: Informer<V1ConfigMap> | undefined;

  before(async () => {
    emu = await startEmulator({ eventWindow: 50, keepAlive });
  });
  after(async () => {
    await inf?.stop();
    await emu?.close();
  });

  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: 300 writes under dropped watches, 500s, 429s, compactions and restarts: handler replay equals the server`, async () => {
      const rand = prng(seed);
      const label = `chaos${seed}`;
      const core = emu.clients.core;
      const replay = new Map<string, string>();
      const lastSeen = new Map<string, number>();
      const regressions: string[] = [];
      inf = new Informer<V1ConfigMap>({ clients: emu.clients, resource: configMaps, namespace: 'default', labelSelector: `chaos=${label}`, backoff: FAST_BACKOFF });
      const seen = (o: V1ConfigMap) => {
        const key = o.metadata?.name ?? '';
        const v = Number(o.data?.v);
        if (v <= (lastSeen.get(key) ?? -1)) regressions.push(`${key}: ${lastSeen.get(key)} → ${v}`);
        lastSeen.set(key, v);
        replay.set(key, o.data?.v ?? '');
      };
      inf.on({ add: seen, update: seen, delete: (o) => replay.delete(o.metadata?.name ?? '') });
      inf.start();
      await inf.synced;

      const exists = new Set<string>();
      const faults: Record<string, number> = {};
      let v = 0;
      let compactIn = 0;
      for (let i = 0; i < 300; i++) {
        const name = `${label}-${Math.floor(rand() * 6)}`;
        const value = String(++v); // one global counter: every write of a name is larger than the last
        if (!exists.has(name)) {
          await retrying(() => core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name, labels: { chaos: label } }, data: { v: value } } }));
          exists.add(name);
        } else if (rand() < 0.1) {
          await retrying(() => core.deleteNamespacedConfigMap({ namespace: 'default', name }));
          exists.delete(name);
        } else {
          await retrying(() => core.patchNamespacedConfigMap({ namespace: 'default', name, body: { data: { v: value } } }, mergePatchOptions));
        }
        if (--compactIn === 0) emu.server.compact();
        const r = rand();
        const fault = r < 0.04 ? 'drop' : r < 0.07 ? 'dropFail500' : r < 0.09 ? 'dropFail429' : r < 0.11 ? 'dropFailCompact' : r < 0.12 ? 'restartCompact' : undefined;
        if (!fault) continue;
        faults[fault] = (faults[fault] ?? 0) + 1;
        // The failures make the informer's re-watch fail and back off; writes land meanwhile, and
        // a compaction a few writes later makes its resourceVersion too old (410 → relist).
        if (fault === 'dropFail500' || fault === 'dropFailCompact') emu.server.faults.failNext(2, 500);
        if (fault === 'dropFail429') emu.server.faults.failNext(2, 429);
        if (fault === 'dropFailCompact' || fault === 'restartCompact') compactIn = 3;
        if (fault === 'restartCompact') {
          await emu.server.stop();
          await emu.server.start();
        } else {
          emu.server.faults.dropWatches();
        }
      }
      const truth = await retrying(() => core.listNamespacedConfigMap({ namespace: 'default', labelSelector: `chaos=${label}` }));
      const want = new Map(truth.items.map((o) => [o.metadata?.name ?? '', o.data?.v ?? '']));
      await waitFor('the informer to converge', () => JSON.stringify([...replay].sort()) === JSON.stringify([...want].sort()), 20_000);
      assert.deepEqual(regressions, [], 'values only move forward');
      const cache = new Map(inf.list().map((o) => [o.metadata?.name ?? '', o.data?.v ?? '']));
      assert.deepEqual([...cache].sort(), [...want].sort(), 'cache equals the server');
      const s = inf.stats();
      process.stdout.write(`      seed ${seed}: faults ${JSON.stringify(faults)}; informer ${JSON.stringify(s)}\n`);
      await inf.stop();
      inf = undefined;
    });
  }
});
