import { Address4, Address6 } from 'ip-address';

/**
 * The one address module, below config, ipam and the speaker. Addresses and ranges as
 * bigints: a pool of a /8 or a /64 is two numbers here, never a list; sizes, membership and
 * "lowest free address" are arithmetic on `first`/`last`. One canonical text (dotted quad,
 * RFC 5952), one byte form for the packets ARP and NDP carry. ip-address does the parsing and
 * the IPv6 formatting; nothing in this module does I/O.
 */
export type Family = 'IPv4' | 'IPv6';
export const FAMILIES: readonly Family[] = ['IPv4', 'IPv6'];

export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

/** An inclusive range of addresses of one family, as written in the config. */
export interface AddressRange {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
  /** The text this range was parsed from (`192.0.2.0/24`, `192.0.2.10-192.0.2.20`). */
  readonly text: string;
}

export type ParsedAddress = { ok: true; address: Address } | { ok: false; reason: string };
export type ParsedRange =
  | { ok: true; range: AddressRange; /** set when a CIDR had host bits: the network it means */ network?: string }
  | { ok: false; reason: string };

const V4_MAX = (1n << 32n) - 1n;

function familyOfText(text: string): Family {
  return text.includes(':') ? 'IPv6' : 'IPv4';
}

/** Parses one address (no prefix, no zone). */
export function parseAddress(text: string): ParsedAddress {
  const t = text.trim();
  if (t === '' || t !== text) return { ok: false, reason: 'is not an IP address' };
  if (t.includes('/') || t.includes('%')) return { ok: false, reason: 'is not an IP address' };
  try {
    if (familyOfText(t) === 'IPv4') return { ok: true, address: { family: 'IPv4', value: new Address4(t).bigInt() } };
    return { ok: true, address: { family: 'IPv6', value: new Address6(t).bigInt() } };
  } catch {
    return { ok: false, reason: 'is not an IP address' };
  }
}

function parseCidr(t: string): ParsedRange {
  const [addr, bits] = t.split('/') as [string, string];
  if (!/^\d{1,3}$/.test(bits)) return { ok: false, reason: 'is not an IP range' };
  const family = familyOfText(addr);
  const prefix = Number(bits);
  const width = family === 'IPv4' ? 32 : 128;
  if (prefix > width) return { ok: false, reason: `is not an IP range (prefix /${prefix} is longer than ${width} bits)` };
  const parsed = parseAddress(addr);
  if (!parsed.ok || parsed.address.family !== family) return { ok: false, reason: 'is not an IP range' };
  const hostBits = BigInt(width - prefix);
  const first = (parsed.address.value >> hostBits) << hostBits;
  const last = first + (1n << hostBits) - 1n;
  const range: AddressRange = { family, first, last, text: t };
  if (first !== parsed.address.value) return { ok: true, range, network: `${formatAddress({ family, value: first })}/${prefix}` };
  return { ok: true, range };
}

/** Parses `a.b.c.d/n`, `x::/n` or `start-end` (both ends of one family, start ≤ end). */
export function parseRange(text: string): ParsedRange {
  const t = text.trim();
  if (t === '' || t !== text) return { ok: false, reason: 'is not an IP range' };
  if (t.includes('/')) {
    if (t.split('/').length !== 2) return { ok: false, reason: 'is not an IP range' };
    return parseCidr(t);
  }
  const parts = t.split('-');
  if (parts.length !== 2) return { ok: false, reason: 'is not an IP range (write a CIDR or start-end)' };
  const start = parseAddress(parts[0]!.trim());
  const end = parseAddress(parts[1]!.trim());
  if (!start.ok || !end.ok) return { ok: false, reason: 'is not an IP range' };
  if (start.address.family !== end.address.family) return { ok: false, reason: 'mixes IPv4 and IPv6 in one range' };
  if (start.address.value > end.address.value) return { ok: false, reason: 'is not an IP range: start is after end' };
  return { ok: true, range: { family: start.address.family, first: start.address.value, last: end.address.value, text: t } };
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatAddress(address: Address): string {
  if (address.family === 'IPv4') {
    const v = Number(address.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  return Address6.fromBigInt(address.value).correctForm();
}

/** A string key for maps: the canonical text (unique per address across both families). */
export function addressKey(address: Address): string {
  return formatAddress(address);
}

/** Number of addresses in a range. */
export function rangeSize(range: Pick<AddressRange, 'first' | 'last'>): bigint {
  return range.last - range.first + 1n;
}

/**
 * MetalLB's "buggy IPs": IPv4 addresses ending in .0 or .255, which some old routers and
 * Windows clients treat as network/broadcast addresses whatever the prefix length.
 */
export function isBuggy(address: Address): boolean {
  if (address.family !== 'IPv4') return false;
  const low = address.value & 255n;
  return low === 0n || low === 255n;
}

/** How many addresses of `[first, last]` end in .0 or .255 (IPv4 only), without enumerating. */
export function buggyCount(range: Pick<AddressRange, 'family' | 'first' | 'last'>): bigint {
  if (range.family !== 'IPv4') return 0n;
  // Count x in [first, last] with x ≡ r (mod 256), for r = 0 and r = 255.
  const countResidue = (r: bigint): bigint => {
    const upTo = (n: bigint): bigint => (n < r ? 0n : (n - r) / 256n + 1n); // x ≤ n
    return upTo(range.last) - (range.first === 0n ? 0n : upTo(range.first - 1n));
  };
  return countResidue(0n) + countResidue(255n);
}

export function rangeContains(range: Pick<AddressRange, 'family' | 'first' | 'last'>, address: Address): boolean {
  return range.family === address.family && address.value >= range.first && address.value <= range.last;
}

export function rangesOverlap(a: AddressRange, b: AddressRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/** Formats a bigint with thousands separators, exact at any size (2^96 included). */
export function formatCount(n: bigint): string {
  const s = n.toString();
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Largest valid value of a family. */
export function familyMax(family: Family): bigint {
  return family === 'IPv4' ? V4_MAX : (1n << 128n) - 1n;
}

/** The family of an address's text, or undefined when it is not an address (a zone, `%eth0`, is ignored). */
export function familyOf(text: string): Family | undefined {
  const parsed = parseAddress(text.split('%')[0]!);
  return parsed.ok ? parsed.address.family : undefined;
}

/** One spelling per address (dotted quad, RFC 5952), so that map keys and comparisons agree; undefined when it is not an address. */
export function canonicalAddress(text: string): string | undefined {
  const parsed = parseAddress(text.split('%')[0]!);
  return parsed.ok ? formatAddress(parsed.address) : undefined;
}

/** The 4 or 16 bytes of an address, network order. */
export function addressBytes(address: Address): Buffer {
  const out = Buffer.alloc(address.family === 'IPv4' ? 4 : 16);
  let v = address.value;
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(v & 255n);
    v >>= 8n;
  }
  return out;
}

/** The address in 4 (IPv4) or 16 (IPv6) bytes of `buf` at `offset`. */
export function addressFromBytes(family: Family, buf: Uint8Array, offset = 0): Address {
  let value = 0n;
  for (let i = 0; i < (family === 'IPv4' ? 4 : 16); i++) value = (value << 8n) | BigInt(buf[offset + i]!);
  return { family, value };
}
