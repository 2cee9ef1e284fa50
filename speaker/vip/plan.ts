import { canonicalIp, ipFamily } from '../announce/addr.js';

/**
 * VIP plumbing, the pure part: which addresses go on `lo` and which come off, the exact `ip`
 * arguments, and the sysctls of the announcing interfaces. No I/O.
 *
 * Mechanism: the owner puts each service address on `lo` (/32, /128 nodad), so its kernel
 * accepts the traffic and a proxy can bind to the address; the announcing interfaces get
 * arp_ignore=1 (answer ARP only for addresses configured on the receiving interface, so never
 * for `lo`'s) and arp_announce=2 (never use an address of another interface, such as a VIP, as
 * the sender of the kernel's own ARP requests). IPv6 needs nothing: Linux answers a solicitation
 * only for addresses on the receiving interface, and `lo` does no duplicate address detection.
 * The userspace announcer is then the only thing on the node that answers for a VIP.
 *
 * Marking: our addresses carry a route metric (IFA_RT_PRIORITY) no one picks by hand, in both
 * families (iproute2 6.1 cannot set IFA_PROTO), and IPv4 ones also the label `lo:fulcrum` for
 * people reading `ip addr`. A starting speaker removes every marked address: they are the
 * leftovers of a crashed one, since ownership is recomputed from scratch on start.
 */
export const VIP_DEVICE = 'lo';
export const VIP_LABEL = 'lo:fulcrum';
/** Arbitrary; only identifies Fulcrum's addresses (digits of "F-U-L" on a phone keypad, 3-8-5, plus 7). */
export const VIP_MARK_METRIC = 3857;

export interface VipPlan {
  readonly add: readonly string[];
  readonly remove: readonly string[];
  readonly keep: readonly string[];
}

export function planVips(present: readonly string[], desired: readonly string[]): VipPlan {
  const have = new Set(present.map(canonicalIp));
  const want = new Set(desired.map(canonicalIp));
  const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
  return {
    add: sorted([...want].filter((ip) => !have.has(ip))),
    remove: sorted([...have].filter((ip) => !want.has(ip))),
    keep: sorted([...want].filter((ip) => have.has(ip))),
  };
}

/** `ip addr replace` is idempotent: adding an address already there succeeds. */
export function addVipArgs(ip: string): string[] {
  const address = canonicalIp(ip);
  return ipFamily(address) === 'IPv4'
    ? ['addr', 'replace', `${address}/32`, 'dev', VIP_DEVICE, 'label', VIP_LABEL, 'metric', String(VIP_MARK_METRIC)]
    : ['addr', 'replace', `${address}/128`, 'dev', VIP_DEVICE, 'nodad', 'metric', String(VIP_MARK_METRIC)];
}

export function removeVipArgs(ip: string): string[] {
  const address = canonicalIp(ip);
  return ['addr', 'del', `${address}/${ipFamily(address) === 'IPv4' ? 32 : 128}`, 'dev', VIP_DEVICE];
}

interface AddrInfo {
  family?: unknown;
  local?: unknown;
  metric?: unknown;
}

/** The marked addresses in the output of `ip -j addr show dev lo`. */
export function markedVips(ipAddrJson: unknown): string[] {
  if (!Array.isArray(ipAddrJson)) return [];
  const out: string[] = [];
  for (const link of ipAddrJson as Array<{ addr_info?: unknown }>) {
    if (!Array.isArray(link?.addr_info)) continue;
    for (const info of link.addr_info as AddrInfo[]) {
      if (info.metric === VIP_MARK_METRIC && typeof info.local === 'string') out.push(canonicalIp(info.local));
    }
  }
  return out.sort();
}

/** Sysctls (slash form, safe for interface names with dots) of one announcing interface. */
export function announcingSysctls(iface: string): Array<{ key: string; value: string }> {
  return [
    { key: `net/ipv4/conf/${iface}/arp_ignore`, value: '1' },
    { key: `net/ipv4/conf/${iface}/arp_announce`, value: '2' },
  ];
}
