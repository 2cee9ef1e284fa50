import type { MembershipOptions } from './options.js';
import type { Update } from './packet.js';

/**
 * The piggyback queue: the latest update about each member, sent on outgoing packets until it
 * has gone out retransmitMult × ceil(log10(n + 1)) times (memberlist's rule: enough for an
 * epidemic to reach every member with high probability). Urgent updates (a verdict: dead,
 * left, a return) go first, then the least-sent: under churn, a stream of fresh suspicions
 * must not starve a dead verdict that a few members missed.
 */
interface Entry {
  readonly update: Update;
  readonly urgent: boolean;
  sent: number;
}

export class Dissemination {
  readonly #entries = new Map<string, Entry>();
  readonly #mult: number;
  #limit: number;

  constructor(options: Pick<MembershipOptions, 'retransmitMult'>) {
    this.#mult = options.retransmitMult;
    this.#limit = this.#mult;
  }

  setClusterSize(n: number): void {
    this.#limit = this.#mult * Math.max(1, Math.ceil(Math.log10(n + 1)));
  }

  get size(): number {
    return this.#entries.size;
  }

  enqueue(update: Update, urgent: boolean): void {
    this.#entries.set(update.name, { update, urgent, sent: 0 });
  }

  clear(): void {
    this.#entries.clear();
  }

  /** `first` followed by up to `max` queued updates about other members; counts each one as sent once more. */
  take(max: number, first: readonly Update[]): Update[] {
    const out = [...first];
    if (max <= 0 || this.#entries.size === 0) return out;
    // The best `max` entries in one pass (max is small): no sort of the whole queue per packet.
    const best: Entry[] = [];
    for (const e of this.#entries.values()) {
      if (best.length === max && !before(e, best[max - 1]!)) continue;
      if (first.length > 0 && first.some((u) => u.name === e.update.name)) continue;
      let i = best.length === max ? max - 1 : best.length;
      while (i > 0 && before(e, best[i - 1]!)) {
        best[i] = best[i - 1]!;
        i--;
      }
      best[i] = e;
    }
    for (const e of best) {
      out.push(e.update);
      if (++e.sent >= this.#limit) this.#entries.delete(e.update.name);
    }
    return out;
  }
}

/** Urgent first, then least sent; ties keep queue order. */
function before(a: Entry, b: Entry): boolean {
  return a.urgent !== b.urgent ? a.urgent : a.sent < b.sent;
}
