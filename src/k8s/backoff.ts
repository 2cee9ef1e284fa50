/**
 * Capped exponential backoff with jitter. Pure: the caller passes the attempt number and a
 * random number in [0, 1).
 */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  readonly initialMs: number;
  /** No delay is ever longer than this (before jitter). */
  readonly maxMs: number;
  /** Growth per attempt; client-go's reflector uses 2. */
  readonly factor: number;
  /** Up to this fraction of the delay is added at random, so clients do not retry in lockstep. */
  readonly jitter: number;
}

/** client-go's reflector backoff is 800 ms → 30 s; we start a little sooner for a lab API. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

/**
 * Delay before retry number `attempt` (1 = first retry). Grows by `factor` per attempt up to
 * `maxMs`, then adds `jitter × delay × random`.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: number): number {
  const n = Math.max(1, Math.floor(attempt));
  // Exponent capped so factor ** exponent cannot overflow to Infinity for large attempt counts.
  const exponent = Math.min(n - 1, 64);
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  return Math.round(base + base * policy.jitter * Math.min(Math.max(random, 0), 1));
}
