import type { KubernetesObject } from '@kubernetes/client-node';
import { objectKey } from './resources.js';

/**
 * What a fresh list means for a cache: which objects are new, which changed (a different
 * resourceVersion), which are gone. Pure. Objects present in both with the same
 * resourceVersion are neither reported nor replaced, so a relist after a 410 or a restart
 * produces no spurious update and no spurious delete.
 */
export interface RelistPlan<T extends KubernetesObject> {
  readonly added: T[];
  readonly updated: { obj: T; old: T }[];
  /** The last state the cache knew of each vanished object. */
  readonly deleted: T[];
  readonly next: Map<string, T>;
}

export function planRelist<T extends KubernetesObject>(cache: ReadonlyMap<string, T>, items: readonly T[]): RelistPlan<T> {
  const next = new Map<string, T>();
  const added: T[] = [];
  const updated: { obj: T; old: T }[] = [];
  for (const item of items) {
    const key = objectKey(item);
    const old = cache.get(key);
    if (!old) {
      added.push(item);
      next.set(key, item);
    } else if (sameVersion(old, item)) {
      next.set(key, old);
    } else {
      updated.push({ obj: item, old });
      next.set(key, item);
    }
  }
  const deleted: T[] = [];
  for (const [key, old] of cache) if (!next.has(key)) deleted.push(old);
  return { added, updated, deleted, next };
}

/** Same object version: both carry a resourceVersion and it is equal. */
export function sameVersion(a: KubernetesObject, b: KubernetesObject): boolean {
  const ra = a.metadata?.resourceVersion;
  return ra !== undefined && ra !== '' && ra === b.metadata?.resourceVersion;
}
