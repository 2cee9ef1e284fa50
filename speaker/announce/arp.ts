import { BROADCAST_MAC, ZERO_MAC, formatIpv4, formatMac, ipv4ToBytes, macToBytes } from './addr.js';

/**
 * Ethernet + ARP (RFC 826) for IPv4 over Ethernet, encode and decode. Pure: no I/O.
 *
 * Layout: dst(6) src(6) ethertype(2) | htype(2)=1 ptype(2)=0x0800 hlen(1)=6 plen(1)=4 op(2)
 * sha(6) spa(4) tha(6) tpa(4) = 42 bytes, padded to the 60-byte Ethernet minimum (without FCS)
 * because not every driver pads short frames itself.
 */
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV4 = 0x0800;
export const ETH_HEADER_BYTES = 14;
export const ARP_FRAME_BYTES = 42;
export const ETH_MIN_FRAME_BYTES = 60;

export type ArpOperation = 'request' | 'reply';

export interface ArpFrame {
  readonly ethDst: string;
  readonly ethSrc: string;
  readonly operation: ArpOperation;
  readonly senderMac: string;
  readonly senderIp: string;
  readonly targetMac: string;
  readonly targetIp: string;
}

export type ArpDecodeFailure = 'tooShort' | 'notArp' | 'notEthernetIpv4' | 'unknownOperation';
export type ArpDecoded = { ok: true; frame: ArpFrame } | { ok: false; reason: ArpDecodeFailure };

const OP_CODE: Record<ArpOperation, number> = { request: 1, reply: 2 };

export function decodeArpFrame(buf: Uint8Array): ArpDecoded {
  if (buf.length < ARP_FRAME_BYTES) return { ok: false, reason: 'tooShort' };
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.readUInt16BE(12) !== ETH_P_ARP) return { ok: false, reason: 'notArp' };
  if (view.readUInt16BE(14) !== 1 || view.readUInt16BE(16) !== ETH_P_IPV4 || view[18] !== 6 || view[19] !== 4) {
    return { ok: false, reason: 'notEthernetIpv4' };
  }
  const op = view.readUInt16BE(20);
  if (op !== 1 && op !== 2) return { ok: false, reason: 'unknownOperation' };
  return {
    ok: true,
    frame: {
      ethDst: formatMac(view, 0),
      ethSrc: formatMac(view, 6),
      operation: op === 1 ? 'request' : 'reply',
      senderMac: formatMac(view, 22),
      senderIp: formatIpv4(view, 28),
      targetMac: formatMac(view, 32),
      targetIp: formatIpv4(view, 38),
    },
  };
}

export function encodeArpFrame(frame: ArpFrame): Buffer {
  const out = Buffer.alloc(ETH_MIN_FRAME_BYTES);
  macToBytes(frame.ethDst).copy(out, 0);
  macToBytes(frame.ethSrc).copy(out, 6);
  out.writeUInt16BE(ETH_P_ARP, 12);
  out.writeUInt16BE(1, 14); // hardware type: Ethernet
  out.writeUInt16BE(ETH_P_IPV4, 16);
  out[18] = 6;
  out[19] = 4;
  out.writeUInt16BE(OP_CODE[frame.operation], 20);
  macToBytes(frame.senderMac).copy(out, 22);
  ipv4ToBytes(frame.senderIp).copy(out, 28);
  macToBytes(frame.targetMac).copy(out, 32);
  ipv4ToBytes(frame.targetIp).copy(out, 38);
  return out;
}

/** The reply to `request` saying that `request.targetIp` is at `mac`, sent back to the asker. */
export function arpReplyFor(request: ArpFrame, mac: string): ArpFrame {
  return {
    ethDst: request.senderMac,
    ethSrc: mac,
    operation: 'reply',
    senderMac: mac,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  };
}

/**
 * Gratuitous ARP as a broadcast request with sender = target = the address (RFC 5227 §3
 * "ARP Announcement"): every host that has an entry for it updates the MAC, and a request is
 * processed by more stacks than an unsolicited reply.
 */
export function gratuitousArp(ip: string, mac: string): ArpFrame {
  return { ethDst: BROADCAST_MAC, ethSrc: mac, operation: 'request', senderMac: mac, senderIp: ip, targetMac: ZERO_MAC, targetIp: ip };
}

/** A who-has request, as a client's kernel sends it (tests and probes). */
export function arpRequest(senderIp: string, senderMac: string, targetIp: string): ArpFrame {
  return { ethDst: BROADCAST_MAC, ethSrc: senderMac, operation: 'request', senderMac, senderIp, targetMac: ZERO_MAC, targetIp };
}
