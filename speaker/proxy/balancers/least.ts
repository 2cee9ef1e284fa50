import { usable, type BalancedEndpoint, type Balancer } from './types.js';

/**
 * The three "fewest connections" algorithms of IPVS, as a proxy sees them:
 * - `leastconn`: lowest active/weight;
 * - `sed` (shortest expected delay): lowest (active+1)/weight, so a heavy idle endpoint beats a
 *   light idle one;
 * - `nq` (never queue): any idle endpoint first, else as sed.
 * Ties rotate (the scan starts one further each pick), so equal endpoints share new connections.
 */
export type LeastKind = 'leastconn' | 'sed' | 'nq';

export class Least implements Balancer {
  readonly #kind: LeastKind;
  #cursor = 0;

  constructor(kind: LeastKind) {
    this.#kind = kind;
  }

  pick<E extends BalancedEndpoint>(endpoints: readonly E[], _version: number, _clientAddress: string, exclude: readonly E[] | null): E | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    const start = this.#cursor++ % n;
    const extra = this.#kind === 'leastconn' ? 0 : 1;
    let best: E | undefined;
    let bestCost = Infinity;
    for (let k = 0; k < n; k++) {
      const e = endpoints[(start + k) % n]!;
      if (!usable(e, exclude)) continue;
      if (this.#kind === 'nq' && e.activeConnections === 0) return e;
      const cost = (e.activeConnections + extra) / e.weight;
      if (cost < bestCost) {
        best = e;
        bestCost = cost;
      }
    }
    return best;
  }
}
