import { usable, type BalancedEndpoint, type Balancer } from './types.js';

/**
 * Smooth weighted round-robin (nginx's): every pick adds each endpoint's weight to its score,
 * takes the highest, and subtracts the total from the winner. Weights 5,1,1 give
 * a a b a c a a rather than a a a a a b c. O(n) per pick; n is a Service's endpoint count.
 */
export class RoundRobin implements Balancer {
  pick<E extends BalancedEndpoint>(endpoints: readonly E[], _version: number, _clientAddress: string, exclude: readonly E[] | null): E | undefined {
    let best: E | undefined;
    let total = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i]!;
      if (!usable(e, exclude)) continue;
      e.balanceScore += e.weight;
      total += e.weight;
      if (best === undefined || e.balanceScore > best.balanceScore) best = e;
    }
    if (best !== undefined) best.balanceScore -= total;
    return best;
  }
}
