/**
 * Who is alive, pure: the rule that combines the alive Leases (slow, authoritative membership,
 * through the API) with the failure detector's verdicts (fast, probes over the node network).
 * speaker/membership/README.md explains why together they avoid split brain.
 *
 * - Members are the nodes with a Lease object. A deleted Lease or a "left" message (clean stop)
 *   takes a node out at once.
 * - Probes decide up/down. A peer whose probes answer (or that is within its suspicion window)
 *   is up even if its Lease expired: it lost only the API (fail static, it keeps its addresses).
 *   A peer the probes found dead is taken over even if its Lease is fresh.
 * - A peer not probed (no address on the node network yet) is judged by its Lease: fresh is up.
 * - While our own view of the API is not current, the Leases are frozen as they were when it
 *   last was: an expired one stays expired, a fresh one stays fresh.
 * - Self: the detector's standing (every up peer silent at once → isolated, then a short rejoin),
 *   plus the Lease witness: peers found dead whose Leases keep being renewed are alive elsewhere;
 *   when they outnumber our side (ties to the side holding the smallest name) the cut is ours,
 *   and we withdraw everything instead of fighting for the addresses.
 * - The last speaker standing: while no peer is heard, the API tells why. Each silent peer whose
 *   Lease has not been renewed for its renew period plus `staleMarginMs` (or whose Node is not
 *   Ready) is dead; the others are alive elsewhere, and the majority rule above decides between
 *   them and us. With the API unreachable we cannot tell, and withdraw, unless every silent peer
 *   was already found dead that way.
 */
import type { MemberState } from './packet.js';
import type { SelfStanding } from './standing.js';

/** A peer's Lease as the speaker's cache sees it. */
export interface MemberLease {
  /** renewTime + duration, on the holder's clock. */
  readonly expiresMs: number | undefined;
  /** When our cache last saw this Lease change (our monotonic clock, as nowMs). */
  readonly observedMs: number;
  /** How often its holder renews it (the alive Lease lasts three periods). */
  readonly renewIntervalMs: number;
}

/** The failure detector's view of a peer; `unknown` when it is not in the detector's list. */
export type ProbeState = MemberState | 'unknown';

export interface ProbeVerdict {
  readonly state: ProbeState;
  /** When the detector's dead verdict came (our monotonic clock, as nowMs). */
  readonly downSinceMs?: number;
}

/**
 * Whether what the cache shows of the Leases is current. The proof is our own Lease: each of our
 * renewals that comes back through the watch shows that the API accepted a write and the watch
 * delivered it. Times on the monotonic clock, as nowMs.
 */
export interface ApiView {
  /** The watch is up and our last renewal came back within a renew period and a margin. */
  readonly reachable: boolean;
  /** When our renewals started coming back after the last gap (the start of the current, or last, reachable period). */
  readonly sinceMs: number;
  /** When our last renewal came back: the last moment our view of the Leases is known current. */
  readonly lastMs: number;
}

export interface LivenessInputs {
  readonly me: string;
  /** Monotonic time (Lease observations, verdict times). */
  readonly nowMs: number;
  /** Wall-clock time, to compare with Lease expiries written by their holders. */
  readonly wallNowMs: number;
  readonly api: ApiView;
  /** Allowed difference between our clock and a holder's when judging a Lease alone. */
  readonly skewToleranceMs: number;
  /** A renewal observed this long after our dead verdict proves the peer alive elsewhere (a renewal written before the crash may reach our cache a little late). */
  readonly evidenceMarginMs: number;
  /** A silent peer's Lease not renewed for its renew period plus this long is stale: the peer is dead. */
  readonly staleMarginMs: number;
  /** Leases of the other nodes, by node. */
  readonly leases: ReadonlyMap<string, MemberLease>;
  /** The detector's verdicts, by node. */
  readonly probes: ReadonlyMap<string, ProbeVerdict>;
  readonly standing: SelfStanding;
  /** Whether each Node is Ready (its Ready condition True); a node missing here has no Node object. */
  readonly nodeReady: ReadonlyMap<string, boolean>;
  /** The view before this one: a stale Lease stays stale until renewed, and a node serving alone does not withdraw when a peer returns. */
  readonly previous: LivenessView | undefined;
}

/** `unreachable`: not heard, but its Lease is being renewed (alive elsewhere). */
export type PeerState = 'up' | 'down' | 'left' | 'unreachable';

export type PeerReason =
  | 'probesAnswer' | 'withinSuspicion' | 'leaseFreshNotProbed' | 'probesDead' | 'aliveElsewhere' | 'left' | 'leaseExpiredNotProbed'
  | 'leaseStale' | 'silentNodeNotReady' | 'silentLeaseFresh';

export type Isolation = 'noPeerHeard' | 'rejoining' | 'peersAliveElsewhere';

export interface LivenessView {
  /** Nodes the election may pick: this node and every up peer; empty when isolated. */
  readonly alive: ReadonlySet<string>;
  /** Members not alive (their endpoints are skipped by the proxy). */
  readonly down: ReadonlySet<string>;
  readonly isolated: boolean;
  readonly peers: ReadonlyMap<string, PeerState>;
  readonly reasons: ReadonlyMap<string, PeerReason>;
  /** Why this node is isolated, when it is. */
  readonly isolation?: Isolation;
  /** Peers found dead by a stale Lease, with the Lease observation judged: they stay dead until it changes. */
  readonly stale: ReadonlyMap<string, number>;
  /** Lease holders the detector should probe: every member but those found dead by a stale Lease. */
  readonly probed: ReadonlySet<string>;
  /** No peer heard, and the API is to tell within a renew period whether the silent ones are dead: our own renewals should come back often. */
  readonly awaitingLeases: boolean;
}

type Judged = { state: PeerState; reason: PeerReason };

/** The moment Lease expiries are judged at: now, or frozen when our view of the API was last current. */
function judgedAt(i: Pick<LivenessInputs, 'api' | 'nowMs' | 'wallNowMs'>): { mono: number; wall: number } {
  const mono = i.api.reachable ? i.nowMs : Math.min(i.nowMs, i.api.lastMs);
  return { mono, wall: i.wallNowMs - (i.nowMs - mono) };
}

/** Within its duration (renewTime + duration on the holder's clock), as of when the Leases are judged. */
export function leaseFresh(lease: MemberLease, i: Pick<LivenessInputs, 'api' | 'nowMs' | 'wallNowMs' | 'skewToleranceMs'>): boolean {
  return lease.expiresMs !== undefined && lease.expiresMs + i.skewToleranceMs > judgedAt(i).wall;
}

/**
 * Not renewed for a renew period plus the margin, by the API's own progress: our renewals came
 * back for that long after the holder's last one. A watch that stopped delivering (our renewals
 * stop coming back too) cannot make a live holder look stale, and after an outage of our own a
 * live holder gets a full period to show its next renewal.
 */
export function leaseStale(lease: MemberLease, i: Pick<LivenessInputs, 'api' | 'staleMarginMs'>): boolean {
  return i.api.lastMs - Math.max(lease.observedMs, i.api.sinceMs) >= lease.renewIntervalMs + i.staleMarginMs;
}

export function peerLiveness(lease: MemberLease, probe: ProbeVerdict, i: LivenessInputs): Judged {
  switch (probe.state) {
    case 'left':
      return { state: 'left', reason: 'left' };
    case 'dead': {
      const since = probe.downSinceMs ?? i.nowMs;
      const renewedSince = i.api.reachable && leaseFresh(lease, i) && lease.observedMs > since + i.evidenceMarginMs;
      return renewedSince ? { state: 'unreachable', reason: 'aliveElsewhere' } : { state: 'down', reason: 'probesDead' };
    }
    case 'alive':
      return { state: 'up', reason: 'probesAnswer' };
    case 'suspect':
      return { state: 'up', reason: 'withinSuspicion' };
    case 'unknown':
      return leaseFresh(lease, i) ? { state: 'up', reason: 'leaseFreshNotProbed' } : { state: 'down', reason: 'leaseExpiredNotProbed' };
  }
}

/**
 * A peer not heard since we were cut off, or one the detector does not probe: the API tells
 * whether it is dead. A Lease found stale stays so until it changes (our own outage since then
 * does not revive its holder).
 */
function leaseVerdict(node: string, lease: MemberLease, silent: boolean, i: LivenessInputs): Judged | undefined {
  if (silent && i.nodeReady.get(node) !== true) return { state: 'down', reason: 'silentNodeNotReady' };
  if (i.previous?.stale.get(node) === lease.observedMs || leaseStale(lease, i)) return { state: 'down', reason: 'leaseStale' };
  return silent ? { state: 'unreachable', reason: 'silentLeaseFresh' } : undefined;
}

/**
 * Which Lease holders the detector should probe: a fresh Lease, or one the probes still find
 * up (a peer cut off only from the API stays a member). A peer both expired and not answering
 * is forgotten until it renews again, so a dead node's silence stops counting against us.
 */
export function probedMember(lease: MemberLease, probe: ProbeState, i: Pick<LivenessInputs, 'api' | 'nowMs' | 'wallNowMs' | 'skewToleranceMs'>): boolean {
  return leaseFresh(lease, i) || probe === 'alive' || probe === 'suspect';
}

export function livenessView(i: LivenessInputs): LivenessView {
  const peers = new Map<string, PeerState>();
  const reasons = new Map<string, PeerReason>();
  const stale = new Map<string, number>();
  const probed = new Set<string>();
  const side: string[] = [i.me];
  const elsewhere: string[] = [];
  const cutOff = i.standing.kind === 'isolated';
  let silentAlive = 0;
  for (const [node, lease] of i.leases) {
    if (node === i.me) continue;
    const probe = i.probes.get(node) ?? { state: 'unknown' };
    const silent = cutOff && (probe.state === 'alive' || probe.state === 'suspect');
    const j = probe.state === 'left'
      ? peerLiveness(lease, probe, i)
      : (silent || probe.state === 'unknown' ? leaseVerdict(node, lease, silent, i) : undefined) ?? peerLiveness(lease, probe, i);
    peers.set(node, j.state);
    reasons.set(node, j.reason);
    if (j.reason === 'leaseStale') stale.set(node, lease.observedMs);
    else if (probedMember(lease, probe.state, i)) probed.add(node);
    if (j.state === 'up') side.push(node);
    if (j.state === 'unreachable') elsewhere.push(node);
    if (silent && j.state === 'unreachable') silentAlive++;
  }
  const isolation = isolationOf(i, silentAlive, side, elsewhere);
  const alive = new Set<string>();
  const down = new Set<string>();
  if (!isolation) alive.add(i.me);
  for (const [node, state] of peers) (state === 'up' && !isolation ? alive : down).add(node);
  const base = { alive, down, peers, reasons, stale, probed, awaitingLeases: cutOff && i.api.reachable && silentAlive > 0 };
  return isolation ? { ...base, isolated: true, isolation } : { ...base, isolated: false };
}

function isolationOf(i: LivenessInputs, silentAlive: number, side: readonly string[], elsewhere: readonly string[]): Isolation | undefined {
  switch (i.standing.kind) {
    case 'isolated':
      // No peer heard and no current API to tell why: the cut may be ours. Only peers already
      // found dead by the API do not count (their death does not depend on our view of it now).
      if (!i.api.reachable && silentAlive > 0) return 'noPeerHeard';
      if (outvoted(side, elsewhere)) return 'noPeerHeard';
      return undefined;
    case 'rejoining':
      // We withdrew while cut off: the peers hand our addresses back before we answer for them.
      // A node that kept serving (its silent peers were dead) has nothing to wait for.
      if (i.previous?.isolated !== false) return 'rejoining';
      break;
    case 'member':
      break;
  }
  return outvoted(side, elsewhere) ? 'peersAliveElsewhere' : undefined;
}

/** More members alive elsewhere than on our side; an even split goes to the side holding the smallest name (both sides compute the same). */
function outvoted(side: readonly string[], elsewhere: readonly string[]): boolean {
  if (elsewhere.length > side.length) return true;
  return elsewhere.length > 0 && elsewhere.length === side.length && minName(elsewhere) < minName(side);
}

function minName(names: readonly string[]): string {
  let m = names[0]!;
  for (const n of names) if (n < m) m = n;
  return m;
}

/** Same members alive, same down, same isolation: nothing to re-plan. */
export function sameView(a: LivenessView | undefined, b: LivenessView): boolean {
  if (!a || a.isolated !== b.isolated || a.alive.size !== b.alive.size || a.down.size !== b.down.size) return false;
  for (const n of a.alive) if (!b.alive.has(n)) return false;
  for (const n of a.down) if (!b.down.has(n)) return false;
  return true;
}
