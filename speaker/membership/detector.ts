import { isUp, type MemberTable, type MembershipChange } from './members.js';
import { DEFAULT_MEMBERSHIP_OPTIONS, type MembershipOptions } from './options.js';
import type { MemberState, Outgoing, Packet, Update } from './packet.js';
import { phaseOf, ProbeBook, roundTargets } from './probes.js';
import { SelfIncarnation } from './refutation.js';
import { sample } from './prng.js';
import { selfStanding, type SelfStanding } from './standing.js';
import { Verdicts, type Accusation } from './verdicts.js';

export type { MembershipChange } from './members.js';

/**
 * The SWIM failure detector with Lifeguard's local health, as a state machine with no I/O: the
 * caller feeds `tick(now)` and `receive(packet, now)` and sends what they return. Randomness is
 * injected. One instance per node; speaker/membership/README.md describes the protocol. This
 * class runs the clock (rounds, probes, timeouts, isolation) and dispatches packets; SWIM's
 * update rules and the outbox are in verdicts.ts.
 */
export interface Step {
  readonly send: Outgoing[];
  readonly changes: MembershipChange[];
}

export interface MemberView {
  readonly state: MemberState;
  readonly incarnation: number;
}

export class FailureDetector {
  readonly name: string;
  readonly options: MembershipOptions;
  readonly #random: () => number;
  readonly #incarnation: SelfIncarnation;
  readonly #verdicts: Verdicts;
  /** The verdicts' member table. */
  readonly #members: MemberTable;
  readonly #probes = new ProbeBook();
  /** The verdicts' private accusations: our probe failed, only the accused knows yet (see Verdicts.accuse). */
  readonly #accusations: Map<string, Accusation>;
  /** Peers added since we last heard from them directly: alive in our view only by assumption. */
  readonly #unheard = new Set<string>();
  readonly #phaseMs: number;
  #nextProbeAt: number;
  #nextProbeRound: number;
  #localHealth = 0;
  #lastHeardAt: number;
  #standing: SelfStanding = { kind: 'member' };
  #leaving = false;
  /** nextTickAt() after the last step: a tick much later than this is a stall. */
  #dueAt: number;

  readonly #isUp = (name: string): boolean => isUp(this.#members.get(name)?.state);

  constructor(name: string, opts: { now: number; random: () => number; options?: MembershipOptions; incarnation?: number }) {
    this.name = name;
    this.options = opts.options ?? DEFAULT_MEMBERSHIP_OPTIONS;
    this.#random = opts.random;
    this.#incarnation = new SelfIncarnation(name, opts.incarnation ?? 0);
    this.#verdicts = new Verdicts(name, this.options, opts.random, this.#incarnation);
    this.#members = this.#verdicts.members;
    this.#accusations = this.#verdicts.accusations;
    // Until it has peers, a node's round starts at its own phase (then at its target's).
    this.#phaseMs = phaseOf(name, this.options.probeIntervalMs);
    this.#nextProbeRound = Math.ceil((opts.now - this.#phaseMs) / this.options.probeIntervalMs);
    this.#nextProbeAt = this.#nextProbeRound * this.options.probeIntervalMs + this.#phaseMs;
    this.#lastHeardAt = opts.now;
    this.#dueAt = this.nextTickAt();
  }

  get incarnation(): number {
    return this.#incarnation.value;
  }
  get localHealth(): number {
    return this.#localHealth;
  }
  get standing(): SelfStanding {
    return this.#standing;
  }

  /** The members and what this node believes about each (not itself). */
  view(): ReadonlyMap<string, MemberView> {
    return new Map([...this.#members.entries()].map(([n, m]) => [n, { state: m.state, incarnation: m.incarnation }]));
  }
  /** Peers alive for the election: probes answer, or within their suspicion window. */
  alivePeers(): string[] {
    return this.#members.upNames().filter((n) => n !== this.name);
  }
  stateOf(name: string): MemberState | undefined {
    return this.#members.get(name)?.state;
  }
  /**
   * Peers we hold alive only because they were added so (SWIM's optimistic start): no packet
   * from them, no answer to our probes (a relayed one counts) and no verdict yet. Empty once
   * every peer was heard or judged; the speaker is not ready before.
   */
  unheardPeers(): string[] {
    return [...this.#unheard].filter((n) => this.#members.get(n)?.state === 'alive').sort();
  }

  /** The potential members (from Leases). New ones start alive; missing ones are forgotten. */
  setPeers(names: Iterable<string>, now: number): Step {
    const wanted = new Set(names);
    wanted.delete(this.name);
    const gone = [...this.#members.entries()].filter(([n]) => !wanted.has(n)).map(([n]) => n);
    for (const n of gone) {
      this.#unheard.delete(n);
      this.#verdicts.change(this.#members.remove(n));
    }
    let added = false;
    for (const n of wanted) {
      if (this.#members.get(n)) continue;
      this.#verdicts.change(this.#members.add(n));
      this.#unheard.add(n);
      added = true;
    }
    // New peers get isolationMs to be heard before their silence counts against us.
    if (added) this.#lastHeardAt = Math.max(this.#lastHeardAt, now);
    this.#verdicts.gossip.setClusterSize(this.#members.size + 1);
    if (!this.#leaving) this.#updateStanding(now);
    return this.#flush();
  }

  /** When the caller must call tick() next, at the latest. */
  nextTickAt(): number {
    if (this.#leaving) return Infinity;
    const member = this.#standing.kind === 'member';
    let t = Math.min(this.#nextProbeAt, this.#probes.earliest());
    if (member) {
      for (const n of this.#members.suspects()) {
        const sus = this.#members.get(n)!.suspicion!;
        t = Math.min(t, sus.deadline, sus.nextPingAt);
      }
    }
    for (const a of this.#accusations.values()) t = Math.min(t, a.publicAt);
    if (member && this.#members.upCount >= this.options.isolationMinPeers) t = Math.min(t, this.#lastHeardAt + this.options.isolationMs);
    if (this.#standing.kind === 'rejoining') t = Math.min(t, this.#standing.untilMs);
    return t;
  }

  tick(now: number): Step {
    if (this.#leaving) return this.#flush();
    const lateMs = now - this.#dueAt;
    if (lateMs > this.options.stallThresholdMs) this.#stalled(now, lateMs);
    this.#updateStanding(now);
    const member = this.#standing.kind === 'member';
    for (const e of this.#probes.due(now)) {
      switch (e.kind) {
        case 'directTimeout': {
          const helpers = sample(this.#members.upNames(), this.options.indirectProbes, this.#random, (n) => n === e.probe.target || n === this.name);
          e.probe.helpers = helpers.length;
          for (const h of helpers) this.#verdicts.send(h, 'pingReq', e.seq, e.probe.target);
          break;
        }
        case 'failed':
          if (!member) break; // an isolated node's failed probes say nothing about the target
          // Lifeguard: a failed probe and every missing nack hint that we are the slow side.
          this.#adjustHealth(1 + (e.probe.helpers - e.probe.nacks));
          this.#verdicts.accuse(e.probe.target, now);
          break;
        case 'relayExpired':
          this.#verdicts.send(e.relay.origin, 'nack', e.relay.originSeq, '');
          break;
      }
    }
    for (const [n, a] of this.#accusations) {
      if (now < a.publicAt) continue;
      this.#accusations.delete(n);
      const m = this.#members.get(n);
      if (!member || m?.state !== 'alive' || m.incarnation !== a.incarnation) continue;
      // No refutation in the grace period: make the suspicion public, and ask the members it is
      // sent to at once to probe the suspect themselves (independent confirmations, fast).
      const u: Update = { name: n, state: 'suspect', incarnation: m.incarnation, by: this.name };
      this.#verdicts.suspect(u, now);
      this.#verdicts.spread(u, 'fanout', n);
      this.#verdicts.send(n, 'gossip', 0, '', [u]);
    }
    if (member) {
      for (const n of [...this.#members.suspects()]) {
        const m = this.#members.get(n)!;
        const sus = m.suspicion!;
        if (now >= sus.nextPingAt && now < sus.deadline) {
          // Ask again, with the suspicion: the suspect refutes, and any packet from it with a
          // higher incarnation ends it here; one lost datagram must not decide.
          sus.nextPingAt = now + this.options.probeIntervalMs / 2;
          this.#verdicts.send(n, 'ping', this.#probes.nextSeq(), n, [{ name: n, state: 'suspect', incarnation: m.incarnation, by: this.name }]);
        }
        if (now < sus.deadline) continue;
        this.#verdicts.change(this.#members.setState(n, 'dead', m.incarnation));
        this.#verdicts.spread({ name: n, state: 'dead', incarnation: m.incarnation, by: '' }, 'fanout');
      }
    }
    if (now >= this.#nextProbeAt) {
      const { probe, designated } = roundTargets(this.#members.allNames(), this.name, this.#nextProbeRound, this.#isUp);
      if (probe !== undefined) this.#probe(probe, now);
      // A designated target held dead is asked too (no verdict hangs on it): a healed or
      // restarted node hears within a round that it was declared dead, and refutes.
      if (designated !== probe && this.#members.get(designated!)?.state === 'dead') this.#verdicts.send(designated!, 'ping', this.#probes.nextSeq(), designated!);
      // Lifeguard: a node in poor local health probes less often; a late tick skips missed rounds.
      const current = Math.floor(now / this.options.probeIntervalMs);
      this.#nextProbeRound = Math.max(this.#nextProbeRound + 1 + this.#localHealth, current + 1);
      // The probe goes out at the target's phase in the round (see phaseOf).
      const next = roundTargets(this.#members.allNames(), this.name, this.#nextProbeRound, this.#isUp).probe;
      this.#nextProbeAt = this.#nextProbeRound * this.options.probeIntervalMs + (next === undefined ? this.#phaseMs : phaseOf(next, this.options.probeIntervalMs));
    }
    return this.#flush();
  }

  receive(packet: Packet, now: number): Step {
    if (this.#leaving || packet.from === this.name) return this.#flush();
    const sender = this.#members.get(packet.from);
    if (sender) {
      this.#lastHeardAt = now;
      this.#unheard.delete(packet.from);
      this.#accusations.delete(packet.from); // it talks: whatever our probe saw, it is not dead
      this.#updateStanding(now);
      if (packet.incarnation > sender.incarnation) this.#verdicts.apply({ name: packet.from, state: 'alive', incarnation: packet.incarnation, by: '' }, now);
      else if (!isUp(sender.state)) this.#verdicts.tellItsDead(packet.from);
    }
    // A gossip packet whose target is us is a private accusation (see #accuse).
    const accusedPrivately = packet.type === 'gossip' && packet.target === this.name;
    for (const u of packet.updates) {
      if (u.name === this.name) this.#aboutSelf(u, packet.from, accusedPrivately);
      else this.#verdicts.apply(u, now);
    }
    switch (packet.type) {
      case 'ping':
        if (packet.target === this.name) this.#verdicts.send(packet.from, 'ack', packet.seq, '');
        break;
      case 'ack': {
        const { answered, relay } = this.#probes.ack(packet.seq);
        if (answered !== undefined) {
          this.#adjustHealth(-1);
          this.#unheard.delete(answered); // through a helper too: it is up, if not on our direct path
        }
        if (relay) this.#verdicts.send(relay.origin, 'ack', relay.originSeq, '');
        break;
      }
      case 'pingReq': {
        if (packet.target === this.name || !packet.target) break;
        // Lifeguard: answer with a nack before the origin gives up (at 80 % of its indirect window).
        const windowMs = (this.options.probeTimeoutMs - this.options.directTimeoutMs) * 0.8;
        this.#verdicts.send(packet.target, 'ping', this.#probes.relay(packet.from, packet.seq, now + windowMs), packet.target);
        break;
      }
      case 'nack':
        this.#probes.nack(packet.seq);
        break;
      case 'gossip': {
        // A new public suspicion with a target: the accuser asks us to check the suspect ourselves.
        const t = accusedPrivately || !packet.target ? undefined : this.#members.get(packet.target);
        if (t?.state === 'suspect' && this.#standing.kind === 'member' && !this.#probes.isProbing(packet.target)) this.#probe(packet.target, now);
        // We hold it dead or gone already: the accuser is behind (it just started), tell it.
        if (t && !isUp(t.state)) this.#verdicts.send(packet.from, 'gossip', 0, '', [{ name: packet.target, state: t.state, incarnation: t.incarnation, by: '' }]);
        break;
      }
    }
    return this.#flush();
  }

  /** Clean stop: tell every peer at once that this node leaves; the detector is inert afterwards. */
  leave(): Step {
    if (this.#leaving) return this.#flush();
    const update: Update = { name: this.name, state: 'left', incarnation: this.#incarnation.value, by: '' };
    for (const [n] of this.#members.entries()) this.#verdicts.send(n, 'gossip', 0, '', [update]);
    this.#leaving = true;
    return this.#flush();
  }

  #probe(target: string, now: number): void {
    const scale = 1 + this.#localHealth;
    const seq = this.#probes.start(target, now + this.options.directTimeoutMs * scale, now + this.options.probeTimeoutMs * scale);
    this.#verdicts.send(target, 'ping', seq, target);
  }

  #adjustHealth(delta: number): void {
    this.#localHealth = Math.min(this.options.maxLocalHealth, Math.max(0, this.#localHealth + delta));
  }

  /** We were not running for lateMs: give every pending verdict the time it did not get. */
  #stalled(now: number, lateMs: number): void {
    this.#probes.shift(lateMs);
    for (const a of this.#accusations.values()) a.publicAt += lateMs;
    for (const n of this.#members.suspects()) {
      const sus = this.#members.get(n)!.suspicion!;
      sus.deadline += lateMs;
      sus.nextPingAt = Math.min(sus.nextPingAt, now);
    }
    this.#lastHeardAt = Math.min(now, this.#lastHeardAt + lateMs);
    this.#adjustHealth(1);
    this.#verdicts.change({ kind: 'stalled', lateMs });
  }

  #updateStanding(now: number): void {
    const next = selfStanding({
      now,
      previous: this.#standing,
      upPeers: this.#members.upCount,
      minPeers: this.options.isolationMinPeers,
      lastHeardAt: this.#lastHeardAt,
      isolationMs: this.options.isolationMs,
      rejoinSettleMs: this.options.rejoinSettleMs,
    });
    const before = this.#standing.kind;
    this.#standing = next;
    if (before === next.kind) return;
    if (next.kind === 'isolated') {
      // What we concluded while cut off is worthless: drop our suspicions and pending news,
      // and probe at full rate so the heal is noticed within a round.
      this.#members.clearSuspicions();
      this.#accusations.clear();
      this.#probes.clearProbes();
      this.#verdicts.gossip.clear();
      this.#localHealth = 0;
      this.#verdicts.change({ kind: 'isolated' });
    } else if (next.kind === 'member') {
      this.#verdicts.change({ kind: 'rejoined' });
    }
  }

  /** News about us: refute it (refutation.ts decides to whom). */
  #aboutSelf(u: Update, from: string, privately: boolean): void {
    const r = this.#incarnation.onNews(u, from, privately);
    if (r.bumped && u.state === 'suspect') this.#adjustHealth(1); // Lifeguard: being suspected hints we are slow
    // Held dead (or gone) by someone: they may have taken our addresses over meanwhile.
    if (r.bumped && (u.state === 'dead' || u.state === 'left')) this.#verdicts.change({ kind: 'declaredDown', by: u.by || from });
    if (r.broadcast) this.#verdicts.spread(this.#selfUpdate(), 'fanout');
    for (const to of r.tell) this.#verdicts.send(to, 'gossip', 0, '', [this.#selfUpdate()]);
  }

  #selfUpdate(): Update {
    return { name: this.name, state: 'alive', incarnation: this.#incarnation.value, by: '' };
  }

  #flush(): Step {
    const step = this.#verdicts.take();
    this.#dueAt = this.nextTickAt();
    return step;
  }
}
