import { canonicalIp } from './addr.js';
import { type ArpFrame, arpReplyFor, decodeArpFrame } from './arp.js';
import { ALL_NODES, ICMPV6_NEIGHBOR_ADVERTISEMENT, type NeighborAdvertisement, decodeNeighborSolicitation, solicitedAdvertisement, unsolicitedAdvertisement } from './ndp.js';

/**
 * What the responder does with one received packet. Pure: the caller's `ownsAddress` is the
 * only source of truth about ownership (MetalLB's announceFunc); these functions only read,
 * filter and shape the reply, and every "no" carries a typed reason that metrics count.
 */

/** Why the caller does not want an address announced on an interface. */
export type NotAnnouncedReason = 'notOwner' | 'notThisInterface' | 'notAnnounced' | 'noEndpoints' | 'noAdvertisement';
export type Ownership = { announce: true } | { announce: false; reason: NotAnnouncedReason };
/** Asked for every request; `ip` is canonical (RFC 5952 for IPv6), `iface` the receiving interface. */
export type OwnsAddress = (ip: string, iface: string) => Ownership;

export type DropReason =
  | NotAnnouncedReason
  | 'malformed' // not a well-formed ARP request / neighbour solicitation
  | 'outgoing' // a frame this host sent (AF_PACKET sees both directions)
  | 'arpReply' // a reply nobody here asked for: never learned from, never answered
  | 'gratuitous' // someone announcing the address (sender = target); answering would start a fight
  | 'advertisement' // a neighbour advertisement nobody here asked for
  | 'sendFailed';

export interface InterfaceIdentity {
  readonly name: string;
  readonly mac: string;
}

/** linux/if_packet.h sll_pkttype of a received frame. */
export const PACKET_OUTGOING = 4;

export type ArpVerdict = { kind: 'reply'; frame: ArpFrame } | { kind: 'drop'; reason: DropReason };

export function answerArp(raw: Uint8Array, pktType: number, iface: InterfaceIdentity, ownsAddress: OwnsAddress): ArpVerdict {
  if (pktType === PACKET_OUTGOING) return { kind: 'drop', reason: 'outgoing' };
  const decoded = decodeArpFrame(raw);
  if (!decoded.ok) return { kind: 'drop', reason: 'malformed' };
  const request = decoded.frame;
  if (request.operation === 'reply') return { kind: 'drop', reason: 'arpReply' };
  if (request.senderIp === request.targetIp) return { kind: 'drop', reason: 'gratuitous' };
  const owned = ownsAddress(request.targetIp, iface.name);
  if (!owned.announce) return { kind: 'drop', reason: owned.reason };
  return { kind: 'reply', frame: arpReplyFor(request, iface.mac) };
}

export type NdpVerdict = { kind: 'reply'; destination: string; advertisement: NeighborAdvertisement } | { kind: 'drop'; reason: DropReason };

/**
 * `icmp` is the ICMPv6 message without the IPv6 header (what a raw ICMPv6 socket reads),
 * `source` the IPv6 source address it came from.
 */
export function answerSolicitation(icmp: Uint8Array, source: string, iface: InterfaceIdentity, ownsAddress: OwnsAddress): NdpVerdict {
  if (icmp.length > 0 && icmp[0] === ICMPV6_NEIGHBOR_ADVERTISEMENT) return { kind: 'drop', reason: 'advertisement' };
  const decoded = decodeNeighborSolicitation(icmp);
  if (!decoded.ok) return { kind: 'drop', reason: 'malformed' };
  const dad = canonicalIp(source) === '::';
  // §7.1.1: a solicitation from the unspecified address (duplicate address detection) has no
  // source link-layer option.
  if (dad && decoded.message.sourceLinkAddr !== undefined) return { kind: 'drop', reason: 'malformed' };
  const owned = ownsAddress(decoded.message.target, iface.name);
  if (!owned.announce) return { kind: 'drop', reason: owned.reason };
  // §7.2.4: answer a DAD probe to all-nodes with S clear, anything else to its source with S set.
  if (dad) return { kind: 'reply', destination: ALL_NODES, advertisement: unsolicitedAdvertisement(decoded.message.target, iface.mac) };
  return { kind: 'reply', destination: source, advertisement: solicitedAdvertisement(decoded.message.target, iface.mac) };
}

/**
 * When the takeover announcements go out, in ms after `announce()`. The first is immediate.
 * Repeats cover a frame lost while links and switch MAC tables settle, and hosts that ignore an
 * update within their neighbour locktime (Linux `locktime`, 1 s by default, before kernels
 * that exempt gratuitous ARP); a few in the first two seconds is what keepalived
 * (garp_master_repeat) and MetalLB do, without flooding the segment.
 */
export const GRATUITOUS_SCHEDULE_MS: readonly number[] = [0, 500, 1000, 2000];

/** Another host claims an address we answer for on this interface: its MAC, to log and to answer with our own announcement. */
export type ArpConflict = { kind: 'none' } | { kind: 'conflict'; ip: string; claimedBy: string };

/**
 * Whether a received ARP frame (a gratuitous ARP, a reply, or a request using the address as
 * its sender) says that an address `ownsAddress` gives us on `iface` is at another MAC: hosts
 * that hear it point the address away from us (a forged claim, or a second owner).
 */
export function arpConflict(raw: Uint8Array, pktType: number, iface: InterfaceIdentity, ownsAddress: OwnsAddress): ArpConflict {
  if (pktType === PACKET_OUTGOING) return { kind: 'none' };
  const decoded = decodeArpFrame(raw);
  if (!decoded.ok) return { kind: 'none' };
  const f = decoded.frame;
  if (f.senderMac === iface.mac || f.senderIp === '0.0.0.0') return { kind: 'none' };
  if (!ownsAddress(f.senderIp, iface.name).announce) return { kind: 'none' };
  return { kind: 'conflict', ip: f.senderIp, claimedBy: f.senderMac };
}

/**
 * A claim is answered this long after it, and only if we still own the address then. When
 * another speaker takes the address over legitimately, its announcement can reach us before our
 * own plan has withdrawn it (speakers re-plan independently, milliseconds to a few hundred apart
 * on a busy node); answering at once would pull clients back to the old owner. Hosts ignore a
 * second change of a neighbour entry within their locktime (Linux: 1 s) anyway.
 */
export const CONFLICT_ANSWER_DELAY_MS = 1_000;

/**
 * Answering a claim with our own announcement: the first time, then no sooner than an interval that
 * doubles with each claim answered (1 s, 2 s, … 60 s), back to 1 s once no claim was seen for
 * CONFLICT_QUIET_MS. Two hosts that both believe they own an address (a speaker of another
 * cluster, a misconfigured host) thus exchange a few announcements, not a flood.
 * 1 s: hosts ignore a second change of a neighbour entry within their locktime (Linux: 1 s).
 */
export const CONFLICT_REANNOUNCE_MIN_MS = 1_000;
export const CONFLICT_REANNOUNCE_MAX_MS = 60_000;
/** Twice the longest interval: two hosts answering each other at the ceiling never look quiet. */
export const CONFLICT_QUIET_MS = 2 * CONFLICT_REANNOUNCE_MAX_MS;

export interface ConflictState {
  readonly lastClaimMs: number;
  readonly lastReannounceMs: number;
  readonly intervalMs: number;
}

export function reannounceAfterClaim(prev: ConflictState | undefined, nowMs: number): { reannounce: boolean; next: ConflictState } {
  if (!prev || nowMs - prev.lastClaimMs >= CONFLICT_QUIET_MS) {
    return { reannounce: true, next: { lastClaimMs: nowMs, lastReannounceMs: nowMs, intervalMs: CONFLICT_REANNOUNCE_MIN_MS } };
  }
  if (nowMs - prev.lastReannounceMs < prev.intervalMs) return { reannounce: false, next: { ...prev, lastClaimMs: nowMs } };
  return { reannounce: true, next: { lastClaimMs: nowMs, lastReannounceMs: nowMs, intervalMs: Math.min(2 * prev.intervalMs, CONFLICT_REANNOUNCE_MAX_MS) } };
}
