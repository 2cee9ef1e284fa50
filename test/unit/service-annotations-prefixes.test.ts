import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { poolAnnotationPatch } from '../../allocator/desired.js';
import { Allocator } from '../../src/ipam/allocator.js';
import { serviceRequest, type ServiceLike } from '../../src/ipam/request.js';
import { allocatedPoolKeys, readAnnotation, type AnnotationName, type AnnotationValue } from '../../src/service/annotations.js';
import { asServiceKey } from '../../src/service/key.js';
import { config } from './ipam-fixtures.js';

// The three prefixes of MetalLB's four annotations: `fulcrum-lb.io/`, `metallb.io/` (MetalLB
// since v0.14.9) and `metallb.universe.tf/` (before, still read by MetalLB). What is read, when
// two prefixes are a conflict, and under which prefixes the allocator writes the pool back.

const F = 'fulcrum-lb.io/';
const M = 'metallb.io/';
const L = 'metallb.universe.tf/';
const PREFIXES = [F, M, L] as const;
const METALLB_ANNOTATIONS: AnnotationName[] = ['address-pool', 'loadBalancerIPs', 'allow-shared-ip', 'ip-allocated-from-pool'];

function annotated(annotations: Record<string, string>): V1Service {
  return { metadata: { namespace: 'ns', name: 'web', annotations } };
}

describe('readAnnotation: the three prefixes of a MetalLB annotation', () => {
  for (const name of METALLB_ANNOTATIONS) {
    for (const prefix of PREFIXES) {
      it(`${name} is read under ${prefix}`, () => {
        assert.deepEqual(readAnnotation(annotated({ [prefix + name]: 'x' }), name), { kind: 'set', value: 'x', key: prefix + name });
      });
    }
  }

  const rows: Array<{ name: string; annotations: Record<string, string>; want: AnnotationValue }> = [
    { name: 'no prefix set is absent', annotations: {}, want: { kind: 'absent' } },
    { name: 'an empty value is absent', annotations: { [`${M}address-pool`]: ' ' }, want: { kind: 'absent' } },
    { name: 'the same value under both MetalLB prefixes is fine', annotations: { [`${M}address-pool`]: 'web', [`${L}address-pool`]: 'web' }, want: { kind: 'set', value: 'web', key: `${M}address-pool` } },
    {
      name: 'the same value under all three prefixes is fine, and is said to come from ours',
      annotations: { [`${L}address-pool`]: 'web', [`${M}address-pool`]: 'web', [`${F}address-pool`]: 'web' },
      want: { kind: 'set', value: 'web', key: `${F}address-pool` },
    },
    { name: 'values are compared trimmed', annotations: { [`${M}address-pool`]: ' web', [`${L}address-pool`]: 'web ' }, want: { kind: 'set', value: 'web', key: `${M}address-pool` } },
    {
      name: 'the two MetalLB prefixes that disagree are a conflict naming both annotations and values',
      annotations: { [`${M}address-pool`]: 'a', [`${L}address-pool`]: 'b' },
      want: {
        kind: 'conflict',
        keys: [`${M}address-pool`, `${L}address-pool`],
        values: ['a', 'b'],
        message: 'annotations metallb.io/address-pool ("a") and metallb.universe.tf/address-pool ("b") disagree: keep one, or give each the same value',
      },
    },
    {
      name: 'ours and metallb.io/ that disagree are a conflict',
      annotations: { [`${F}allow-shared-ip`]: 'k1', [`${M}allow-shared-ip`]: 'k2' },
      want: {
        kind: 'conflict',
        keys: [`${F}allow-shared-ip`, `${M}allow-shared-ip`],
        values: ['k1', 'k2'],
        message: 'annotations fulcrum-lb.io/allow-shared-ip ("k1") and metallb.io/allow-shared-ip ("k2") disagree: keep one, or give each the same value',
      },
    },
    {
      name: 'three prefixes of which one differs: the conflict names all three',
      annotations: { [`${F}loadBalancerIPs`]: '192.0.2.7', [`${M}loadBalancerIPs`]: '192.0.2.7', [`${L}loadBalancerIPs`]: '192.0.2.8' },
      want: {
        kind: 'conflict',
        keys: [`${F}loadBalancerIPs`, `${M}loadBalancerIPs`, `${L}loadBalancerIPs`],
        values: ['192.0.2.7', '192.0.2.7', '192.0.2.8'],
        message:
          'annotations fulcrum-lb.io/loadBalancerIPs ("192.0.2.7"), metallb.io/loadBalancerIPs ("192.0.2.7") and metallb.universe.tf/loadBalancerIPs ("192.0.2.8") disagree: keep one, or give each the same value',
      },
    },
    {
      name: 'an empty value under one prefix and a value under another are a conflict (MetalLB would read "" from metallb.io/)',
      annotations: { [`${M}address-pool`]: '', [`${L}address-pool`]: 'web' },
      want: {
        kind: 'conflict',
        keys: [`${M}address-pool`, `${L}address-pool`],
        values: ['', 'web'],
        message: 'annotations metallb.io/address-pool ("") and metallb.universe.tf/address-pool ("web") disagree: keep one, or give each the same value',
      },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const svc = annotated(row.annotations);
      const before = structuredClone(svc);
      assert.deepEqual(readAnnotation(svc, nameOf(row.annotations)), row.want, `readAnnotation(${JSON.stringify(row.annotations)})`);
      assert.deepEqual(svc, before, 'the Service was not mutated');
    });
  }

  it("Fulcrum's own annotations are not read under MetalLB's prefixes", () => {
    assert.deepEqual(readAnnotation(annotated({ [`${M}balance`]: 'leastconn', [`${L}health-check`]: 'tcp' }), 'balance'), { kind: 'absent' });
    assert.deepEqual(readAnnotation(annotated({ [`${L}health-check`]: 'tcp' }), 'health-check'), { kind: 'absent' });
  });
});

/** The annotation a row is about (every key of a row names the same one). */
function nameOf(annotations: Record<string, string>): AnnotationName {
  const key = Object.keys(annotations)[0];
  return (key === undefined ? 'address-pool' : key.slice(key.indexOf('/') + 1)) as AnnotationName;
}

describe('allocatedPoolKeys and poolAnnotationPatch: where the allocator writes the pool', () => {
  const keyRows: Array<{ name: string; annotations: Record<string, string>; want: string[] }> = [
    { name: 'a Service using no MetalLB prefix gets ours only', annotations: { [`${F}address-pool`]: 'web', [`${F}balance`]: 'leastconn' }, want: [`${F}ip-allocated-from-pool`] },
    { name: 'a Service using metallb.io/ gets it there too', annotations: { [`${M}address-pool`]: 'web' }, want: [`${F}ip-allocated-from-pool`, `${M}ip-allocated-from-pool`] },
    { name: 'a Service using metallb.universe.tf/ gets it there too', annotations: { [`${L}loadBalancerIPs`]: '192.0.2.7' }, want: [`${F}ip-allocated-from-pool`, `${L}ip-allocated-from-pool`] },
    {
      name: 'a Service using both MetalLB prefixes gets it under each',
      annotations: { [`${L}allow-shared-ip`]: 'k', [`${M}address-pool`]: 'web' },
      want: [`${F}ip-allocated-from-pool`, `${M}ip-allocated-from-pool`, `${L}ip-allocated-from-pool`],
    },
    {
      name: 'a pool MetalLB wrote counts as using its prefix, so that copy stays true',
      annotations: { [`${M}ip-allocated-from-pool`]: 'old' },
      want: [`${F}ip-allocated-from-pool`, `${M}ip-allocated-from-pool`],
    },
    { name: 'an annotation MetalLB does not have does not count', annotations: { [`${M}something-else`]: 'x' }, want: [`${F}ip-allocated-from-pool`] },
  ];
  for (const row of keyRows) {
    it(`allocatedPoolKeys: ${row.name}`, () => {
      assert.deepEqual(allocatedPoolKeys(annotated(row.annotations)), row.want);
    });
  }

  const patchRows: Array<{ name: string; annotations: Record<string, string>; pool: string | null; want: Record<string, string | null> | undefined }> = [
    { name: 'a plain Service gets ours', annotations: {}, pool: 'main', want: { [`${F}ip-allocated-from-pool`]: 'main' } },
    { name: 'nothing to write when ours already says so', annotations: { [`${F}ip-allocated-from-pool`]: 'main' }, pool: 'main', want: undefined },
    {
      name: 'a Service using metallb.io/ gets ours and metallb.io/, not metallb.universe.tf/',
      annotations: { [`${M}address-pool`]: 'main' },
      pool: 'main',
      want: { [`${F}ip-allocated-from-pool`]: 'main', [`${M}ip-allocated-from-pool`]: 'main' },
    },
    {
      name: 'only the copies that differ are written',
      annotations: { [`${M}address-pool`]: 'main', [`${F}ip-allocated-from-pool`]: 'main', [`${M}ip-allocated-from-pool`]: 'old' },
      pool: 'main',
      want: { [`${M}ip-allocated-from-pool`]: 'main' },
    },
    {
      name: 'clearing removes every copy that is there',
      annotations: { [`${L}address-pool`]: 'main', [`${F}ip-allocated-from-pool`]: 'main', [`${L}ip-allocated-from-pool`]: 'main' },
      pool: null,
      want: { [`${F}ip-allocated-from-pool`]: null, [`${L}ip-allocated-from-pool`]: null },
    },
    { name: 'clearing a Service that shows no pool writes nothing', annotations: { [`${M}address-pool`]: 'main' }, pool: null, want: undefined },
  ];
  for (const row of patchRows) {
    it(`poolAnnotationPatch: ${row.name}`, () => {
      const svc = annotated(row.annotations);
      const before = structuredClone(svc);
      assert.deepEqual(poolAnnotationPatch(svc, row.pool), row.want, `poolAnnotationPatch(${JSON.stringify(row.annotations)}, ${JSON.stringify(row.pool)})`);
      assert.deepEqual(svc, before, 'the Service was not mutated');
    });
  }
});

// MetalLB's controller table (controller/controller_test.go, TestControllerMutation): its
// annotation rows, each run under all three prefixes through serviceRequest and the allocator.
// MetalLB's pools overlap (pool1 and pool5 share 1.2.3.0/31); Fulcrum's never do, so only the
// pools these rows use are kept.
const POOLS = `
address-pools:
- {name: pool1, addresses: [1.2.3.0/31]}
- {name: pool2, addresses: [3.4.5.6/32], auto-assign: false}
`;

type Outcome = readonly string[] | { readonly invalid: string } | { readonly fail: string };

describe("serviceRequest and the allocator: MetalLB's annotation rows under each prefix", () => {
  /** `shown`: the status the Service already has (adopted first, as after a restart). */
  const rows: Array<{ name: string; annotations: (p: string) => Record<string, string>; loadBalancerIP?: string; shown?: string[]; want: Outcome }> = [
    { name: 'request specific IP via custom annotation', annotations: (p) => ({ [`${p}loadBalancerIPs`]: '1.2.3.1' }), want: ['1.2.3.1'] },
    { name: 'request IP from both svc.spec.LoadBalancerIP and custom annotation', annotations: (p) => ({ [`${p}loadBalancerIPs`]: '1.2.3.1' }), loadBalancerIP: '1.2.3.0', want: { invalid: 'conflictingRequests' } },
    { name: 'incompatible ip and address pool annotations', annotations: (p) => ({ [`${p}loadBalancerIPs`]: '1.2.3.1', [`${p}address-pool`]: 'pool2' }), want: { fail: 'wrongPool' } },
    { name: 'request invalid IP via custom annotation', annotations: (p) => ({ [`${p}loadBalancerIPs`]: 'please sir may I have an IP address thank you' }), want: { invalid: 'badRequestedAddress' } },
    { name: 'request two IPs from same ip family via custom annotation', annotations: (p) => ({ [`${p}loadBalancerIPs`]: '1.2.3.1,1.2.3.0' }), want: { invalid: 'tooManyRequestedAddresses' } },
    { name: 'request IP from specific pool', annotations: (p) => ({ [`${p}address-pool`]: 'pool1' }), want: ['1.2.3.0'] },
    { name: 'switch to a different specific pool', annotations: (p) => ({ [`${p}address-pool`]: 'pool2' }), shown: ['1.2.3.0'], want: ['3.4.5.6'] },
    { name: 'unknown pool requested', annotations: (p) => ({ [`${p}address-pool`]: 'does-not-exist' }), want: { fail: 'unknownPool' } },
  ];
  for (const row of rows) {
    for (const prefix of PREFIXES) {
      it(`${row.name} (${prefix})`, () => {
        const svc: ServiceLike = {
          metadata: { namespace: 'ns', name: 'web', annotations: row.annotations(prefix) },
          spec: { type: 'LoadBalancer', clusterIPs: ['1.2.3.4'], ports: [{ port: 80 }], ...(row.loadBalancerIP ? { loadBalancerIP: row.loadBalancerIP } : {}) },
        };
        assert.deepEqual(outcome(svc, row.shown), row.want, `${row.name} under ${prefix}`);
      });
    }
  }

  it('the same request under two prefixes is served as one', () => {
    const svc: ServiceLike = { metadata: { annotations: { [`${M}address-pool`]: 'pool2', [`${L}address-pool`]: 'pool2', [`${F}address-pool`]: 'pool2' } }, spec: { type: 'LoadBalancer', clusterIPs: ['1.2.3.4'] } };
    assert.deepEqual(outcome(svc), ['3.4.5.6']);
  });

  for (const name of ['address-pool', 'loadBalancerIPs', 'allow-shared-ip'] as const) {
    it(`${name} under two prefixes that disagree is refused before any address is chosen, naming both`, () => {
      const value = (n: number) => (name === 'loadBalancerIPs' ? `1.2.3.${n}` : `pool${n}`);
      const svc: ServiceLike = { metadata: { annotations: { [`${M}${name}`]: value(1), [`${L}${name}`]: value(0) } }, spec: { type: 'LoadBalancer', clusterIPs: ['1.2.3.4'] } };
      const r = serviceRequest(svc);
      assert.equal(r.kind, 'invalid');
      if (r.kind !== 'invalid') return;
      assert.equal(r.reason, 'conflictingRequests');
      assert.ok(r.message.includes(`metallb.io/${name} ("${value(1)}")`) && r.message.includes(`metallb.universe.tf/${name} ("${value(0)}")`), r.message);
    });
  }
});

function outcome(svc: ServiceLike, shown: readonly string[] = []): Outcome {
  const before = structuredClone(svc);
  const r = serviceRequest(svc);
  assert.deepEqual(svc, before, 'serviceRequest did not mutate the Service');
  if (r.kind === 'ignored') throw new Error(`ignored: ${r.message}`);
  if (r.kind === 'invalid') return { invalid: r.reason };
  const allocator = new Allocator(config(POOLS));
  if (shown.length > 0) allocator.adopt(asServiceKey('ns/web'), shown, r.request);
  const a = allocator.assign(asServiceKey('ns/web'), r.request);
  allocator.checkInvariants();
  return a.kind === 'assigned' ? a.addresses : { fail: a.reason };
}
