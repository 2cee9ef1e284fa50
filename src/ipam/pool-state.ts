import type { Pool } from '../config/types.js';
import { FulcrumError } from '../errors.js';
import { buggyCount, formatAddress, isBuggy, rangeSize, type Address, type AddressRange, type Family } from '../address.js';
import { UsedRuns } from './used-runs.js';

interface RangeState {
  readonly range: AddressRange;
  readonly used: UsedRuns;
}

export type Placement = 'inPool' | 'avoided' | 'outside';

/**
 * One pool of the config with the used addresses of each range. Derived state of the
 * Allocator: it marks and frees addresses as assignments come and go, and never decides.
 */
export class PoolState {
  readonly pool: Pool;
  /** Ranges of each family, sorted by first address (so the first free found is the lowest). */
  readonly #ranges: ReadonlyMap<Family, readonly RangeState[]>;

  constructor(pool: Pool) {
    this.pool = pool;
    const byFamily = new Map<Family, RangeState[]>();
    for (const range of pool.ranges) {
      const list = byFamily.get(range.family) ?? [];
      list.push({ range, used: new UsedRuns() });
      byFamily.set(range.family, list);
    }
    for (const list of byFamily.values()) list.sort((a, b) => (a.range.first < b.range.first ? -1 : 1));
    this.#ranges = byFamily;
  }

  get name(): string {
    return this.pool.name;
  }

  families(): Family[] {
    return [...this.#ranges.keys()];
  }

  hasFamily(family: Family): boolean {
    return this.#ranges.has(family);
  }

  #rangeOf(address: Address): RangeState | undefined {
    return this.#ranges.get(address.family)?.find((r) => address.value >= r.range.first && address.value <= r.range.last);
  }

  /** Whether the pool offers this address: in one of its ranges and not avoided. */
  placement(address: Address): Placement {
    if (!this.#rangeOf(address)) return 'outside';
    return this.pool.avoidBuggyIps && isBuggy(address) ? 'avoided' : 'inPool';
  }

  /** Marks an address used; the address must be in the pool (incoherent state otherwise). */
  markUsed(address: Address): void {
    const r = this.#rangeOf(address);
    if (!r) throw new FulcrumError('FUL_ERR_IPAM_INCOHERENT', { what: `marking ${formatAddress(address)} used, outside pool "${this.name}"` });
    r.used.add(address.value);
  }

  markFree(address: Address): void {
    this.#rangeOf(address)?.used.delete(address.value);
  }

  isUsed(address: Address): boolean {
    return this.#rangeOf(address)?.used.has(address.value) ?? false;
  }

  /** The lowest free address of the family, or undefined when the pool has none left. */
  lowestFree(family: Family): Address | undefined {
    const skip = this.pool.avoidBuggyIps && family === 'IPv4' ? (v: bigint) => isBuggy({ family, value: v }) : undefined;
    for (const r of this.#ranges.get(family) ?? []) {
      const value = r.used.lowestFree(r.range.first, r.range.last, skip);
      if (value !== undefined) return { family, value };
    }
    return undefined;
  }

  total(family: Family): bigint {
    let n = 0n;
    for (const r of this.#ranges.get(family) ?? []) n += rangeSize(r.range) - (this.pool.avoidBuggyIps ? buggyCount(r.range) : 0n);
    return n;
  }

  inUse(family: Family): number {
    let n = 0;
    for (const r of this.#ranges.get(family) ?? []) n += r.used.size;
    return n;
  }
}
