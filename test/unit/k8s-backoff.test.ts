import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRandom as seeded } from '../../src/random.js';
import type { ApiFailure } from '../../src/k8s/api-error.js';
import {
  DEFAULT_BACKOFF,
  failureCause,
  failureCount,
  NO_FAILURES,
  noteFailure,
  retryDelayMs,
  type BackoffPolicy,
  type FailureCause,
  type RetryState,
} from '../../src/k8s/backoff.js';

/** The informers' policy before the reconnect cap: one exponential (0.5 s doubling to 30 s) over every failure. */
const PREVIOUS: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

describe('failureCause: which failures mean the server is away', () => {
  const rows: { name: string; failure: ApiFailure; want: FailureCause }[] = [
    { name: 'a refused connection is unreachable', failure: { kind: 'network', message: 'request to https://127.0.0.1:6443/api/v1/services failed, reason: connect ECONNREFUSED 127.0.0.1:6443' }, want: 'unreachable' },
    { name: 'a reset connection is unreachable', failure: { kind: 'network', message: 'read ECONNRESET' }, want: 'unreachable' },
    { name: 'a request that timed out is unreachable', failure: { kind: 'network', message: 'request timed out after 30000 ms' }, want: 'unreachable' },
    { name: 'a 429 is an answer: the server asks for less', failure: { kind: 'http', code: 429, reason: 'TooManyRequests', message: 'too many requests' }, want: 'answered' },
    { name: 'a 503 is an answer', failure: { kind: 'http', code: 503, reason: 'ServiceUnavailable', message: 'unavailable' }, want: 'answered' },
    { name: 'a 500 is an answer', failure: { kind: 'http', code: 500, reason: '', message: 'HTTP 500' }, want: 'answered' },
    { name: 'a 403 is an answer', failure: { kind: 'http', code: 403, reason: 'Forbidden', message: 'forbidden' }, want: 'answered' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify(row.failure);
      assert.equal(failureCause(row.failure), row.want, `failureCause(${before})`);
      assert.equal(JSON.stringify(row.failure), before, 'failure not mutated');
    });
  }
});

describe('noteFailure', () => {
  it('counts each cause apart and leaves the state it was given alone', () => {
    const a = noteFailure(NO_FAILURES, 'unreachable');
    const b = noteFailure(noteFailure(a, 'answered'), 'unreachable');
    assert.deepEqual(NO_FAILURES, { unreachable: 0, answered: 0 });
    assert.deepEqual(a, { unreachable: 1, answered: 0 });
    assert.deepEqual(b, { unreachable: 2, answered: 1 });
    assert.equal(failureCount(b), 3);
  });
});

describe('retryDelayMs: the informers\' retry policy', () => {
  const state = (unreachable: number, answered: number): RetryState => ({ unreachable, answered });
  const rows: { name: string; state: RetryState; cause: FailureCause; random: number; want: number; policy?: BackoffPolicy }[] = [
    { name: 'the first refused connection waits initialMs', state: state(1, 0), cause: 'unreachable', random: 0, want: 500 },
    { name: 'the first refused connection with the most jitter waits 1.5 × initialMs', state: state(1, 0), cause: 'unreachable', random: 0.999999, want: 749 },
    { name: 'refused connections stop growing at unreachableMaxMs / (1 + jitter)', state: state(2, 0), cause: 'unreachable', random: 0, want: 666 },
    { name: 'after 60 refused connections the delay is still under 1 s, jitter included', state: state(60, 0), cause: 'unreachable', random: 0.999999, want: 999 },
    { name: 'a random number out of [0, 1) cannot break the cap', state: state(60, 0), cause: 'unreachable', random: 7, want: 1000 },
    { name: 'a refused connection after ten 503s is capped too: the server is gone now', state: state(1, 10), cause: 'unreachable', random: 0, want: 666 },
    { name: 'the first 503 after a long outage waits initialMs, not the 30 s the outage reached', state: state(40, 1), cause: 'answered', random: 0, want: 500 },
    { name: 'repeated 503s double as before', state: state(0, 4), cause: 'answered', random: 0, want: 4_000 },
    { name: '429s keep growing to maxMs: an overloaded server is not hammered', state: state(0, 12), cause: 'answered', random: 0, want: 30_000 },
    { name: 'answered failures take the whole jitter', state: state(0, 12), cause: 'answered', random: 0.999999, want: 45_000 },
    { name: 'without unreachableMaxMs every failure follows one exponential (the policy before)', state: state(5, 0), cause: 'unreachable', random: 0, want: 8_000, policy: PREVIOUS },
    { name: 'without unreachableMaxMs a 503 after an outage counts the outage too (the policy before)', state: state(5, 1), cause: 'answered', random: 0, want: 16_000, policy: PREVIOUS },
    { name: 'a cap below initialMs wins from the first retry', state: state(1, 0), cause: 'unreachable', random: 0, want: 200, policy: { ...DEFAULT_BACKOFF, unreachableMaxMs: 300 } },
    { name: 'a cap and no jitter: the delay is the cap', state: state(9, 0), cause: 'unreachable', random: 0.5, want: 1_000, policy: { ...DEFAULT_BACKOFF, jitter: 0 } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const policy = row.policy ?? DEFAULT_BACKOFF;
      const before = JSON.stringify([policy, row.state]);
      const got = retryDelayMs(row.state, row.cause, policy, row.random);
      assert.equal(got, row.want, `retryDelayMs(${JSON.stringify(row.state)}, ${row.cause}, …, ${row.random})`);
      assert.equal(JSON.stringify([policy, row.state]), before, 'policy and state not mutated');
    });
  }

  it('any run of failures: a delay after an unreachable failure is at most unreachableMaxMs, and one after an answer is the exponential over the answers alone', () => {
    const causes = fc.array(fc.constantFrom<FailureCause>('unreachable', 'answered'), { minLength: 1, maxLength: 200 });
    fc.assert(
      fc.property(causes, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (run, random) => {
        let s = NO_FAILURES;
        let answered = 0;
        for (const cause of run) {
          s = noteFailure(s, cause);
          const d = retryDelayMs(s, cause, DEFAULT_BACKOFF, random);
          if (cause === 'unreachable') assert.ok(d <= DEFAULT_BACKOFF.unreachableMaxMs! && d >= 0, `unreachable delay ${d} after ${JSON.stringify(s)}`);
          else {
            answered++;
            assert.equal(d, retryDelayMs({ unreachable: 0, answered }, 'answered', PREVIOUS, random), `answered delay after ${JSON.stringify(s)}`);
          }
        }
      }),
      { numRuns: 500, seed: 17 },
    );
  });
});

/**
 * The schedule of one informer during an outage, from the pure policy alone: attempts fail with
 * `unreachable` until `outageMs`, then the first attempt at or after it succeeds. Returns the time
 * from the server's return to that attempt (connect time ignored).
 */
function reconnectGapMs(policy: BackoffPolicy, outageMs: number, random: () => number): { gapMs: number; attempts: number } {
  let t = 0;
  let s = NO_FAILURES;
  for (let attempts = 1; attempts <= 100_000; attempts++) {
    if (t >= outageMs) return { gapMs: t - outageMs, attempts };
    s = noteFailure(s, 'unreachable');
    t += retryDelayMs(s, 'unreachable', policy, random());
  }
  throw new Error(`no reconnect within 100000 attempts for an outage of ${outageMs} ms`);
}


describe('reconnecting after an outage, by the pure policy', () => {
  it('whatever the outage and the jitter, the first attempt after the server returns comes within unreachableMaxMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3_600_000 }), fc.integer(), (outageMs, seed) => {
        const { gapMs } = reconnectGapMs(DEFAULT_BACKOFF, outageMs, seeded(seed));
        assert.ok(gapMs <= DEFAULT_BACKOFF.unreachableMaxMs!, `outage ${outageMs} ms: gap ${gapMs} ms`);
      }),
      { numRuns: 300, seed: 17 },
    );
  });

  it('prints the worst gap over 1,000 jitter draws, before and after, for outages of 10 s, 60 s and 10 min', () => {
    const lines: string[] = [];
    for (const outageMs of [10_000, 60_000, 600_000]) {
      const worst = (policy: BackoffPolicy) => {
        let max = 0;
        let attempts = 0;
        for (let seed = 1; seed <= 1_000; seed++) {
          const r = reconnectGapMs(policy, outageMs, seeded(seed));
          if (r.gapMs > max) max = r.gapMs;
          attempts = Math.max(attempts, r.attempts);
        }
        return { max, attempts };
      };
      const before = worst(PREVIOUS);
      const after = worst(DEFAULT_BACKOFF);
      assert.ok(after.max <= 1_000, `after: ${after.max} ms`);
      assert.ok(before.max > after.max, `the previous policy is slower to notice: ${before.max} ms vs ${after.max} ms`);
      lines.push(`outage ${outageMs / 1000} s: worst gap before ${before.max} ms (${before.attempts} attempts), after ${after.max} ms (${after.attempts} attempts), ratio ${(before.max / after.max).toFixed(1)}`);
    }
    process.stdout.write(lines.map((l) => `      ${l}\n`).join(''));
  });
});
