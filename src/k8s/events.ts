import type { CoreV1Event } from '@kubernetes/client-node';
import { componentLogger, type Logger } from '../log.js';
import { describeApiFailure } from './api-error.js';
import { mergePatchOptions, noteApiFailure, type ApiClients } from './client.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { k8sMetrics } from './metrics.js';

/** The object an Event is about. */
export interface ObjectRef {
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
  apiVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  clients: ApiClients;
  /** `source.component` / `reportingComponent`, e.g. `fulcrum-allocator`. */
  component: string;
  /** `source.host` / `reportingInstance`, e.g. the node or pod name. */
  host?: string;
  /** At least this long between two writes of the same aggregated Event (default 10 s). */
  minUpdateIntervalMs?: number;
  /** Token bucket over all Event writes of this recorder: size (default 25)… */
  burst?: number;
  /** …and one token back per this many ms (default 1000). */
  refillMs?: number;
  /** Aggregated Events remembered (oldest forgotten first), like client-go's 4096-entry cache. */
  maxEntries?: number;
  clock?: Clock;
  logger?: Logger;
}

/** One aggregated Event: every record() with the same object, type, reason and message. */
interface Entry {
  key: string;
  ref: ObjectRef;
  type: EventType;
  reason: string;
  message: string;
  namespace: string;
  /** Name of the Event object once created. */
  eventName: string | undefined;
  count: number;
  writtenCount: number;
  firstMs: number;
  lastMs: number;
  lastWriteMs: number;
  timer: TimerHandle | undefined;
  writing: Promise<void> | undefined;
}

/** client-node has no limit here, but events.k8s.io caps `note` at 1 kB; keep both shapes valid. */
const MAX_MESSAGE_LENGTH = 1024;

/**
 * Records core/v1 Events the way client-go's correlator does: repeats of the same
 * object + type + reason + message become one Event whose `count` and `lastTimestamp` are
 * bumped, written at most once per `minUpdateIntervalMs`, and all writes share a token bucket,
 * so a hot reconcile loop costs a handful of requests, not one per call. `record` never throws
 * and never waits; `flush` writes what is pending (for tests and shutdown).
 */
export class EventRecorder {
  #o: Required<Omit<EventRecorderOptions, 'logger' | 'host'>> & { host: string };
  #log: Logger;
  #entries = new Map<string, Entry>();
  #tokens: number;
  #tokensAtMs: number;
  #seq = 0;
  #stopped = false;

  constructor(opts: EventRecorderOptions) {
    this.#o = { host: '', minUpdateIntervalMs: 10_000, burst: 25, refillMs: 1_000, maxEntries: 4096, clock: realClock, ...opts };
    this.#log = (opts.logger ?? componentLogger('k8s')).child({ recorder: opts.component });
    this.#tokens = this.#o.burst;
    this.#tokensAtMs = this.#o.clock.now();
  }

  /** Notes one occurrence. The write happens later (next tick for a new Event). */
  record(ref: ObjectRef, type: EventType, reason: string, message: string): void {
    if (this.#stopped) return;
    const msg = message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...` : message;
    const key = JSON.stringify([ref.namespace ?? '', ref.kind, ref.name, ref.uid ?? '', type, reason, msg]);
    const now = this.#o.clock.now();
    let entry = this.#entries.get(key);
    if (entry) {
      this.#entries.delete(key); // re-insert: Map order is our LRU order
    } else {
      entry = {
        key,
        ref,
        type,
        reason,
        message: msg,
        namespace: ref.namespace || 'default',
        eventName: undefined,
        count: 0,
        writtenCount: 0,
        firstMs: now,
        lastMs: now,
        lastWriteMs: 0,
        timer: undefined,
        writing: undefined,
      };
      this.#evictIfFull();
    }
    this.#entries.set(key, entry);
    entry.count++;
    entry.lastMs = now;
    k8sMetrics.events.inc({ result: 'recorded' });
    this.#schedule(entry, entry.eventName ? entry.lastWriteMs + this.#o.minUpdateIntervalMs - now : 0);
  }

  /** Writes every pending count now, ignoring the update interval (not the token bucket). */
  async flush(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const e of this.#entries.values()) {
      if (e.writing) pending.push(e.writing);
    }
    await Promise.all(pending);
    for (const e of this.#entries.values()) {
      if (e.count !== e.writtenCount) {
        this.#o.clock.clearTimer(e.timer);
        e.timer = undefined;
        await this.#write(e);
      }
    }
  }

  /** Flushes, then ignores further records; what the token bucket still holds back is dropped. */
  async stop(): Promise<void> {
    await this.flush();
    this.#stopped = true;
    for (const e of this.#entries.values()) this.#o.clock.clearTimer(e.timer);
  }

  #schedule(entry: Entry, delayMs: number): void {
    if (entry.timer || entry.writing) return; // a write is due already; it will carry this count
    // Even "now" waits a tick, so a synchronous burst of records becomes one request.
    entry.timer = this.#o.clock.setTimer(() => {
      entry.timer = undefined;
      void this.#write(entry);
    }, Math.max(0, delayMs));
  }

  #write(entry: Entry): Promise<void> {
    if (entry.writing) return entry.writing;
    if (!this.#takeToken()) {
      k8sMetrics.events.inc({ result: 'throttled' });
      this.#schedule(entry, this.#o.refillMs);
      return Promise.resolve();
    }
    entry.writing = this.#send(entry).finally(() => {
      entry.writing = undefined;
      if (entry.count !== entry.writtenCount && !this.#stopped) {
        this.#schedule(entry, entry.lastWriteMs + this.#o.minUpdateIntervalMs - this.#o.clock.now());
      }
    });
    return entry.writing;
  }

  async #send(entry: Entry): Promise<void> {
    const { clients, clock } = this.#o;
    const count = entry.count;
    const now = clock.now();
    try {
      if (entry.eventName) {
        try {
          await clients.core.patchNamespacedEvent(
            {
              namespace: entry.namespace,
              name: entry.eventName,
              body: { count, lastTimestamp: new Date(entry.lastMs).toISOString() },
            },
            mergePatchOptions,
          );
          k8sMetrics.events.inc({ result: 'updated' });
        } catch (err) {
          const f = noteApiFailure(err);
          if (!(f.kind === 'http' && f.code === 404)) throw err;
          entry.eventName = undefined; // deleted under us (TTL): start a new Event
          await this.#create(entry, count);
        }
      } else {
        await this.#create(entry, count);
      }
      entry.writtenCount = count;
      entry.lastWriteMs = now;
    } catch (err) {
      k8sMetrics.events.inc({ result: 'failed' });
      entry.lastWriteMs = now;
      this.#log.warn(
        { event: 'eventWriteFailed', reason: entry.reason, failure: describeApiFailure(noteApiFailure(err)) },
        'writing an Event failed',
      );
    }
  }

  async #create(entry: Entry, count: number): Promise<void> {
    const { clients, component, host, clock } = this.#o;
    // client-go names Events "<object>.<unix nanoseconds in hex>"; the sequence keeps them unique.
    const name = `${entry.ref.name}.${(BigInt(clock.now()) * 1_000_000n + BigInt(this.#seq++ % 1_000_000)).toString(16)}`;
    const body: CoreV1Event = {
      metadata: { name, namespace: entry.namespace },
      involvedObject: {
        kind: entry.ref.kind,
        name: entry.ref.name,
        namespace: entry.ref.namespace,
        uid: entry.ref.uid,
        apiVersion: entry.ref.apiVersion,
      },
      reason: entry.reason,
      message: entry.message,
      type: entry.type,
      count,
      firstTimestamp: new Date(entry.firstMs),
      lastTimestamp: new Date(entry.lastMs),
      source: { component, host: host || undefined },
      reportingComponent: component,
      reportingInstance: host,
    };
    await clients.core.createNamespacedEvent({ namespace: entry.namespace, body });
    entry.eventName = name;
    k8sMetrics.events.inc({ result: 'created' });
  }

  #takeToken(): boolean {
    const now = this.#o.clock.now();
    const refill = Math.floor((now - this.#tokensAtMs) / this.#o.refillMs);
    if (refill > 0) {
      this.#tokens = Math.min(this.#o.burst, this.#tokens + refill);
      this.#tokensAtMs += refill * this.#o.refillMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  #evictIfFull(): void {
    while (this.#entries.size >= this.#o.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) return;
      const e = this.#entries.get(oldest.value);
      this.#o.clock.clearTimer(e?.timer);
      this.#entries.delete(oldest.value);
    }
  }
}
