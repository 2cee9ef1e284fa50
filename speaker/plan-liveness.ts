/**
 * Who is alive, pure: the rule that combines the alive Leases (slow, authoritative membership,
 * through the API) with direct heartbeats between speakers (fast, over the node network).
 *
 * - Members are the nodes with an alive Lease in the cache; a deleted Lease or a "leave"
 *   heartbeat (clean stop) takes a node out at once.
 * - A member we have heard a heartbeat from is up while the last one is younger than
 *   `failAfterMs`: a crash or a cut cable is seen in well under a second. Lease expiry does not
 *   take it down (fail static: a node cut off only from the API keeps its addresses).
 * - A member never heard yet (just started, or no probe address) is judged by its Lease: fresh
 *   is up; while our own view of the API is broken the Leases are frozen, never expired.
 * - Isolated: when more peers are shown alive by the API (their Lease was renewed after we
 *   stopped hearing them) than we can hear, the cut is on our side: we withdraw everything
 *   instead of fighting for the addresses, so a partition never leaves two owners for long.
 */

export interface MemberLease {
  /** renewTime + duration, on the holder's clock. */
  readonly expiresMs: number | undefined;
  /** When our cache last saw this Lease change (our monotonic clock). */
  readonly observedMs: number;
}

export interface LivenessInputs {
  readonly me: string;
  /** Monotonic time (heartbeats, observations). */
  readonly nowMs: number;
  /** Wall-clock time, to compare with Lease expiries written by their holders. */
  readonly wallNowMs: number;
  readonly failAfterMs: number;
  /** Alive Leases of the other nodes, by node. */
  readonly leases: ReadonlyMap<string, MemberLease>;
  /** Last heartbeat heard, by node (our clock). */
  readonly heardMs: ReadonlyMap<string, number>;
  /** Nodes that said goodbye and have not spoken since. */
  readonly left: ReadonlySet<string>;
  /** False while the Lease watch is broken or our own renewals fail: Leases are then frozen. */
  readonly apiHealthy: boolean;
  /** Allowed difference between our clock and a holder's when judging a Lease alone. */
  readonly skewToleranceMs: number;
}

export type PeerState = 'up' | 'down' | 'left' | 'unreachable';

export interface LivenessView {
  /** Nodes the election may pick: this node and every up peer; empty when isolated. */
  readonly alive: ReadonlySet<string>;
  /** Members not alive (their endpoints are skipped by the proxy). */
  readonly down: ReadonlySet<string>;
  readonly isolated: boolean;
  readonly peers: ReadonlyMap<string, PeerState>;
}

export function livenessView(i: LivenessInputs): LivenessView {
  const peers = new Map<string, PeerState>();
  let up = 0;
  let elsewhere = 0;
  for (const [node, lease] of i.leases) {
    if (node === i.me) continue;
    if (i.left.has(node)) {
      peers.set(node, 'left');
      continue;
    }
    const heard = i.heardMs.get(node);
    let state: PeerState;
    if (heard !== undefined) {
      state = i.nowMs - heard <= i.failAfterMs ? 'up' : 'down';
      // Renewed through the API after we stopped hearing it: alive, but not reachable from here.
      if (state === 'down' && lease.observedMs > heard + i.failAfterMs) {
        state = 'unreachable';
        elsewhere++;
      }
    } else {
      const fresh = !i.apiHealthy || (lease.expiresMs !== undefined && lease.expiresMs + i.skewToleranceMs > i.wallNowMs);
      state = fresh ? 'up' : 'down';
    }
    if (state === 'up') up++;
    peers.set(node, state);
  }
  const isolated = elsewhere > up;
  const alive = new Set<string>();
  const down = new Set<string>();
  if (!isolated) alive.add(i.me);
  for (const [node, state] of peers) (state === 'up' && !isolated ? alive : down).add(node);
  return { alive, down, isolated, peers };
}

/** Same members alive, same down, same isolation: nothing to re-plan. */
export function sameView(a: LivenessView | undefined, b: LivenessView): boolean {
  if (!a || a.isolated !== b.isolated || a.alive.size !== b.alive.size || a.down.size !== b.down.size) return false;
  for (const n of a.alive) if (!b.alive.has(n)) return false;
  for (const n of a.down) if (!b.down.has(n)) return false;
  return true;
}

/** One heartbeat datagram: `FUL1 <alive|leave> <node>`; plain text, so tcpdump shows it. */
export type Heartbeat = { kind: 'alive' | 'leave'; node: string };

export function encodeHeartbeat(h: Heartbeat): Buffer {
  return Buffer.from(`FUL1 ${h.kind} ${h.node}`);
}

export function decodeHeartbeat(buf: Uint8Array): Heartbeat | undefined {
  const m = /^FUL1 (alive|leave) ([a-z0-9.-]{1,253})$/.exec(Buffer.from(buf).toString('latin1'));
  return m ? { kind: m[1] as Heartbeat['kind'], node: m[2]! } : undefined;
}
