import { fnv1a } from '../../src/hash.js';
import { mixInteger } from './prng.js';
import { lowerBound } from './sorted.js';

/**
 * The detector's probes in flight (ours, direct then indirect) and the relays it runs for
 * others' indirect probes, by sequence number. Bookkeeping only: the detector decides.
 */
export interface Probe {
  readonly target: string;
  directDeadline: number;
  finalDeadline: number;
  indirectSent: boolean;
  helpers: number;
  nacks: number;
}

export interface Relay {
  readonly origin: string;
  readonly originSeq: number;
  deadline: number;
}

export type ProbeEvent =
  | { readonly kind: 'directTimeout'; readonly seq: number; readonly probe: Probe }
  | { readonly kind: 'failed'; readonly probe: Probe }
  | { readonly kind: 'relayExpired'; readonly relay: Relay };

export class ProbeBook {
  readonly #probes = new Map<number, Probe>();
  readonly #relays = new Map<number, Relay>();
  #seq = 0;

  /** A fresh sequence number: 32 bits on the wire, 0 means "none". */
  nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0 || 1;
    return this.#seq;
  }

  start(target: string, directDeadline: number, finalDeadline: number): number {
    const seq = this.nextSeq();
    this.#probes.set(seq, { target, directDeadline, finalDeadline, indirectSent: false, helpers: 0, nacks: 0 });
    return seq;
  }

  isProbing(target: string): boolean {
    for (const p of this.#probes.values()) if (p.target === target) return true;
    return false;
  }

  relay(origin: string, originSeq: number, deadline: number): number {
    const seq = this.nextSeq();
    this.#relays.set(seq, { origin, originSeq, deadline });
    return seq;
  }

  /** An ack for `seq`: the target of our probe it answered (directly or relayed), and the relay it completes, if any. */
  ack(seq: number): { answered: string | undefined; relay: Relay | undefined } {
    const answered = this.#probes.get(seq)?.target;
    this.#probes.delete(seq);
    const relay = this.#relays.get(seq);
    if (relay) this.#relays.delete(seq);
    return { answered, relay };
  }

  nack(seq: number): void {
    const p = this.#probes.get(seq);
    if (p) p.nacks++;
  }

  /** What fell due by `now`, in order; failed probes and expired relays are removed. */
  *due(now: number): Generator<ProbeEvent> {
    for (const [seq, p] of this.#probes) {
      if (!p.indirectSent && now >= p.directDeadline) {
        p.indirectSent = true;
        yield { kind: 'directTimeout', seq, probe: p };
      }
      if (now < p.finalDeadline) continue;
      this.#probes.delete(seq);
      yield { kind: 'failed', probe: p };
    }
    for (const [seq, r] of this.#relays) {
      if (now < r.deadline) continue;
      this.#relays.delete(seq);
      yield { kind: 'relayExpired', relay: r };
    }
  }

  /** The earliest deadline, or Infinity. */
  earliest(): number {
    let t = Infinity;
    for (const p of this.#probes.values()) t = Math.min(t, p.indirectSent ? p.finalDeadline : p.directDeadline);
    for (const r of this.#relays.values()) t = Math.min(t, r.deadline);
    return t;
  }

  /** This node was not running for lateMs: our probes get that time back. */
  shift(lateMs: number): void {
    for (const p of this.#probes.values()) {
      p.directDeadline += lateMs;
      p.finalDeadline += lateMs;
    }
  }

  clearProbes(): void {
    this.#probes.clear();
  }
}

/**
 * Targets of a round. The designated target is the member `offset` places after `self` in the
 * sorted list of all members (self included, whatever their state), where offset comes from the
 * round number: every node uses the same offset over the same list (the Lease holders), so the
 * targets form a permutation and each member is probed by exactly one peer per round. A member
 * that is not up probes nobody, so its duty passes to its own prober: when the designated target
 * is not up, we probe the member it would have probed (and so on along the chain). The list
 * holds the dead on purpose: verdicts differ from node to node for a moment, the member list
 * hardly ever, and a rotation over each node's own up list leaves members unprobed whenever two
 * views differ.
 */
export function roundTargets(names: readonly string[], self: string, round: number, isUp: (name: string) => boolean): { probe: string | undefined; designated: string | undefined } {
  if (names.length < 2) return { probe: undefined, designated: undefined };
  const offset = 1 + (mixInteger(round) % (names.length - 1));
  let i = lowerBound(names, self);
  let designated: string | undefined;
  for (let hop = 0; hop < names.length; hop++) {
    i = (i + offset) % names.length;
    const t = names[i]!;
    designated ??= t;
    if (t === self) break;
    if (isUp(t)) return { probe: t, designated };
  }
  return { probe: undefined, designated };
}

/**
 * Where in the round a member is probed: the same place every round, whoever its prober, so a
 * member is probed every probeIntervalMs (± clock skew) and a crash waits at most one interval.
 */
export function phaseOf(name: string, probeIntervalMs: number): number {
  return (fnv1a(name) / 4294967296) * probeIntervalMs;
}
