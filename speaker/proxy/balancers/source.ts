import { usable, type BalancedEndpoint, type Balancer } from './types.js';
import { fnv1a } from '../../../src/hash.js';
import { buildMaglevTable, MAGLEV_TABLE_SIZE } from '../../../src/maglev.js';

/**
 * `source`: consistent hashing of the client IP with Maglev (src/maglev.ts). Adding or removing
 * one of n endpoints moves about 1/n of the clients and the rest keep their endpoint. Weights
 * give an endpoint that many turns per round. Only the IP is hashed (not the port), so one
 * client's connections all land on the same endpoint.
 */
export { buildMaglevTable, MAGLEV_TABLE_SIZE };

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
