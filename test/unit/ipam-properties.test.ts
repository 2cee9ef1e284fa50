import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Allocator } from '../../src/ipam/allocator.js';
import { canShareWith } from '../../src/ipam/sharing.js';
import { asServiceKey, type ServiceKey } from '../../src/service/key.js';
import type { AllocationRequest, Assignment } from '../../src/ipam/types.js';
import { config, req } from './ipam-fixtures.js';

// Small pools, so random operations collide, share, exhaust and skip buggy addresses often.
const CONFIG = config(`address-pools:
- {name: a, addresses: [192.0.2.0-192.0.2.3, "2001:db8::-2001:db8::2"]}
- {name: b, addresses: [192.0.2.10-192.0.2.11], auto-assign: false}
- {name: c, addresses: [192.0.2.255-192.0.3.1], avoid-buggy-ips: true}
`);
const KEYS = ['ns/s0', 'ns/s1', 'ns/s2', 'ns/s3', 'ns/s4', 'ns/s5', 'ns/s6'].map(asServiceKey);
const ADDRESSES = ['192.0.2.1', '192.0.2.3', '192.0.2.10', '192.0.3.0', '192.0.3.1', '2001:db8::1', '198.51.100.1'];

const requestArb: fc.Arbitrary<AllocationRequest> = fc
  .record({
    policy: fc.constantFrom('v4', 'v6', 'prefer', 'require'),
    requested: fc.option(fc.constantFrom(...ADDRESSES), { nil: undefined }),
    pool: fc.constantFrom(undefined, undefined, 'a', 'b', 'c', 'nope'),
    sharingKey: fc.constantFrom(undefined, 'k1', 'k2'),
    ports: fc.subarray([{ port: 80, protocol: 'TCP' as const }, { port: 443, protocol: 'TCP' as const }, { port: 53, protocol: 'UDP' as const }, { port: 53, protocol: 'TCP' as const }], { minLength: 1 }),
    local: fc.boolean(),
    app: fc.constantFrom('x', 'y'),
    // Port 80 plain, or HTTP with a host claim that may overlap another Service's.
    http80: fc.constantFrom(undefined, undefined, ['a.example.com'], ['b.example.com'], ['*.example.com'], [] as string[]),
  })
  .map(({ policy, requested, pool, sharingKey, ports: plain, local, app, http80 }) => {
    const ports = plain.map((p) => (p.port === 80 && http80 !== undefined ? { ...p, http: { hosts: http80, pathPrefix: '/', tls: false, redirect: false } } : p));
    const base = { pool, sharingKey, ports, externalTrafficPolicy: local ? ('Local' as const) : ('Cluster' as const), selector: { app } };
    if (requested !== undefined) return req({ ...base, requestedAddresses: [requested], families: [requested.includes(':') ? 'IPv6' : 'IPv4'] });
    if (policy === 'v4') return req(base);
    if (policy === 'v6') return req({ ...base, families: ['IPv6'] });
    return req({ ...base, families: ['IPv4', 'IPv6'], familyPolicy: policy === 'prefer' ? 'PreferDualStack' : 'RequireDualStack' });
  });

type Op = { kind: 'assign'; key: ServiceKey; request: AllocationRequest } | { kind: 'release'; key: ServiceKey } | { kind: 'adopt'; key: ServiceKey; addresses: string[]; request: AllocationRequest };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('assign' as const), key: fc.constantFrom(...KEYS), request: requestArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('adopt' as const), key: fc.constantFrom(...KEYS), addresses: fc.subarray(ADDRESSES, { minLength: 1, maxLength: 2 }), request: requestArb }) },
);

function apply(allocator: Allocator, op: Op): void {
  if (op.kind === 'assign') allocator.assign(op.key, op.request);
  else if (op.kind === 'release') allocator.release(op.key);
  else allocator.adopt(op.key, op.addresses, op.request);
}

/** The invariant checked from outside: every pair of Services on one address may share it. */
function assertNoForbiddenSharing(assignments: readonly Assignment[]): void {
  const byAddress = new Map<string, Assignment[]>();
  for (const a of assignments) for (const ip of a.addresses) byAddress.set(ip, [...(byAddress.get(ip) ?? []), a]);
  for (const [ip, holders] of byAddress) {
    for (const x of holders) {
      for (const y of holders) {
        if (x === y) continue;
        const verdict = canShareWith({ service: x.service, request: x.request }, { service: y.service, request: y.request }, ip);
        assert.ok(verdict.ok, `${x.service} and ${y.service} both hold ${ip}: ${verdict.ok ? '' : verdict.message}`);
      }
    }
  }
}

function snapshot(allocator: Allocator): Assignment[] {
  return allocator.assignments().sort((a, b) => (a.service < b.service ? -1 : 1));
}

describe('Allocator invariants (property-based)', () => {
  it('never puts two Services on one address unless sharing allows it, whatever the operations', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const allocator = new Allocator(CONFIG);
        for (const op of ops) {
          apply(allocator, op);
          allocator.checkInvariants();
          assertNoForbiddenSharing(allocator.assignments());
        }
      }),
      { numRuns: 300 },
    );
  });

  it('release makes every address it frees assignable again', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), fc.constantFrom(...KEYS), (ops, victim) => {
        const allocator = new Allocator(CONFIG);
        for (const op of ops) apply(allocator, op);
        const held = allocator.assignmentOf(victim);
        allocator.release(victim);
        allocator.checkInvariants();
        for (const ip of held?.addresses ?? []) {
          if (allocator.servicesOn(ip).length > 0) continue; // still held by a sharer
          const newcomer = asServiceKey('ns/newcomer');
          const result = allocator.assign(newcomer, req({ requestedAddresses: [ip], families: [ip.includes(':') ? 'IPv6' : 'IPv4'] }));
          assert.deepEqual(result, { kind: 'assigned', addresses: [ip], pool: held!.pool, changed: true }, `assign(newcomer, ${ip}) after release(${victim})`);
          allocator.release(newcomer);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('adopt after assign is idempotent: same addresses, nothing changed', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const allocator = new Allocator(CONFIG);
        for (const op of ops) apply(allocator, op);
        const before = snapshot(allocator);
        for (const a of before) {
          const result = allocator.adopt(a.service, a.addresses, a.request);
          assert.deepEqual(result, { kind: 'assigned', addresses: a.addresses, pool: a.pool, changed: false }, `adopt(${a.service}, ${a.addresses})`);
        }
        assert.deepEqual(snapshot(allocator), before);
        allocator.checkInvariants();
      }),
      { numRuns: 300 },
    );
  });

  it('a restarted allocator adopts every assignment back, in any order', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), fc.infiniteStream(fc.nat()), (ops, randomness) => {
        const first = new Allocator(CONFIG);
        for (const op of ops) apply(first, op);
        const before = snapshot(first);
        const order = [...before].sort(() => (randomness.next().value % 3) - 1);
        const restarted = new Allocator(CONFIG);
        for (const a of order) {
          const result = restarted.adopt(a.service, a.addresses, a.request);
          assert.equal(result.kind, 'assigned', `adopt(${a.service}, ${a.addresses}) on restart: ${result.kind === 'failed' ? result.message : ''}`);
        }
        assert.deepEqual(snapshot(restarted), before);
        restarted.checkInvariants();
      }),
      { numRuns: 300 },
    );
  });

  it('the same assigns in any order give a valid state, and all succeed when the pools are big enough', () => {
    const big = config(`address-pools:\n- {name: big, addresses: [10.0.0.0/8, "2001:db8::/64"]}\n`);
    const autoRequest = requestArb.map((r) => ({ ...r, pool: undefined, requestedAddresses: [] as string[], families: r.families.length === 0 ? (['IPv4'] as const) : r.families }));
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), autoRequest), { selector: ([k]) => k }), fc.infiniteStream(fc.nat()), (inputs, randomness) => {
        const shuffled = [...inputs].sort(() => (randomness.next().value % 3) - 1);
        for (const list of [inputs, shuffled]) {
          const small = new Allocator(CONFIG);
          const roomy = new Allocator(big);
          for (const [key, request] of list) {
            small.assign(key, request);
            const result = roomy.assign(key, request);
            assert.equal(result.kind, 'assigned', `assign(${key}) in a /8: ${result.kind === 'failed' ? result.message : ''}`);
          }
          small.checkInvariants();
          roomy.checkInvariants();
          assertNoForbiddenSharing(small.assignments());
        }
      }),
      { numRuns: 300 },
    );
  });
});
