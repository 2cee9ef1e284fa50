import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { ApiFailure } from './api-error.js';
import type { BackoffPolicy } from './backoff.js';
import type { ApiClients } from './client.js';
import type { Clock } from './clock.js';
import type { ResourceKind } from './resources.js';

/**
 * Callbacks of an informer. They run synchronously, in event order, after the cache was
 * updated; they should only enqueue keys (STYLE §4) and must not mutate the objects, which are
 * the cache's own. A throwing handler is logged and does not stop the informer.
 */
export interface InformerHandlers<T> {
  add?(obj: T): void;
  /** Also called with `obj === old` for every cached object on a periodic resync. */
  update?(obj: T, old: T): void;
  /** `obj` is the last state: the DELETED event's object, or the cached one after a relist. */
  delete?(obj: T): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  clients: ApiClients;
  resource: ResourceKind<T>;
  /** Only this namespace; all namespaces when unset (ignored for cluster-scoped kinds). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Metric and log label; defaults to the resource plural (plus namespace). */
  name?: string;
  /** Re-deliver every cached object to `update` this often (no API call); 0 = never. */
  resyncMs?: number;
  /** Backoff between failed lists/watches; capped exponential with jitter. */
  backoff?: BackoffPolicy;
  /**
   * Server-side watch timeout, picked at random in [min, max] seconds for each watch, as
   * client-go's reflector does (5–10 min), so watches end and restart from the last
   * resourceVersion regularly and never all at once.
   */
  watchTimeoutSeconds?: { min: number; max: number };
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  /**
   * The kind may not be served at all (a CRD that is not installed): a 404 on list then means
   * "no such objects". The informer counts as synced with an empty cache (objects cached before
   * are deleted), logs it once at info, and lists again with `backoff` until the kind is served;
   * a watch that gets a 404 (the CRD was removed) lists again. A 404 on list is not a failure
   * (`onFailure` is not told). Without it a 404 on list is retried like any failure and the
   * informer never syncs.
   */
  optional?: boolean;
  /** Told of every failed list or watch (it keeps retrying regardless), e.g. to notice a 403. */
  onFailure?: (failure: ApiFailure) => void;
}

/** Counts since start, for tests and the status command (the metrics carry the same). */
export interface InformerStats {
  /** Successful lists (the first one included). */
  lists: number;
  /** Watches opened. */
  watches: number;
  /** Watches ended by 410 Expired (each followed by a relist). */
  expired: number;
  /** Failed lists and watches. */
  failures: number;
}

/** `absent`: an `optional` kind the server does not serve (waiting to list it again). */
export type InformerState = 'idle' | 'listing' | 'watching' | 'backoff' | 'absent' | 'stopped';
