import assert from 'node:assert/strict';
import type { V1LeaseSpec } from '@kubernetes/client-node';
import { instant, microTime, planLease, releasedLeaseSpec, sameLeaseRecord, type LeasePlanInput } from '../../src/k8s/lease-record.js';
import { isPeerLeaseFresh, peerFromLease, ALIVE_LEASE_LABEL, ALIVE_LEASE_LABEL_VALUE } from '../../src/k8s/alive-lease.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const held = (holder: string, extra: Partial<V1LeaseSpec> = {}): V1LeaseSpec => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: '2025-12-31T23:59:00.000000Z' as never,
  renewTime: '2025-12-31T23:59:58.000000Z' as never,
  leaseTransitions: 3,
  ...extra,
});

describe('planLease', () => {
  const base: LeasePlanInput = { current: undefined, identity: 'me', leaseDurationSeconds: 15, observedAtMs: T0, nowMs: T0 };
  const rows: { name: string; input: Partial<LeasePlanInput>; kind: string; check?: (spec: V1LeaseSpec) => void }[] = [
    {
      name: 'no Lease yet: create it with us as holder and 0 transitions',
      input: {},
      kind: 'create',
      check: (s) => {
        assert.equal(s.holderIdentity, 'me');
        assert.equal(s.leaseTransitions, 0);
        assert.equal(instant(s.acquireTime), T0);
      },
    },
    {
      name: 'another holder seen 14 s ago on our clock: wait',
      input: { current: held('other'), observedAtMs: T0 - 14_000 },
      kind: 'wait',
    },
    {
      name: "another holder's record unchanged for 15 s: take over, transitions + 1, acquireTime now",
      input: { current: held('other'), observedAtMs: T0 - 15_000 },
      kind: 'takeover',
      check: (s) => {
        assert.equal(s.holderIdentity, 'me');
        assert.equal(s.leaseTransitions, 4);
        assert.equal(instant(s.acquireTime), T0);
        assert.equal(instant(s.renewTime), T0);
      },
    },
    {
      name: "the holder's own renewTime does not matter, only our observation (clock skew)",
      input: { current: held('other', { renewTime: '2020-01-01T00:00:00.000000Z' as never }), observedAtMs: T0 - 1_000 },
      kind: 'wait',
    },
    {
      name: 'a released Lease (empty holder) is taken at once',
      input: { current: held('', { leaseDurationSeconds: 1 }), observedAtMs: T0 },
      kind: 'takeover',
      check: (s) => assert.equal(s.leaseTransitions, 4),
    },
    {
      name: 'our own Lease: renew keeps acquireTime and transitions, moves renewTime',
      input: { current: held('me'), observedAtMs: T0 - 60_000 },
      kind: 'renew',
      check: (s) => {
        assert.equal(s.acquireTime, '2025-12-31T23:59:00.000000Z');
        assert.equal(s.leaseTransitions, 3);
        assert.equal(instant(s.renewTime), T0);
      },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const input = { ...base, ...row.input };
      const before = JSON.stringify(input);
      const plan = planLease(input);
      assert.equal(plan.kind, row.kind, `planLease(${JSON.stringify(row.input)})`);
      if (plan.kind !== 'wait') row.check?.(plan.spec);
      assert.equal(JSON.stringify(input), before, 'input not mutated');
    });
  }

  it('writes MicroTime with exactly six fraction digits', () => {
    const plan = planLease({ ...base, nowMs: T0 + 123 });
    assert.equal(plan.kind, 'create');
    const json = JSON.parse(JSON.stringify(plan.kind === 'create' ? plan.spec : {}));
    assert.equal(json.renewTime, '2026-01-01T00:00:00.123000Z');
    assert.match(JSON.stringify(microTime(T0)), /\.\d{6}Z"$/);
  });

  it('a release empties the holder, sets a 1 s duration and keeps the transitions', () => {
    const spec = held('me');
    const r = releasedLeaseSpec(spec, T0);
    assert.deepEqual([r.holderIdentity, r.leaseDurationSeconds, r.leaseTransitions, instant(r.renewTime)], ['', 1, 3, T0]);
    assert.equal(spec.holderIdentity, 'me', 'input not mutated');
  });
});

describe('sameLeaseRecord', () => {
  it('compares times as instants whatever their type', () => {
    assert.equal(sameLeaseRecord(held('a', { renewTime: microTime(T0) }), held('a', { renewTime: '2026-01-01T00:00:00.000000Z' as never })), true);
  });
  it('a renewal is a change', () => {
    assert.equal(sameLeaseRecord(held('a'), held('a', { renewTime: microTime(T0) })), false);
  });
});

describe('alive lease peers', () => {
  const lease = (labels: Record<string, string> | undefined, spec: V1LeaseSpec) => ({ metadata: { name: 'x', labels }, spec });
  const label = { [ALIVE_LEASE_LABEL]: ALIVE_LEASE_LABEL_VALUE };
  const rows: { name: string; l: ReturnType<typeof lease>; nowMs: number; fresh?: boolean; peer?: boolean }[] = [
    { name: 'a labelled lease renewed 2 s ago with 15 s duration is fresh', l: lease(label, { holderIdentity: 'n1', leaseDurationSeconds: 15, renewTime: microTime(T0 - 2000) }), nowMs: T0, fresh: true },
    { name: 'a lease renewed 15 s ago with 15 s duration is stale', l: lease(label, { holderIdentity: 'n1', leaseDurationSeconds: 15, renewTime: microTime(T0 - 15_000) }), nowMs: T0, fresh: false },
    { name: 'a lease without the label is no peer', l: lease(undefined, { holderIdentity: 'n1', leaseDurationSeconds: 15 }), nowMs: T0, peer: false },
    { name: 'a lease without holder is no peer', l: lease(label, { leaseDurationSeconds: 15 }), nowMs: T0, peer: false },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const p = peerFromLease(row.l);
      if (row.peer === false) return assert.equal(p, undefined);
      assert.ok(p);
      assert.equal(isPeerLeaseFresh(p, row.nowMs), row.fresh);
    });
  }
});
