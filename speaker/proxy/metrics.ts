/**
 * The data plane's metrics. The hot path only adds to plain number fields of its stats objects
 * (no label lookup per chunk); the Prometheus series are filled from them when scraped, by the
 * metrics' `collect` hooks. Only the connect latency histogram is observed directly, through a
 * child bound once per backend when its pool is built.
 */
import type { Histogram } from 'prom-client';
import { counter, gauge, histogram, onCollect } from '../../src/metrics.js';
import type { FlowScope } from './limits.js';
import { processBudget } from './process-limits.js';

export const REJECT_REASONS = [
  'sourceRange',
  'noEndpoint',
  'proxyHeaderInvalid',
  'proxyHeaderTimeout',
  'connectFailed',
  'flowTableFull',
  // limits (README "Limits and protection"): the frontend's maxconn, the process's, the per-source rate,
  // a source's share of a udp frontend's flows, the process's UDP flow sockets, and the proxy out of descriptors or memory
  'maxconn',
  'processMaxconn',
  'rateLimited',
  'sourceFlowLimit',
  'processFlowLimit',
  'localResources',
] as const;
/** Why a frontend turned a client (or a datagram) away. */
export type RejectReason = (typeof REJECT_REASONS)[number];

export const ENDPOINT_ERRORS = ['connectRefused', 'connectTimeout', 'connectError', 'reset'] as const;
export type EndpointError = (typeof ENDPOINT_ERRORS)[number];

/** HTTP status classes, and `none` for a request that got no response (the client left, the connection broke). */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** Requests of an HTTP frontend or backend: by status class, and the responses the proxy wrote itself. */
export class HttpStats {
  /** Indexed like STATUS_CLASSES. */
  readonly byClass = [0, 0, 0, 0, 0, 0];
  /** Responses written by the proxy (404, 502…), by `status reason`. */
  readonly own = new Map<string, number>();

  count(status: number): void {
    const i = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 5;
    this.byClass[i]!++;
  }

  countOwn(status: number, reason: string): void {
    const key = `${status} ${reason}`;
    this.own.set(key, (this.own.get(key) ?? 0) + 1);
  }
}

export class FrontendStats {
  readonly frontend: string;
  readonly protocol: string;
  connectionsTotal = 0;
  connectionsCurrent = 0;
  /** Client → backend. */
  bytesIn = 0;
  /** Backend → client. */
  bytesOut = 0;
  readonly rejected: Record<RejectReason, number>;
  /** UDP flows ended to make room for a new one, by the bound that was reached. */
  readonly evictions: Record<FlowScope, number> = { source: 0, frontend: 0, process: 0 };
  /** Set for http frontends. */
  readonly http: HttpStats | null;

  constructor(frontend: string, protocol: string) {
    this.frontend = frontend;
    this.protocol = protocol;
    this.rejected = {
      sourceRange: 0,
      noEndpoint: 0,
      proxyHeaderInvalid: 0,
      proxyHeaderTimeout: 0,
      connectFailed: 0,
      flowTableFull: 0,
      maxconn: 0,
      processMaxconn: 0,
      rateLimited: 0,
      sourceFlowLimit: 0,
      processFlowLimit: 0,
      localResources: 0,
    };
    this.http = protocol === 'http' ? new HttpStats() : null;
  }
}

export class EndpointStats {
  readonly backend: string;
  readonly endpoint: string;
  connectionsTotal = 0;
  /** Open (and connecting) connections; what leastconn and friends balance on. */
  activeConnections = 0;
  healthy = true;
  ejected = false;
  readonly errors: Record<EndpointError, number> = { connectRefused: 0, connectTimeout: 0, connectError: 0, reset: 0 };

  constructor(backend: string, endpoint: string) {
    this.backend = backend;
    this.endpoint = endpoint;
  }
}

const frontends = new Set<FrontendStats>();
const endpoints = new Set<EndpointStats>();

/** Registers stats for scraping until `forget*` is called (frontend drained, endpoint removed). */
export function trackFrontend(s: FrontendStats): void {
  frontends.add(s);
}
export function forgetFrontend(s: FrontendStats): void {
  frontends.delete(s);
}
export function trackEndpoint(s: EndpointStats): void {
  endpoints.add(s);
}
export function forgetEndpoint(s: EndpointStats): void {
  endpoints.delete(s);
}

onCollect(counter('fulcrum_proxy_frontend_connections_total', 'Connections (TCP) or flows (UDP) accepted by a frontend', ['frontend', 'protocol']), function () {
  this.reset();
  for (const s of frontends) this.inc({ frontend: s.frontend, protocol: s.protocol }, s.connectionsTotal);
});
onCollect(gauge('fulcrum_proxy_frontend_connections', 'Open connections (TCP) or live flows (UDP) of a frontend', ['frontend', 'protocol']), function () {
  this.reset();
  for (const s of frontends) this.set({ frontend: s.frontend, protocol: s.protocol }, s.connectionsCurrent);
});
onCollect(counter('fulcrum_proxy_frontend_bytes_total', 'Bytes through a frontend; in = client to backend, out = backend to client', ['frontend', 'direction']), function () {
  this.reset();
  for (const s of frontends) {
    this.inc({ frontend: s.frontend, direction: 'in' }, s.bytesIn);
    this.inc({ frontend: s.frontend, direction: 'out' }, s.bytesOut);
  }
});
onCollect(counter('fulcrum_proxy_frontend_rejected_total', 'Connections or datagrams a frontend turned away, by reason', ['frontend', 'reason']), function () {
  this.reset();
  for (const s of frontends) for (const reason of REJECT_REASONS) if (s.rejected[reason] > 0) this.inc({ frontend: s.frontend, reason }, s.rejected[reason]);
});
onCollect(counter('fulcrum_proxy_udp_flow_evictions_total', 'UDP flows ended to make room for a new one, by the bound reached (source: its fair share, frontend: maxconn, process: flow sockets)', ['frontend', 'scope']), function () {
  this.reset();
  for (const s of frontends) for (const scope of ['source', 'frontend', 'process'] as const) if (s.evictions[scope] > 0) this.inc({ frontend: s.frontend, scope }, s.evictions[scope]);
});

/** The proxy's own trouble (descriptors, memory, local ports), by operation and errno code; never an endpoint's. */
const resourceErrors = new Map<string, number>();
export type ResourceOp = 'accept' | 'connect' | 'udpFlow' | 'healthCheck';
export function countResourceError(op: ResourceOp, code: string): void {
  const key = `${op} ${code}`;
  resourceErrors.set(key, (resourceErrors.get(key) ?? 0) + 1);
}
export function resourceErrorCount(op: ResourceOp, code: string): number {
  return resourceErrors.get(`${op} ${code}`) ?? 0;
}
onCollect(counter('fulcrum_proxy_resource_errors_total', 'The proxy out of descriptors, memory or local ports (EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL), by operation; not counted against endpoints', ['op', 'reason']), function () {
  this.reset();
  for (const [key, n] of resourceErrors) {
    const [op, reason] = key.split(' ') as [string, string];
    this.inc({ op, reason }, n);
  }
});
onCollect(gauge('fulcrum_proxy_process_limit', 'The process-wide bounds: connections (TCP and HTTP clients, maxconn) and udpFlowSockets', ['resource']), function () {
  this.reset();
  this.set({ resource: 'connections' }, processBudget.maxconn);
  this.set({ resource: 'udpFlowSockets' }, processBudget.maxUdpFlowSockets);
});
onCollect(gauge('fulcrum_proxy_process_usage', 'What the process holds against its bounds: open TCP and HTTP client connections, UDP flow sockets', ['resource']), function () {
  this.reset();
  this.set({ resource: 'connections' }, processBudget.connections);
  this.set({ resource: 'udpFlowSockets' }, processBudget.udpFlowSockets);
});

onCollect(counter('fulcrum_proxy_endpoint_connections_total', 'Connections established to an endpoint', ['backend', 'endpoint']), function () {
  this.reset();
  for (const s of endpoints) this.inc({ backend: s.backend, endpoint: s.endpoint }, s.connectionsTotal);
});
onCollect(gauge('fulcrum_proxy_endpoint_connections', 'Open connections to an endpoint', ['backend', 'endpoint']), function () {
  this.reset();
  for (const s of endpoints) this.set({ backend: s.backend, endpoint: s.endpoint }, s.activeConnections);
});
onCollect(counter('fulcrum_proxy_endpoint_errors_total', 'Failures talking to an endpoint, by reason', ['backend', 'endpoint', 'reason']), function () {
  this.reset();
  for (const s of endpoints) for (const [reason, n] of Object.entries(s.errors)) if (n > 0) this.inc({ backend: s.backend, endpoint: s.endpoint, reason }, n);
});
onCollect(gauge('fulcrum_proxy_endpoint_up', '1 if the endpoint takes new connections (healthy and not ejected), else 0', ['backend', 'endpoint', 'state']), function () {
  this.reset();
  for (const s of endpoints) this.set({ backend: s.backend, endpoint: s.endpoint, state: !s.healthy ? 'down' : s.ejected ? 'ejected' : 'up' }, s.healthy && !s.ejected ? 1 : 0);
});

onCollect(counter('fulcrum_proxy_http_requests_total', 'HTTP requests of a frontend, by the class of the status sent to the client (none: no response)', ['frontend', 'class']), function () {
  this.reset();
  for (const s of frontends) {
    if (s.http === null) continue;
    STATUS_CLASSES.forEach((c, i) => {
      const n = s.http!.byClass[i]!;
      if (n > 0) this.inc({ frontend: s.frontend, class: c }, n);
    });
  }
});
onCollect(counter('fulcrum_proxy_http_own_responses_total', 'HTTP responses the proxy wrote itself (bad request, no route, no endpoint, endpoint failed or too slow…), by status and reason', ['frontend', 'status', 'reason']), function () {
  this.reset();
  for (const s of frontends) {
    if (s.http === null) continue;
    for (const [key, n] of s.http.own) {
      const [status, reason] = key.split(' ') as [string, string];
      this.inc({ frontend: s.frontend, status, reason }, n);
    }
  }
});

const backends = new Set<{ readonly name: string; readonly http: HttpStats }>();
/** Registers a backend's HTTP stats for scraping until forgotten (its pool closed). */
export function trackBackendHttp(b: { readonly name: string; readonly http: HttpStats }): void {
  backends.add(b);
}
export function forgetBackendHttp(b: { readonly name: string; readonly http: HttpStats }): void {
  backends.delete(b);
}
onCollect(counter('fulcrum_proxy_backend_http_responses_total', 'HTTP responses from a backend\'s endpoints, by status class (none: no response)', ['backend', 'class']), function () {
  this.reset();
  for (const b of backends) {
    STATUS_CLASSES.forEach((c, i) => {
      const n = b.http.byClass[i]!;
      if (n > 0) this.inc({ backend: b.name, class: c }, n);
    });
  }
});

/** Request start → last byte of the response sent to the client, per backend. */
export const httpRequestSeconds: Histogram<'backend'> = histogram('fulcrum_proxy_http_request_seconds', 'HTTP request latency, from the request head to the end of the response', ['backend'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

export const connectSeconds: Histogram<'backend'> = histogram('fulcrum_proxy_connect_seconds', 'Time to establish a connection to an endpoint', ['backend']);

/** How `apply` took effect for each frontend (Envoy's listener_added/modified/… counters). */
export const frontendChanges = counter('fulcrum_proxy_frontend_changes_total', 'Frontend changes applied, by kind', ['kind']);
