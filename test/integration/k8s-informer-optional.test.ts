import assert from 'node:assert/strict';
import type { ApiFailure } from '../../src/k8s/api-error.js';
import { Informer } from '../../src/k8s/informer.js';
import { ipAddressPools, type CustomObject } from '../../src/k8s/resources.js';
import { apiServerName } from '../helpers/api-target.js';
import { startEmulator, waitFor, type Emulator } from './k8s-harness.js';
import { CONFIG_NS, deleteMetalLBObjects, installCrds, kubectl, metallbServed, putMetalLB, type InstalledCrds } from './metallb-crds.js';

// An informer on a kind the server may not serve (a CRD not installed): `optional: true` takes
// the list's 404 as "none" — synced, empty, no failure — and keeps listing with backoff until
// the kind appears. MetalLB's IPAddressPool is the kind: the emulator serves no metallb.io
// resources until it learns CRDs; on the real kube-apiserver the CRDs are installed with kubectl.

const QUICK = { initialMs: 50, maxMs: 200, factor: 2, jitter: 0 };

describe(`k8s Informer: optional kinds (a CRD not installed) against ${apiServerName()}`, function () {
  this.timeout(60_000);
  let emu: Emulator;
  const informers: Informer<CustomObject>[] = [];
  const track = (i: Informer<CustomObject>): Informer<CustomObject> => (informers.push(i), i);

  before(async function () {
    emu = await startEmulator();
    if (await metallbServed(emu.server)) {
      // Another suite left MetalLB's CRDs on the shared server: the "not served" rows cannot run.
      await emu.close();
      this.skip();
    }
  });
  afterEach(async () => {
    for (const i of informers.splice(0)) await i.stop();
  });
  after(async () => {
    await emu?.close();
  });

  it('an optional kind that is not served is synced at once with nothing in it, is not a failure, and is listed again with backoff', async () => {
    const failures: ApiFailure[] = [];
    const inf = track(new Informer({ clients: emu.clients, resource: ipAddressPools, namespace: CONFIG_NS, optional: true, backoff: QUICK, onFailure: (f) => failures.push(f) }));
    inf.start();
    await inf.synced;
    assert.deepEqual(inf.list(), []);
    await waitFor('the absent state', () => inf.state() === 'absent');
    const listsBefore = emu.server.requestCount();
    await new Promise((r) => setTimeout(r, 600));
    const retries = emu.server.requestCount() - listsBefore;
    // 50, 100, 200, 200 ms: about four lists in 600 ms, never a tight loop.
    assert.ok(retries >= 2 && retries <= 8, `${retries} lists in 600 ms`);
    assert.equal(inf.state(), 'absent');
    assert.deepEqual(inf.stats(), { lists: 0, watches: 0, expired: 0, failures: 0 });
    assert.deepEqual(failures, []);
  });

  it('without optional, the same 404 is a failure retried for ever, and the informer never syncs', async () => {
    const failures: ApiFailure[] = [];
    const inf = track(new Informer({ clients: emu.clients, resource: ipAddressPools, namespace: CONFIG_NS, backoff: QUICK, onFailure: (f) => failures.push(f) }));
    inf.start();
    await waitFor('two failed lists', () => failures.length >= 2);
    assert.equal(inf.hasSynced(), false);
    assert.equal(failures[0]!.kind === 'http' && failures[0]!.code, 404);
  });

  it('picks the kind up once its CRD is installed, and empties when it is removed', async function () {
    const inf = track(new Informer({ clients: emu.clients, resource: ipAddressPools, namespace: CONFIG_NS, optional: true, backoff: QUICK }));
    const seen: string[] = [];
    inf.on({ add: (o) => seen.push(`add ${o.metadata?.name}`), delete: (o) => seen.push(`delete ${o.metadata?.name}`) });
    inf.start();
    await inf.synced;
    const installed: InstalledCrds | { reason: string } = await installCrds(emu.server, emu.kubeconfigPath);
    if (!('remove' in installed)) {
      process.stdout.write(`      (skipped: ${installed.reason})\n`);
      this.skip();
    }
    try {
      await putMetalLB(emu.server, 'IPAddressPool', 'late', { addresses: ['192.0.2.0/28'] });
      await waitFor('the pool in the cache', () => inf.get(`${CONFIG_NS}/late`), 20_000);
      assert.equal(inf.get(`${CONFIG_NS}/late`)!.kind, 'IPAddressPool');
      await waitFor('watching', () => inf.state() === 'watching');
      // A watch event is kept as sent, like a list item (no client-node model for custom objects).
      await putMetalLB(emu.server, 'IPAddressPool', 'later', { addresses: ['192.0.2.16/28'] });
      const later = await waitFor('the second pool', () => inf.get(`${CONFIG_NS}/later`));
      assert.deepEqual((later.spec as { addresses: string[] }).addresses, ['192.0.2.16/28']);
    } finally {
      await deleteMetalLBObjects(emu.server);
      await kubectl(emu.kubeconfigPath, 'delete', '--wait=true', 'crd/ipaddresspools.metallb.io', 'crd/l2advertisements.metallb.io').catch(() => undefined);
    }
    await waitFor('the absent state after the CRD is removed', () => inf.state() === 'absent' && inf.list().length === 0, 30_000);
    assert.deepEqual(seen.sort(), ['add late', 'add later', 'delete late', 'delete later']);
  });
});
