/**
 * The declarative model of the data plane, in Fulcrum's vocabulary (STYLE §3):
 *
 *   frontend (listen address:port + protocol + ACLs + timeouts)
 *     → route (match → backend name)
 *       → backend (one Service port: algorithm, health check, PROXY protocol, affinity)
 *         → endpoint (pod address:port with its conditions and weight)
 *
 * Frontends and backends are separate types and refer to each other by name only, so a backend
 * can be shared and an HTTP frontend routes to several. TLS is a property of a frontend (it
 * terminates TLS, then speaks TCP or HTTP) and of a backend (it re-encrypts towards the pods).
 * Plain data: built by `buildProxyModel` (from Kubernetes objects) or `parseProxyFile` (from
 * YAML), compared by `planProxy`, made real by `ProxyEngine.apply`. Certificates are carried as
 * PEM text, so a rotated certificate is a changed model like any other change.
 */

import type { ConnectionRate } from './limits.js';

export type { ConnectionRate } from './limits.js';

export const FRONTEND_PROTOCOLS = ['tcp', 'udp', 'http'] as const;
/** The engine picks the frontend kind from it; TLS is `Frontend.tls`, on tcp or http. */
export type FrontendProtocol = (typeof FRONTEND_PROTOCOLS)[number];

export const BACKEND_PROTOCOLS = ['tcp', 'tls', 'http', 'https'] as const;
/** Towards the endpoints: `tls`/`https` re-encrypt; `http`/`https` are for http frontends, `tcp`/`tls` for tcp ones. */
export type BackendProtocol = (typeof BACKEND_PROTOCOLS)[number];

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

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
 * How a frontend picks a backend. L4 frontends have exactly one route, `{ kind: 'any' }`.
 * HTTP frontends match each request on its Host (without port, lower case) and path:
 * precedence, as Envoy documents its route match, is (1) an exact host before a wildcard host
 * (`*.example.com` matches one or more labels before `.example.com`), before a route without
 * hosts (any host); (2) among those, the longest `pathPrefix` (a prefix matches at a `/`
 * boundary: `/api` matches `/api` and `/api/x`, not `/apix`); (3) the order in the model. No
 * match: 404.
 */
export type RouteMatch =
  | { readonly kind: 'any' }
  | { readonly kind: 'http'; readonly hosts: readonly string[]; readonly pathPrefix: string };

export interface Route {
  readonly match: RouteMatch;
  readonly backend: string;
}

/** One certificate with its key, as PEM. */
export interface TlsCertificate {
  /** Where it came from, for logs and Events: `secret default/web-tls`, or a file path. */
  readonly source: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface FrontendTls {
  /** The first is the default; the others are chosen by SNI against their SAN names. */
  readonly certificates: readonly TlsCertificate[];
  readonly minVersion: TlsVersion;
}

export interface HttpTimeouts {
  /** A client has this long to send a request's headers (haproxy's `timeout http-request`). */
  readonly httpRequestMs: number;
  /** An idle keep-alive connection waits this long for the next request (`timeout http-keep-alive`). */
  readonly httpKeepAliveMs: number;
  /** An endpoint has this long to answer, and between two reads of its response (`timeout server`). */
  readonly serverMs: number;
  /** An upgraded connection (WebSocket) with no bytes either way for this long is closed (`timeout tunnel`). */
  readonly tunnelMs: number;
}

export interface HttpOptions {
  /** Answer every request with a 308 to `https://host/path` (the frontend serves no backend). */
  readonly redirectToHttps: boolean;
  /** Add an RFC 7239 `Forwarded` header besides `X-Forwarded-*`. */
  readonly forwardedHeader: boolean;
  /** Peers in these CIDRs may send an `X-Forwarded-For` that is kept (appended to); from others it is replaced. */
  readonly trustForwardedFrom: readonly string[];
  readonly timeouts: HttpTimeouts;
}

export interface Frontend {
  /** Unique among frontends; the key of plans, metrics and logs. */
  readonly name: string;
  readonly listen: ListenAddress;
  readonly protocol: FrontendProtocol;
  readonly routes: readonly Route[];
  /** Terminate TLS (tcp and http frontends). */
  readonly tls?: FrontendTls;
  /** Set exactly when `protocol` is `http`. */
  readonly http?: HttpOptions;
  /** CIDRs allowed to connect; empty means everyone (`loadBalancerSourceRanges`). */
  readonly sourceRanges: readonly string[];
  /** Peers in these CIDRs must start with a PROXY header (v1 or v2); others may not send one. */
  readonly acceptProxyProtocolFrom: readonly string[];
  readonly timeouts: FrontendTimeouts;
  /**
   * tcp/http: open client connections beyond this are accepted and closed at once (the process's
   * bound applies as well); udp: the flow table's bound (default DEFAULT_MAX_FLOWS). Absent: the
   * process's bound only (tcp/http).
   */
  readonly maxconn?: number;
  /** tcp/http: new connections per client address; beyond it they are reset. Absent: no limit. */
  readonly maxConnectionRatePerSource?: ConnectionRate;
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
  /** `tcp`: a connect; `http`: a GET of `path` whose status is within `expectStatus`. */
  readonly type: 'tcp' | 'http';
  /** For `http`: the request path (default `/`). */
  readonly path?: string;
  /** For `http`: the statuses that pass (default 200-399). */
  readonly expectStatus?: { readonly min: number; readonly max: number };
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

/** Re-encryption towards the endpoints (`tls`/`https` backends). */
export interface BackendTls {
  /** Verify the endpoints' certificates against this CA (PEM); absent: not verified. */
  readonly caPem?: string;
  /** SNI and the name to verify; absent: none sent, the certificate's name is not checked. */
  readonly serverName?: string;
}

export interface Backend {
  readonly name: string;
  /** Absent: `tcp` (L4 frontends) or `http` (http frontends). */
  readonly protocol?: BackendProtocol;
  readonly tls?: BackendTls;
  /** Cookie-based stickiness (http): the endpoint is remembered in this cookie. */
  readonly stickyCookie?: string;
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
  /** Open TCP/HTTP client connections of the whole process (per worker); absent: the flag or the default from RLIMIT_NOFILE (process-limits.ts). */
  readonly maxconn?: number;
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
/** haproxy's defaults: `timeout http-request 5s`, `http-keep-alive 1m`, `server 50s`, `tunnel 1h`. */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { httpRequestMs: 5_000, httpKeepAliveMs: 60_000, serverMs: 50_000, tunnelMs: 3_600_000 };
export const DEFAULT_HTTP_OPTIONS: HttpOptions = { redirectToHttps: false, forwardedHeader: false, trustForwardedFrom: [], timeouts: DEFAULT_HTTP_TIMEOUTS };
export const DEFAULT_TLS_MIN_VERSION: TlsVersion = 'TLSv1.2';
/** A request or response head larger than this is refused (431 / 502): haproxy's tune.bufsize is 16 KiB. */
export const HTTP_MAX_HEADER_BYTES = 16384;
/** More header fields than this in a request: 431. */
export const HTTP_MAX_HEADER_COUNT = 100;
export const DEFAULT_EXPECT_STATUS = { min: 200, max: 399 } as const;

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
