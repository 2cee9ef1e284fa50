import type { MemberState, Update } from './packet.js';
import { insertSorted, removeSorted } from './sorted.js';

/** A verdict change the speaker acts on: `peerUp`/`peerDown` move the peer in or out of elections. */
export type MembershipChange =
  | { readonly kind: 'peerUp'; readonly name: string }
  | { readonly kind: 'peerDown'; readonly name: string; readonly reason: 'dead' | 'left' | 'removed' }
  | { readonly kind: 'isolated' }
  | { readonly kind: 'rejoined' }
  /** tick() came this much later than nextTickAt(): this node was not running (SIGSTOP, GC, CPU). */
  | { readonly kind: 'stalled'; readonly lateMs: number }
  /** A peer held this node dead or gone (we refuted it): it may have answered for our addresses. */
  | { readonly kind: 'declaredDown'; readonly by: string };

export interface Suspicion {
  readonly startedAt: number;
  readonly confirmers: Set<string>;
  /** Infinity unless this node's own probe failed (only first-hand accusers run the timer). */
  deadline: number;
  /** Our own evidence came at this time: the timer never ends sooner than suspicionMinMs after it. */
  firstHandAt: number;
  /** First-hand accusers ping the suspect again at this time (a woken suspect's answer refutes). */
  nextPingAt: number;
}

export interface Member {
  state: MemberState;
  incarnation: number;
  suspicion: Suspicion | undefined;
}

/** Alive and suspect members take part in elections and are probed in the rotation. */
export const isUp = (s: MemberState | undefined): boolean => s === 'alive' || s === 'suspect';

/**
 * The member list of one detector, with the indexes derived from it kept in step inside this
 * class: the sorted names of the up members plus self (the probe rotation, kept sorted in place:
 * re-sorting thousands of names at every verdict is what costs), the suspects, and counts.
 */
export class MemberTable {
  readonly #self: string;
  readonly #members = new Map<string, Member>();
  #order: string[];
  /** Sorted names of every member (any state) and self: the probe rotation runs over this. */
  readonly #all: string[];
  #allDirty = false;
  /** add() appends unsorted (a whole cluster joins at once); sorted before the next read. */
  #orderDirty = false;
  readonly #suspects = new Set<string>();
  #notLeft = 0;

  constructor(self: string) {
    this.#self = self;
    this.#order = [self];
    this.#all = [self];
  }

  get size(): number {
    return this.#members.size;
  }
  /** Peers that have not left (alive, suspect or dead). */
  get notLeft(): number {
    return this.#notLeft;
  }
  /** Up peers, not counting self. */
  get upCount(): number {
    return this.#order.length - 1;
  }
  get(name: string): Member | undefined {
    return this.#members.get(name);
  }
  entries(): IterableIterator<[string, Member]> {
    return this.#members.entries();
  }
  /** Sorted names of the up members and self. Read-only for callers. */
  upNames(): readonly string[] {
    return this.#sorted();
  }
  /** Sorted names of every member, whatever its state, and self. Read-only for callers. */
  allNames(): readonly string[] {
    if (this.#allDirty) {
      this.#all.sort();
      this.#allDirty = false;
    }
    return this.#all;
  }
  suspects(): ReadonlySet<string> {
    return this.#suspects;
  }

  /** A new member, alive at incarnation 0. */
  add(name: string): MembershipChange {
    if (name === this.#self || this.#members.has(name)) throw new Error(`incoherent member table: adding "${name}" twice`);
    this.#members.set(name, { state: 'alive', incarnation: 0, suspicion: undefined });
    this.#order.push(name);
    this.#orderDirty = true;
    this.#all.push(name);
    this.#allDirty = true;
    this.#notLeft++;
    return { kind: 'peerUp', name };
  }

  /** Forgets a member; a peerDown change if it was up. */
  remove(name: string): MembershipChange | undefined {
    const m = this.#members.get(name);
    if (!m) return undefined;
    this.#members.delete(name);
    this.#suspects.delete(name);
    removeSorted(this.allNames() as string[], name);
    if (m.state !== 'left') this.#notLeft--;
    if (!isUp(m.state)) return undefined;
    removeSorted(this.#sorted(), name);
    return { kind: 'peerDown', name, reason: 'removed' };
  }

  /** Moves a member to `state`; the change for the speaker when it crosses up/down. */
  setState(name: string, state: MemberState, incarnation: number, suspicion?: Suspicion): MembershipChange | undefined {
    const m = this.#members.get(name);
    if (!m) throw new Error(`incoherent member table: no member "${name}"`);
    const wasUp = isUp(m.state);
    if (m.state === 'left' && state !== 'left') this.#notLeft++;
    if (m.state !== 'left' && state === 'left') this.#notLeft--;
    m.state = state;
    m.incarnation = incarnation;
    m.suspicion = state === 'suspect' ? suspicion ?? m.suspicion : undefined;
    if (state === 'suspect') {
      if (!m.suspicion) throw new Error(`incoherent member table: "${name}" suspect without a suspicion`);
      this.#suspects.add(name);
    } else {
      this.#suspects.delete(name);
    }
    if (wasUp === isUp(state)) return undefined;
    if (isUp(state)) {
      insertSorted(this.#sorted(), name);
      return { kind: 'peerUp', name };
    }
    removeSorted(this.#sorted(), name);
    return { kind: 'peerDown', name, reason: state === 'left' ? 'left' : 'dead' };
  }

  #sorted(): string[] {
    if (this.#orderDirty) {
      this.#order.sort();
      this.#orderDirty = false;
    }
    return this.#order;
  }

  /** What we know of up to `max` members that are not up, `first` (a member) first. */
  downNews(first: string, max: number): Update[] {
    const m = this.#members.get(first)!;
    const news: Update[] = [{ name: first, state: m.state, incarnation: m.incarnation, by: '' }];
    for (const n of this.allNames()) {
      if (news.length >= max) break;
      const other = this.#members.get(n);
      if (n !== first && other && !isUp(other.state)) news.push({ name: n, state: other.state, incarnation: other.incarnation, by: '' });
    }
    return news;
  }

  /** Every suspect back to alive, same incarnation (what an isolated node concluded is void). */
  clearSuspicions(): void {
    for (const n of this.#suspects) {
      const m = this.#members.get(n)!;
      m.state = 'alive';
      m.suspicion = undefined;
    }
    this.#suspects.clear();
  }
}
