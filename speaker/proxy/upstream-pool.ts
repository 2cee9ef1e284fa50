/**
 * Idle keep-alive connections to the endpoints of an HTTP backend, for reuse (haproxy's
 * `http-reuse safe`): a connection goes back to its endpoint's list only after a complete,
 * error-free exchange whose request and response both allowed keep-alive; it is taken again
 * last-in first-out (the warmest). A parked connection that closes, or on which anything
 * arrives (an endpoint never speaks first: the connection itself destroys itself then), is
 * skipped when taken and dropped by the sweep, which also closes connections idle for `idleMs`.
 * A request sent on a reused connection that closes before any byte of a response is retried
 * on a new one when that is safe (http-exchange.ts).
 */

/** What the pool needs of a connection (http-upstream.ts's UpstreamConn). */
export interface Pooled {
  readonly closed: boolean;
  destroy(): void;
}

/** Idle connections kept per endpoint: beyond, a finished connection is closed. */
export const MAX_IDLE_PER_ENDPOINT = 64;
/** Endpoints' own keep-alive timeouts are often 5 s (Node) to 60 s: reuse within a few seconds only. */
export const DEFAULT_UPSTREAM_IDLE_MS = 4_000;

interface Parked<C> {
  readonly conn: C;
  readonly sinceMs: number;
}

export class UpstreamPool<E extends { readonly removed: boolean }, C extends Pooled> {
  readonly #idle = new Map<E, Parked<C>[]>();
  readonly #idleMs: number;
  #count = 0;

  constructor(idleMs = DEFAULT_UPSTREAM_IDLE_MS) {
    this.#idleMs = idleMs;
  }

  /** Idle connections held, all endpoints (closed ones not yet swept included). */
  get size(): number {
    return this.#count;
  }

  /** The most recently parked open connection to `endpoint`, or undefined. */
  take(endpoint: E): C | undefined {
    const list = this.#idle.get(endpoint);
    if (list === undefined) return undefined;
    let found: C | undefined;
    while (found === undefined && list.length > 0) {
      const p = list.pop()!;
      this.#count--;
      if (!p.conn.closed) found = p.conn;
    }
    if (list.length === 0) this.#idle.delete(endpoint);
    return found;
  }

  /** Parks a connection after a clean exchange; closes it when the endpoint is gone or its list is full. */
  give(endpoint: E, conn: C, nowMs: number): void {
    if (endpoint.removed || conn.closed) {
      conn.destroy();
      return;
    }
    let list = this.#idle.get(endpoint);
    if (list === undefined) this.#idle.set(endpoint, (list = []));
    if (list.length >= MAX_IDLE_PER_ENDPOINT) {
      conn.destroy();
      return;
    }
    list.push({ conn, sinceMs: nowMs });
    this.#count++;
  }

  /** Drops closed connections, and closes those idle for too long or of removed endpoints. */
  sweep(nowMs: number): void {
    for (const [endpoint, list] of this.#idle) {
      const keep = list.filter((p) => {
        if (p.conn.closed) return false;
        if (!endpoint.removed && nowMs - p.sinceMs < this.#idleMs) return true;
        p.conn.destroy();
        return false;
      });
      this.#count -= list.length - keep.length;
      if (keep.length === 0) this.#idle.delete(endpoint);
      else this.#idle.set(endpoint, keep);
    }
  }

  /** Closes every idle connection (the backend is gone, its TLS settings changed, or the engine stops); the pool stays usable. */
  close(): void {
    for (const list of this.#idle.values()) for (const p of list) p.conn.destroy();
    this.#idle.clear();
    this.#count = 0;
  }
}
