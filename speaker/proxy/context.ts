/**
 * A frontend's compiled context (fastify's Context habit, STYLE §5 and house rule 9): built once
 * when a model is applied, read-only on the connection path. A connection keeps the context
 * that accepted it, so a reload never changes the rules under an open connection; new
 * connections get the new context (the new generation).
 */
import type { Logger } from '../../src/log.js';
import { SourceRanges } from './acl.js';
import type { BackendPool } from './backend-pool.js';
import { RouteTable } from './http-routes.js';
import type { FrontendStats } from './metrics.js';
import type { Frontend, HttpOptions } from './model.js';

export class FrontendContext {
  readonly spec: Frontend;
  /** The backend of the first route: the only one of an L4 frontend. */
  readonly pool: BackendPool;
  /** HTTP frontends: the routes, compiled, each to its backend's pool. */
  readonly routes: RouteTable<BackendPool> | null;
  readonly http: HttpOptions | null;
  /** Peers whose X-Forwarded-For is kept (HTTP). */
  readonly trustedForwarders: SourceRanges | null;
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

  /** `poolOf` resolves each route's backend (the engine's pools, by name). */
  constructor(spec: Frontend, poolOf: (backend: string) => BackendPool, stats: FrontendStats, log: Logger, generation: number) {
    this.spec = spec;
    const first = spec.routes[0];
    if (first === undefined) throw new Error(`incoherent model: frontend "${spec.name}" has no route`);
    this.pool = poolOf(first.backend);
    this.http = spec.protocol === 'http' ? (spec.http ?? null) : null;
    this.routes = this.http !== null ? new RouteTable(spec.routes, (r) => poolOf(r.backend)) : null;
    this.trustedForwarders = this.http !== null ? new SourceRanges(this.http.trustForwardedFrom) : null;
    this.stats = stats;
    this.log = log;
    this.acl = new SourceRanges(spec.sourceRanges);
    this.trustedProxies = new SourceRanges(spec.acceptProxyProtocolFrom);
    this.connectMs = spec.timeouts.connectMs;
    this.idleMs = spec.timeouts.idleMs;
    this.generation = generation;
    const b = this.pool.spec;
    // HTTP always needs the client address (X-Forwarded-For).
    this.needsAddresses = this.http !== null || !this.acl.matchesAll || !this.trustedProxies.matchesAll || b.proxyProtocol !== 'none' || b.affinity.clientIP || b.balance === 'source' || log.debug();
  }
}

/** Lifecycle of a frontend's listener (Envoy's names): warming → active → draining → (gone). */
export type FrontendState = 'warming' | 'active' | 'draining' | 'closed';
