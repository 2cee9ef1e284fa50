/**
 * One kernel-mode port's desired table, pure: its size (slots.ts `tableSizeFor`), and each slot's
 * endpoint as nft writes it, from the port's endpoints and which of them are healthy.
 */
import type { KernelPort, KernelPortTable } from './ruleset.js';
import { slotValueOf } from './ruleset.js';
import { kernelSlots, tableSizeFor, type SlotValue } from './slots.js';

export interface KernelEndpoint {
  /** `address:port` (hostPort form); the order of `endpoints` is by this key. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** Passes its checks (plan/kernel-ports.ts and the checker say which); absent: healthy. */
  readonly healthy?: boolean;
}

export type KernelTableResult =
  | { readonly kind: 'ok'; readonly table: KernelPortTable }
  /** More endpoints than the largest table holds at 100 slots each: the port cannot be served in kernel mode. */
  | { readonly kind: 'tooManyEndpoints'; readonly port: string; readonly endpoints: number; readonly max: number };

/** The port's table; an endpoint whose `healthy` is false keeps its place and lends its slots. */
export function kernelTableOf(port: KernelPort & { readonly endpoints: readonly KernelEndpoint[] }): KernelTableResult {
  const turns = port.endpoints.reduce((n, e) => n + e.weight, 0);
  const size = tableSizeFor(turns);
  if (size.kind !== 'ok') return { kind: 'tooManyEndpoints', port: port.name, endpoints: size.endpoints, max: size.max };
  const slots = kernelSlots(port.endpoints.map((e) => ({ key: e.key, weight: e.weight, healthy: e.healthy !== false })), size.size);
  const values = port.endpoints.map((e) => slotValueOf(e.address, e.port));
  const out: SlotValue[] = new Array<SlotValue>(size.size);
  for (let s = 0; s < size.size; s++) out[s] = slots[s]! >= 0 ? values[slots[s]!] : undefined;
  const plain: KernelPort = { name: port.name, address: port.address, port: port.port, protocol: port.protocol, seed: port.seed, hashOn: port.hashOn, snat: port.snat, sourceRanges: port.sourceRanges, denyAll: port.denyAll };
  return { kind: 'ok', table: { port: plain, slots: out } };
}

/** Every port's table, in order; a port with too many endpoints is left out and returned apart (it is not served in kernel mode). */
export function kernelTablesOf(ports: readonly (KernelPort & { readonly endpoints: readonly KernelEndpoint[] })[]): { readonly tables: readonly KernelPortTable[]; readonly refused: readonly Extract<KernelTableResult, { kind: 'tooManyEndpoints' }>[] } {
  const tables: KernelPortTable[] = [];
  const refused: Extract<KernelTableResult, { kind: 'tooManyEndpoints' }>[] = [];
  for (const p of ports) {
    const r = kernelTableOf(p);
    if (r.kind === 'ok') tables.push(r.table);
    else refused.push(r);
  }
  return { tables, refused };
}
