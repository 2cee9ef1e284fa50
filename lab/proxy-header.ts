/**
 * The receiving side of the PROXY protocol (haproxy's proxy-protocol.txt, v1 text and v2
 * binary), for the lab's backend pods: they report the client address the proxy passed on, so
 * tests can check that a backend sees the real client. Pure: bytes in, a result out.
 */

export interface ProxiedAddress {
  readonly address: string;
  readonly port: number;
}

export type ProxyHeader =
  /** Not enough bytes yet to decide. */
  | { readonly kind: 'incomplete' }
  /** The stream does not start with a PROXY header. */
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly reason: string }
  /**
   * A header of `length` bytes. `source`/`destination` are absent for v1 `UNKNOWN` and v2
   * `LOCAL` (health checks from the proxy itself) and for address families other than TCP/UDP
   * over IPv4/IPv6.
   */
  | {
      readonly kind: 'v1' | 'v2';
      readonly length: number;
      readonly source: ProxiedAddress | undefined;
      readonly destination: ProxiedAddress | undefined;
    };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX_LENGTH = 107; // the spec's bound, CRLF included
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_HEADER_LENGTH = 16;

function startsWithPartial(buf: Buffer, prefix: Buffer): 'yes' | 'no' | 'maybe' {
  const n = Math.min(buf.length, prefix.length);
  if (!buf.subarray(0, n).equals(prefix.subarray(0, n))) return 'no';
  return buf.length >= prefix.length ? 'yes' : 'maybe';
}

export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { kind: 'incomplete' };
  const v1 = startsWithPartial(buf, V1_PREFIX);
  if (v1 === 'yes') return parseV1(buf);
  const v2 = startsWithPartial(buf, V2_SIGNATURE);
  if (v2 === 'yes') return parseV2(buf);
  if (v1 === 'maybe' || v2 === 'maybe') return { kind: 'incomplete' };
  return { kind: 'none' };
}

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= V1_MAX_LENGTH ? { kind: 'invalid', reason: `v1 header without CRLF in ${V1_MAX_LENGTH} bytes` } : { kind: 'incomplete' };
  if (end + 2 > V1_MAX_LENGTH) return { kind: 'invalid', reason: `v1 header longer than ${V1_MAX_LENGTH} bytes` };
  const parts = buf.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'v1', length, source: undefined, destination: undefined };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { kind: 'invalid', reason: `v1 header "${buf.toString('latin1', 0, end)}"` };
  const sport = Number(parts[4]);
  const dport = Number(parts[5]);
  if (!validPort(sport) || !validPort(dport)) return { kind: 'invalid', reason: `v1 header ports "${parts[4]}" "${parts[5]}"` };
  return { kind: 'v1', length, source: { address: parts[2]!, port: sport }, destination: { address: parts[3]!, port: dport } };
}

function validPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < V2_HEADER_LENGTH) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: `v2 version ${verCmd >> 4}` };
  const command = verCmd & 0x0f;
  const family = buf[13]!;
  const addrLength = buf.readUInt16BE(14);
  const length = V2_HEADER_LENGTH + addrLength;
  if (buf.length < length) return { kind: 'incomplete' };
  if (command === 0x0) return { kind: 'v2', length, source: undefined, destination: undefined }; // LOCAL
  if (command !== 0x1) return { kind: 'invalid', reason: `v2 command ${command}` };
  const a = buf.subarray(V2_HEADER_LENGTH, length);
  switch (family) {
    case 0x11: // TCP over IPv4
    case 0x12: // UDP over IPv4
      if (a.length < 12) return { kind: 'invalid', reason: `v2 IPv4 address block of ${a.length} bytes` };
      return { kind: 'v2', length, source: { address: ipv4(a, 0), port: a.readUInt16BE(8) }, destination: { address: ipv4(a, 4), port: a.readUInt16BE(10) } };
    case 0x21: // TCP over IPv6
    case 0x22: // UDP over IPv6
      if (a.length < 36) return { kind: 'invalid', reason: `v2 IPv6 address block of ${a.length} bytes` };
      return { kind: 'v2', length, source: { address: ipv6(a, 0), port: a.readUInt16BE(32) }, destination: { address: ipv6(a, 16), port: a.readUInt16BE(34) } };
    default:
      return { kind: 'v2', length, source: undefined, destination: undefined };
  }
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text: lower case, longest run of zero groups (two or more) as `::`. */
function ipv6(b: Buffer, at: number): string {
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(at + 2 * i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
