/**
 * This node's own standing in the membership, from probes alone (pure). The speaker's rule in
 * liveness.ts adds the Lease evidence on top.
 *
 * Isolated: at least `minPeers` peers are up and none was heard for `isolationMs`. One silent
 * peer may simply have crashed (in a two-node cluster that is the common case, and withdrawing
 * would turn a crash into an outage); every up peer silent at once means the cut is on our side.
 * From isolated, the first packet heard starts a rejoin that ends `rejoinSettleMs` later, so the
 * peers have heard our refutation and handed our addresses back before we answer for them.
 */
export type SelfStanding =
  | { readonly kind: 'member' }
  | { readonly kind: 'isolated'; readonly reason: 'noPeerHeard'; readonly silentMs: number }
  | { readonly kind: 'rejoining'; readonly untilMs: number };

export interface StandingInput {
  readonly now: number;
  readonly previous: SelfStanding;
  /** Peers currently up (alive or suspect) in the member list. */
  readonly upPeers: number;
  readonly minPeers: number;
  /** When a packet from any known peer was last processed. */
  readonly lastHeardAt: number;
  readonly isolationMs: number;
  readonly rejoinSettleMs: number;
}

export function selfStanding(s: StandingInput): SelfStanding {
  const silentMs = s.now - s.lastHeardAt;
  // No peer left to hear: nothing to be cut off from.
  if (s.upPeers === 0) return { kind: 'member' };
  // Too few peers to tell our cut from their crash: the Lease rule (liveness.ts) decides. Once
  // isolated, a node stays so until it hears a peer or has none left: the peers whose Leases went
  // stale are dropped one by one (liveness.ts), and the last silent one must not turn into a
  // two-node suspicion while the API still says it is alive.
  if (s.upPeers < s.minPeers && s.previous.kind !== 'isolated') return { kind: 'member' };
  if (silentMs >= s.isolationMs) return { kind: 'isolated', reason: 'noPeerHeard', silentMs };
  switch (s.previous.kind) {
    case 'member':
      return s.previous;
    case 'isolated':
      return { kind: 'rejoining', untilMs: s.lastHeardAt + s.rejoinSettleMs };
    case 'rejoining':
      return s.now >= s.previous.untilMs ? { kind: 'member' } : s.previous;
  }
}
