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
