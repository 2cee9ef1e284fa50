import type { ApiFailure } from './api-error.js';

/**
 * Capped exponential backoff with jitter, and the informers' retry policy on top of it. Pure:
 * the caller passes the attempt count (or the failures so far) and a random number in [0, 1).
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
  /**
   * `retryDelayMs` only: no delay after a failure that got no answer from the server
   * (`unreachable`) is longer than this, jitter included. Unset: no such cap (every failure
   * follows the exponential backoff).
   */
  readonly unreachableMaxMs?: number;
}

/**
 * client-go's reflector backoff is 800 ms → 30 s; we start a little sooner for a lab API. While
 * the server does not answer at all, retries come at least every second (`retryDelayMs`), so
 * the return of an API server is noticed within 1 s.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5, unreachableMaxMs: 1_000 };

/**
 * Delay before retry number `attempt` (1 = first retry). Grows by `factor` per attempt up to
 * `maxMs`, then adds `jitter × delay × random`.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: number): number {
  const base = exponentialMs(attempt, policy);
  return Math.round(base + base * policy.jitter * clamp01(random));
}

/**
 * How a failed list or watch bears on the next delay:
 * - `unreachable`: no answer came back (connection refused, reset, timed out, a name that does
 *   not resolve): the server is away, restarting or cut off, not overloaded. Retrying costs it
 *   nothing (the kernel refuses, or the attempt already waited out its timeout).
 * - `answered`: the server answered with an error (429, 5xx, a 404 for a kind it does not serve,
 *   a watch it ended at once): it is there and may be overloaded; it must not be hammered.
 */
export type FailureCause = 'unreachable' | 'answered';

/** An API failure's cause for the backoff: no HTTP answer is `unreachable`. */
export function failureCause(failure: ApiFailure): FailureCause {
  return failure.kind === 'network' ? 'unreachable' : 'answered';
}

/** Consecutive failures since the last success, by cause. */
export interface RetryState {
  readonly unreachable: number;
  readonly answered: number;
}

export const NO_FAILURES: RetryState = { unreachable: 0, answered: 0 };

/** `state` with one more failure of `cause`. */
export function noteFailure(state: RetryState, cause: FailureCause): RetryState {
  return cause === 'unreachable' ? { ...state, unreachable: state.unreachable + 1 } : { ...state, answered: state.answered + 1 };
}

export function failureCount(state: RetryState): number {
  return state.unreachable + state.answered;
}

/**
 * Delay before the next attempt, after a failure of `cause` already counted in `state`. Without
 * `unreachableMaxMs`: the exponential backoff over every failure since the last success. With it:
 * - `answered`: the exponential backoff over the answered failures since the last success
 *   (0.5 s doubling to 30 s by default). Only the server's own refusals make it grow, so the first
 *   503 of a server that has just come back waits 0.5 s, not the 30 s an outage had reached.
 * - `unreachable`: the same exponential over every failure since the last success, capped at
 *   `unreachableMaxMs` jitter included (the base is capped at `unreachableMaxMs / (1 + jitter)`, so
 *   the jitter still spreads clients out): the server's return is noticed within that time.
 */
export function retryDelayMs(state: RetryState, cause: FailureCause, policy: BackoffPolicy, random: number): number {
  // Without the cap: one exponential over every failure, whatever its cause (the policy before it).
  if (policy.unreachableMaxMs === undefined) return backoffDelayMs(failureCount(state), policy, random);
  if (cause === 'answered') return backoffDelayMs(state.answered, policy, random);
  const base = Math.min(exponentialMs(failureCount(state), policy), policy.unreachableMaxMs / (1 + policy.jitter));
  // floor, not round: the cap holds even when random is at its top.
  return Math.min(policy.unreachableMaxMs, Math.floor(base + base * policy.jitter * clamp01(random)));
}

function exponentialMs(attempt: number, policy: BackoffPolicy): number {
  const n = Math.max(1, Math.floor(attempt));
  // Exponent capped so factor ** exponent cannot overflow to Infinity for large attempt counts.
  const exponent = Math.min(n - 1, 64);
  return Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
}

function clamp01(random: number): number {
  return Math.min(Math.max(random, 0), 1);
}
