import { isIPv4, isIPv6 } from 'node:net';
import { FulcrumError } from '../../src/errors.js';

/**
 * Byte forms of the addresses that ARP and NDP carry. Pure: no I/O. MACs are lower-case
 * `aa:bb:cc:dd:ee:ff` strings; IPv6 addresses come out in RFC 5952 form, so two spellings of
 * one address compare equal once they went through `canonicalIp`.
 */

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const ZERO_MAC = '00:00:00:00:00:00';

export function macToBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', `MAC address "${mac}": expected six hex pairs separated by ":"`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(buf: Uint8Array, offset = 0): string {
  let out = '';
  for (let i = 0; i < 6; i++) out += (i ? ':' : '') + buf[offset + i]!.toString(16).padStart(2, '0');
  return out;
}

export function ipv4ToBytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', `IPv4 address "${ip}" is not valid`);
  return Buffer.from(ip.split('.').map(Number));
}

export function formatIpv4(buf: Uint8Array, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export function ipv6ToBytes(ip: string): Buffer {
  const bare = ip.split('%')[0]!;
  if (!isIPv6(bare)) throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', `IPv6 address "${ip}" is not valid`);
  let text = bare;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two groups.
    const v4 = ipv4ToBytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (s: string | undefined): number[] => (s ? s.split(':').filter((g) => g !== '').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(rest);
  const fill = 8 - left.length - right.length;
  const groups = rest === undefined ? [...left, ...right] : [...left, ...new Array<number>(fill).fill(0), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** RFC 5952: lower case, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
export function formatIpv6(buf: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((buf[offset + 2 * i]! << 8) | buf[offset + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export type IpFamily = 4 | 6;

export function ipFamily(ip: string): IpFamily {
  if (isIPv4(ip)) return 4;
  if (isIPv6(ip.split('%')[0]!)) return 6;
  throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', `address "${ip}" is neither IPv4 nor IPv6`);
}

/** One spelling per address, so that map keys and comparisons agree. */
export function canonicalIp(ip: string): string {
  return ipFamily(ip) === 4 ? ip : formatIpv6(ipv6ToBytes(ip));
}
