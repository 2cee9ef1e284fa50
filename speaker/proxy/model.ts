/**
 * The declarative model of the data plane, in Fulcrum's vocabulary (STYLE §3):
 *
 *   frontend (listen address:port + protocol + ACLs + timeouts)
 *     → route (match → backend name)
 *       → backend (one Service port: algorithm, health check, PROXY protocol, affinity)
 *         → endpoint (pod address:port with its conditions and weight)
 *
 * Frontends and backends are separate types and refer to each other by name only, so a backend
 * can be shared and an HTTP or TLS frontend (a later issue) adds route matches without touching
 * the backend side. Plain data: built by `buildProxyModel` (from Kubernetes objects) or
 * `parseProxyFile` (from YAML), compared by `planProxy`, made real by `ProxyEngine.apply`.
 */

export const FRONTEND_PROTOCOLS = ['tcp', 'udp'] as const;
/** `http` and `tls` join this list in part 2; the engine picks the frontend kind from it. */
export type FrontendProtocol = (typeof FRONTEND_PROTOCOLS)[number];

export const BALANCE_ALGORITHMS = ['roundrobin', 'leastconn', 'source', 'random', 'sed', 'nq'] as const;
export type BalanceAlgorithm = (typeof BALANCE_ALGORITHMS)[number];

export const PROXY_PROTOCOL_VERSIONS = ['none', 'v1', 'v2'] as const;
export type ProxyProtocolVersion = (typeof PROXY_PROTOCOL_VERSIONS)[number];

export interface ListenAddress {
  /** A literal IPv4 or IPv6 address (no brackets). */
  readonly address: string;
  readonly port: number;
}

export interface FrontendTimeouts {
  /** Upper bound for one connect attempt to an endpoint (TCP). */
  readonly connectMs: number;
  /** A TCP connection, or a UDP flow, with no bytes either way for this long is closed. */
  readonly idleMs: number;
}

/**
 * How a frontend picks a backend. Precedence (documented here, as Envoy documents its filter
 * chain match): routes are tried in order and the first whose `match` accepts the connection
 * wins. L4 frontends have exactly one route with `{ kind: 'any' }`; part 2 adds `sni`, `host`
 * and `pathPrefix` matches, more specific matches listed first.
 */
export type RouteMatch = { readonly kind: 'any' };

export interface Route {
  readonly match: RouteMatch;
  readonly backend: string;
}

export interface Frontend {
  /** Unique among frontends; the key of plans, metrics and logs. */
  readonly name: string;
  readonly listen: ListenAddress;
  readonly protocol: FrontendProtocol;
  readonly routes: readonly Route[];
  /** CIDRs allowed to connect; empty means everyone (`loadBalancerSourceRanges`). */
  readonly sourceRanges: readonly string[];
  /** Peers in these CIDRs must start with a PROXY header (v1 or v2); others may not send one. */
  readonly acceptProxyProtocolFrom: readonly string[];
  readonly timeouts: FrontendTimeouts;
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly nodeName?: string;
  /** EndpointSlice conditions; the builder has already chosen which endpoints to use. */
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** Relative share of new connections; 0 takes none. */
  readonly weight: number;
}

export interface HealthCheck {
  /** `http` (with a path) comes in part 2. */
  readonly type: 'tcp';
  readonly intervalMs: number;
  /** Consecutive successes that bring a down endpoint back. */
  readonly rise: number;
  /** Consecutive failures that take an up endpoint out. */
  readonly fall: number;
  /** One probe's deadline; defaults to the interval. */
  readonly timeoutMs: number;
}

export interface SessionAffinity {
  readonly clientIP: boolean;
  /** Kubernetes default: 10800 (3 hours). */
  readonly timeoutSeconds: number;
}

/** Passive ejection: consecutive connect failures take an endpoint out for a growing time. */
export interface PassiveEjection {
  readonly consecutiveFailures: number;
  readonly baseEjectMs: number;
  readonly maxEjectMs: number;
}

export interface Backend {
  readonly name: string;
  readonly balance: BalanceAlgorithm;
  readonly proxyProtocol: ProxyProtocolVersion;
  readonly affinity: SessionAffinity;
  readonly healthCheck?: HealthCheck;
  readonly passiveEjection: PassiveEjection;
  /** Connect attempts per client connection, each on another endpoint when there is one. */
  readonly connectAttempts: number;
  readonly endpoints: readonly Endpoint[];
}

export interface ProxyModel {
  /** Processes sharing the listeners (standalone `fulcrum proxy` only). */
  readonly workers: number;
  readonly frontends: readonly Frontend[];
  readonly backends: readonly Backend[];
}

export const DEFAULT_TIMEOUTS: FrontendTimeouts = { connectMs: 5000, idleMs: 300_000 };
/** UDP has no close: a flow ends when idle, so its default is far shorter than TCP's. */
export const DEFAULT_UDP_TIMEOUTS: FrontendTimeouts = { connectMs: 5000, idleMs: 30_000 };
export const DEFAULT_AFFINITY: SessionAffinity = { clientIP: false, timeoutSeconds: 10800 };
export const DEFAULT_PASSIVE_EJECTION: PassiveEjection = { consecutiveFailures: 3, baseEjectMs: 5000, maxEjectMs: 60_000 };
export const DEFAULT_CONNECT_ATTEMPTS = 3;
export const DEFAULT_HEALTH_CHECK: HealthCheck = { type: 'tcp', intervalMs: 2000, rise: 2, fall: 3, timeoutMs: 2000 };

/** `address:port`, with brackets for IPv6: how endpoints and listeners appear in logs and labels. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The backend a frontend sends everything to (L4 frontends have one route). */
export function defaultBackendOf(frontend: Frontend): string {
  const route = frontend.routes[0];
  if (route === undefined) throw new Error(`incoherent model: frontend "${frontend.name}" has no route`);
  return route.backend;
}
