import { Dissemination } from './dissemination.js';
import { isUp, MemberTable, type MembershipChange, type Suspicion } from './members.js';
import type { MembershipOptions } from './options.js';
import type { Outgoing, PacketType, Update } from './packet.js';
import { sample } from './prng.js';
import type { SelfIncarnation } from './refutation.js';
import { armSuspicion, expectedConfirmations, newSuspicion } from './suspicion.js';

/** A private accusation: our probe failed, only the accused knows yet (see Verdicts.accuse). */
export interface Accusation {
  incarnation: number;
  publicAt: number;
}

/**
 * What one failure detector (detector.ts) holds about each member, and SWIM's rules for changing
 * it: news from others applied in incarnation order, our own failed probes turned into private
 * accusations or confirmations, Lifeguard's suspicions with their accusers, verdicts spread at
 * once or piggybacked. Also the outbox every packet leaves through, carrying the piggyback
 * queue, and the changes reported to the caller. No timers: the detector's tick decides when an
 * accusation goes public and when a suspicion runs out.
 */
export class Verdicts {
  readonly members: MemberTable;
  /** Private accusations by the accused's name. */
  readonly accusations = new Map<string, Accusation>();
  /** The piggyback queue. */
  readonly gossip: Dissemination;
  readonly #name: string;
  readonly #options: MembershipOptions;
  readonly #random: () => number;
  readonly #incarnation: SelfIncarnation;
  #out: Outgoing[] = [];
  #changes: MembershipChange[] = [];

  constructor(name: string, options: MembershipOptions, random: () => number, incarnation: SelfIncarnation) {
    this.#name = name;
    this.#options = options;
    this.#random = random;
    this.#incarnation = incarnation;
    this.members = new MemberTable(name);
    this.gossip = new Dissemination(options);
  }

  /**
   * It talks, but we hold it dead or gone: tell it, so it refutes with a higher incarnation. It
   * has probably just started, with every peer alive in its view: tell it who else is down too.
   */
  tellItsDead(name: string): void {
    this.send(name, 'gossip', 0, '', this.members.downNews(name, this.#options.maxPiggyback));
  }

  /**
   * Our probe of `name` failed. If others already suspect it, we confirm: to the members who
   * accuse it (their timers are the short ones) and a few others. Otherwise we accuse it
   * privately first: only the accused is told, and the suspicion goes public after
   * accusationGraceMs unless it answers. A slow-but-alive node thus costs a few packets, not a
   * cluster-wide broadcast of the suspicion and then of its refutation.
   */
  accuse(name: string, now: number): void {
    const m = this.members.get(name);
    if (!m || !isUp(m.state)) return;
    const u: Update = { name, state: 'suspect', incarnation: m.incarnation, by: this.#name };
    if (m.state === 'suspect') {
      if (!this.suspect(u, now)) return;
      // To the accusers (their timers run) and the suspect (so it can refute to us directly).
      for (const c of m.suspicion!.confirmers) if (c !== this.#name) this.send(c, 'gossip', 0, '', [u]);
      this.send(name, 'gossip', 0, '', [u]);
      this.spread(u, 'fanout');
      return;
    }
    if (this.accusations.has(name)) return;
    this.accusations.set(name, { incarnation: m.incarnation, publicAt: now + this.#options.accusationGraceMs });
    this.send(name, 'gossip', 0, name, [u]);
  }

  /**
   * SWIM's update rules for news from others (incarnation order, then alive < suspect < dead;
   * left is final). What changes a verdict (dead, left, a return) is forwarded at once by
   * everyone who learns it; a suspicion or its end rides on later packets.
   */
  apply(u: Update, now: number): void {
    const m = this.members.get(u.name);
    if (!m) return;
    switch (u.state) {
      case 'alive': {
        if (u.incarnation <= m.incarnation) return;
        this.accusations.delete(u.name);
        const wasUp = isUp(m.state);
        this.change(this.members.setState(u.name, 'alive', u.incarnation));
        // A return from dead or left changes verdicts everywhere: forward it at once. The end
        // of a suspicion changes none; its accusers hear the refutation from the suspect itself.
        this.spread(u, wasUp ? 'queue' : 'fanout');
        return;
      }
      case 'suspect':
        if (this.suspect(u, now)) this.spread(u, 'queue');
        return;
      case 'dead':
      case 'left':
        if (m.state === 'left' || (m.state === 'dead' && u.state === 'dead') || u.incarnation < m.incarnation) return;
        this.change(this.members.setState(u.name, u.state, u.incarnation));
        this.spread(u, 'fanout');
        return;
    }
  }

  /** Records a suspicion or one more accuser of it (Lifeguard: each shortens the timeout); false if nothing new. */
  suspect(u: Update, now: number): boolean {
    const m = this.members.get(u.name);
    if (!m || !isUp(m.state) || u.incarnation < m.incarnation) return false;
    let s: Suspicion;
    if (m.state === 'alive' || u.incarnation > m.incarnation) {
      s = newSuspicion(u.by, now);
      this.change(this.members.setState(u.name, 'suspect', u.incarnation, s));
    } else {
      s = m.suspicion!;
      if (s.confirmers.has(u.by)) return false;
      s.confirmers.add(u.by);
    }
    // K is bounded by the members that can still confirm: the up ones.
    armSuspicion(s, u.by, this.#name, now, expectedConfirmations(this.#options.suspicionConfirmations, this.members.upCount + 1), this.#options);
    return true;
  }

  change(c: MembershipChange | undefined): void {
    if (c) this.#changes.push(c);
  }

  /**
   * Queue `u` for piggybacking; 'fanout' also sends it at once to gossipFanout random members.
   * `check`: ask them to probe that suspect themselves (independent confirmations, fast).
   */
  spread(u: Update, how: 'queue' | 'fanout', check = ''): void {
    this.gossip.enqueue(u, how === 'fanout' && u.state !== 'suspect');
    if (how === 'queue') return;
    for (const n of sample(this.members.upNames(), this.#options.gossipFanout, this.#random, (x) => x === this.#name || x === u.name)) {
      this.send(n, 'gossip', 0, check, [u]);
    }
  }

  send(to: string, type: PacketType, seq: number, target: string, first: readonly Update[] = []): void {
    const updates = this.gossip.take(this.#options.maxPiggyback - first.length, first);
    this.#out.push({ to, packet: { type, from: this.#name, incarnation: this.#incarnation.value, seq, target, updates } });
  }

  /** What to send and the changes since the last call; empties both. */
  take(): { send: Outgoing[]; changes: MembershipChange[] } {
    const step = { send: this.#out, changes: this.#changes };
    this.#out = [];
    this.#changes = [];
    return step;
  }
}
