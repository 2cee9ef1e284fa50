/**
 * A frontend's compiled context (fastify's Context habit, STYLE §5 and house rule 9): built once
 * when a model is applied, read-only on the connection path. A connection keeps the context
 * that accepted it, so a reload never changes the rules under an open connection; new
 * connections get the new context (the new generation).
 */
import type { Logger } from '../../src/log.js';
import { SourceRanges } from './acl.js';
import type { BackendPool } from './backend-pool.js';
import type { FrontendStats } from './metrics.js';
import type { Frontend } from './model.js';

export class FrontendContext {
  readonly spec: Frontend;
  readonly pool: BackendPool;
  readonly stats: FrontendStats;
  readonly log: Logger;
  readonly acl: SourceRanges;
  readonly trustedProxies: SourceRanges;
  readonly connectMs: number;
  readonly idleMs: number;
  /** Generation number: 1 for the first context of a frontend, +1 per in-place update. */
  readonly generation: number;
  /**
   * Whether anything needs the peer's address (ACL, PROXY, affinity, source hashing). When not,
   * the accept path skips getpeername/getsockname: two syscalls per connection saved.
   */
  readonly needsAddresses: boolean;

  constructor(spec: Frontend, pool: BackendPool, stats: FrontendStats, log: Logger, generation: number) {
    this.spec = spec;
    this.pool = pool;
    this.stats = stats;
    this.log = log;
    this.acl = new SourceRanges(spec.sourceRanges);
    this.trustedProxies = new SourceRanges(spec.acceptProxyProtocolFrom);
    this.connectMs = spec.timeouts.connectMs;
    this.idleMs = spec.timeouts.idleMs;
    this.generation = generation;
    const b = pool.spec;
    this.needsAddresses = !this.acl.matchesAll || !this.trustedProxies.matchesAll || b.proxyProtocol !== 'none' || b.affinity.clientIP || b.balance === 'source' || log.debug();
  }
}

/** Lifecycle of a frontend's listener (Envoy's names): warming → active → draining → (gone). */
export type FrontendState = 'warming' | 'active' | 'draining' | 'closed';
