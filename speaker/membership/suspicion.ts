import type { Suspicion } from './members.js';
import type { MembershipOptions } from './options.js';

/**
 * Lifeguard's suspicion timeout (Dadgar et al., 2018, §IV-B): it starts at max and shrinks
 * towards min as independent accusers confirm the suspicion, so a real failure is declared
 * quickly once several members agree while a lone (perhaps slow) accuser waits long enough for
 * the accused to refute.
 */
export function suspicionTimeoutMs(confirmations: number, expected: number, minMs: number, maxMs: number): number {
  if (expected < 1) return minMs;
  const frac = Math.log(Math.min(confirmations, expected) + 1) / Math.log(expected + 1);
  return Math.max(minMs, Math.floor(maxMs - (maxMs - minMs) * frac));
}

/** Lifeguard's K for a cluster of n members: no more confirmations than there are other accusers. */
export function expectedConfirmations(configured: number, memberCount: number): number {
  return Math.max(0, Math.min(configured, memberCount - 2));
}

/** A new suspicion, learned at `now` from accuser `by`: no timer until our own probe fails. */
export function newSuspicion(by: string, now: number): Suspicion {
  return { startedAt: now, confirmers: new Set([by]), deadline: Infinity, firstHandAt: Infinity, nextPingAt: Infinity };
}

/**
 * Sets the timer of suspicion `s` after accuser `by` joined it, `k` being Lifeguard's K. Only a
 * member whose own probe failed runs the timer (first-hand evidence); the others hold the
 * suspicion as news and wait for a dead verdict or a refutation. The timer runs from the start
 * of the suspicion, but never ends sooner than suspicionMinMs after our own evidence (an old
 * second-hand suspicion is no shortcut), and the suspect is pinged again every half round.
 */
export function armSuspicion(s: Suspicion, by: string, self: string, now: number, k: number, o: Pick<MembershipOptions, 'suspicionMinMs' | 'suspicionMaxMs' | 'probeIntervalMs'>): void {
  if (by === self) s.firstHandAt = Math.min(s.firstHandAt, now);
  if (s.firstHandAt === Infinity) return;
  const lifeguardMs = suspicionTimeoutMs(s.confirmers.size - 1, k, o.suspicionMinMs, o.suspicionMaxMs);
  s.deadline = Math.max(s.startedAt + lifeguardMs, s.firstHandAt + o.suspicionMinMs);
  if (s.nextPingAt === Infinity) s.nextPingAt = now + o.probeIntervalMs / 2;
}
