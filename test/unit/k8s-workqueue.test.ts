import assert from 'node:assert/strict';
import { TerminalError } from '../../src/errors.js';
import { ManualClock } from '../../src/k8s/clock.js';
import { done, requeueAfter, WorkQueue, type ReconcileResult } from '../../src/k8s/workqueue.js';

/** Lets pending promise callbacks run (the queue's reconciles are async). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

type Step = { result?: ReconcileResult; throws?: Error };

/** A queue whose reconcile records calls and answers from a per-key script (default: done). */
function harness(script: Record<string, Step[]> = {}, concurrency = 1) {
  const clock = new ManualClock();
  const calls: string[] = [];
  const gates = new Map<string, () => void>();
  let running = 0;
  let maxRunning = 0;
  const runningKeys = new Set<string>();
  let sameKeyOverlap = false;
  let hold = false;
  const q = new WorkQueue<string>({
    name: 'test',
    clock,
    random: () => 0,
    concurrency,
    backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 },
    reconcile: async (key) => {
      if (runningKeys.has(key)) sameKeyOverlap = true;
      runningKeys.add(key);
      running++;
      maxRunning = Math.max(maxRunning, running);
      calls.push(key);
      if (hold) await new Promise<void>((r) => gates.set(key, r));
      running--;
      runningKeys.delete(key);
      const step = script[key]?.shift();
      if (step?.throws) throw step.throws;
      return step?.result ?? done;
    },
  });
  return {
    q,
    clock,
    calls,
    hold: (on: boolean) => (hold = on),
    release: (key: string) => {
      const g = gates.get(key);
      gates.delete(key);
      g?.();
    },
    stats: () => ({ maxRunning, sameKeyOverlap }),
  };
}

describe('WorkQueue', () => {
  it('repeated adds of a waiting key collapse into one run', async () => {
    const h = harness();
    h.hold(true);
    h.q.add('a');
    h.q.add('b');
    h.q.add('b');
    h.q.add('b');
    h.hold(false);
    h.release('a');
    await settle();
    assert.deepEqual(h.calls, ['a', 'b'], 'add(a), add(b)×3: b runs once');
  });

  it('adds during processing schedule exactly one more run after the current one', async () => {
    const h = harness();
    h.hold(true);
    h.q.add('a');
    await settle();
    assert.deepEqual(h.calls, ['a']);
    h.q.add('a');
    h.q.add('a');
    h.q.add('a');
    await settle();
    assert.deepEqual(h.calls, ['a'], 'the same key never runs twice at once');
    h.hold(false);
    h.release('a');
    await settle();
    assert.deepEqual(h.calls, ['a', 'a'], 'three adds while running → one rerun');
    assert.equal(h.stats().sameKeyOverlap, false);
  });

  it('different keys run concurrently up to the concurrency, the same key never', async () => {
    const h = harness({}, 2);
    h.hold(true);
    for (const k of ['a', 'b', 'c']) h.q.add(k);
    await settle();
    assert.deepEqual(h.calls, ['a', 'b'], 'concurrency 2: c waits');
    h.q.add('a');
    h.release('a');
    await settle();
    assert.deepEqual(h.calls, ['a', 'b', 'c'], 'a finished: c (queued first) starts before the a rerun');
    h.hold(false);
    h.release('b');
    h.release('c');
    await h.q.idle();
    await settle();
    assert.deepEqual(h.calls, ['a', 'b', 'c', 'a']);
    assert.equal(h.stats().maxRunning, 2);
    assert.equal(h.stats().sameKeyOverlap, false);
  });

  const resultRows: { name: string; steps: Step[]; advanceMs: number[]; expectRuns: number[]; failures: number }[] = [
    { name: 'done runs once and is not retried', steps: [{}], advanceMs: [10_000], expectRuns: [1], failures: 0 },
    {
      name: 'requeueAfter(500) runs again after 500 ms, not before',
      steps: [{ result: requeueAfter(500) }, {}],
      advanceMs: [499, 1, 10_000],
      expectRuns: [1, 2, 2],
      failures: 0,
    },
    {
      name: 'a retryable error is retried with doubling backoff (100, 200 ms)',
      steps: [{ throws: new Error('boom') }, { throws: new Error('boom') }, {}],
      advanceMs: [99, 1, 199, 1, 10_000],
      expectRuns: [1, 2, 2, 3, 3],
      failures: 0,
    },
    {
      name: 'a TerminalError is not retried',
      steps: [{ throws: new TerminalError('FUL_ERR_IPAM_INCOHERENT', { what: 'bad input' }) }],
      advanceMs: [10_000],
      expectRuns: [1],
      failures: 0,
    },
    {
      name: 'backoff is capped at maxMs',
      steps: [1, 2, 3, 4, 5].map(() => ({ throws: new Error('boom') })),
      advanceMs: [100, 200, 400, 800, 999, 1],
      expectRuns: [2, 3, 4, 5, 5, 6],
      failures: 0,
    },
  ];
  for (const row of resultRows) {
    it(row.name, async () => {
      const steps = row.steps.map((s) => ({ ...s }));
      const h = harness({ k: steps });
      h.q.add('k');
      await settle();
      for (let i = 0; i < row.advanceMs.length; i++) {
        h.clock.advance(row.advanceMs[i] as number);
        await settle();
        assert.equal(h.calls.length, row.expectRuns[i], `${row.name}: runs after step ${i} (+${row.advanceMs[i]} ms)`);
      }
      assert.equal(h.q.failures('k'), row.failures);
    });
  }

  it('addAfter keeps the sooner of two schedules', async () => {
    const h = harness();
    h.q.addAfter('k', 1000);
    h.q.addAfter('k', 300);
    h.q.addAfter('k', 2000);
    h.clock.advance(300);
    await settle();
    assert.equal(h.calls.length, 1);
    h.clock.advance(5000);
    await settle();
    assert.equal(h.calls.length, 1, 'the later schedules were dropped');
  });

  it('shutdown drops queued and delayed keys and waits for the running one', async () => {
    const h = harness();
    h.hold(true);
    h.q.add('a');
    h.q.add('b');
    h.q.addAfter('c', 100);
    await settle();
    const stopped = h.q.shutdown();
    h.release('a');
    await stopped;
    h.clock.advance(1000);
    h.q.add('d');
    await settle();
    assert.deepEqual(h.calls, ['a']);
    assert.equal(h.clock.pendingTimers(), 0);
  });
});
