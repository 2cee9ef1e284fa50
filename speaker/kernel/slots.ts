/**
 * Kernel mode's slot tables, pure: the table size, the jhash seed and the slot → endpoint table
 * of one kernel-mode port, and the slots that changed between two tables. Every node computes
 * the same seed and the same table from the same Service and endpoints, so a connection hashed
 * on one node lands on the same endpoint when another node takes the address over.
 */
import { fnv1a } from '../../src/hash.js';
import { buildMaglevTable } from '../../src/maglev.js';

/** Cilium's Maglev table sizes (`--bpf-lb-maglev-table-size`): primes, about doubling. */
export const KERNEL_TABLE_SIZES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071] as const;

/** Slots per endpoint at least: Maglev's imbalance stays around 1 % above 100 (Eisenbud et al., §3.4). */
export const SLOTS_PER_ENDPOINT = 100;

export type TableSize = { readonly kind: 'ok'; readonly size: number } | { readonly kind: 'tooManyEndpoints'; readonly endpoints: number; readonly max: number };

/**
 * The smallest table, whatever the number of endpoints: 1021 slots hold 10 endpoints at 100
 * each. The size is part of the hash (`mod N`), so a change of size sends almost every open
 * flow elsewhere when the address moves; with the smallest size 251, a Service growing from 2
 * pods to 3 (or 5 to 6) changed it. From 1021, sizes change only past 10, 20, 40, … endpoints.
 * It costs about 110 kB of kernel memory a port (a map element is about 107 bytes).
 */
export const MIN_TABLE_SIZE = 1021;

/** The smallest of Cilium's sizes with at least 100 slots per endpoint (weights count as endpoints), and at least MIN_TABLE_SIZE. */
export function tableSizeFor(endpoints: number): TableSize {
  const need = Math.max(MIN_TABLE_SIZE, Math.max(1, endpoints) * SLOTS_PER_ENDPOINT);
  const size = KERNEL_TABLE_SIZES.find((s) => s >= need);
  const largest = KERNEL_TABLE_SIZES[KERNEL_TABLE_SIZES.length - 1];
  return size === undefined ? { kind: 'tooManyEndpoints', endpoints, max: Math.floor(largest / SLOTS_PER_ENDPOINT) } : { kind: 'ok', size };
}

/**
 * The jhash seed of a port: FNV-1a of `namespace/name#port/protocol`, the same on every node.
 * Never 0: nft treats a rule without a seed as "pick a random one" (a trap of issue 19), and we
 * do not want to depend on how it reads an explicit 0.
 */
export function seedOf(serviceKey: string, port: number, protocol: 'tcp' | 'udp'): number {
  return fnv1a(`${serviceKey}#${port}/${protocol}`) || 1;
}

/** One endpoint of a kernel-mode port; `key` (`address:port`, hostPort form) is what Maglev hashes. */
export interface SlotEndpoint {
  readonly key: string;
  readonly weight: number;
  /** Passes its health checks (always true without checks). */
  readonly healthy: boolean;
}

/**
 * Slot → index into `endpoints`, or -1 (no healthy endpoint: the slot is left empty and the
 * kernel refuses the connection). The table is Maglev's over every endpoint, healthy or not;
 * the slots of an unhealthy endpoint then take their choice in the table of the healthy ones
 * only, and every other slot keeps its endpoint: a health change moves no other flow.
 * `endpoints` must be in an order every node agrees on (the caller sorts by key).
 */
export function kernelSlots(endpoints: readonly SlotEndpoint[], size: number): Int32Array {
  const all = buildMaglevTable(endpoints.map((e) => e.key), endpoints.map((e) => e.weight), size);
  if (endpoints.every((e) => e.healthy)) return all;
  const healthyIndex = endpoints.flatMap((e, i) => (e.healthy ? [i] : []));
  const fallback = buildMaglevTable(healthyIndex.map((i) => endpoints[i]!.key), healthyIndex.map((i) => endpoints[i]!.weight), size);
  const out = new Int32Array(size);
  for (let s = 0; s < size; s++) {
    const owner = all[s]!;
    out[s] = owner >= 0 && endpoints[owner]!.healthy ? owner : fallback[s]! >= 0 ? healthyIndex[fallback[s]!]! : -1;
  }
  return out;
}

/** What a slot holds as nft writes it (`192.0.2.5 . 8080`), or undefined when empty. */
export type SlotValue = string | undefined;

export interface SlotChange {
  readonly slot: number;
  /** undefined: the slot is emptied. */
  readonly value: SlotValue;
}

/** The slots whose value differs, in slot order; the tables must have the same size. */
export function diffSlots(applied: readonly SlotValue[], desired: readonly SlotValue[]): SlotChange[] {
  if (applied.length !== desired.length) throw new Error(`diffSlots: applied has ${applied.length} slots and desired ${desired.length}: a size change rebuilds the map`);
  const out: SlotChange[] = [];
  for (let s = 0; s < desired.length; s++) if (applied[s] !== desired[s]) out.push({ slot: s, value: desired[s] });
  return out;
}
