/**
 * What the stats page remembers of the speaker's ownership: since when each address is
 * answered for, and the latest takeovers, releases, handoffs and drains in a small ring. In
 * memory, no I/O; the clock is injected. Written only when ownership changes (the controller's
 * applies), never per connection or per ARP request.
 */
import { ServedAddresses } from '../served.js';
import type { OwnershipEvent, OwnershipEventKind } from './snapshot.js';

/** The latest `capacity` items; the oldest slot is overwritten (no shift()). */
export class Ring<T> {
  readonly #items: (T | undefined)[];
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`incoherent ring capacity: ${capacity}`);
    this.#items = new Array<T | undefined>(capacity).fill(undefined);
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#items.length;
    this.#size = Math.min(this.#size + 1, this.#items.length);
  }

  /** Newest first. */
  newestFirst(): T[] {
    const out: T[] = [];
    for (let i = 1; i <= this.#size; i++) out.push(this.#items[(this.#next - i + this.#items.length) % this.#items.length]!);
    return out;
  }
}

/** A busy node moves a few addresses at a time: 50 events cover the last several takeovers. */
export const JOURNAL_CAPACITY = 50;

export class OwnershipJournal {
  readonly #events: Ring<OwnershipEvent>;
  readonly #since = new Map<string, number>();
  readonly #now: () => number;

  constructor(opts: { now?: () => number; capacity?: number } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#events = new Ring(opts.capacity ?? JOURNAL_CAPACITY);
  }

  record(kind: OwnershipEventKind, address: string, detail: string): void {
    this.#events.push({ atMs: this.#now(), kind, address, detail });
  }

  /** The address is answered for from now on (kept if it already was). */
  owned(address: string, detail: string): void {
    if (this.#since.has(address)) return;
    this.#since.set(address, this.#now());
    this.record('owned', address, detail);
  }

  released(address: string, detail: string): void {
    if (!this.#since.delete(address)) return;
    this.record('released', address, detail);
  }

  sinceMs(address: string): number | undefined {
    return this.#since.get(address);
  }

  events(): OwnershipEvent[] {
    return this.#events.newestFirst();
  }
}

/**
 * The served table (served.ts) that also tells the journal when an address starts or stops
 * being answered for: the controller's takeover and release steps, without touching it.
 */
export class RecordingServedAddresses extends ServedAddresses {
  readonly journal: OwnershipJournal;

  constructor(journal: OwnershipJournal) {
    super();
    this.journal = journal;
  }

  override set(ip: string, interfaces: readonly string[]): void {
    super.set(ip, interfaces);
    this.journal.owned(ip, `answering ARP/NDP on ${interfaces.join(', ')}`);
  }

  override delete(ip: string): void {
    super.delete(ip);
    this.journal.released(ip, 'another node owns it now, or its Service went: no longer announced; open connections drain');
  }

  override clear(): void {
    for (const ip of this.addresses()) this.journal.released(ip, 'this speaker is stopping: handed over');
    super.clear();
  }
}
