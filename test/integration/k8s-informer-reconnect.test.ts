import assert from 'node:assert/strict';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { DEFAULT_BACKOFF, failureCause, type BackoffPolicy, type FailureCause } from '../../src/k8s/backoff.js';
import { realClock, type Clock, type TimerHandle } from '../../src/k8s/clock.js';
import { Informer } from '../../src/k8s/informer.js';
import { configMaps } from '../../src/k8s/resources.js';
import { retrying, startEmulator, waitFor, type Emulator } from './k8s-harness.js';
import { suiteTitle } from '../helpers/api-target.js';

/** The informers' policy before the reconnect cap: one exponential over every failure, whatever its cause. */
const PREVIOUS: BackoffPolicy = { ...DEFAULT_BACKOFF, unreachableMaxMs: undefined };
/**
 * The outage lasts until the previous policy has chosen a wait of 8 s or more, the figure of the
 * issue ("its watch backoff after an outage reaches 8–9 s"): about 8–11 s.
 */
const PREVIOUS_WAIT_MS = 8_000;

/**
 * The real clock, noting every delay the informer chooses before a retry (a timer set while it is
 * in `backoff`: the watch's own deadline is set while `watching`), so the test asserts on the
 * mechanism (the delays chosen) and prints the time it takes.
 */
class RecordingClock implements Clock {
  readonly delays: { atMs: number; delayMs: number }[] = [];
  informer: Informer<V1ConfigMap> | undefined;
  now(): number {
    return realClock.now();
  }
  setTimer(fn: () => void, delayMs: number): TimerHandle {
    if (this.informer?.state() === 'backoff') this.delays.push({ atMs: realClock.now(), delayMs });
    return realClock.setTimer(fn, delayMs);
  }
  clearTimer(handle: TimerHandle | undefined): void {
    realClock.clearTimer(handle);
  }
}

/** One informer under test: its delays, its failures by cause, and when it saw each object. */
interface Probe {
  readonly name: string;
  readonly informer: Informer<V1ConfigMap>;
  readonly clock: RecordingClock;
  readonly failures: { atMs: number; cause: FailureCause }[];
  /** Resolves with the time `name` was first added to the cache. */
  seen(name: string): Promise<number>;
}

describe(suiteTitle('k8s Informer: reconnecting after an API outage'), function () {
  this.timeout(90_000);
  let emu: Emulator;
  const probes: Probe[] = [];

  before(async () => {
    emu = await startEmulator();
  });
  afterEach(async () => {
    for (const p of probes.splice(0)) await p.informer.stop();
  });
  after(async () => {
    await emu?.close();
  });

  function probe(name: string, backoff: BackoffPolicy, label: string): Probe {
    const clock = new RecordingClock();
    const failures: Probe['failures'] = [];
    const informer = new Informer<V1ConfigMap>({
      clients: emu.clients,
      resource: configMaps,
      namespace: 'default',
      labelSelector: `test=${label}`,
      name: `reconnect-${name}`,
      backoff,
      clock,
      onFailure: (f) => failures.push({ atMs: Date.now(), cause: failureCause(f) }),
    });
    clock.informer = informer;
    const firstSeen = new Map<string, number>();
    const waiting = new Map<string, (atMs: number) => void>();
    informer.on({
      add: (o) => {
        const n = o.metadata?.name ?? '';
        if (firstSeen.has(n)) return;
        firstSeen.set(n, Date.now());
        waiting.get(n)?.(Date.now());
      },
    });
    const p: Probe = {
      name,
      informer,
      clock,
      failures,
      seen: (n) => {
        const at = firstSeen.get(n);
        return at !== undefined ? Promise.resolve(at) : new Promise((resolve) => waiting.set(n, resolve));
      },
    };
    probes.push(p);
    return p;
  }

  it('retries at most 1 s apart while the server is away, so the informer watches again within 1 s of its return (the previous policy beside it)', async () => {
    const label = `reconnect-${Date.now()}`;
    const core = emu.clients.core;
    const create = (name: string) =>
      retrying(() => core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `${label}-${name}`, labels: { test: label } }, data: { v: name } } }));
    const fresh = probe('default', DEFAULT_BACKOFF, label);
    const previous = probe('previous', PREVIOUS, label);
    for (const p of [fresh, previous]) p.informer.start();
    await Promise.all([fresh.informer.synced, previous.informer.synced]);
    // Seen through both watches: each watch delivered an event, so its end is not a failure.
    await create('before');
    await Promise.all([fresh.seen(`${label}-before`), previous.seen(`${label}-before`)]);

    const stoppedAt = Date.now();
    await emu.server.stop();
    await waitFor(`the previous policy to choose a wait of ${PREVIOUS_WAIT_MS} ms or more`, () => previous.clock.delays.some((d) => d.atMs >= stoppedAt && d.delayMs >= PREVIOUS_WAIT_MS), 30_000, 20);
    const restartAt = Date.now();
    await emu.server.start();
    const startedAt = Date.now();
    await create('after');
    const [freshAt, previousAt] = await Promise.all([fresh.seen(`${label}-after`), previous.seen(`${label}-after`)]);

    const during = (p: Probe) => p.clock.delays.filter((d) => d.atMs >= stoppedAt && d.atMs < restartAt).map((d) => d.delayMs);
    const outageFailures = (p: Probe) => p.failures.filter((f) => f.atMs >= stoppedAt && f.atMs < restartAt);
    // The mechanism: while the server was away every failure was connection-level, and every
    // delay the default policy chose was within 1 s, so its first attempt after the return came
    // within 1 s of it (the previous policy's delays doubled to 8 s and more meanwhile).
    assert.deepEqual([...new Set(outageFailures(fresh).map((f) => f.cause))], ['unreachable'], 'failures during the outage');
    const freshDelays = during(fresh);
    assert.ok(freshDelays.length >= 8, `retries during the outage: ${freshDelays.join(', ')}`);
    assert.ok(freshDelays.every((d) => d <= DEFAULT_BACKOFF.unreachableMaxMs!), `every delay within ${DEFAULT_BACKOFF.unreachableMaxMs} ms: ${freshDelays.join(', ')}`);
    const previousDelays = during(previous);
    assert.equal(fresh.informer.state(), 'watching');

    const ms = (t: number) => Math.max(0, t - startedAt);
    process.stdout.write(
      `      outage ${((restartAt - stoppedAt) / 1000).toFixed(1)} s, server back in ${startedAt - restartAt} ms; an object made after its return seen by the informer with\n` +
        `        the default policy:  ${ms(freshAt)} ms after the return (${freshDelays.length} retries in the outage, longest wait ${Math.max(...freshDelays)} ms)\n` +
        `        the previous policy: ${ms(previousAt)} ms after the return (${previousDelays.length} retries in the outage, longest wait ${Math.max(...previousDelays)} ms); ratio ${(ms(previousAt) / Math.max(1, ms(freshAt))).toFixed(1)}\n`,
    );
    for (const n of ['before', 'after']) await retrying(() => core.deleteNamespacedConfigMap({ namespace: 'default', name: `${label}-${n}` }));
  });
});
