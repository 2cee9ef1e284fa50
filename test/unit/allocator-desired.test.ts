import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { holdingRequest } from '../../src/ipam/request.js';
import { Allocator } from '../../src/ipam/allocator.js';
import { asServiceKey } from '../../src/service/key.js';
import { config, DEFAULT_CONFIG, req } from './ipam-fixtures.js';

// holdingRequest: what a Service whose request is invalid holds after an allocator restart
// (the addresses its status shows, shared with nobody). The adopt against the default pools shows
// it holds them.

function service(spec: V1Service['spec'] = {}): V1Service {
  return { metadata: { namespace: 'ns', name: 'torn', annotations: { 'metallb.io/address-pool': 'a', 'metallb.universe.tf/address-pool': 'b' } }, spec: { type: 'LoadBalancer', ...spec } };
}

describe('holdingRequest: what an invalid Service holds after a restart', () => {
  const rows: Array<{ name: string; svc: V1Service; shown: string[]; families: string[]; policy: string; holds: boolean }> = [
    { name: 'one IPv4 address is held as SingleStack IPv4', svc: service(), shown: ['192.0.2.1'], families: ['IPv4'], policy: 'SingleStack', holds: true },
    { name: 'two families are held in the order the status shows them', svc: service(), shown: ['2001:db8::1', '192.0.2.1'], families: ['IPv6', 'IPv4'], policy: 'RequireDualStack', holds: true },
    { name: 'an address in no pool is not held (nobody else can be given it either)', svc: service(), shown: ['198.51.100.1'], families: ['IPv4'], policy: 'SingleStack', holds: false },
    { name: 'an address of a disabled pool is held', svc: service(), shown: ['192.0.2.200'], families: ['IPv4'], policy: 'SingleStack', holds: true },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = structuredClone(row.svc);
      const shown = [...row.shown];
      const request = holdingRequest(row.svc, shown);
      assert.deepEqual(row.svc, before, 'the Service was not mutated');
      assert.deepEqual(shown, row.shown, 'the addresses were not mutated');
      assert.deepEqual([request.families, request.familyPolicy, request.sharingKey, request.pool, request.requestedAddresses], [row.families, row.policy, undefined, undefined, []]);
      const allocator = new Allocator(config(DEFAULT_CONFIG));
      const r = allocator.adopt(asServiceKey('ns/torn'), shown, request);
      assert.equal(r.kind === 'assigned', row.holds, JSON.stringify(r));
      allocator.checkInvariants();
    });
  }

  it('a held address is given to nobody else, not even a Service of a sharing key', () => {
    const allocator = new Allocator(config(DEFAULT_CONFIG));
    assert.equal(allocator.adopt(asServiceKey('ns/torn'), ['192.0.2.1'], holdingRequest(service(), ['192.0.2.1'])).kind, 'assigned');
    const next = allocator.assign(asServiceKey('ns/next'), req({ sharingKey: 'k', ports: [{ port: 443, protocol: 'TCP' }] }));
    assert.deepEqual(next.kind === 'assigned' ? next.addresses : next, ['192.0.2.2']);
    const asked = allocator.assign(asServiceKey('ns/asked'), req({ requestedAddresses: ['192.0.2.1'] }));
    assert.equal(asked.kind === 'failed' ? asked.reason : asked.kind, 'sharingConflict');
  });
});
