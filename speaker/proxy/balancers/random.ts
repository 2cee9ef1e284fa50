import { usable, type BalancedEndpoint, type Balancer, type RandomSource } from './types.js';

/**
 * Power of two choices: two endpoints drawn at random (by weight), the one with fewer
 * connections per weight wins. Nearly as even as leastconn without a full scan's herding.
 */
export class PowerOfTwo implements Balancer {
  readonly #random: RandomSource;
  #version = -1;
  #pool: BalancedEndpoint[] = [];
  #cumulative: number[] = [];

  constructor(random: RandomSource) {
    this.#random = random;
  }

  pick<E extends BalancedEndpoint>(endpoints: readonly E[], version: number, _clientAddress: string, exclude: readonly E[] | null): E | undefined {
    if (version !== this.#version) this.#rebuild(endpoints, version);
    const pool = this.#pool as E[];
    if (pool.length === 0) return undefined;
    if (exclude !== null) {
      // Retries are rare: fall back to a plain scan over what is left.
      const left = pool.filter((e) => usable(e, exclude));
      if (left.length === 0) return undefined;
      const a = left[Math.floor(this.#random() * left.length)]!;
      const b = left[Math.floor(this.#random() * left.length)]!;
      return better(a, b);
    }
    const first = this.#draw(pool);
    if (pool.length === 1) return pool[0]!;
    let second = this.#draw(pool);
    // Two distinct candidates, or the less loaded one could never be compared with anything.
    if (second === first) second = (first + 1) % pool.length;
    return better(pool[first]!, pool[second]!);
  }

  /** Index of a weighted draw. */
  #draw(pool: BalancedEndpoint[]): number {
    const total = this.#cumulative[this.#cumulative.length - 1]!;
    const x = this.#random() * total;
    let lo = 0;
    let hi = pool.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  #rebuild(endpoints: readonly BalancedEndpoint[], version: number): void {
    this.#version = version;
    this.#pool = endpoints.filter((e) => usable(e, null));
    let sum = 0;
    this.#cumulative = this.#pool.map((e) => (sum += e.weight));
  }
}

function better<E extends BalancedEndpoint>(a: E, b: E): E {
  return b.activeConnections / b.weight < a.activeConnections / a.weight ? b : a;
}
