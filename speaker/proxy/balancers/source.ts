import { usable, type BalancedEndpoint, type Balancer } from './types.js';
import { fnv1a } from '../../../src/hash.js';

/**
 * `source`: consistent hashing of the client IP with Maglev (Eisenbud et al., NSDI 2016). Each
 * endpoint fills a lookup table in its own permutation order, so adding or removing one of n
 * endpoints moves about 1/n of the clients and the rest keep their endpoint. Weights give an
 * endpoint that many turns per round. Only the IP is hashed (not the port), so one client's
 * connections all land on the same endpoint.
 */
export const MAGLEV_TABLE_SIZE = 65537; // prime, and ≥ 100 × the endpoints of any sane Service

export function buildMaglevTable(keys: readonly string[], weights: readonly number[], size = MAGLEV_TABLE_SIZE): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const n = keys.length;
  if (n === 0) return table;
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

export class SourceHash implements Balancer {
  readonly #size: number;
  #version = -1;
  #table: Int32Array = new Int32Array(0);
  #members: BalancedEndpoint[] = [];

  constructor(size = MAGLEV_TABLE_SIZE) {
    this.#size = size;
  }

  pick<E extends BalancedEndpoint>(endpoints: readonly E[], version: number, clientAddress: string, exclude: readonly E[] | null): E | undefined {
    if (version !== this.#version) {
      this.#version = version;
      this.#members = endpoints.filter((e) => usable(e, null));
      this.#table = buildMaglevTable(this.#members.map((e) => e.key), this.#members.map((e) => e.weight), this.#size);
    }
    if (this.#members.length === 0) return undefined;
    if (exclude !== null && this.#members.every((m) => exclude.includes(m as E))) return undefined;
    const slot = fnv1a(clientAddress) % this.#size;
    // A retry walks on from the client's slot, so its second choice is stable too.
    for (let k = 0; k < this.#size; k++) {
      const e = this.#members[this.#table[(slot + k) % this.#size]!]! as E;
      if (exclude === null || !exclude.includes(e)) return e;
    }
    return undefined;
  }
}
