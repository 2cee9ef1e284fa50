/**
 * The UDP flow table of one frontend, a plain data structure (no sockets, no clock: `now` comes
 * in): flows by client address, then port, so a datagram finds its flow with two map lookups on
 * the values `dgram` already gives, without building a key string per datagram; and the flows
 * not yet assured (no client datagram after a reply) in creation order, where a new flow looks
 * for one to evict when a bound is reached (limits.ts `evictability`).
 */
import { evictability, type FlowActivity } from './limits.js';

export interface FlowEntry extends FlowActivity {
  readonly clientAddress: string;
  readonly clientPort: number;
}

/** Flows looked at for one eviction before giving up: bounds the work a datagram can cause. */
export const MAX_EVICTION_SCAN = 64;

/**
 * The first evictable `unassured` flow of `order` (creation order), looking at most at
 * MAX_EVICTION_SCAN of them. A flow passed over because it was active just now goes to the
 * back, so a source that keeps a few flows busy cannot make every search start on them.
 */
export function oldestEvictable<F extends FlowEntry>(order: Set<F>, nowMs: number): F | undefined {
  let looked = 0;
  const skipped: F[] = [];
  let found: F | undefined;
  for (const f of order) {
    if (looked++ >= MAX_EVICTION_SCAN) break;
    if (evictability(f, nowMs) === 'unassured') {
      found = f;
      break;
    }
    skipped.push(f);
  }
  for (const f of skipped) {
    order.delete(f);
    order.add(f);
  }
  return found;
}

export class FlowTable<F extends FlowEntry = FlowEntry> {
  readonly #byAddress = new Map<string, Map<number, F>>();
  /** Flows not assured yet, oldest first (a Set iterates in insertion order). */
  readonly unassured = new Set<F>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(address: string, port: number): F | undefined {
    return this.#byAddress.get(address)?.get(port);
  }

  /** Flows of one client address. */
  sourceCount(address: string): number {
    return this.#byAddress.get(address)?.size ?? 0;
  }

  add(f: F): void {
    let ports = this.#byAddress.get(f.clientAddress);
    if (ports === undefined) this.#byAddress.set(f.clientAddress, (ports = new Map()));
    const old = ports.get(f.clientPort);
    if (old === undefined) this.#size++;
    else this.unassured.delete(old);
    ports.set(f.clientPort, f);
    if (!f.assured) this.unassured.add(f);
  }

  /** Removes `f` if it is the flow held for its client; false otherwise. */
  delete(f: F): boolean {
    const ports = this.#byAddress.get(f.clientAddress);
    if (ports?.get(f.clientPort) !== f) return false;
    ports.delete(f.clientPort);
    if (ports.size === 0) this.#byAddress.delete(f.clientAddress);
    this.unassured.delete(f);
    this.#size--;
    return true;
  }

  /** `f` became assured: it leaves the eviction order. */
  assured(f: F): void {
    this.unassured.delete(f);
  }

  /** An evictable flow of one client address: its oldest unassured one, else a stale one. At most its share is looked at. */
  evictableOf(address: string, nowMs: number): F | undefined {
    const ports = this.#byAddress.get(address);
    if (ports === undefined) return undefined;
    let stale: F | undefined;
    for (const f of ports.values()) {
      const e = evictability(f, nowMs);
      if (e === 'unassured') return f;
      if (e === 'stale' && stale === undefined) stale = f;
    }
    return stale;
  }

  *values(): IterableIterator<F> {
    for (const ports of this.#byAddress.values()) yield* ports.values();
  }
}
