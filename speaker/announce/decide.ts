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
