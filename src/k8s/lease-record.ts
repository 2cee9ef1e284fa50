import { V1MicroTime, type V1LeaseSpec } from '@kubernetes/client-node';

/**
 * The pure part of Lease-based leader election (client-go's tryAcquireOrRenew): given the
 * Lease as read and when this process last saw it change, decide whether to wait, renew, or
 * take over. No I/O, no clock: `nowMs` and `observedAtMs` come from the caller.
 */
export type LeasePlan =
  | { kind: 'create'; spec: V1LeaseSpec }
  | { kind: 'renew'; spec: V1LeaseSpec }
  | { kind: 'takeover'; reason: 'released' | 'expired'; spec: V1LeaseSpec }
  | { kind: 'wait'; holder: string; expiresAtMs: number };

export interface LeasePlanInput {
  /** The Lease's spec as just read; undefined when the Lease does not exist. */
  current: V1LeaseSpec | undefined;
  identity: string;
  leaseDurationSeconds: number;
  /**
   * Local time at which `current` was first seen in its present form. Expiry is judged on this
   * process's own clock, never on the holder's renewTime, so clock skew between nodes does not
   * matter (client-go's observedTime).
   */
  observedAtMs: number;
  nowMs: number;
}

export function planLease(input: LeasePlanInput): LeasePlan {
  const { current, identity, nowMs } = input;
  const now = microTime(nowMs);
  if (!current) {
    return {
      kind: 'create',
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: input.leaseDurationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    };
  }
  const holder = current.holderIdentity ?? '';
  if (holder === identity) {
    return {
      kind: 'renew',
      spec: { ...current, leaseDurationSeconds: input.leaseDurationSeconds, renewTime: now },
    };
  }
  const expiresAtMs = input.observedAtMs + (current.leaseDurationSeconds ?? 0) * 1000;
  if (holder !== '' && expiresAtMs > nowMs) return { kind: 'wait', holder, expiresAtMs };
  return {
    kind: 'takeover',
    reason: holder === '' ? 'released' : 'expired',
    spec: {
      ...current,
      holderIdentity: identity,
      leaseDurationSeconds: input.leaseDurationSeconds,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (current.leaseTransitions ?? 0) + 1,
    },
  };
}

/**
 * The record a leader writes when it stops cleanly (client-go's release): no holder, a 1 s
 * duration, times = now. A standby that reads it takes over at once.
 */
export function releasedLeaseSpec(current: V1LeaseSpec, nowMs: number): V1LeaseSpec {
  const now = microTime(nowMs);
  return { ...current, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
}

/** Same record as far as election goes (times compared as instants, whatever their type). */
export function sameLeaseRecord(a: V1LeaseSpec | undefined, b: V1LeaseSpec | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    (a.holderIdentity ?? '') === (b.holderIdentity ?? '') &&
    (a.leaseDurationSeconds ?? 0) === (b.leaseDurationSeconds ?? 0) &&
    (a.leaseTransitions ?? 0) === (b.leaseTransitions ?? 0) &&
    instant(a.renewTime) === instant(b.renewTime) &&
    instant(a.acquireTime) === instant(b.acquireTime)
  );
}

/**
 * A MicroTime for the API: six fraction digits. A plain Date serialises with three, which
 * the API server rejects with 400 for Lease times.
 */
export function microTime(ms: number): V1MicroTime {
  return new V1MicroTime(ms);
}

/**
 * Milliseconds of a time field. client-node does not deserialise MicroTime (it has no model
 * for it), so read Leases carry strings where the types say V1MicroTime.
 */
export function instant(t: Date | string | undefined | null): number | undefined {
  if (t === undefined || t === null) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}
