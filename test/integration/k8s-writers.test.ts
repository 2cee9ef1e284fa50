import assert from 'node:assert/strict';
import type { CoreV1Event, V1Service } from '@kubernetes/client-node';
import { mergePatchOptions } from '../../src/k8s/client.js';
import { EventRecorder } from '../../src/k8s/events.js';
import { patchServiceAnnotations, writeServiceLoadBalancerStatus } from '../../src/k8s/status-writer.js';
import { ManualClock } from '../../src/k8s/clock.js';
import { startEmulator, waitFor, type Emulator } from './k8s-harness.js';
import { apiServerName } from '../helpers/api-target.js';

describe(`k8s writers against ${apiServerName()}`, function () {
  this.timeout(20_000);
  let emu: Emulator;
  let n = 0;

  before(async () => {
    emu = await startEmulator();
  });
  after(async () => {
    await emu?.close();
  });

  async function loadBalancer(): Promise<V1Service> {
    const name = `lb-${++n}`;
    return emu.clients.core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } },
    });
  }

  describe('writeServiceLoadBalancerStatus', () => {
    it('a stale copy gets 409, re-reads and converges while a racing writer keeps changing the Service', async () => {
      const stale = await loadBalancer();
      const ref = { namespace: 'default', name: stale.metadata?.name ?? '' };
      const core = emu.clients.core;
      let racing = true;
      let raced = 1;
      // Make the copy stale for sure, then keep racing while the writer works.
      await core.patchNamespacedService({ ...ref, body: { metadata: { annotations: { race: '1' } } } }, mergePatchOptions);
      const racer = (async () => {
        while (racing && raced < 20) {
          await core.patchNamespacedService({ ...ref, body: { metadata: { annotations: { race: String(++raced) } } } }, mergePatchOptions);
        }
      })();
      const desired = { ingress: [{ ip: '192.0.2.10', ipMode: 'Proxy' }] };
      const result = await writeServiceLoadBalancerStatus(emu.clients, ref, desired, { current: stale, maxAttempts: 50 });
      racing = false;
      await racer;
      assert.equal(result.kind, 'written');
      assert.ok(result.kind === 'written' && result.attempts >= 2, `the stale copy must have conflicted, attempts=${JSON.stringify(result)}`);
      const now = await core.readNamespacedServiceStatus(ref);
      assert.deepEqual(now.status?.loadBalancer?.ingress?.map((i) => [i.ip, i.ipMode]), [['192.0.2.10', 'Proxy']]);
      assert.ok(Number(now.metadata?.annotations?.race) >= 1, 'the racing writes landed too');
    });

    it('a writer that keeps losing gives up after maxAttempts with FUL_ERR_K8S_CONFLICT', async () => {
      const svc = await loadBalancer();
      const ref = { namespace: 'default', name: svc.metadata?.name ?? '' };
      const core = emu.clients.core;
      let racing = true;
      let raced = 0;
      // Each racing write lands between the writer's GET and its PUT: patch after every GET.
      const original = core.readNamespacedServiceStatus.bind(core);
      const clients = {
        ...emu.clients,
        core: Object.assign(Object.create(core), {
          readNamespacedServiceStatus: async (p: { namespace: string; name: string }) => {
            const got = await original(p);
            if (racing) await core.patchNamespacedService({ ...ref, body: { metadata: { annotations: { race: String(++raced) } } } }, mergePatchOptions);
            return got;
          },
        }),
      };
      await assert.rejects(
        writeServiceLoadBalancerStatus(clients, ref, { ingress: [{ ip: '192.0.2.13' }] }, { maxAttempts: 4 }),
        (err: { code?: string }) => err.code === 'FUL_ERR_K8S_CONFLICT',
      );
      racing = false;
      assert.equal(raced, 4, 'one GET per attempt, bounded');
    });

    it('two status writers racing with different statuses: both finish and the Service holds one of them', async () => {
      const svc = await loadBalancer();
      const ref = { namespace: 'default', name: svc.metadata?.name ?? '' };
      const a = { ingress: [{ ip: '192.0.2.11' }] };
      const b = { ingress: [{ ip: '192.0.2.12' }] };
      const results = await Promise.all([
        writeServiceLoadBalancerStatus(emu.clients, ref, a, { current: svc }),
        writeServiceLoadBalancerStatus(emu.clients, ref, b, { current: svc }),
      ]);
      assert.deepEqual(results.map((r) => r.kind).sort(), ['written', 'written']);
      const attempts = results.map((r) => (r.kind === 'written' ? r.attempts : 0)).sort();
      assert.equal(attempts[1], 2, `exactly one of two writers with the same resourceVersion conflicts: ${attempts}`);
      const ip = (await emu.clients.core.readNamespacedService(ref)).status?.loadBalancer?.ingress?.[0]?.ip;
      assert.ok(ip === '192.0.2.11' || ip === '192.0.2.12', `got ${ip}`);
    });

    it('writing the status it already has makes no request and answers unchanged', async () => {
      const svc = await loadBalancer();
      const ref = { namespace: 'default', name: svc.metadata?.name ?? '' };
      const first = await writeServiceLoadBalancerStatus(emu.clients, ref, { ingress: [{ ip: '192.0.2.20' }] });
      assert.equal(first.kind, 'written');
      const current = await emu.clients.core.readNamespacedService(ref);
      const before = emu.server.requestCount();
      const again = await writeServiceLoadBalancerStatus(emu.clients, ref, { ingress: [{ ip: '192.0.2.20', ipMode: 'VIP' }] }, { current });
      assert.equal(again.kind, 'unchanged');
      assert.equal(emu.server.requestCount(), before);
    });

    it('a Service that does not exist answers notFound', async () => {
      const r = await writeServiceLoadBalancerStatus(emu.clients, { namespace: 'default', name: 'nope' }, { ingress: [] });
      assert.deepEqual(r, { kind: 'notFound' });
    });

    it('clearing the status writes an empty loadBalancer', async () => {
      const svc = await loadBalancer();
      const ref = { namespace: 'default', name: svc.metadata?.name ?? '' };
      await writeServiceLoadBalancerStatus(emu.clients, ref, { ingress: [{ ip: '192.0.2.30' }] });
      const r = await writeServiceLoadBalancerStatus(emu.clients, ref, {});
      assert.equal(r.kind, 'written');
      const now = await emu.clients.core.readNamespacedService(ref);
      assert.equal(now.status?.loadBalancer?.ingress?.length ?? 0, 0);
    });
  });

  it('patchServiceAnnotations sets and removes keys with one merge patch each', async () => {
    const svc = await loadBalancer();
    const ref = { namespace: 'default', name: svc.metadata?.name ?? '' };
    const before = emu.server.requestCount();
    await patchServiceAnnotations(emu.clients, ref, { 'fulcrum-lb.io/ip-allocated-from-pool': 'lab-a', keep: 'x' });
    const after = await patchServiceAnnotations(emu.clients, ref, { 'fulcrum-lb.io/ip-allocated-from-pool': null });
    assert.equal(emu.server.requestCount() - before, 2);
    assert.deepEqual(after?.metadata?.annotations, { keep: 'x' });
    assert.equal(await patchServiceAnnotations(emu.clients, { namespace: 'default', name: 'nope' }, { a: 'b' }), undefined);
  });

  describe('EventRecorder', () => {
    async function eventsAbout(name: string): Promise<CoreV1Event[]> {
      const list = await emu.clients.core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${name}` });
      return list.items;
    }

    it('100 identical events in a hot loop become one Event with count 100, in a handful of requests', async () => {
      const svc = await loadBalancer();
      const ref = { kind: 'Service', apiVersion: 'v1', namespace: 'default', name: svc.metadata?.name ?? '', uid: svc.metadata?.uid };
      const rec = new EventRecorder({ clients: emu.clients, component: 'fulcrum-allocator', host: 'test' });
      const before = emu.server.requestCount();
      for (let i = 0; i < 100; i++) rec.record(ref, 'Warning', 'AllocationFailed', 'no available IPs in pool "lab-a"');
      await rec.flush();
      const requests = emu.server.requestCount() - before;
      const events = await eventsAbout(ref.name);
      assert.equal(events.length, 1);
      const e = events[0] as CoreV1Event;
      assert.deepEqual([e.count, e.reason, e.type, e.source?.component, e.involvedObject.uid], [100, 'AllocationFailed', 'Warning', 'fulcrum-allocator', ref.uid]);
      assert.ok(requests <= 2, `requests for 100 events: ${requests}`);
      process.stdout.write(`      100 identical events → ${requests} API request(s)\n`);
      await rec.stop();
    });

    it('repeats after the first write bump count and lastTimestamp of the same Event; another reason is another Event', async () => {
      const svc = await loadBalancer();
      const ref = { kind: 'Service', namespace: 'default', name: svc.metadata?.name ?? '' };
      const rec = new EventRecorder({ clients: emu.clients, component: 'fulcrum-allocator', minUpdateIntervalMs: 60_000 });
      rec.record(ref, 'Normal', 'IPAllocated', 'Assigned IP ["192.0.2.40"]');
      await rec.flush();
      const first = (await eventsAbout(ref.name))[0];
      const before = emu.server.requestCount();
      for (let i = 0; i < 50; i++) rec.record(ref, 'Normal', 'IPAllocated', 'Assigned IP ["192.0.2.40"]');
      rec.record(ref, 'Warning', 'AllocationFailed', 'pool "x" does not exist');
      assert.equal(emu.server.requestCount(), before, 'nothing written inside the update interval before flush');
      await rec.flush();
      const events = await eventsAbout(ref.name);
      const byReason = Object.fromEntries(events.map((e) => [e.reason, e]));
      assert.equal(events.length, 2);
      assert.equal(byReason.IPAllocated?.count, 51);
      assert.equal(byReason.IPAllocated?.metadata?.name, first?.metadata?.name, 'the same Event object was bumped');
      assert.equal(byReason.AllocationFailed?.count, 1);
      await rec.stop();
    });

    it('without flush, a bump is written once minUpdateIntervalMs has passed since the last write (manual clock)', async () => {
      const svc = await loadBalancer();
      const ref = { kind: 'Service', namespace: 'default', name: svc.metadata?.name ?? '' };
      const clock = new ManualClock();
      const rec = new EventRecorder({ clients: emu.clients, component: 'fulcrum-speaker', minUpdateIntervalMs: 10_000, clock });
      const count = async () => (await eventsAbout(ref.name))[0]?.count;
      rec.record(ref, 'Normal', 'nodeAssigned', 'announcing from node "n1"');
      clock.advance(0);
      await waitFor('the Event to be created', async () => (await count()) === 1);
      for (let i = 0; i < 10; i++) rec.record(ref, 'Normal', 'nodeAssigned', 'announcing from node "n1"');
      const before = emu.server.requestCount();
      clock.advance(9_999);
      assert.equal(await count(), 1, 'not bumped before the interval ends');
      assert.equal(emu.server.requestCount(), before + 1, 'the only request was our own read');
      clock.advance(1);
      await waitFor('the bump to be written', async () => (await count()) === 11);
      await rec.stop();
    });

    it('the token bucket throttles a flood of distinct events', async () => {
      const svc = await loadBalancer();
      const ref = { kind: 'Service', namespace: 'default', name: svc.metadata?.name ?? '' };
      const rec = new EventRecorder({ clients: emu.clients, component: 'fulcrum-allocator', burst: 5, refillMs: 60_000 });
      for (let i = 0; i < 30; i++) rec.record(ref, 'Warning', 'Flood', `message ${i}`);
      await new Promise((r) => setTimeout(r, 0));
      const deadline = Date.now() + 5_000;
      let count = 0;
      // The five allowed creates go out at once; wait until they are stored.
      while (Date.now() < deadline && (count = (await eventsAbout(ref.name)).length) < 5) await new Promise((r) => setTimeout(r, 5));
      assert.equal(count, 5, 'only the burst is written');
      await rec.stop();
      assert.equal((await eventsAbout(ref.name)).length, 5, 'stop() does not bypass the token bucket');
    });
  });
});
