import { ipv6ToBytes, macToBytes } from '../../speaker/announce/addr.js';
import { ETH_P_IPV6, IPPROTO_ICMPV6, NDP_HOP_LIMIT, encodeNeighborSolicitation, icmpv6Checksum } from '../../speaker/announce/ndp.js';
import { type PacketSocket, openPacketSocket, withNetns } from '../../speaker/announce/packet-socket.js';

/**
 * Test helpers (not a test file): hand-built frames sent from inside a namespace through the
 * AF_PACKET addon, for the cases a kernel never sends on its own (unsolicited replies, unicast
 * solicitations in a chosen order).
 */

export interface SentFrames {
  readonly socket: PacketSocket;
  readonly received: Array<{ frame: Buffer; pktType: number }>;
}

/** Opens an AF_PACKET socket on `iface` inside `namespace`, keeping what it receives. */
export function frameSocket(namespace: string, iface: string, ethertype: number): SentFrames {
  const received: Array<{ frame: Buffer; pktType: number }> = [];
  const socket = withNetns(namespace, () => openPacketSocket(iface, ethertype, (frame, pktType) => received.push({ frame, pktType })));
  return { socket, received };
}

/** Ethernet + IPv6 + ICMPv6 with the checksum computed here (no kernel on the way). */
export function icmpv6Frame(ethDst: string, ethSrc: string, source: string, destination: string, icmp: Buffer, hopLimit = NDP_HOP_LIMIT): Buffer {
  const body = Buffer.from(icmp);
  body.writeUInt16BE(icmpv6Checksum(source, destination, body), 2);
  const out = Buffer.alloc(14 + 40 + body.length);
  macToBytes(ethDst).copy(out, 0);
  macToBytes(ethSrc).copy(out, 6);
  out.writeUInt16BE(ETH_P_IPV6, 12);
  out.writeUInt32BE(0x60000000, 14); // version 6, no traffic class, no flow label
  out.writeUInt16BE(body.length, 18);
  out[20] = IPPROTO_ICMPV6;
  out[21] = hopLimit;
  ipv6ToBytes(source).copy(out, 22);
  ipv6ToBytes(destination).copy(out, 38);
  body.copy(out, 54);
  return out;
}

/** A unicast solicitation as a neighbour-unreachability probe sends it: straight to the target. */
export function unicastSolicitation(ethDst: string, ethSrc: string, source: string, target: string): Buffer {
  return icmpv6Frame(ethDst, ethSrc, source, target, encodeNeighborSolicitation({ target, sourceLinkAddr: ethSrc }));
}

/** The IPv6 header fields and ICMPv6 message of a captured frame, or undefined if it is not ICMPv6. */
export function parseIcmpv6Frame(frame: Buffer): { hopLimit: number; source: Buffer; destination: Buffer; icmp: Buffer } | undefined {
  if (frame.length < 54 || frame.readUInt16BE(12) !== ETH_P_IPV6 || frame[20] !== IPPROTO_ICMPV6) return undefined;
  const length = frame.readUInt16BE(18);
  return { hopLimit: frame[21]!, source: frame.subarray(22, 38), destination: frame.subarray(38, 54), icmp: frame.subarray(54, 54 + length) };
}
