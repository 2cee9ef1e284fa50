import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { errorMessage } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { counter, gauge } from '../src/metrics.js';
import { EPOCH_BYTES, MAX_PAYLOAD_BYTES, MembershipAuth } from './membership/auth.js';
import { decodePacket, encodePacket } from './membership/codec.js';
import { FailureDetector, type Step } from './membership/detector.js';
import { livenessView, sameView, type ApiView, type LivenessView, type MemberLease, type ProbeVerdict } from './membership/liveness.js';
import type { KeyRing } from './membership/keys.js';
import type { MembershipOptions } from './membership/options.js';
import type { Packet } from './membership/packet.js';

/**
 * The membership transport: one UDP socket per address family on the node network, driving the
 * pure failure detector (speaker/membership/detector.ts: SWIM + Lifeguard) with a timer set to
 * its nextTickAt(), and feeding the pure rule (membership/liveness.ts) with the detector's
 * verdicts and the alive Leases from the cache. It decides nothing: it sends what the detector
 * says, counts, logs, and calls `onChange` the moment the view changes (a peer going down is
 * acted on at once, not at the next cache event).
 *
 * Every datagram is sealed with the memberlist key (membership/auth.ts: HMAC-SHA256, a nonce
 * and its sender's time); one that is not authenticated by a key we accept, replayed, or sent
 * with a clock too far from ours is dropped before the detector sees it, counted by reason, and
 * logged at most once per reason every REFUSED_LOG_MS.
 *
 * Cost: one probe and one ack per node per probe interval, ~40 datagrams of ~100 bytes per
 * second per node at 50 ms whatever the cluster size (speaker/membership/README.md).
 */

const m = {
  packets: counter('fulcrum_speaker_membership_packets_total', 'Membership datagrams sent and received, by type', ['direction', 'type']),
  dropped: counter('fulcrum_speaker_membership_dropped_total', 'Membership datagrams not sent or not accepted, by reason', ['reason']),
  changes: counter('fulcrum_speaker_membership_changes_total', 'Membership verdicts of this node, by kind and reason', ['kind', 'reason']),
  localHealth: gauge('fulcrum_speaker_membership_local_health', 'Lifeguard local health: 0 is healthy; timeouts and probe period are (1 + this) times longer'),
  byKey: counter('fulcrum_speaker_membership_authenticated_total', 'Membership datagrams accepted, by the memberlist Secret field whose key authenticated them (secretkey-previous no longer growing on any node: the rotation is over)', ['key']),
};

/** At most one warning per refusal reason this often: a flood of forged datagrams must not flood the log. */
const REFUSED_LOG_MS = 10_000;

/** A Lease renewal seen this long after our dead verdict proves the peer alive elsewhere. */
const EVIDENCE_MARGIN_MS = 1_000;
/** Our own renewal not back through the watch after its period plus this long: our view of the Leases is not current. */
const API_MARGIN_MS = 1_000;
/**
 * A silent peer's Lease not renewed for its period plus this long (by our own renewals' progress)
 * is stale: the peer is dead. Longer than API_MARGIN_MS plus the 1 s re-evaluation and an apply,
 * so that a live peer cut off from its peers and from the API has withdrawn first.
 */
const STALE_MARGIN_MS = 3_000;
/** Our own renew period while no peer is heard and the API is to tell why: the stale verdict lags the truth by at most this. */
const HURRIED_RENEW_MS = 1_000;

/** Monotonic, but on the wall clock's scale: probe rounds line up across nodes (NTP-close clocks). */
const clock = (): number => performance.timeOrigin + performance.now();

export interface MembershipTransportOptions {
  readonly me: string;
  readonly port: number;
  readonly membership: MembershipOptions;
  /** The memberlist keys (membership/keys.ts); setKeys() for a change of the Secret. */
  readonly keys: KeyRing;
  /** Allowed difference between our clock and a Lease holder's when judging a Lease alone. */
  readonly skewToleranceMs: number;
  readonly logger: Logger;
  readonly onChange: (view: LivenessView) => void;
  /** This process was not running (SIGSTOP, a long GC, a starved CPU) for stalledMs. */
  readonly onStall: (stalledMs: number) => void;
  /** A peer held this node dead or gone: someone may have answered for our addresses. */
  readonly onDeclaredDown: () => void;
  /** Renew our own Lease this often (undefined: its own period): while no peer is heard, its renewals coming back prove our view of the others' Leases current. */
  readonly hurryLease: (intervalMs: number | undefined) => void;
}

export class MembershipTransport {
  readonly #o: MembershipTransportOptions;
  readonly #log: Logger;
  readonly #auth: MembershipAuth;
  /** Refusals by reason: when the last was logged, and how many since. */
  readonly #refusedLog = new Map<string, { atMs: number; since: number }>();
  #detector: FailureDetector | undefined;
  #v4: Socket | undefined;
  #v6: Socket | undefined;
  /** Alive Leases by node, ours included (its renewals coming back prove our view current). */
  #leases = new Map<string, MemberLease>();
  #addresses = new Map<string, string>();
  #nodeReady = new Map<string, boolean>();
  #watching = true;
  #api: ApiView;
  /** Lease holders the detector had dropped (stale) that talked to us: members again. */
  readonly #returned = new Set<string>();
  /** When each peer got its dead verdict (performance.now(), as Lease observations). */
  readonly #downSince = new Map<string, number>();
  #view: LivenessView | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerDueAt = Infinity;
  #stopped = false;
  readonly #onMessage = (msg: Buffer, from: RemoteInfo): void => this.#receive(msg, from.address);
  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerDueAt = Infinity;
    // Timers run before the poll phase: after a slow turn of the event loop, datagrams that
    // already arrived are still queued. Tick after them (check phase), or a busy node judges
    // its peers on answers it has not read.
    setImmediate(this.#onTick);
  };
  readonly #onTick = (): void => {
    if (this.#detector && !this.#stopped) this.#apply(this.#detector.tick(clock()));
  };
  readonly #onSent = (err: Error | null): void => {
    if (!err) return;
    m.dropped.inc({ reason: 'sendError' });
    if (this.#log.debug()) this.#log.debug({ event: 'membershipSendFailed', err: errorMessage(err) });
  };

  constructor(o: MembershipTransportOptions) {
    this.#o = o;
    this.#log = o.logger.child({ part: 'membership' });
    // A new life of this process: peers open a new replay window for it (membership/replay.ts).
    this.#auth = new MembershipAuth(o.keys, o.me, randomBytes(EPOCH_BYTES));
    const now = performance.now();
    this.#api = { reachable: false, sinceMs: now, lastMs: now };
  }

  async start(): Promise<void> {
    for (const type of ['udp4', 'udp6'] as const) {
      const s = createSocket({ type, ipv6Only: type === 'udp6' });
      s.on('message', this.#onMessage);
      s.on('error', (err) => this.#log.warn({ event: 'membershipSocketError', err: errorMessage(err) }));
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(this.#o.port, type === 'udp4' ? '0.0.0.0' : '::', () => {
            s.off('error', reject);
            resolve();
          });
        });
        if (type === 'udp4') this.#v4 = s;
        else this.#v6 = s;
      } catch (err) {
        s.close();
        // A node without IPv6 still probes over IPv4; without any socket the Leases alone decide.
        this.#log.warn({ event: 'membershipBindFailed', family: type, port: this.#o.port, err: errorMessage(err) });
      }
    }
    // Created here, not in the constructor: its first tick must not look like a stall.
    this.#detector = new FailureDetector(this.#o.me, { now: clock(), random: Math.random, options: this.#o.membership });
    this.#evaluate();
  }

  view(): LivenessView {
    return (this.#view ??= this.#compute());
  }

  /** Peers the probes have not heard from or judged yet (see FailureDetector.unheardPeers). */
  unheardPeers(): string[] {
    return this.#detector?.unheardPeers() ?? [];
  }

  /** The alive Leases (from the cache, ours included), and whether their watch is up. */
  setLeases(leases: ReadonlyMap<string, MemberLease>, watching: boolean): void {
    this.#leases = new Map(leases);
    this.#watching = watching;
    this.#evaluate();
  }

  /** Where to probe each node (its address on the node network, the Node's InternalIP), and whether each Node is Ready. */
  setNodes(addresses: ReadonlyMap<string, string>, ready: ReadonlyMap<string, boolean>): void {
    this.#addresses = new Map(addresses);
    this.#nodeReady = new Map(ready);
    this.#evaluate();
  }

  /** New memberlist keys: accepted at once; a new signing key is used after the rotation grace (membership/auth.ts). */
  setKeys(keys: KeyRing): void {
    this.#auth.setKeys(keys, Date.now());
  }

  /** Clean stop: tells every member at once (twice: UDP may lose one), then probes no more. */
  leave(): void {
    if (!this.#detector) return;
    const step = this.#detector.leave();
    for (let i = 0; i < 2; i++) this.#sendAll(step);
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#v4?.close();
    this.#v6?.close();
    this.#v4 = this.#v6 = undefined;
  }

  /** The detector probes the Lease holders the rule says are members and whose address we know; true if that changed a verdict. */
  #syncPeers(view: LivenessView): boolean {
    const d = this.#detector;
    if (!d || this.#stopped) return false;
    const names = [...view.probed, ...this.#returned].filter((n) => this.#addresses.has(n));
    this.#returned.clear();
    return this.#apply(d.setPeers(names, clock()), false);
  }

  #receive(msg: Buffer, address: string): void {
    const d = this.#detector;
    if (!d || this.#stopped) return;
    const nowMs = Date.now();
    const opened = this.#auth.open(msg, nowMs);
    if (!opened.ok) return this.#refuse(opened.reason, address, opened.skewMs);
    const r = decodePacket(opened.payload);
    if (!r.ok) {
      m.dropped.inc({ reason: r.reason });
      return;
    }
    const replay = this.#auth.admit(r.packet.from, opened.nonce, nowMs);
    if (!replay.ok) return this.#refuse(replay.reason, address, undefined, r.packet.from);
    m.byKey.inc({ key: opened.slot });
    m.packets.inc({ direction: 'received', type: r.packet.type });
    const from = r.packet.from;
    if (d.stateOf(from) === undefined && this.#leases.has(from) && this.#addresses.has(from) && from !== this.#o.me) {
      // Dropped as dead by its stale Lease, yet it talks: a member again, whatever its Lease says.
      this.#returned.add(from);
      this.#log.info({ event: 'peerReturned', node: from }, `peer ${from} talks again`);
      this.#evaluate();
    }
    this.#apply(d.receive(r.packet, clock()));
  }

  #refuse(reason: string, address: string, skewMs?: number, claimedSender?: string): void {
    m.dropped.inc({ reason });
    const nowMs = performance.now();
    const last = this.#refusedLog.get(reason);
    if (last && nowMs - last.atMs < REFUSED_LOG_MS) {
      last.since++;
      return;
    }
    this.#refusedLog.set(reason, { atMs: nowMs, since: 0 });
    this.#log.warn(
      { event: 'membershipRefused', reason, from: address, claimedSender, skewMs, refusedSinceLastLog: last?.since ?? 0 },
      'membership datagram refused: not authenticated by a memberlist key, replayed, or sent with a clock too far from ours',
    );
  }

  /** Sends and counts what the detector said; re-evaluates the view if a verdict changed (unless `evaluate` is false: the caller does). */
  #apply(step: Step, evaluate = true): boolean {
    this.#sendAll(step);
    let changed = false;
    for (const c of step.changes) {
      switch (c.kind) {
        case 'peerUp':
          this.#downSince.delete(c.name);
          m.changes.inc({ kind: c.kind, reason: '' });
          // Verdicts are logged at info as the view's peerState; these say what the detector saw.
          if (this.#log.debug()) this.#log.debug({ event: 'peerUp', node: c.name }, 'peer up');
          break;
        case 'peerDown':
          if (c.reason === 'dead') this.#downSince.set(c.name, performance.now());
          m.changes.inc({ kind: c.kind, reason: c.reason });
          if (this.#log.debug()) this.#log.debug({ event: 'peerDown', node: c.name, reason: c.reason }, 'peer down');
          break;
        case 'isolated':
        case 'rejoined':
          m.changes.inc({ kind: c.kind, reason: '' });
          this.#log.warn({ event: 'standing', standing: c.kind }, c.kind === 'isolated' ? 'no peer heard from' : 'a peer heard again, or none left to hear');
          break;
        case 'stalled':
          m.changes.inc({ kind: c.kind, reason: '' });
          this.#log.warn({ event: 'stalled', stalledMs: Math.round(c.lateMs) }, 'this process was not running; pending verdicts get the time back');
          this.#o.onStall(c.lateMs);
          continue;
        case 'declaredDown':
          m.changes.inc({ kind: c.kind, reason: '' });
          this.#log.warn({ event: 'declaredDown', by: c.by }, `peer ${c.by} held this node down; refuted, and our addresses are announced again`);
          this.#o.onDeclaredDown();
          continue;
      }
      changed = true;
    }
    if (changed && evaluate) this.#evaluate();
    if (this.#detector) m.localHealth.set(this.#detector.localHealth);
    this.#schedule();
    return changed;
  }

  #sendAll(step: Step): void {
    for (const { to, packet } of step.send) this.#send(to, packet);
  }

  #send(to: string, packet: Packet): void {
    const address = this.#addresses.get(to);
    const s = address === undefined ? undefined : address.includes(':') ? this.#v6 : this.#v4;
    if (!s) {
      m.dropped.inc({ reason: address === undefined ? 'noAddress' : 'noSocket' });
      return;
    }
    let bytes: Buffer;
    try {
      const encoded = encodePacket(packet, MAX_PAYLOAD_BYTES);
      bytes = this.#auth.seal(encoded.bytes, to, Date.now());
      if (encoded.updatesLeftOut > 0) m.dropped.inc({ reason: 'updatesLeftOut' }, encoded.updatesLeftOut);
    } catch (err) {
      // A name the codec refuses came from our own caches: a bug, say so loudly.
      m.dropped.inc({ reason: 'encode' });
      this.#log.error({ event: 'membershipEncodeFailed', node: to, err: errorMessage(err) }, 'membership packet not sent');
      return;
    }
    s.send(bytes, this.#o.port, address, this.#onSent);
    m.packets.inc({ direction: 'sent', type: packet.type });
  }

  #schedule(): void {
    const due = this.#stopped || !this.#detector ? Infinity : this.#detector.nextTickAt();
    if (due === this.#timerDueAt) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDueAt = due;
    if (!Number.isFinite(due)) return;
    // Rounded up: a timer never fires early, so the tick finds what it was set for.
    this.#timer = setTimeout(this.#onTimer, Math.max(0, Math.ceil(due - clock())));
    this.#timer.unref();
  }

  #compute(): LivenessView {
    const d = this.#detector;
    const probes = new Map<string, ProbeVerdict>();
    for (const node of this.#leases.keys()) {
      const state = d?.stateOf(node);
      if (state) probes.set(node, { state, downSinceMs: this.#downSince.get(node) });
    }
    const nowMs = performance.now();
    return livenessView({
      me: this.#o.me,
      nowMs,
      wallNowMs: Date.now(),
      api: this.#apiView(nowMs),
      skewToleranceMs: this.#o.skewToleranceMs,
      evidenceMarginMs: EVIDENCE_MARGIN_MS,
      staleMarginMs: STALE_MARGIN_MS,
      leases: this.#leases,
      probes,
      standing: d?.standing ?? { kind: 'member' },
      nodeReady: this.#nodeReady,
      previous: this.#view,
    });
  }

  /** Our own Lease is the proof that the cache is current: its renewals come back through the watch. */
  #apiView(nowMs: number): ApiView {
    const own = this.#leases.get(this.#o.me);
    const before = this.#api;
    const seen = own?.observedMs ?? before.lastMs;
    const reachable = this.#watching && own !== undefined && nowMs - seen < own.renewIntervalMs + API_MARGIN_MS;
    const next = { reachable, sinceMs: reachable && !before.reachable ? seen : before.sinceMs, lastMs: Math.max(before.lastMs, seen) };
    if (reachable !== before.reachable) {
      const why = reachable ? 'our Lease renewals come back through the watch' : !this.#watching ? 'the Lease watch is down' : own ? 'our last Lease renewal has not come back' : 'our Lease is not in the cache';
      this.#log[reachable ? 'info' : 'warn']({ event: 'apiView', reachable, reason: why }, reachable ? 'the Leases are current' : 'the Leases are frozen as last seen');
    }
    this.#api = next;
    return next;
  }

  /** Recomputes the view, keeps the detector's peers in step with it, and acts on a change. */
  #evaluate(): void {
    let next = this.#compute();
    // Dropping or adding peers can change the standing, hence the view: once more, then it is stable.
    if (this.#syncPeers(next)) next = this.#compute();
    const before = this.#view;
    this.#view = next;
    if (next.awaitingLeases !== (before?.awaitingLeases ?? false)) this.#o.hurryLease(next.awaitingLeases ? HURRIED_RENEW_MS : undefined);
    if (sameView(before, next)) return;
    for (const [node, state] of next.peers) {
      if (before?.peers.get(node) !== state) this.#log.info({ event: 'peerState', node, state, reason: next.reasons.get(node) }, `peer ${node} is ${state}`);
    }
    if (next.isolated !== (before?.isolated ?? false)) {
      this.#log.warn({ event: next.isolated ? 'isolated' : 'rejoined', reason: next.isolation ?? null }, next.isolated ? 'cut off from the peers: withdrawing' : 'a member again');
    }
    // Before start() the caches are still being fed in: the program reads view() once it runs.
    if (this.#detector) this.#o.onChange(next);
  }
}
