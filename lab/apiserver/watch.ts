import type { ServerResponse } from 'node:http';
import type { ResourceDef } from './resources.js';
import { fieldsMatch, labelsMatch, type FieldSelector, type LabelSelector } from './selectors.js';
import type { Change, Store, Subscriber } from './store.js';
import { statusBody, type Obj } from './status.js';
import { toTable } from './table.js';

/** Adds kind/apiVersion (first, as the real server orders them) and converts to the API's shape. */
export function toWire(def: ResourceDef, stored: Obj): Obj {
  // custom resources are unstructured: kube-apiserver writes their keys sorted, as Go maps
  if (def.custom) return sortedKeys({ ...stored, kind: def.kind, apiVersion: def.apiVersion }) as Obj;
  const shaped = def.view ? def.view.toWire(stored) : stored;
  return { kind: def.kind, apiVersion: def.apiVersion, ...shaped };
}

function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Obj;
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortedKeys(o[k])]));
}

/** The serialized line of one change as seen by one API, cached per change: N watchers, one JSON.stringify. */
const lineCache = new WeakMap<Change, Map<string, string>>();
function eventLine(def: ResourceDef, type: string, change: Change, object: Obj): string {
  let m = lineCache.get(change);
  if (!m) lineCache.set(change, (m = new Map()));
  const key = `${def.apiVersion}|${type}|${object === change.object ? 'n' : 'o'}`;
  let line = m.get(key);
  if (line === undefined) {
    line = `${JSON.stringify({ type, object: toWire(def, object) })}\n`;
    m.set(key, line);
  }
  return line;
}

export interface WatchParams {
  readonly def: ResourceDef;
  readonly namespace: string | undefined;
  readonly labels: LabelSelector;
  readonly fields: FieldSelector;
  readonly bookmarks: boolean;
  readonly timeoutMs: number;
  /** kubectl get --watch asks for Tables: every event then carries a one-row Table. */
  readonly table?: { readonly version: 'v1' | 'v1beta1'; readonly includeObject: string | null };
}

/** Hooks the emulator uses to hold deliveries during a pause and to close every watch. */
export interface WatchHost {
  pausedUntil(): number;
  register(w: WatchStream): void;
  unregister(w: WatchStream): void;
}

/**
 * One open watch: a chunked JSON-lines response subscribed to its store key. Selector
 * transitions become ADDED/DELETED (fidelity spec §7); lines are written as changes commit, so
 * a write's events are queued before the write is answered.
 */
export class WatchStream implements Subscriber {
  readonly #res: ServerResponse;
  readonly #p: WatchParams;
  readonly #store: Store;
  readonly #host: WatchHost;
  #unsubscribe: (() => void) | undefined = undefined;
  #timer: NodeJS.Timeout | undefined = undefined;
  #pending: string[] = [];
  #flushTimer: NodeJS.Timeout | undefined = undefined;
  #closed = false;
  #lastRv: number;

  constructor(res: ServerResponse, params: WatchParams, store: Store, host: WatchHost) {
    this.#res = res;
    this.#p = params;
    this.#store = store;
    this.#host = host;
    this.#lastRv = store.resourceVersion;
  }

  /** Starts from `sinceRv` (undefined = synthetic ADDED for the current state). Synchronous: no write can slip in between. */
  start(sinceRv: number | undefined): void {
    const res = this.#res;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    res.on('close', () => this.close());
    this.#host.register(this);
    const { def } = this.#p;
    if (sinceRv === undefined) {
      for (const o of this.#store.list(def.storeKey, this.#p.namespace)) {
        if (this.#matches(o)) this.#send(this.#table ? this.#tableLine('ADDED', o) : `${JSON.stringify({ type: 'ADDED', object: toWire(def, o) })}\n`);
      }
    } else {
      const h = this.#store.changesSince(def.storeKey, sinceRv);
      if (h.kind === 'expired') {
        const status = statusBody(410, 'Expired', `too old resource version: ${sinceRv} (${h.oldestRv})`);
        this.#send(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
        this.close();
        return;
      }
      for (const c of h.changes) this.onChange(c);
    }
    this.#unsubscribe = this.#store.subscribe(def.storeKey, this);
    this.#timer = setTimeout(() => this.#timeout(), this.#p.timeoutMs);
  }

  #matches(o: Obj): boolean {
    if (this.#p.namespace !== undefined && (o.metadata.namespace ?? '') !== this.#p.namespace) return false;
    return labelsMatch(this.#p.labels, o.metadata.labels) && fieldsMatch(this.#p.fields, o);
  }

  get #table(): boolean {
    return this.#p.table !== undefined;
  }

  #tableLine(type: string, object: Obj): string {
    const t = this.#p.table!;
    const { def } = this.#p;
    const table = toTable(def.resource, [toWire(def, object)], { version: t.version, resourceVersion: String(object.metadata?.resourceVersion ?? ''), includeObject: t.includeObject, nowMs: Date.now(), ...(def.printer ? { printer: def.printer } : {}) });
    return `${JSON.stringify({ type, object: table })}\n`;
  }

  #line(type: string, c: Change, object: Obj): string {
    return this.#table ? this.#tableLine(type, object) : eventLine(this.#p.def, type, c, object);
  }

  onChange(c: Change): void {
    if (this.#closed) return;
    this.#lastRv = c.rv;
    const now = this.#matches(c.object);
    const before = c.old !== undefined && c.type !== 'ADDED' ? this.#matches(c.old) : false;
    if (c.type === 'DELETED') {
      if (before || now) this.#send(this.#line('DELETED', c, c.object));
      return;
    }
    if (now && before) this.#send(this.#line('MODIFIED', c, c.object));
    else if (now) this.#send(this.#line('ADDED', c, c.object));
    else if (before) {
      // stopped matching: the client sees the old state, with the new RV
      const gone = { ...c.old!, metadata: { ...c.old!.metadata, resourceVersion: String(c.rv) } };
      this.#send(this.#line('DELETED', c, gone));
    }
  }

  #send(line: string): void {
    const until = this.#host.pausedUntil();
    if (this.#pending.length > 0 || until > Date.now()) {
      this.#pending.push(line);
      if (!this.#flushTimer) this.#flushTimer = setTimeout(() => this.#flush(), Math.max(0, until - Date.now()));
      return;
    }
    this.#res.write(line);
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const until = this.#host.pausedUntil();
    if (until > Date.now()) {
      this.#flushTimer = setTimeout(() => this.#flush(), until - Date.now());
      return;
    }
    const lines = this.#pending;
    this.#pending = [];
    if (!this.#res.writableEnded) for (const l of lines) this.#res.write(l);
    if (this.#closed && !this.#res.writableEnded) this.#res.end();
  }

  #timeout(): void {
    if (this.#p.bookmarks) {
      const { def } = this.#p;
      this.#send(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: def.kind, apiVersion: def.apiVersion, metadata: { resourceVersion: String(Math.max(this.#lastRv, this.#store.resourceVersion)), creationTimestamp: null } } })}\n`);
    }
    this.close();
  }

  /** The store key watched: a deleted CRD ends the watches on its objects. */
  get storeKey(): string {
    return this.#p.def.storeKey;
  }

  /** Ends the stream cleanly (timeout, dropWatches, stop); clients re-watch from their last RV. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    if (this.#timer) clearTimeout(this.#timer);
    this.#host.unregister(this);
    if (this.#pending.length === 0 && !this.#res.writableEnded) this.#res.end();
  }

  /** Ends at once, dropping anything held back by a pause (stop()). */
  abort(): void {
    this.#pending = [];
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.close();
    if (!this.#res.writableEnded) this.#res.end();
  }
}
