/**
 * What a balancing algorithm sees of an endpoint: only the fields it reads, so balancers are
 * testable with plain objects. The pool owns the real objects and keeps these fields current.
 */
export interface BalancedEndpoint {
  /** `address:port`; the consistent hash is over this key. */
  readonly key: string;
  readonly weight: number;
  /** Healthy (active checks), not ejected (passive), weight > 0, still in the model. */
  readonly available: boolean;
  /** Open connections to it, for leastconn / sed / nq / random. */
  readonly activeConnections: number;
  /** Smooth weighted round-robin's running score; only roundrobin writes it. */
  balanceScore: number;
}

/**
 * One algorithm instance per backend. `version` changes whenever the endpoint list or any
 * endpoint's `available` changes, so an algorithm may cache what it derives from them.
 * `exclude` lists endpoints already tried by this connection (retries), or is null.
 */
export interface Balancer {
  pick<E extends BalancedEndpoint>(endpoints: readonly E[], version: number, clientAddress: string, exclude: readonly E[] | null): E | undefined;
}

/** Randomness is injected (house rule 1), so tests can make it deterministic. */
export type RandomSource = () => number;

export function usable(e: BalancedEndpoint, exclude: readonly BalancedEndpoint[] | null): boolean {
  return e.available && e.weight > 0 && (exclude === null || !exclude.includes(e));
}
