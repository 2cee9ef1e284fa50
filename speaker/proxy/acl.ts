/**
 * Source-range ACLs (`loadBalancerSourceRanges`, trusted PROXY-protocol peers): CIDRs parsed
 * once when a frontend context is compiled, then matched per accept / per datagram with
 * node's BlockList (C++, and it matches IPv4-mapped IPv6 peers against IPv4 ranges).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type ParsedCidr =
  | { readonly kind: 'ok'; readonly address: string; readonly prefix: number; readonly family: 'ipv4' | 'ipv6' }
  | { readonly kind: 'invalid'; readonly reason: string };

/** `192.0.2.0/24`, `2001:db8::/32`, or a bare address (a /32 or /128). Pure. */
export function parseCidr(text: string): ParsedCidr {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) return { kind: 'invalid', reason: `"${address}" is not an IPv4 or IPv6 address` };
  const max = family === 'ipv4' ? 32 : 128;
  if (slash < 0) return { kind: 'ok', address, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max) return { kind: 'invalid', reason: `prefix "/${prefixText}" is not 0-${max}` };
  return { kind: 'ok', address, prefix, family };
}

/** A compiled list of ranges. An empty list has `matchesAll` set (no ACL configured). */
export class SourceRanges {
  readonly matchesAll: boolean;
  readonly #list: BlockList;

  constructor(cidrs: readonly string[]) {
    this.matchesAll = cidrs.length === 0;
    this.#list = new BlockList();
    for (const cidr of cidrs) {
      const parsed = parseCidr(cidr);
      // The model was validated at load; an invalid range here is a bug upstream.
      if (parsed.kind !== 'ok') throw new Error(`incoherent model: source range "${cidr}": ${parsed.reason}`);
      this.#list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }

  /** True if `address` (as a socket reports it) is inside one of the ranges. */
  contains(address: string | undefined): boolean {
    // BlockList.check builds a SocketAddress per call: an empty list needs none.
    if (address === undefined || this.matchesAll) return false;
    return this.#list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
  }

  /** An ACL allows everyone when empty; a trust list trusts no one when empty. */
  allows(address: string | undefined): boolean {
    return this.matchesAll || this.contains(address);
  }
}
