import { fnv1a } from './hash.js';

/**
 * Maglev's lookup table (Eisenbud et al., NSDI 2016), pure. Each key fills the table in its own
 * permutation order (offset and skip from two independent hashes of the key), so adding or
 * removing one of n keys moves about 1/n of the slots and the rest keep their key. A weight
 * gives a key that many turns per round. Shared by the proxy's `source` balancer
 * (speaker/proxy/balancers/source.ts) and kernel mode's slot tables (speaker/kernel/slots.ts):
 * every node builds the same table from the same keys, whatever their order of arrival is not
 * (the caller sorts).
 */
export const MAGLEV_TABLE_SIZE = 65537; // prime, and ≥ 100 × the endpoints of any sane Service

/** Slot → index into `keys`, or -1 everywhere when there are no keys. `size` must be prime. */
export function buildMaglevTable(keys: readonly string[], weights: readonly number[], size = MAGLEV_TABLE_SIZE): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const n = keys.length;
  if (n === 0 || !weights.some((w) => w > 0)) return table;
  const offset = keys.map((k) => fnv1a(k) % size);
  const skip = keys.map((k) => (fnv1a(k, 0x2f7a3b1d) % (size - 1)) + 1);
  const next = new Array<number>(n).fill(0);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      for (let turn = 0; turn < weights[i]!; turn++) {
        let c = (offset[i]! + next[i]! * skip[i]!) % size;
        while (table[c]! >= 0) {
          next[i]!++;
          c = (offset[i]! + next[i]! * skip[i]!) % size;
        }
        table[c] = i;
        next[i]!++;
        if (++filled === size) return table;
      }
    }
  }
}
