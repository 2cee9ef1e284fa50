import { addressBytes, addressFromBytes, canonicalAddress, familyOf, formatAddress, parseAddress, type Family } from '../../src/address.js';
import { FulcrumError } from '../../src/errors.js';

/**
 * Byte forms of the MACs and addresses that ARP and NDP carry, pure. MACs are lower-case
 * `aa:bb:cc:dd:ee:ff` strings; addresses are parsed and formatted by src/address.ts (IPv6 in
 * RFC 5952 form), so two spellings of one address compare equal once they went through
 * `canonicalIp`.
 */

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const ZERO_MAC = '00:00:00:00:00:00';

export function macToBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', { kind: 'MAC address', value: mac, reason: 'expected six hex pairs separated by ":"' });
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(buf: Uint8Array, offset = 0): string {
  let out = '';
  for (let i = 0; i < 6; i++) out += (i ? ':' : '') + buf[offset + i]!.toString(16).padStart(2, '0');
  return out;
}

export function ipv4ToBytes(ip: string): Buffer {
  const parsed = parseAddress(ip);
  if (!parsed.ok || parsed.address.family !== 'IPv4') throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', { kind: 'IPv4 address', value: ip, reason: 'not valid' });
  return addressBytes(parsed.address);
}

export function formatIpv4(buf: Uint8Array, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export function ipv6ToBytes(ip: string): Buffer {
  const parsed = parseAddress(ip.split('%')[0]!);
  if (!parsed.ok || parsed.address.family !== 'IPv6') throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', { kind: 'IPv6 address', value: ip, reason: 'not valid' });
  return addressBytes(parsed.address);
}

/** RFC 5952 (src/address.ts). */
export function formatIpv6(buf: Uint8Array, offset = 0): string {
  return formatAddress(addressFromBytes('IPv6', buf, offset));
}

export function ipFamily(ip: string): Family {
  const family = familyOf(ip);
  if (!family) throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', { kind: 'address', value: ip, reason: 'neither IPv4 nor IPv6' });
  return family;
}

/** One spelling per address, so that map keys and comparisons agree (src/address.ts); throws if it is not an address. */
export function canonicalIp(ip: string): string {
  const canonical = canonicalAddress(ip);
  if (canonical === undefined) throw new FulcrumError('FUL_ERR_ANNOUNCE_ADDRESS', { kind: 'address', value: ip, reason: 'neither IPv4 nor IPv6' });
  return canonical;
}
