import type { Update } from './packet.js';

/**
 * This node's incarnation, and who has heard our current one from us. Someone suspects us,
 * holds us dead or believes we left: we refute with a higher incarnation (SWIM). A private
 * accusation is answered to the accuser only. A public one goes to everyone, and at once to the
 * sender and the accuser: theirs are the timers running out. News older than our refutation
 * still gets our current word, once per member and incarnation.
 */
export interface Refutation {
  /** The incarnation went up. */
  readonly bumped: boolean;
  /** Send our new incarnation to gossipFanout members. */
  readonly broadcast: boolean;
  /** Send our incarnation straight to these members. */
  readonly tell: readonly string[];
}

const NOTHING: Refutation = { bumped: false, broadcast: false, tell: [] };

export class SelfIncarnation {
  readonly #self: string;
  #value: number;
  /** The incarnation last refuted publicly (a private refutation reaches the accuser only). */
  #public = -1;
  readonly #told = new Set<string>();

  constructor(self: string, initial: number) {
    this.#self = self;
    this.#value = initial;
  }

  get value(): number {
    return this.#value;
  }

  /** News about us (`u.name` is this node) in a packet from `from`. */
  onNews(u: Update, from: string, privately: boolean): Refutation {
    if (u.state === 'alive') return NOTHING;
    let bumped = false;
    if (u.incarnation >= this.#value) {
      this.#value = u.incarnation + 1;
      this.#told.clear();
      bumped = true;
    } else if (privately || this.#public === this.#value) {
      return { bumped, broadcast: false, tell: this.#notTold([from, u.by]) };
    }
    if (privately) return { bumped, broadcast: false, tell: this.#notTold([from]) };
    this.#public = this.#value;
    return { bumped, broadcast: true, tell: this.#notTold([u.by, from]) };
  }

  #notTold(names: readonly string[]): string[] {
    const out: string[] = [];
    for (const n of names) {
      if (!n || n === this.#self || this.#told.has(n)) continue;
      this.#told.add(n);
      out.push(n);
    }
    return out;
  }
}
