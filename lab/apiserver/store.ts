import type { Obj } from './status.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed write. `old` is the previous state (absent for ADDED). Objects are never mutated once stored. */
export interface Change {
  readonly rv: number;
  readonly storeKey: string;
  readonly type: ChangeType;
  readonly object: Obj;
  readonly old: Obj | undefined;
}

/** Anything that wants every change of one store key: open watches, the emulator's controllers. */
export interface Subscriber {
  onChange(change: Change): void;
}

export type HistoryResult = { kind: 'ok'; changes: Change[] } | { kind: 'expired'; oldestRv: number };

/**
 * The in-memory object store: one global resourceVersion counter, objects by store key →
 * namespace → name, a bounded window of recent changes for watches that resume from an RV, and
 * subscribers indexed by store key so a write only touches the watchers of its own kind.
 * Stored objects are treated as immutable: every write stores a new object.
 */
export class Store {
  #rv = 0;
  readonly #objects = new Map<string, Map<string, Map<string, Obj>>>();
  readonly #counts = new Map<string, number>();
  #history: Change[] = [];
  #historyStart = 0;
  /** Changes with an RV at or below this are gone from the window. */
  #compactedRv = 0;
  readonly #window: number;
  readonly #subscribers = new Map<string, Set<Subscriber>>();

  constructor(eventWindow = 10_000) {
    this.#window = eventWindow;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  get compactedRv(): number {
    return this.#compactedRv;
  }

  get(storeKey: string, namespace: string, name: string): Obj | undefined {
    return this.#objects.get(storeKey)?.get(namespace)?.get(name);
  }

  count(storeKey: string): number {
    return this.#counts.get(storeKey) ?? 0;
  }

  /** Objects of a key, in one namespace or all (`undefined`), sorted by namespace then name as etcd returns them. */
  list(storeKey: string, namespace: string | undefined): Obj[] {
    const byNs = this.#objects.get(storeKey);
    if (!byNs) return [];
    if (namespace !== undefined) {
      const m = byNs.get(namespace);
      return m ? [...m.values()].sort(byName) : [];
    }
    const out: Obj[] = [];
    for (const ns of [...byNs.keys()].sort()) out.push(...[...byNs.get(ns)!.values()].sort(byName));
    return out;
  }

  /** Stores `object` (a new object the caller will not touch again), gives it the next RV and tells subscribers. */
  put(storeKey: string, object: Obj): Obj {
    const ns = object.metadata.namespace ?? '';
    const name = object.metadata.name as string;
    let byNs = this.#objects.get(storeKey);
    if (!byNs) this.#objects.set(storeKey, (byNs = new Map()));
    let m = byNs.get(ns);
    if (!m) byNs.set(ns, (m = new Map()));
    const old = m.get(name);
    const rv = ++this.#rv;
    object.metadata.resourceVersion = String(rv);
    m.set(name, object);
    if (!old) this.#counts.set(storeKey, (this.#counts.get(storeKey) ?? 0) + 1);
    this.#record({ rv, storeKey, type: old ? 'MODIFIED' : 'ADDED', object, old });
    return object;
  }

  /** Removes an object; the DELETED change carries `last` (default: the stored state) with a new RV. */
  remove(storeKey: string, namespace: string, name: string, last?: Obj): Obj | undefined {
    const m = this.#objects.get(storeKey)?.get(namespace);
    const old = m?.get(name);
    if (!m || !old) return undefined;
    m.delete(name);
    this.#counts.set(storeKey, (this.#counts.get(storeKey) ?? 1) - 1);
    const rv = ++this.#rv;
    const base = last ?? old;
    const object = { ...base, metadata: { ...base.metadata, resourceVersion: String(rv) } };
    this.#record({ rv, storeKey, type: 'DELETED', object, old });
    return object;
  }

  subscribe(storeKey: string, s: Subscriber): () => void {
    let set = this.#subscribers.get(storeKey);
    if (!set) this.#subscribers.set(storeKey, (set = new Set()));
    set.add(s);
    return () => set!.delete(s);
  }

  /** Changes of a key with RV > `sinceRv`, or `expired` when part of that span left the window. */
  changesSince(storeKey: string, sinceRv: number): HistoryResult {
    if (sinceRv < this.#compactedRv) return { kind: 'expired', oldestRv: this.#compactedRv + 1 };
    const h = this.#history;
    let lo = this.#historyStart;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (h[mid]!.rv <= sinceRv) lo = mid + 1;
      else hi = mid;
    }
    const changes: Change[] = [];
    for (let i = lo; i < h.length; i++) if (h[i]!.storeKey === storeKey) changes.push(h[i]!);
    return { kind: 'ok', changes };
  }

  /** Drops the whole change window: a watch from any RV before now gets 410 Expired. */
  compact(): void {
    this.#history = [];
    this.#historyStart = 0;
    this.#compactedRv = this.#rv;
  }

  #record(change: Change): void {
    this.#history.push(change);
    const live = this.#history.length - this.#historyStart;
    if (live > this.#window) {
      this.#compactedRv = this.#history[this.#historyStart]!.rv;
      this.#historyStart++;
      // compact the array in batches, not one shift() per write
      if (this.#historyStart >= 1024 && this.#historyStart * 2 >= this.#history.length) {
        this.#history = this.#history.slice(this.#historyStart);
        this.#historyStart = 0;
      }
    }
    const subs = this.#subscribers.get(change.storeKey);
    if (subs) for (const s of [...subs]) s.onChange(change);
  }
}

function byName(a: Obj, b: Obj): number {
  const x = a.metadata.name as string;
  const y = b.metadata.name as string;
  return x < y ? -1 : x > y ? 1 : 0;
}
