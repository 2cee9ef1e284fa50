import { encodePacket } from '../../speaker/membership/codec.js';
import { FailureDetector, type MembershipChange, type Step } from '../../speaker/membership/detector.js';
import { DEFAULT_MEMBERSHIP_OPTIONS, type MembershipOptions } from '../../speaker/membership/options.js';
import type { Packet, PacketType } from '../../speaker/membership/packet.js';

/** IPv4 (20) + UDP (8) headers, counted in bytesSent. */
const UDP_IP_HEADER_BYTES = 28;
import { seededRandom } from '../../speaker/membership/prng.js';

/**
 * A deterministic discrete-event simulation of many failure detectors on a virtual network:
 * one virtual clock, seeded randomness, per-node clock skew, latency with jitter, packet loss,
 * slow nodes (they stall now and then), freezes and crashes. Pure: no timers, no sockets.
 * Used by bench/membership.ts and by the unit tests.
 */
export interface SimulationConfig {
  readonly nodes: number;
  readonly seed: number;
  /** Probability that any one packet is lost. */
  readonly lossRate: number;
  /**
   * Share of nodes that are slow. A slow node stops now and then (a long GC, a starved CPU, a
   * busy event loop): for up to slowStallMaxMs (uniform), then runs for an exponential time of
   * mean slowStallEveryMs before the next stall (stalls never merge into longer ones). What reaches
   * it meanwhile waits and is handled in order when it resumes, packets before due timers (the
   * transport reads the socket before it ticks).
   */
  readonly slowFraction: number;
  readonly slowStallMaxMs: number;
  readonly slowStallEveryMs: number;
  /** One-way latency: base + uniform jitter. */
  readonly latencyMs: number;
  readonly jitterMs: number;
  /** Each node's clock is off by up to ± this much (probe rounds are wall-clock aligned). */
  readonly clockSkewMs: number;
  /** Also count the bytes each node sends (encodes every packet: slower). */
  readonly measureBytes: boolean;
  readonly options: MembershipOptions;
}

export const DEFAULT_SIMULATION: SimulationConfig = {
  nodes: 50,
  seed: 1,
  lossRate: 0,
  slowFraction: 0,
  slowStallMaxMs: 200,
  slowStallEveryMs: 1_000,
  latencyMs: 0.2,
  jitterMs: 0.3,
  clockSkewMs: 5,
  measureBytes: false,
  options: DEFAULT_MEMBERSHIP_OPTIONS,
};

/** A verdict change seen by one node, in virtual time. */
export interface ObservedChange {
  readonly at: number;
  readonly observer: string;
  readonly change: MembershipChange;
}

/** A packet for the node, its timer, or (slow nodes) the start of a stall. */
type Event = { at: number; order: number; node: number; kind: 'packet' | 'tick' | 'stall'; packet: Packet | undefined };

/** Min-heap on (at, order): ties resolve in scheduling order, so runs are reproducible. */
class EventQueue {
  #heap: Event[] = [];
  get size(): number {
    return this.#heap.length;
  }
  push(e: Event): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Event | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
  peek(): Event | undefined {
    return this.#heap[0];
  }
}
const less = (a: Event, b: Event): boolean => a.at < b.at || (a.at === b.at && a.order < b.order);

// Timers that fell due during a stall run this long after the packets that queued meanwhile.
const TIMERS_AFTER_PACKETS_MS = 0.0005;

export class Simulation {
  readonly config: SimulationConfig;
  readonly names: readonly string[];
  /** By index; a restart replaces the node's detector. */
  readonly detectors: FailureDetector[];
  readonly slow: ReadonlySet<number>;
  /** Packets and bytes (measureBytes only) sent by each node, by index. */
  readonly sent: number[];
  readonly bytesSent: number[];
  readonly sentByType = new Map<PacketType, number>();
  readonly changes: ObservedChange[] = [];
  #now = 0;
  #order = 0;
  #queue = new EventQueue();
  #index = new Map<string, number>();
  #skew: number[];
  #scheduledTick: number[];
  #busyUntil: number[];
  #crashed = new Set<number>();
  #restarts = 0;
  #net: () => number;

  constructor(config: Partial<SimulationConfig> = {}) {
    this.config = { ...DEFAULT_SIMULATION, ...config };
    const c = this.config;
    const rnd = seededRandom(c.seed);
    this.#net = seededRandom(c.seed ^ 0x5bd1e995);
    this.names = Array.from({ length: c.nodes }, (_, i) => `node-${String(i).padStart(4, '0')}`);
    this.names.forEach((n, i) => this.#index.set(n, i));
    this.#skew = this.names.map(() => (rnd() * 2 - 1) * c.clockSkewMs);
    const slow = new Set<number>();
    const slowCount = Math.round(c.nodes * c.slowFraction);
    while (slow.size < slowCount) slow.add(Math.floor(rnd() * c.nodes));
    this.slow = slow;
    this.sent = this.names.map(() => 0);
    this.bytesSent = this.names.map(() => 0);
    this.#scheduledTick = this.names.map(() => Infinity);
    this.#busyUntil = this.names.map(() => 0);
    this.detectors = [];
    for (let i = 0; i < c.nodes; i++) this.#boot(i);
    for (const i of [...slow].sort((a, b) => a - b)) this.#scheduleStall(i);
  }

  get now(): number {
    return this.#now;
  }
  indexOf(name: string): number {
    return this.#index.get(name)!;
  }
  isCrashed(i: number): boolean {
    return this.#crashed.has(i);
  }

  /** The node stops: it handles nothing and sends nothing from now on. */
  crash(i: number): void {
    this.#crashed.add(i);
  }
  /** A crashed node starts again: a new process (incarnation 0, every peer alive in its view). */
  restart(i: number): void {
    if (!this.#crashed.delete(i)) throw new Error(`restart(${i}): node ${this.names[i]} is running`);
    this.#restarts++;
    this.#scheduledTick[i] = Infinity;
    this.detectors[i] = this.#boot(i);
  }
  /** The node is frozen (SIGSTOP) until `untilMs`: what reaches it waits, then is handled in order. */
  pause(i: number, untilMs: number): void {
    this.#busyUntil[i] = Math.max(this.#busyUntil[i]!, untilMs);
  }
  /** A clean stop: the node sends its "leaving" packets, then stops. */
  leave(i: number): void {
    this.#dispatch(i, this.detectors[i]!.leave());
    this.#crashed.add(i);
  }

  run(untilMs: number): void {
    for (;;) {
      const e = this.#queue.peek();
      if (!e || e.at > untilMs) break;
      this.#queue.pop();
      this.#now = e.at;
      this.#handle(e);
    }
    this.#now = untilMs;
  }

  #boot(i: number): FailureDetector {
    const c = this.config;
    const d = new FailureDetector(this.names[i]!, { now: this.#local(i), random: seededRandom(c.seed * 7919 + i + this.#restarts * 104_729), options: c.options, incarnation: 0 });
    this.detectors[i] = d;
    d.setPeers(this.names, this.#local(i)); // its initial peerUp burst is not a verdict
    this.#scheduleTick(i);
    return d;
  }

  #local(i: number): number {
    return this.#now + this.#skew[i]!;
  }

  #push(at: number, node: number, kind: Event['kind'], packet?: Packet): void {
    this.#queue.push({ at, order: this.#order++, node, kind, packet });
  }

  #scheduleTick(i: number): void {
    // +1 µs: local = now + skew must not round to just below the deadline (else it ticks forever).
    const at = Math.max(this.detectors[i]!.nextTickAt() - this.#skew[i]! + 0.001, this.#now);
    if (!Number.isFinite(at) || at >= this.#scheduledTick[i]!) return;
    this.#scheduledTick[i] = at;
    this.#push(at, i, 'tick');
  }

  /** The next stall of slow node i: an exponential gap after the current one ends (stalls never merge). */
  #scheduleStall(i: number): void {
    const gap = -Math.log(1 - this.#net()) * this.config.slowStallEveryMs;
    this.#push(Math.max(this.#now, this.#busyUntil[i]!) + gap, i, 'stall');
  }

  #handle(e: Event): void {
    const i = e.node;
    if (this.#crashed.has(i)) return;
    if (e.kind === 'stall') {
      if (this.#now >= this.#busyUntil[i]!) this.pause(i, this.#now + this.#net() * this.config.slowStallMaxMs);
      this.#scheduleStall(i);
      return;
    }
    const busyUntil = this.#busyUntil[i]!;
    if (this.#now < busyUntil) {
      // Not running: handled when it resumes, in arrival order, packets before timers.
      const at = e.kind === 'tick' ? busyUntil + TIMERS_AFTER_PACKETS_MS : busyUntil;
      if (e.kind === 'tick') this.#scheduledTick[i] = at;
      this.#push(at, i, e.kind, e.packet);
      return;
    }
    const d = this.detectors[i]!;
    if (e.kind === 'packet') {
      this.#dispatch(i, d.receive(e.packet!, this.#local(i)));
    } else {
      this.#scheduledTick[i] = Infinity;
      this.#dispatch(i, d.tick(this.#local(i)));
    }
  }

  #dispatch(i: number, step: Step): void {
    this.#record(i, step.changes);
    for (const out of step.send) {
      this.sent[i]!++;
      this.sentByType.set(out.packet.type, (this.sentByType.get(out.packet.type) ?? 0) + 1);
      if (this.config.measureBytes) this.bytesSent[i]! += encodePacket(out.packet).bytes.length + UDP_IP_HEADER_BYTES;
      if (this.#net() < this.config.lossRate) continue;
      const to = this.#index.get(out.to);
      if (to === undefined) continue;
      this.#push(this.#now + this.config.latencyMs + this.#net() * this.config.jitterMs, to, 'packet', out.packet);
    }
    this.#scheduleTick(i);
  }

  #record(i: number, changes: readonly MembershipChange[]): void {
    for (const change of changes) this.changes.push({ at: this.#now, observer: this.names[i]!, change });
  }
}
