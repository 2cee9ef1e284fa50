import { formatIpv6, formatMac, ipv6ToBytes, macToBytes } from './addr.js';

/**
 * ICMPv6 neighbour solicitation and advertisement (RFC 4861 §4.3, §4.4), the ICMPv6 part only:
 * the IPv6 header belongs to the raw socket that sends or receives it. The checksum field is
 * written as 0 because Linux computes it for every raw IPPROTO_ICMPV6 socket (RFC 3542 §3.1);
 * `icmpv6Checksum` exists to check captured frames. Pure: no I/O.
 */
export const ETH_P_IPV6 = 0x86dd;
export const IPPROTO_ICMPV6 = 58;
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
export const ALL_NODES = 'ff02::1';
/** RFC 4861 §7.1.1: a neighbour discovery message that crossed a router is forged. */
export const NDP_HOP_LIMIT = 255;

const OPT_SOURCE_LINK_ADDR = 1;
const OPT_TARGET_LINK_ADDR = 2;
const FLAG_ROUTER = 0x80;
const FLAG_SOLICITED = 0x40;
const FLAG_OVERRIDE = 0x20;

export interface NeighborSolicitation {
  readonly target: string;
  readonly sourceLinkAddr: string | undefined;
}

export interface NeighborAdvertisement {
  readonly target: string;
  readonly router: boolean;
  readonly solicited: boolean;
  readonly override: boolean;
  readonly targetLinkAddr: string | undefined;
}

export type NdpDecodeFailure = 'tooShort' | 'notSolicitation' | 'notAdvertisement' | 'badCode' | 'multicastTarget' | 'badOption';
export type NdpDecoded<T> = { ok: true; message: T } | { ok: false; reason: NdpDecodeFailure };

/** Walks the options after `start`; returns the link-layer address of option `type`, or a failure. */
function linkAddrOption(buf: Buffer, start: number, type: number): { ok: true; mac: string | undefined } | { ok: false } {
  let mac: string | undefined;
  for (let at = start; at < buf.length; ) {
    if (at + 2 > buf.length) return { ok: false };
    const lengthBytes = buf[at + 1]! * 8; // option length is in units of 8 bytes; 0 is invalid (§4.6)
    if (lengthBytes === 0 || at + lengthBytes > buf.length) return { ok: false };
    if (buf[at] === type && lengthBytes >= 8) mac = formatMac(buf, at + 2);
    at += lengthBytes;
  }
  return { ok: true, mac };
}

function decodeHead(icmp: Uint8Array, type: number, notType: NdpDecodeFailure): { ok: true; buf: Buffer; target: string } | { ok: false; reason: NdpDecodeFailure } {
  const buf = Buffer.from(icmp.buffer, icmp.byteOffset, icmp.byteLength);
  if (buf.length < 1) return { ok: false, reason: 'tooShort' };
  if (buf[0] !== type) return { ok: false, reason: notType };
  if (buf.length < 24) return { ok: false, reason: 'tooShort' };
  if (buf[1] !== 0) return { ok: false, reason: 'badCode' };
  if (buf[8] === 0xff) return { ok: false, reason: 'multicastTarget' };
  return { ok: true, buf, target: formatIpv6(buf, 8) };
}

export function decodeNeighborSolicitation(icmp: Uint8Array): NdpDecoded<NeighborSolicitation> {
  const head = decodeHead(icmp, ICMPV6_NEIGHBOR_SOLICITATION, 'notSolicitation');
  if (!head.ok) return head;
  const opt = linkAddrOption(head.buf, 24, OPT_SOURCE_LINK_ADDR);
  if (!opt.ok) return { ok: false, reason: 'badOption' };
  return { ok: true, message: { target: head.target, sourceLinkAddr: opt.mac } };
}

export function decodeNeighborAdvertisement(icmp: Uint8Array): NdpDecoded<NeighborAdvertisement> {
  const head = decodeHead(icmp, ICMPV6_NEIGHBOR_ADVERTISEMENT, 'notAdvertisement');
  if (!head.ok) return head;
  const opt = linkAddrOption(head.buf, 24, OPT_TARGET_LINK_ADDR);
  if (!opt.ok) return { ok: false, reason: 'badOption' };
  const flags = head.buf[4]!;
  return {
    ok: true,
    message: {
      target: head.target,
      router: (flags & FLAG_ROUTER) !== 0,
      solicited: (flags & FLAG_SOLICITED) !== 0,
      override: (flags & FLAG_OVERRIDE) !== 0,
      targetLinkAddr: opt.mac,
    },
  };
}

function encode(type: number, flags: number, target: string, optionType: number, mac: string | undefined): Buffer {
  const out = Buffer.alloc(mac === undefined ? 24 : 32);
  out[0] = type;
  out[4] = flags;
  ipv6ToBytes(target).copy(out, 8);
  if (mac !== undefined) {
    out[24] = optionType;
    out[25] = 1; // one unit of 8 bytes: type, length and a 6-byte MAC
    macToBytes(mac).copy(out, 26);
  }
  return out;
}

export function encodeNeighborSolicitation(ns: NeighborSolicitation): Buffer {
  return encode(ICMPV6_NEIGHBOR_SOLICITATION, 0, ns.target, OPT_SOURCE_LINK_ADDR, ns.sourceLinkAddr);
}

export function encodeNeighborAdvertisement(na: NeighborAdvertisement): Buffer {
  const flags = (na.router ? FLAG_ROUTER : 0) | (na.solicited ? FLAG_SOLICITED : 0) | (na.override ? FLAG_OVERRIDE : 0);
  return encode(ICMPV6_NEIGHBOR_ADVERTISEMENT, flags, na.target, OPT_TARGET_LINK_ADDR, na.targetLinkAddr);
}

/** The solicited answer (§7.2.4): S and O set, our MAC in the target link-layer option. */
export function solicitedAdvertisement(target: string, mac: string): NeighborAdvertisement {
  return { target, router: false, solicited: true, override: true, targetLinkAddr: mac };
}

/** The takeover announcement (§7.2.6): to all-nodes, O set so caches replace the old MAC, S clear. */
export function unsolicitedAdvertisement(target: string, mac: string): NeighborAdvertisement {
  return { target, router: false, solicited: false, override: true, targetLinkAddr: mac };
}

/** ff02::1:ffXX:XXXX, where a node listens for solicitations of `ip` (§7.2.1, RFC 4291 §2.7.1). */
export function solicitedNodeMulticast(ip: string): string {
  const b = ipv6ToBytes(ip);
  return formatIpv6(Buffer.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, b[13]!, b[14]!, b[15]!]));
}

/** The ICMPv6 checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and the message. */
export function icmpv6Checksum(source: string, destination: string, icmp: Uint8Array): number {
  const pseudo = Buffer.alloc(40);
  ipv6ToBytes(source).copy(pseudo, 0);
  ipv6ToBytes(destination).copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = IPPROTO_ICMPV6;
  let sum = 0;
  const add = (b: Uint8Array, skipChecksumAt: number): void => {
    for (let i = 0; i < b.length; i += 2) {
      if (i === skipChecksumAt) continue;
      sum += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
    }
  };
  add(pseudo, -1);
  add(icmp, 2);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
