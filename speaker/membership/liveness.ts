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
 * - A peer not probed (no address on the node network yet) is judged by its Lease: fresh is up;
 *   while our own view of the API is broken the Leases are frozen, never expired.
 * - Self: the detector's standing (every up peer silent at once → isolated, then a short rejoin),
 *   plus the Lease witness: peers found dead whose Leases keep being renewed are alive elsewhere;
 *   when they outnumber our side (ties to the side holding the smallest name) the cut is ours,
 *   and we withdraw everything instead of fighting for the addresses.
 */
import type { MemberState } from './packet.js';
import type { SelfStanding } from './standing.js';

/** A peer's Lease as the speaker's cache sees it. */
export interface MemberLease {
  /** renewTime + duration, on the holder's clock. */
  readonly expiresMs: number | undefined;
  /** When our cache last saw this Lease change (our monotonic clock, as nowMs). */
  readonly observedMs: number;
}

/** The failure detector's view of a peer; `unknown` when it is not in the detector's list. */
export type ProbeState = MemberState | 'unknown';

export interface ProbeVerdict {
  readonly state: ProbeState;
  /** When the detector's dead verdict came (our monotonic clock, as nowMs). */
  readonly downSinceMs?: number;
}

export interface LivenessInputs {
  readonly me: string;
  /** Monotonic time (Lease observations, verdict times). */
  readonly nowMs: number;
  /** Wall-clock time, to compare with Lease expiries written by their holders. */
  readonly wallNowMs: number;
  /** False while the Lease watch is broken or our own renewals fail: Leases are then frozen. */
  readonly apiHealthy: boolean;
  /** Allowed difference between our clock and a holder's when judging a Lease alone. */
  readonly skewToleranceMs: number;
  /** A renewal observed this long after our dead verdict proves the peer alive elsewhere (a renewal written before the crash may reach our cache a little late). */
  readonly evidenceMarginMs: number;
  /** Leases of the other nodes, by node. */
  readonly leases: ReadonlyMap<string, MemberLease>;
  /** The detector's verdicts, by node. */
  readonly probes: ReadonlyMap<string, ProbeVerdict>;
  readonly standing: SelfStanding;
}

/** `unreachable`: found dead by our probes, but its Lease is being renewed (alive elsewhere). */
export type PeerState = 'up' | 'down' | 'left' | 'unreachable';

export type PeerReason = 'probesAnswer' | 'withinSuspicion' | 'leaseFreshNotProbed' | 'probesDead' | 'aliveElsewhere' | 'left' | 'leaseExpiredNotProbed';

export type Isolation = 'noPeerHeard' | 'rejoining' | 'peersAliveElsewhere';

export interface LivenessView {
  /** Nodes the election may pick: this node and every up peer; empty when isolated. */
  readonly alive: ReadonlySet<string>;
  /** Members not alive (their endpoints are skipped by the proxy). */
  readonly down: ReadonlySet<string>;
  readonly isolated: boolean;
  readonly peers: ReadonlyMap<string, PeerState>;
  /** Why this node is isolated, when it is. */
  readonly isolation?: Isolation;
}

export function leaseFresh(lease: MemberLease, i: Pick<LivenessInputs, 'apiHealthy' | 'wallNowMs' | 'skewToleranceMs'>): boolean {
  return !i.apiHealthy || (lease.expiresMs !== undefined && lease.expiresMs + i.skewToleranceMs > i.wallNowMs);
}

export function peerLiveness(lease: MemberLease, probe: ProbeVerdict, i: LivenessInputs): { state: PeerState; reason: PeerReason } {
  switch (probe.state) {
    case 'left':
      return { state: 'left', reason: 'left' };
    case 'dead': {
      const since = probe.downSinceMs ?? i.nowMs;
      const renewedSince = i.apiHealthy && leaseFresh(lease, i) && lease.observedMs > since + i.evidenceMarginMs;
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
 * Which Lease holders the detector should probe: a fresh Lease, or one the probes still find
 * up (a peer cut off only from the API stays a member). A peer both expired and not answering
 * is forgotten until it renews again, so a dead node's silence stops counting against us.
 */
export function probedMember(lease: MemberLease, probe: ProbeState, i: Pick<LivenessInputs, 'apiHealthy' | 'wallNowMs' | 'skewToleranceMs'>): boolean {
  return leaseFresh(lease, i) || probe === 'alive' || probe === 'suspect';
}

export function livenessView(i: LivenessInputs): LivenessView {
  const peers = new Map<string, PeerState>();
  const side: string[] = [i.me];
  const elsewhere: string[] = [];
  for (const [node, lease] of i.leases) {
    if (node === i.me) continue;
    const { state } = peerLiveness(lease, i.probes.get(node) ?? { state: 'unknown' }, i);
    peers.set(node, state);
    if (state === 'up') side.push(node);
    if (state === 'unreachable') elsewhere.push(node);
  }
  const isolation = isolationOf(i.standing, side, elsewhere);
  const alive = new Set<string>();
  const down = new Set<string>();
  if (!isolation) alive.add(i.me);
  for (const [node, state] of peers) (state === 'up' && !isolation ? alive : down).add(node);
  return isolation ? { alive, down, isolated: true, peers, isolation } : { alive, down, isolated: false, peers };
}

function isolationOf(standing: SelfStanding, side: readonly string[], elsewhere: readonly string[]): Isolation | undefined {
  if (standing.kind === 'isolated') return 'noPeerHeard';
  if (standing.kind === 'rejoining') return 'rejoining';
  if (elsewhere.length > side.length) return 'peersAliveElsewhere';
  // An even split: both sides compute the same tie-break, so exactly one side stays.
  if (elsewhere.length > 0 && elsewhere.length === side.length && minName(elsewhere) < minName(side)) return 'peersAliveElsewhere';
  return undefined;
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

