import { TerminalError } from '../errors.js';
import { componentLogger, type Logger } from '../log.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { k8sMetrics } from './metrics.js';

/**
 * What a reconcile returns. Retryable failures are thrown (any error); errors that retrying
 * cannot fix are thrown as `TerminalError` and are not retried.
 */
export type ReconcileResult = { kind: 'done' } | { kind: 'requeueAfter'; delayMs: number };

export const done: ReconcileResult = Object.freeze({ kind: 'done' });
export function requeueAfter(delayMs: number): ReconcileResult {
  return { kind: 'requeueAfter', delayMs };
}

export type Reconcile<K extends string> = (key: K) => Promise<ReconcileResult>;

export interface WorkQueueOptions<K extends string> {
  /** Metric and log label. */
  name: string;
  reconcile: Reconcile<K>;
  /** Keys processed at the same time (never the same key twice). */
  concurrency?: number;
  /** Backoff per key after thrown errors; reset by a `done` or `requeueAfter`. */
  backoff?: BackoffPolicy;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
}

/** client-go's per-item rate limiter: 5 ms doubling up to 1000 s; ours caps at 5 min. */
const DEFAULT_QUEUE_BACKOFF: BackoffPolicy = { initialMs: 5, maxMs: 300_000, factor: 2, jitter: 0.1 };

/**
 * A keyed work queue after client-go's: a FIFO of dirty keys, a processing set, per-key
 * backoff. Adding a key that is already waiting does nothing; adding a key that is being
 * processed marks it dirty, and it runs exactly once more after the current run finishes.
 * Keys carry no event: the reconcile reads the current state itself (level-triggered).
 */
export class WorkQueue<K extends string> {
  readonly name: string;
  #opts: WorkQueueOptions<K>;
  #clock: Clock;
  #random: () => number;
  #backoff: BackoffPolicy;
  #concurrency: number;
  #log: Logger;
  #queue: K[] = [];
  #head = 0;
  #dirty = new Set<K>();
  #processing = new Set<K>();
  #failures = new Map<K, number>();
  #waiting = new Map<K, { at: number; handle: TimerHandle }>();
  #shutDown = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: WorkQueueOptions<K>) {
    this.#opts = opts;
    this.name = opts.name;
    this.#clock = opts.clock ?? realClock;
    this.#random = opts.random ?? Math.random;
    this.#backoff = opts.backoff ?? DEFAULT_QUEUE_BACKOFF;
    this.#concurrency = Math.max(1, opts.concurrency ?? 1);
    this.#log = (opts.logger ?? componentLogger('k8s')).child({ queue: opts.name });
  }

  /** Schedules `key` for a reconcile as soon as a worker is free. */
  add(key: K): void {
    if (this.#shutDown || this.#dirty.has(key)) return;
    k8sMetrics.queueAdds.inc({ queue: this.name });
    this.#dirty.add(key);
    if (!this.#processing.has(key)) {
      this.#queue.push(key);
      this.#setDepth();
      this.#pump();
    }
  }

  /** Schedules `key` in `delayMs`; if it is already scheduled sooner, keeps the sooner time. */
  addAfter(key: K, delayMs: number): void {
    if (this.#shutDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.#clock.now() + delayMs;
    const existing = this.#waiting.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.#clock.clearTimer(existing.handle);
    const handle = this.#clock.setTimer(() => {
      this.#waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.#waiting.set(key, { at, handle });
  }

  /** Keys waiting to run (not counting those in a delay or running). */
  depth(): number {
    return this.#queue.length - this.#head;
  }

  /** Keys scheduled for later by `addAfter`, a `requeueAfter` or a backoff. */
  delayed(): number {
    return this.#waiting.size;
  }

  isProcessing(key: K): boolean {
    return this.#processing.has(key);
  }

  /** Failed attempts of `key` since its last success. */
  failures(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Drops queued and delayed keys and waits for running reconciles to finish. */
  async shutdown(): Promise<void> {
    this.#shutDown = true;
    for (const w of this.#waiting.values()) this.#clock.clearTimer(w.handle);
    this.#waiting.clear();
    this.#queue = [];
    this.#head = 0;
    this.#dirty.clear();
    this.#setDepth();
    await this.idle();
  }

  #pump(): void {
    while (this.#processing.size < this.#concurrency && this.#head < this.#queue.length) {
      const key = this.#queue[this.#head++] as K;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        // Compact in batches rather than shift() per key.
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.#setDepth();
      void this.#process(key);
    }
  }

  async #process(key: K): Promise<void> {
    let outcome: 'done' | 'requeueAfter' | 'terminal' | 'retry';
    try {
      const result = await this.#opts.reconcile(key);
      if (result.kind === 'done') {
        outcome = 'done';
        this.#failures.delete(key);
      } else {
        outcome = 'requeueAfter';
        this.#failures.delete(key);
        this.addAfter(key, result.delayMs);
      }
    } catch (err) {
      if (err instanceof TerminalError) {
        outcome = 'terminal';
        this.#failures.delete(key);
        this.#log.error({ event: 'reconcileTerminal', key, err }, 'reconcile failed for good');
      } else {
        outcome = 'retry';
        const n = (this.#failures.get(key) ?? 0) + 1;
        this.#failures.set(key, n);
        const delayMs = backoffDelayMs(n, this.#backoff, this.#random());
        this.#log.warn({ event: 'reconcileFailed', key, failures: n, delayMs, err }, 'reconcile failed, will retry');
        this.addAfter(key, delayMs);
      }
    }
    k8sMetrics.queueResults.inc({ queue: this.name, result: outcome });
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shutDown) {
      this.#queue.push(key);
      this.#setDepth();
    }
    this.#pump();
    if (this.#isIdle()) for (const w of this.#idleWaiters.splice(0)) w();
  }

  #isIdle(): boolean {
    return this.#processing.size === 0 && this.#head >= this.#queue.length;
  }

  #setDepth(): void {
    k8sMetrics.queueDepth.set({ queue: this.name }, this.depth());
  }
}
