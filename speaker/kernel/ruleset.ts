/**
 * Kernel mode's nftables ruleset, pure: one table (`inet fulcrum_kernel`) with, per kernel-mode
 * port, a map slot → endpoint, the set of its endpoints and its rules, and the transaction that turns the applied
 * tables into the desired ones, written for one `nft -f` run.
 *
 *   filter (prerouting, mangle)  VIP:port, the VIP local, a client outside the source ranges → drop;
 *                                an endpoint's packet that no flow knows → drop (see below);
 *                                a new flow → short timeouts while unanswered (`ct timeout`)
 *   dstnat (prerouting, dstnat)  VIP:port, the VIP local → DNAT to map[jhash(client) seed S mod N]
 *                                (Local, TCP: a SYN only; see portRules)
 *   srcnat (postrouting, srcnat) a flow DNATed from VIP:port, externalTrafficPolicy Cluster → SNAT to the VIP
 *   raw    (prerouting, raw)     from or to a VIP that is not local → notrack (not a client's
 *                                packet to a Local TCP port; see addressRules)
 *
 * The endpoint drop is for a takeover: a flow whose endpoint speaks first reaches the new owner
 * with no conntrack entry (Cluster: to VIP:client-port, which the node's stack would reset;
 * Local: to the client from the pod's own address, which the client would reset). Dropped, the
 * endpoint retransmits; the client's next packet makes the entry through the same slot, and the
 * retransmission then matches it. The endpoints of a port are a named set (`e_…`), so a change of
 * endpoints rewrites elements, not rules.
 *
 * The raw rules keep a node that forwards another owner's flows to its own pods (they come from
 * the VIP, after that owner's SNAT) from tracking them: were it to take the address over, the
 * stale entry (VIP:client port ↔ endpoint) would clash with the flow's new one and the flow
 * would die. Untracked, they are routed as they are; the owner's entries do the NAT.
 *
 * `fib daddr type local` makes the rules act only on the node that has the VIP on `lo`, so every
 * node that may own the address keeps the same rules and a takeover changes no nftables state.
 * The hash is over the client's address and port (the VIP, port and protocol are the rule's
 * own), or the client's address only for `sessionAffinity: ClientIP`. The SNAT keeps the
 * client's port when it is free, so the endpoint sees the same peer whichever node forwards.
 *
 * nft traps (issue 19): `jhash` without `seed` takes a random seed per rule, so the seed is
 * always written; a map declared `typeof jhash …` crashes nft 1.0.6 when listed, so maps are
 * declared `typeof numgen inc mod N` (the same integer key type).
 */
import type { SlotChange, SlotValue } from './slots.js';
import { diffSlots } from './slots.js';

export const KERNEL_TABLE = 'fulcrum_kernel';

/** One kernel-mode port on one address, as the plan gives it (speaker/plan/kernel-ports.ts). */
export interface KernelPort {
  /** `namespace/name:port/PROTOCOL@address`, unique per table. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  /** jhash seed (slots.ts `seedOf`). */
  readonly seed: number;
  /** `flow`: client address and port; `clientAddress`: `sessionAffinity: ClientIP`. */
  readonly hashOn: 'flow' | 'clientAddress';
  /** SNAT to the VIP (externalTrafficPolicy Cluster); false: the endpoint sees the client (Local). */
  readonly snat: boolean;
  /** CIDRs of the VIP's family allowed in; empty: everyone. `denyAll`: none (ranges of the other family only). */
  readonly sourceRanges: readonly string[];
  readonly denyAll: boolean;
}

/** One port with its table as applied or wanted: `slots[i]` is `address . port` or empty. */
export interface KernelPortTable {
  readonly port: KernelPort;
  readonly slots: readonly SlotValue[];
}

type Family = 'ip' | 'ip6';

export const familyOf = (address: string): Family => (address.includes(':') ? 'ip6' : 'ip');

/** The map's name: nft names are letters, digits and `_`, so the port's address, port and protocol, spelled out. */
export function mapNameOf(port: KernelPort): string {
  return `m_${port.address.replace(/[.:]/g, '_')}_${port.port}_${port.protocol}`;
}

/** The port's set of endpoints (`address . port`), whose unknown packets are dropped. */
export function endpointSetNameOf(port: KernelPort): string {
  return `e${mapNameOf(port).slice(1)}`;
}

/** The distinct endpoints of a table, sorted. */
export function endpointsOf(slots: readonly SlotValue[]): string[] {
  return [...new Set(slots.filter((v): v is string => v !== undefined))].sort();
}

/** How nft writes an endpoint in the map: `192.0.2.5 . 8080`, `2001:db8::5 . 8080`. */
export function slotValueOf(address: string, port: number): string {
  return `${address} . ${port}`;
}

const T = `inet ${KERNEL_TABLE}`;

/** The table's chains, by name: declared from nothing, flushed before rules are rewritten. */
const CHAIN_SPECS = {
  // filter before dstnat (-100): a refused client is dropped before any NAT state is made.
  filter: 'type filter hook prerouting priority mangle',
  dstnat: 'type nat hook prerouting priority dstnat',
  srcnat: 'type nat hook postrouting priority srcnat',
  raw: 'type filter hook prerouting priority raw',
} as const;
const CHAINS = Object.entries(CHAIN_SPECS).map(([name, spec]) => `add chain ${T} ${name} { ${spec}; policy accept; }`);

/**
 * How long conntrack keeps a kernel-mode flow that never got going: a TCP handshake that did
 * not complete (SYN_SENT, SYN_RECV) or a UDP flow without a reply, in seconds. The kernel's
 * defaults (120 s, 60 s, 30 s) let a SYN flood of R packets/s hold R × 60–120 entries of the
 * node's one conntrack table, which every flow of the node shares; with 5 s it holds R × 5,
 * and they are gone 5 s after the flood stops. A client's SYN retransmissions (1 s, 3 s, …)
 * each restart the 5 s.
 */
export const UNANSWERED_FLOW_TIMEOUT_S = 5;

/** The conntrack timeout policies of the table (`ct timeout`), by name: per protocol and family. */
const TIMEOUT_POLICIES = (['ip', 'ip6'] as const).flatMap((f) => [
  `add ct timeout ${T} tcp_${f} { protocol tcp; l3proto ${f}; policy = { syn_sent : ${UNANSWERED_FLOW_TIMEOUT_S}, syn_recv : ${UNANSWERED_FLOW_TIMEOUT_S} }; }`,
  `add ct timeout ${T} udp_${f} { protocol udp; l3proto ${f}; policy = { unreplied : ${UNANSWERED_FLOW_TIMEOUT_S} }; }`,
]);
const FLUSH_CHAINS = Object.keys(CHAIN_SPECS).map((name) => `flush chain ${T} ${name}`);

/**
 * The raw rules of every address with a kernel-mode port, sorted: transit traffic of a VIP this
 * node does not hold is not tracked. Except a client's packet to a Local TCP port: the new owner
 * forwards it here (the handoff) when this node was the owner, and its flow's entry here must
 * still DNAT it to this node's pod.
 */
export function addressRules(ports: readonly KernelPort[]): string[] {
  const addresses = [...new Set(ports.map((p) => p.address))].sort();
  return addresses.flatMap((a) => {
    const f = familyOf(a);
    const local = [...new Set(ports.filter((p) => p.address === a && !p.snat && p.protocol === 'tcp').map((p) => p.port))].sort((x, y) => x - y);
    return [
      `add rule ${T} raw ${f} saddr ${a} fib saddr type != local notrack`,
      ...(local.length > 0 ? [`add rule ${T} raw ${f} daddr ${a} tcp dport { ${local.join(', ')} } accept`] : []),
      `add rule ${T} raw ${f} daddr ${a} fib daddr type != local notrack`,
    ];
  });
}

/** The port's map and endpoint set, declared and filled. */
function declarations(t: KernelPortTable): string[] {
  const f = familyOf(t.port.address);
  return [
    `add map ${T} ${mapNameOf(t.port)} { typeof numgen inc mod ${t.slots.length} : ${f} daddr . ${t.port.protocol} dport; }`,
    ...elementLines(mapNameOf(t.port), filled(t.slots), 'none'),
    `add set ${T} ${endpointSetNameOf(t.port)} { type ${f === 'ip' ? 'ipv4_addr' : 'ipv6_addr'} . inet_service; }`,
    ...memberLines(endpointSetNameOf(t.port), [], endpointsOf(t.slots)),
  ];
}

/** `delete element` / `add element` lines turning the set `before` into `after`. */
function memberLines(set: string, before: readonly string[], after: readonly string[]): string[] {
  const had = new Set(before);
  const has = new Set(after);
  return [...batched('delete', set, before.filter((e) => !has.has(e))), ...batched('add', set, after.filter((e) => !had.has(e)))];
}

/** `<verb> element` lines of a map or set, at most 4096 elements each, to keep lines bounded. */
function batched(verb: 'add' | 'delete', name: string, elements: readonly (string | number)[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elements.length; i += 4096) out.push(`${verb} element ${T} ${name} { ${elements.slice(i, i + 4096).join(', ')} }`);
  return out;
}

/** The port's rules; `size` is its table's. */
export function portRules(p: KernelPort, size: number): string[] {
  const f = familyOf(p.address);
  const match = `${f} daddr ${p.address} ${p.protocol} dport ${p.port} fib daddr type local`;
  const out: string[] = [];
  if (p.denyAll) out.push(`add rule ${T} filter ${match} drop`);
  else if (p.sourceRanges.length > 0) out.push(`add rule ${T} filter ${match} ${f} saddr != { ${p.sourceRanges.join(', ')} } drop`);
  const key = p.hashOn === 'clientAddress' ? `${f} saddr` : `${f} saddr . ${p.protocol} sport`;
  const seed = `0x${p.seed.toString(16).padStart(8, '0')}`;
  // An endpoint's packet that conntrack has no entry for (ct state new: picked up mid-stream) is
  // dropped: Cluster, to the local VIP; Local, wherever it goes (it carries no VIP; see the header).
  // A TCP SYN is let through: that is the endpoint opening a connection of its own.
  const fromEndpoint = `${f} saddr . ${p.protocol} sport @${endpointSetNameOf(p)}${p.protocol === 'tcp' ? ' tcp flags & (syn | ack) != syn' : ''}`;
  if (p.snat) out.push(`add rule ${T} filter ${f} daddr ${p.address} ct state new fib daddr type local ${fromEndpoint} drop`);
  else if (p.protocol === 'tcp') out.push(`add rule ${T} filter ct state new ${fromEndpoint} drop`);
  // Local, TCP: only a SYN opens a flow here. A packet picked up mid-stream belongs to a flow
  // whose endpoint is a pod on the previous owner's node, which no slot here holds: it is left to
  // the handoff (../vip/handoff.ts), which forwards it to that node, or else to the stack's reset.
  const opens = !p.snat && p.protocol === 'tcp' ? ' tcp flags & (syn | ack) == syn' : '';
  out.push(`add rule ${T} dstnat ${match}${opens} dnat ${f} to jhash ${key} mod ${size} seed ${seed} map @${mapNameOf(p)}`);
  // A new flow's entry, made by conntrack (priority -200) and not yet confirmed, gets the short
  // timeouts for its unanswered states; the kernel applies `ct timeout set` to nothing else.
  // (`ct state new` before the fib lookup: the other packets of a flow skip it.)
  out.push(`add rule ${T} filter ${f} daddr ${p.address} ${p.protocol} dport ${p.port} ct state new fib daddr type local ct timeout set "${p.protocol}_${f}"`);
  if (p.snat) out.push(`add rule ${T} srcnat meta l4proto ${p.protocol} ct original ${f} daddr ${p.address} ct original proto-dst ${p.port} ct status dnat snat ${f} to ${p.address}`);
  return out;
}

/** `delete element` lines for the changed slots `present` holds, then `add element` lines for the changes that set a value. */
function elementLines(map: string, changes: readonly SlotChange[], present: ReadonlySet<number> | 'all' | 'none'): string[] {
  const gone = present === 'none' ? [] : changes.filter((c) => present === 'all' || present.has(c.slot)).map((c) => c.slot);
  const set = changes.filter((c) => c.value !== undefined).map((c) => `${c.slot} : ${c.value}`);
  return [...batched('delete', map, gone), ...batched('add', map, set)];
}

const filled = (slots: readonly SlotValue[]): SlotChange[] => slots.flatMap((value, slot) => (value === undefined ? [] : [{ slot, value }]));

/** The whole table from nothing: replaces whatever a crashed run left (`add` then `delete` never fails). */
export function renderKernelRuleset(tables: readonly KernelPortTable[]): string {
  const lines = [`add table ${T}`, `delete table ${T}`, `add table ${T}`, ...CHAINS, ...TIMEOUT_POLICIES];
  for (const t of tables) lines.push(...declarations(t));
  for (const t of tables) lines.push(...portRules(t.port, t.slots.length));
  lines.push(...addressRules(tables.map((t) => t.port)));
  return lines.join('\n');
}

/**
 * The transaction from `applied` to `desired`, or '' when nothing changed. Rules are rewritten
 * (flush, then add: atomic in one transaction); a map keeps its elements and only changed
 * slots are written; a map whose size changed, or whose port is gone, is deleted after the
 * flush (a map in use cannot be deleted) and a new one declared before the rules.
 */
export function renderKernelUpdate(applied: readonly KernelPortTable[], desired: readonly KernelPortTable[]): string {
  const before = new Map(applied.map((t) => [mapNameOf(t.port), t]));
  const after = new Map(desired.map((t) => [mapNameOf(t.port), t]));
  const rulesOf = (ts: readonly KernelPortTable[]) => [...ts.flatMap((t) => portRules(t.port, t.slots.length)), ...addressRules(ts.map((t) => t.port))].join('\n');
  const rulesBefore = rulesOf(applied);
  const rulesAfter = rulesOf(desired);
  const elements: string[] = [];
  const dropped: string[] = [];
  const declared: string[] = [];
  for (const [name, t] of after) {
    const old = before.get(name);
    if (old !== undefined && old.slots.length === t.slots.length) {
      const changes = diffSlots(old.slots, t.slots);
      const present = new Set(changes.filter((c) => old.slots[c.slot] !== undefined).map((c) => c.slot));
      elements.push(...elementLines(name, changes, present), ...memberLines(endpointSetNameOf(t.port), endpointsOf(old.slots), endpointsOf(t.slots)));
      continue;
    }
    if (old !== undefined) dropped.push(`delete map ${T} ${name}`, `delete set ${T} ${endpointSetNameOf(old.port)}`);
    declared.push(...declarations(t));
  }
  for (const [name, t] of before) if (!after.has(name)) dropped.push(`delete map ${T} ${name}`, `delete set ${T} ${endpointSetNameOf(t.port)}`);
  if (rulesBefore === rulesAfter && dropped.length === 0 && declared.length === 0) return elements.join('\n');
  return [...FLUSH_CHAINS, ...dropped, ...declared, ...elements, rulesAfter].filter((l) => l !== '').join('\n');
}
