/**
 * Kernel-mode flows in the node's connection tracking table, pure: the text of
 * `/proc/net/nf_conntrack` in, per kernel-mode port and state the number of entries out. What a
 * SYN flood against a kernel-mode port fills is the `opening` count (TCP handshakes that did not
 * complete) and, for UDP, `unreplied`; the table's short timeouts for those states
 * (ruleset.ts `UNANSWERED_FLOW_TIMEOUT_S`) bound them.
 *
 * A line (one per entry; the first `dst=`/`dport=` are the original direction, the client's):
 *   ipv4 2 tcp 6 4 SYN_RECV src=198.51.100.7 dst=192.0.2.10 sport=40000 dport=80 src=203.0.113.5 dst=192.0.2.10 sport=8080 dport=40000 mark=0 zone=0 use=2
 *   ipv6 10 udp 17 28 src=2001:0db8:0000:… dst=2001:0db8:… sport=5353 dport=53 [UNREPLIED] src=… mark=0 zone=0 use=2
 */
import { canonicalAddress } from '../../src/address.js';

export const FLOW_STATES = ['opening', 'established', 'closing', 'unreplied', 'replied'] as const;
export type FlowState = (typeof FLOW_STATES)[number];

export interface FlowPort {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
}

const CLOSING = new Set(['FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE']);

/** The kernel writes IPv6 addresses in full (`2001:0db8:0000:…`); ports carry them compressed: one spelling for both. */
const canonical = (address: string): string => canonicalAddress(address) ?? address;

/** Entries per port name and state; ports without entries get zeros. Lines that are not entries are skipped. */
export function countKernelFlows(text: string, ports: readonly FlowPort[]): Map<string, Record<FlowState, number>> {
  const out = new Map<string, Record<FlowState, number>>();
  const byKey = new Map<string, Record<FlowState, number>>();
  for (const p of ports) {
    const counts = { opening: 0, established: 0, closing: 0, unreplied: 0, replied: 0 };
    out.set(p.name, counts);
    byKey.set(`${p.protocol} ${canonical(p.address)} ${p.port}`, counts);
  }
  if (byKey.size === 0) return out;
  const seen = new Map<string, string>(); // full IPv6 form → canonical, once per distinct address
  let at = 0;
  while (at < text.length) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end);
    at = end + 1;
    const f = line.split(/\s+/);
    const protocol = f[2];
    if (protocol !== 'tcp' && protocol !== 'udp') continue;
    let dst: string | undefined;
    let dport: string | undefined;
    for (let i = 3; i < f.length && (dst === undefined || dport === undefined); i++) {
      const w = f[i]!;
      if (dst === undefined && w.startsWith('dst=')) dst = w.slice(4);
      else if (dport === undefined && w.startsWith('dport=')) dport = w.slice(6);
    }
    if (dst === undefined || dport === undefined) continue;
    let address = seen.get(dst);
    if (address === undefined) seen.set(dst, (address = canonical(dst)));
    const counts = byKey.get(`${protocol} ${address} ${dport}`);
    if (!counts) continue;
    if (protocol === 'udp') counts[line.includes('[UNREPLIED]') ? 'unreplied' : 'replied']++;
    else {
      const state = f[5] ?? '';
      counts[state === 'ESTABLISHED' ? 'established' : CLOSING.has(state) ? 'closing' : 'opening']++;
    }
  }
  return out;
}
