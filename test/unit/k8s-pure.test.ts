import assert from 'node:assert/strict';
import type { KubernetesObject, V1LoadBalancerStatus } from '@kubernetes/client-node';
import { backoffDelayMs, type BackoffPolicy } from '../../src/k8s/backoff.js';
import { planRelist } from '../../src/k8s/cache-diff.js';
import { ManualClock } from '../../src/k8s/clock.js';
import { sameLoadBalancerStatus } from '../../src/k8s/status-writer.js';
import { classifyApiError } from '../../src/k8s/api-error.js';
import { ApiException } from '@kubernetes/client-node';

describe('backoffDelayMs', () => {
  const policy: BackoffPolicy = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
  const rows: { name: string; attempt: number; random: number; want: number; policy?: Partial<BackoffPolicy> }[] = [
    { name: 'the first retry waits initialMs', attempt: 1, random: 0, want: 100 },
    { name: 'each attempt doubles the delay', attempt: 3, random: 0, want: 400 },
    { name: 'the delay never exceeds maxMs before jitter', attempt: 10, random: 0, want: 1000 },
    { name: 'jitter adds up to jitter × delay', attempt: 2, random: 0.999999, want: 300 },
    { name: 'a huge attempt number does not overflow', attempt: 100_000, random: 0, want: 1000 },
    { name: 'attempt 0 is treated as the first retry', attempt: 0, random: 0, want: 100 },
    { name: 'no jitter means no randomness', attempt: 2, random: 0.7, want: 200, policy: { jitter: 0 } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const p = { ...policy, ...row.policy };
      const before = JSON.stringify(p);
      assert.equal(backoffDelayMs(row.attempt, p, row.random), row.want, `backoffDelayMs(${row.attempt}, …, ${row.random})`);
      assert.equal(JSON.stringify(p), before, 'policy not mutated');
    });
  }
});

const obj = (name: string, rv: string, ns = 'default'): KubernetesObject => ({ metadata: { name, namespace: ns, resourceVersion: rv } });

describe('planRelist', () => {
  const rows: {
    name: string;
    cache: KubernetesObject[];
    items: KubernetesObject[];
    added?: string[];
    updated?: string[];
    deleted?: string[];
  }[] = [
    { name: 'an empty cache reports every item as added', cache: [], items: [obj('a', '1'), obj('b', '2')], added: ['a', 'b'] },
    { name: 'an object with the same resourceVersion is neither updated nor deleted', cache: [obj('a', '1')], items: [obj('a', '1')] },
    { name: 'a new resourceVersion is an update', cache: [obj('a', '1')], items: [obj('a', '5')], updated: ['a'] },
    { name: 'an object missing from the list is deleted', cache: [obj('a', '1'), obj('b', '2')], items: [obj('b', '2')], deleted: ['a'] },
    {
      name: 'the same name in another namespace is another object',
      cache: [obj('a', '1', 'x')],
      items: [obj('a', '1', 'y')],
      added: ['a'],
      deleted: ['a'],
    },
    { name: 'an empty list deletes everything', cache: [obj('a', '1')], items: [], deleted: ['a'] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const cache = new Map(row.cache.map((o) => [`${o.metadata?.namespace}/${o.metadata?.name}`, o]));
      const before = JSON.stringify([...cache]);
      const plan = planRelist(cache, row.items);
      const names = (l: KubernetesObject[]) => l.map((o) => o.metadata?.name);
      assert.deepEqual(names(plan.added), row.added ?? [], 'added');
      assert.deepEqual(names(plan.updated.map((u) => u.obj)), row.updated ?? [], 'updated');
      assert.deepEqual(names(plan.deleted), row.deleted ?? [], 'deleted');
      assert.equal(plan.next.size, row.items.length);
      assert.equal(JSON.stringify([...cache]), before, 'cache not mutated');
    });
  }
  it('keeps the cached instance when the version is unchanged', () => {
    const cached = obj('a', '1');
    const plan = planRelist(new Map([['default/a', cached]]), [obj('a', '1')]);
    assert.equal(plan.next.get('default/a'), cached);
  });
});

describe('sameLoadBalancerStatus', () => {
  const rows: { name: string; a?: V1LoadBalancerStatus; b?: V1LoadBalancerStatus; same: boolean }[] = [
    { name: 'absent and empty ingress are the same', a: undefined, b: { ingress: [] }, same: true },
    { name: 'an ip without ipMode equals the same ip with VIP', a: { ingress: [{ ip: '192.0.2.1' }] }, b: { ingress: [{ ip: '192.0.2.1', ipMode: 'VIP' }] }, same: true },
    { name: 'Proxy differs from VIP', a: { ingress: [{ ip: '192.0.2.1', ipMode: 'Proxy' }] }, b: { ingress: [{ ip: '192.0.2.1' }] }, same: false },
    { name: 'order of entries matters', a: { ingress: [{ ip: '192.0.2.1' }, { ip: '2001:db8::1' }] }, b: { ingress: [{ ip: '2001:db8::1' }, { ip: '192.0.2.1' }] }, same: false },
    { name: 'a port protocol defaults to TCP', a: { ingress: [{ ip: '192.0.2.1', ports: [{ port: 80, protocol: 'TCP' }] }] }, b: { ingress: [{ ip: '192.0.2.1', ports: [{ port: 80 } as never] }] }, same: true },
    { name: 'different IPs differ', a: { ingress: [{ ip: '192.0.2.1' }] }, b: { ingress: [{ ip: '192.0.2.2' }] }, same: false },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.equal(sameLoadBalancerStatus(row.a, row.b), row.same);
      assert.equal(sameLoadBalancerStatus(row.b, row.a), row.same, 'symmetric');
    });
  }
});

describe('classifyApiError', () => {
  const rows: { name: string; err: unknown; want: ReturnType<typeof classifyApiError> }[] = [
    {
      name: 'a client-node ApiException with a Status body gives code and reason',
      err: new ApiException(409, 'x', JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'modified', code: 409 }), {}),
      want: { kind: 'http', code: 409, reason: 'Conflict', message: 'modified' },
    },
    {
      name: 'a watch ERROR event object (Status) is an HTTP failure',
      err: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' },
      want: { kind: 'http', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' },
    },
    {
      name: "client-node Watch's non-200 error carries statusCode",
      err: Object.assign(new Error('Internal Server Error'), { statusCode: 500 }),
      want: { kind: 'http', code: 500, reason: '', message: 'Internal Server Error' },
    },
    {
      name: 'a refused connection is a network failure',
      err: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      want: { kind: 'network', message: 'connect ECONNREFUSED 127.0.0.1:1' },
    },
  ];
  for (const row of rows) it(row.name, () => assert.deepEqual(classifyApiError(row.err), row.want));
});

describe('ManualClock', () => {
  it('fires timers in deadline order, including timers set while firing', () => {
    const c = new ManualClock(0);
    const fired: string[] = [];
    c.setTimer(() => fired.push('b@20'), 20);
    c.setTimer(() => {
      fired.push('a@10');
      c.setTimer(() => fired.push('c@15'), 5);
    }, 10);
    const dropped = c.setTimer(() => fired.push('dropped'), 12);
    c.clearTimer(dropped);
    c.advance(19);
    assert.deepEqual(fired, ['a@10', 'c@15']);
    assert.equal(c.now(), 19);
    c.advance(1);
    assert.deepEqual(fired, ['a@10', 'c@15', 'b@20']);
  });
});
