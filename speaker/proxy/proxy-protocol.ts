/**
 * The PROXY protocol (haproxy's doc/proxy-protocol.txt): the v1 text line and the v2 binary
 * header that tell a backend who the real client is. Pure: addresses in, bytes out; bytes in,
 * a result out. Used by the TCP frontend to send a header to backends and to accept one from
 * trusted peers.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface PeerAddress {
  readonly address: string;
  readonly port: number;
}

/** The 12-byte v2 signature: \r\n\r\n\0\r\nQUIT\n (spec §2.2). */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Spec §2.1: a v1 line is at most 107 bytes, CRLF included. */
export const V1_MAX_LENGTH = 107;
const V2_VERSION_PROXY = 0x21; // version 2 (high nibble), command PROXY (low nibble)
const V2_VERSION_LOCAL = 0x20;
const V2_TCP4 = 0x11; // AF_INET (0x1_) + STREAM (0x_1)
const V2_TCP6 = 0x21;
const V2_UDP4 = 0x12;
const V2_UDP6 = 0x22;

/** `::ffff:192.0.2.1` → `192.0.2.1`; what a dual-stack socket reports for IPv4 peers. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** Both ends in one family, as the header requires: an IPv4 end is mapped when the other is IPv6. */
function sameFamily(source: PeerAddress, destination: PeerAddress): { v6: boolean; src: string; dst: string } {
  const src = unmapIPv4(source.address);
  const dst = unmapIPv4(destination.address);
  const v6 = isIPv6(src) || isIPv6(dst);
  return { v6, src: v6 && isIPv4(src) ? `::ffff:${src}` : src, dst: v6 && isIPv4(dst) ? `::ffff:${dst}` : dst };
}

/** `PROXY TCP4 192.0.2.1 192.0.2.100 56324 443\r\n` (spec §2.1). */
export function encodeProxyV1(source: PeerAddress, destination: PeerAddress): Buffer {
  const { v6, src, dst } = sameFamily(source, destination);
  return Buffer.from(`PROXY ${v6 ? 'TCP6' : 'TCP4'} ${src} ${dst} ${source.port} ${destination.port}\r\n`, 'latin1');
}

/** 16 bytes of header + 12 (IPv4) or 36 (IPv6) bytes of addresses, no TLVs (spec §2.2). */
export function encodeProxyV2(source: PeerAddress, destination: PeerAddress, transport: 'tcp' | 'udp' = 'tcp'): Buffer {
  const { v6, src, dst } = sameFamily(source, destination);
  const addrLength = v6 ? 36 : 12;
  const out = Buffer.allocUnsafe(16 + addrLength);
  V2_SIGNATURE.copy(out, 0);
  out[12] = V2_VERSION_PROXY;
  out[13] = v6 ? (transport === 'tcp' ? V2_TCP6 : V2_UDP6) : transport === 'tcp' ? V2_TCP4 : V2_UDP4;
  out.writeUInt16BE(addrLength, 14);
  const addrBytes = v6 ? 16 : 4;
  writeAddress(out, 16, src, v6);
  writeAddress(out, 16 + addrBytes, dst, v6);
  out.writeUInt16BE(source.port, 16 + 2 * addrBytes);
  out.writeUInt16BE(destination.port, 18 + 2 * addrBytes);
  return out;
}

function writeAddress(out: Buffer, offset: number, address: string, v6: boolean): void {
  if (!v6) {
    const parts = address.split('.');
    for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
    return;
  }
  const groups = expandIPv6(address);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i]!, offset + 2 * i);
}

/** Eight 16-bit groups of an IPv6 address, with `::` and a trailing dotted quad expanded. */
function expandIPv6(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // A trailing dotted quad (`::ffff:192.0.2.1`) is the last two groups written in decimal.
    const q = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const gap = text.indexOf('::');
  if (gap < 0) return parse(text);
  const left = parse(text.slice(0, gap));
  const right = parse(text.slice(gap + 2));
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function readIPv6(buf: Buffer, offset: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + 2 * i).toString(16));
  // Canonical form: the longest run of two or more zero groups becomes `::` (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

export type ParsedProxyHeader =
  /** Not enough bytes yet to decide. */
  | { readonly kind: 'incomplete' }
  /** The stream does not start with a PROXY header. */
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly reason: string }
  /** v1 `UNKNOWN`, v2 `LOCAL` or an unsupported family: keep the real peer address. */
  | { readonly kind: 'local'; readonly version: 1 | 2; readonly length: number }
  | { readonly kind: 'proxy'; readonly version: 1 | 2; readonly length: number; readonly source: PeerAddress; readonly destination: PeerAddress };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

/** Reads a header at the start of `buf`; `length` is how many bytes it took. */
export function parseProxyHeader(buf: Buffer): ParsedProxyHeader {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf);
  return { kind: 'none' };
}

function startsWithPrefix(buf: Buffer, prefix: Buffer): 'yes' | 'no' | 'short' {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return 'no';
  return buf.length < prefix.length ? 'short' : 'yes';
}

function parseV1(buf: Buffer): ParsedProxyHeader {
  const prefix = startsWithPrefix(buf, V1_PREFIX);
  if (prefix === 'no') return { kind: 'none' };
  if (prefix === 'short') return { kind: 'incomplete' };
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= V1_MAX_LENGTH ? { kind: 'invalid', reason: 'v1 line longer than 107 bytes' } : { kind: 'incomplete' };
  if (end + 2 > V1_MAX_LENGTH) return { kind: 'invalid', reason: 'v1 line longer than 107 bytes' };
  const length = end + 2;
  const fields = buf.toString('latin1', 6, end).split(' ');
  if (fields[0] === 'UNKNOWN') return { kind: 'local', version: 1, length };
  if (fields.length !== 5 || (fields[0] !== 'TCP4' && fields[0] !== 'TCP6')) return { kind: 'invalid', reason: `v1 line "${buf.toString('latin1', 0, end)}" is not PROXY TCP4|TCP6 src dst sport dport` };
  const [family, src, dst, sport, dport] = fields as [string, string, string, string, string];
  const isFamily = family === 'TCP4' ? isIPv4 : isIPv6;
  if (!isFamily(src) || !isFamily(dst)) return { kind: 'invalid', reason: `v1 addresses "${src}" "${dst}" are not ${family}` };
  const sp = parsePort(sport);
  const dp = parsePort(dport);
  if (sp === undefined || dp === undefined) return { kind: 'invalid', reason: `v1 ports "${sport}" "${dport}" are not 0-65535` };
  return { kind: 'proxy', version: 1, length, source: { address: src, port: sp }, destination: { address: dst, port: dp } };
}

function parsePort(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV2(buf: Buffer): ParsedProxyHeader {
  const prefix = startsWithPrefix(buf, V2_SIGNATURE);
  if (prefix === 'no') return { kind: 'none' };
  if (prefix === 'short' || buf.length < 16) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: `v2 version ${verCmd >> 4} is not 2` };
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return { kind: 'incomplete' };
  if (verCmd === V2_VERSION_LOCAL) return { kind: 'local', version: 2, length };
  if (verCmd !== V2_VERSION_PROXY) return { kind: 'invalid', reason: `v2 command ${verCmd & 0xf} is neither LOCAL nor PROXY` };
  const family = buf[13]! >> 4;
  if (family === 0x1) {
    if (length < 16 + 12) return { kind: 'invalid', reason: 'v2 IPv4 block shorter than 12 bytes' };
    const source = { address: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`, port: buf.readUInt16BE(24) };
    const destination = { address: `${buf[20]}.${buf[21]}.${buf[22]}.${buf[23]}`, port: buf.readUInt16BE(26) };
    return { kind: 'proxy', version: 2, length, source, destination };
  }
  if (family === 0x2) {
    if (length < 16 + 36) return { kind: 'invalid', reason: 'v2 IPv6 block shorter than 36 bytes' };
    const source = { address: readIPv6(buf, 16), port: buf.readUInt16BE(48) };
    const destination = { address: readIPv6(buf, 32), port: buf.readUInt16BE(50) };
    return { kind: 'proxy', version: 2, length, source, destination };
  }
  // AF_UNSPEC or AF_UNIX: the spec says to accept the connection and use the real addresses.
  return { kind: 'local', version: 2, length };
}
