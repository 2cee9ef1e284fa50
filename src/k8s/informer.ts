import type { KubernetesObject } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { componentLogger, type Logger } from '../log.js';
import { classifyApiError, describeApiFailure, failureCodeLabel, type ApiFailure } from './api-error.js';
import { DEFAULT_BACKOFF, failureCause, failureCount, NO_FAILURES, noteFailure, retryDelayMs, type BackoffPolicy, type FailureCause, type RetryState } from './backoff.js';
import { planRelist, sameVersion } from './cache-diff.js';
import { noteApiFailure } from './client.js';
import { Sleeper } from './sleeper.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { k8sMetrics } from './metrics.js';
import { objectKey, watchPath } from './resources.js';
import { expiredOrFailed, type WatchEnd } from './watch-end.js';
import type { InformerHandlers, InformerOptions, InformerState, InformerStats } from './informer-types.js';

export type { InformerHandlers, InformerOptions, InformerState, InformerStats } from './informer-types.js';

/** A watch that ended with no events sooner than this counts as a failure (backoff). */
const MIN_HEALTHY_WATCH_MS = 1_000;
/** A watch still open this long after its timeoutSeconds is presumed dead (half-open TCP). */
const STALL_GRACE_MS = 30_000;

/**
 * A list+watch cache that never gives up. It lists, then watches from the list's
 * resourceVersion; when a watch ends it watches again from the last resourceVersion it
 * processed; after any error (HTTP 5xx/429, refused connection, reset, ERROR event) it retries
 * with capped exponential backoff + jitter (at most 1 s apart while the server does not answer at
 * all: backoff.ts `retryDelayMs`); on 410 Expired (HTTP or ERROR event) it relists and
 * diffs the list against the cache, reporting only real adds, updates and deletes.
 *
 * Built on client-node's `Watch` and typed list calls rather than its `ListWatch`, which stops
 * for good on any non-410 error and stores raw watch objects next to deserialised list items.
 */
export class Informer<T extends KubernetesObject> {
  readonly name: string;
  /** Resolves once the first list has been applied and its `add` handlers have run. */
  readonly synced: Promise<void>;

  #opts: InformerOptions<T>;
  #clock: Clock;
  #random: () => number;
  #backoff: BackoffPolicy;
  #log: Logger;
  #cache = new Map<string, T>();
  #handlers: InformerHandlers<T>[] = [];
  #rv = '';
  #relistReason: 'initial' | 'expired' | 'stalled' = 'initial';
  #state: InformerState = 'idle';
  #hasSynced = false;
  #resolveSynced!: () => void;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #onStop: (() => void) | undefined;
  #sleeper: Sleeper;
  #abortWatch: (() => void) | undefined;
  #resyncTimer: TimerHandle | undefined;
  #stats: InformerStats = { lists: 0, watches: 0, expired: 0, failures: 0 };
  /** An `optional` kind was found not served, and that was logged (once, until it is served). */
  #absentLogged = false;

  constructor(opts: InformerOptions<T>) {
    this.#opts = opts;
    const scope = opts.resource.namespaced && opts.namespace ? `${opts.namespace}/` : '';
    this.name = opts.name ?? `${scope}${opts.resource.plural}`;
    this.#clock = opts.clock ?? realClock;
    this.#sleeper = new Sleeper(this.#clock);
    this.#random = opts.random ?? Math.random;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.#log = (opts.logger ?? componentLogger('k8s')).child({ informer: this.name });
    this.synced = new Promise((resolve) => (this.#resolveSynced = resolve));
  }

  /** Starts listing and watching; returns at once (await `synced` for the first list). */
  start(): this {
    if (this.#loop) return this;
    this.#stopped = false;
    this.#loop = this.#run();
    return this;
  }

  /** Ends the watch and every timer; the cache stays readable. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#onStop?.();
    this.#state = 'stopped';
    this.#clock.clearTimer(this.#resyncTimer);
    this.#sleeper.wake();
    this.#abortWatch?.();
    await this.#loop;
  }

  stats(): InformerStats {
    return { ...this.#stats };
  }

  hasSynced(): boolean {
    return this.#hasSynced;
  }

  state(): InformerState {
    return this.#state;
  }

  /** The resourceVersion the next watch would start from ('' = the next step is a list). */
  lastResourceVersion(): string {
    return this.#rv;
  }

  /** The cached object for `namespace/name` (or `name` for cluster-scoped kinds). */
  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  /**
   * Adds handlers; returns a function that removes them. Objects already cached are delivered
   * to `add` at once, so a late subscriber sees the same world as an early one.
   */
  on(handlers: InformerHandlers<T>): () => void {
    this.#handlers.push(handlers);
    if (handlers.add) for (const obj of this.#cache.values()) this.#call(() => handlers.add?.(obj));
    return () => {
      const i = this.#handlers.indexOf(handlers);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  /** Calls `fn(key)` for every add, update and delete: what a work queue wants. */
  onKey(fn: (key: string) => void): () => void {
    return this.on({
      add: (o) => fn(objectKey(o)),
      update: (o) => fn(objectKey(o)),
      delete: (o) => fn(objectKey(o)),
    });
  }

  async #run(): Promise<void> {
    // Failures since the last healthy watch or 410, by cause: what the next delay depends on (backoff.ts).
    let retry: RetryState = NO_FAILURES;
    while (!this.#stopped) {
      if (this.#rv === '') {
        try {
          await this.#relist();
          continue;
        } catch (err) {
          if (this.#stopped) break;
          const failure = noteApiFailure(err);
          if (this.#opts.optional && isNotServed(failure)) {
            retry = noteFailure(retry, 'answered');
            this.#absent();
            await this.#backoffSleep(retry, 'answered', 'absent');
            continue;
          }
          this.#stats.failures++;
          const cause = failureCause(failure);
          retry = noteFailure(retry, cause);
          this.#log.warn({ event: 'listFailed', failure: describeApiFailure(failure), failures: failureCount(retry) }, 'list failed');
          this.#opts.onFailure?.(failure);
          await this.#backoffSleep(retry, cause);
          continue;
        }
      }
      const startedAt = this.#clock.now();
      this.#state = 'watching';
      this.#stats.watches++;
      const end = await this.#watchOnce();
      if (this.#stopped || end.kind === 'stopped') break;
      k8sMetrics.watchRestarts.inc({ informer: this.name, reason: end.kind });
      const fields = { event: 'watchEnded', how: end.kind, events: end.events, resourceVersion: this.#rv };
      let cause: FailureCause;
      switch (end.kind) {
        case 'expired':
          this.#log.info({ ...fields, reason: end.reason }, 'watch expired, relisting');
          this.#rv = '';
          this.#relistReason = 'expired';
          this.#stats.expired++;
          retry = NO_FAILURES;
          continue;
        case 'stalled':
          // The server neither sent nor ended anything past its own deadline: a dead connection,
          // or a server waiting for a resourceVersion it never reaches (its history restarted).
          // Only a relist is sure to cure both; it is rare and reports no spurious changes.
          this.#log.warn(fields, 'watch stalled past its timeout, relisting');
          this.#rv = '';
          this.#relistReason = 'stalled';
          continue;
        case 'closed':
          if (end.events > 0 || this.#clock.now() - startedAt >= MIN_HEALTHY_WATCH_MS) {
            this.#log.debug(fields, 'watch ended, watching again');
            retry = NO_FAILURES;
            continue;
          }
          cause = 'answered'; // the server took the watch and ended it at once
          retry = noteFailure(retry, cause);
          this.#stats.failures++;
          break;
        case 'failed':
          this.#stats.failures++;
          // Watches bypass the clients' middleware, so their failures are counted here.
          k8sMetrics.apiErrors.inc({ code: failureCodeLabel(end.failure) });
          cause = failureCause(end.failure);
          retry = noteFailure(end.events > 0 ? NO_FAILURES : retry, cause);
          this.#log.warn({ ...fields, failure: describeApiFailure(end.failure), failures: failureCount(retry) }, 'watch failed');
          this.#opts.onFailure?.(end.failure);
          // An optional kind that stopped being served (its CRD was removed): list it again.
          if (this.#opts.optional && isNotServed(end.failure)) this.#rv = '';
          break;
      }
      await this.#backoffSleep(retry, cause);
    }
    this.#state = 'stopped';
  }

  async #relist(): Promise<void> {
    this.#state = 'listing';
    const o = this.#opts;
    const pending = o.resource.list(o.clients, {
      namespace: o.resource.namespaced ? o.namespace : undefined,
      labelSelector: o.labelSelector,
      fieldSelector: o.fieldSelector,
    });
    // stop() must not wait for a list held by a paused server (up to the request timeout).
    pending.catch(() => undefined);
    const stopped = new Promise<undefined>((resolve) => (this.#onStop = () => resolve(undefined)));
    const list = await Promise.race([pending, stopped]).finally(() => (this.#onStop = undefined));
    if (!list) return;
    if (this.#stopped) return;
    if (this.#absentLogged) {
      this.#absentLogged = false;
      this.#log.info({ event: 'kindServed', resource: o.resource.plural }, 'the resource is served now');
    }
    this.#stats.lists++;
    k8sMetrics.relists.inc({ informer: this.name, reason: this.#relistReason });
    this.#rv = list.metadata?.resourceVersion ?? '';
    this.#applyList(list.items ?? []);
  }

  /**
   * An optional kind the server does not serve: nothing exists. The cache is emptied (with
   * deletes), the informer counts as synced, and the next list comes after a backoff.
   */
  #absent(): void {
    if (!this.#absentLogged) {
      this.#absentLogged = true;
      this.#log.info({ event: 'kindNotServed', resource: this.#opts.resource.plural }, 'the resource is not served (CRD not installed?): none, listing again later');
    }
    this.#applyList([]);
  }

  #applyList(items: T[]): void {
    const plan = planRelist(this.#cache, items);
    this.#cache = plan.next;
    k8sMetrics.informerObjects.set({ informer: this.name }, this.#cache.size);
    this.#log.debug(
      {
        event: 'listed',
        reason: this.#relistReason,
        resourceVersion: this.#rv,
        added: plan.added.length,
        updated: plan.updated.length,
        deleted: plan.deleted.length,
      },
      'listed',
    );
    for (const obj of plan.deleted) this.#dispatch((h) => h.delete?.(obj));
    for (const obj of plan.added) this.#dispatch((h) => h.add?.(obj));
    for (const u of plan.updated) this.#dispatch((h) => h.update?.(u.obj, u.old));
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      k8sMetrics.informerSynced.set({ informer: this.name }, 1);
      this.#scheduleResync();
      this.#resolveSynced();
    }
  }

  #watchOnce(): Promise<WatchEnd> {
    const o = this.#opts;
    const range = o.watchTimeoutSeconds ?? { min: 300, max: 600 };
    const timeoutSeconds = Math.round(range.min + (range.max - range.min) * this.#random());
    const params = {
      resourceVersion: this.#rv,
      allowWatchBookmarks: true,
      timeoutSeconds,
      labelSelector: o.labelSelector,
      fieldSelector: o.fieldSelector,
    };
    const path = watchPath(o.resource, o.namespace);
    return new Promise<WatchEnd>((resolve) => {
      let settled = false;
      let events = 0;
      let controller: AbortController | undefined;
      const finish = (end: WatchEnd): void => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimer(deadline);
        this.#abortWatch = undefined;
        controller?.abort();
        resolve(end);
      };
      const deadline = this.#clock.setTimer(
        () => finish({ kind: 'stalled', events }),
        timeoutSeconds * 1000 + STALL_GRACE_MS,
      );
      this.#abortWatch = () => finish({ kind: 'stopped', events });
      const onEvent = (type: string, raw: unknown): void => {
        if (settled) return;
        events++;
        const end = this.#applyEvent(type, raw, events);
        if (end) finish(end);
      };
      const done = (err: unknown): void => {
        if (!err) return finish({ kind: 'closed', events });
        const failure = classifyApiError(err);
        finish(expiredOrFailed(failure, events));
      };
      o.clients.watch.watch(path, params, onEvent, done).then(
        (c) => {
          controller = c;
          if (settled) c.abort();
        },
        (err: unknown) => done(err ?? new Error('watch failed to start')),
      );
    });
  }

  /** Applies one watch event to the cache; returns how the watch ends if it must end. */
  #applyEvent(type: string, raw: unknown, events: number): WatchEnd | undefined {
    const meta = (raw as { metadata?: { resourceVersion?: string } } | undefined)?.metadata;
    switch (type) {
      case 'ADDED':
      case 'MODIFIED': {
        const obj = ObjectSerializer.deserialize(raw, this.#opts.resource.model, '') as T;
        const key = objectKey(obj);
        const old = this.#cache.get(key);
        this.#rv = meta?.resourceVersion ?? this.#rv;
        if (old && sameVersion(old, obj)) return undefined;
        this.#cache.set(key, obj);
        k8sMetrics.informerObjects.set({ informer: this.name }, this.#cache.size);
        if (old) this.#dispatch((h) => h.update?.(obj, old));
        else this.#dispatch((h) => h.add?.(obj));
        return undefined;
      }
      case 'DELETED': {
        const obj = ObjectSerializer.deserialize(raw, this.#opts.resource.model, '') as T;
        const key = objectKey(obj);
        this.#rv = meta?.resourceVersion ?? this.#rv;
        if (!this.#cache.delete(key)) return undefined;
        k8sMetrics.informerObjects.set({ informer: this.name }, this.#cache.size);
        this.#dispatch((h) => h.delete?.(obj));
        return undefined;
      }
      case 'BOOKMARK':
        this.#rv = meta?.resourceVersion ?? this.#rv;
        return undefined;
      case 'ERROR':
        return expiredOrFailed(classifyApiError(raw), events);
      default:
        this.#log.warn({ event: 'unknownWatchEvent', type }, 'unknown watch event type ignored');
        return undefined;
    }
  }

  #dispatch(fn: (h: InformerHandlers<T>) => void): void {
    for (const h of [...this.#handlers]) this.#call(() => fn(h));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ event: 'handlerFailed', err }, 'informer handler threw');
    }
  }

  async #backoffSleep(retry: RetryState, cause: FailureCause, state: 'backoff' | 'absent' = 'backoff'): Promise<void> {
    this.#state = state;
    if (!this.#stopped) await this.#sleeper.sleep(retryDelayMs(retry, cause, this.#backoff, this.#random()));
  }

  #scheduleResync(): void {
    const every = this.#opts.resyncMs ?? 0;
    if (every <= 0 || this.#stopped) return;
    this.#resyncTimer = this.#clock.setTimer(() => {
      for (const obj of [...this.#cache.values()]) this.#dispatch((h) => h.update?.(obj, obj));
      this.#scheduleResync();
    }, every);
  }

}

/** A 404 on a collection: the API server does not serve the kind (a CRD not installed). */
function isNotServed(f: ApiFailure): boolean {
  return f.kind === 'http' && f.code === 404;
}
