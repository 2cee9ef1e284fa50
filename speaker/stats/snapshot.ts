/**
 * The stats page's model, pure: what the proxy was told to run (its ProxyModel), the values of
 * the data plane's Prometheus series at this moment, and, on a speaker, the addresses owned and
 * the recent takeovers and handoffs, in → one JSON-ready snapshot out. No I/O, no clock: the
 * caller passes `nowMs`. Totals only; rates are differences between two snapshots, computed by
 * the page (render.ts).
 *
 * Nothing secret leaves here: of a TLS certificate only its `source` (`secret ns/name`, or a
 * file path) is kept, never the PEM; of a backend CA, only whether there is one.
 */
import { hostPort, type Backend, type Frontend, type ProxyModel } from '../proxy/model.js';

/** One series of a metric: its labels and value (prom-client's `get().values`). */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** By metric name; a metric absent from the map counts as no series. */
export type MetricSamples = ReadonlyMap<string, readonly MetricSample[]>;

/** The metrics the snapshot reads (speaker/proxy/metrics.ts declares them). */
export const STATS_METRICS = [
  'fulcrum_proxy_frontend_connections_total',
  'fulcrum_proxy_frontend_connections',
  'fulcrum_proxy_frontend_bytes_total',
  'fulcrum_proxy_frontend_rejected_total',
  'fulcrum_proxy_http_requests_total',
  'fulcrum_proxy_endpoint_connections_total',
  'fulcrum_proxy_endpoint_connections',
  'fulcrum_proxy_endpoint_errors_total',
  'fulcrum_proxy_endpoint_up',
  'fulcrum_proxy_backend_http_responses_total',
  'fulcrum_kernel_endpoint_slots',
  'fulcrum_kernel_endpoint_up',
] as const;

export type OwnershipEventKind = 'owned' | 'released' | 'handoffStarted' | 'drained';

/** A takeover, a release, a handoff set up or a drain finished, as the speaker applied it. */
export interface OwnershipEvent {
  readonly atMs: number;
  readonly kind: OwnershipEventKind;
  readonly address: string;
  /** One line for the page: interfaces, the previous owner's address… */
  readonly detail: string;
}

export interface OwnedAddress {
  readonly address: string;
  /** When this node started answering for it (the last takeover). */
  readonly sinceMs: number;
  readonly interfaces: readonly string[];
  /** Sorted namespace/name keys (the speaker's plan). */
  readonly services: readonly string[];
}

export interface StatsInput {
  readonly program: 'speaker' | 'proxy';
  /** The speaker's node; absent for `fulcrum proxy`. */
  readonly node?: string;
  readonly nowMs: number;
  readonly startedMs: number;
  readonly model: ProxyModel;
  /** The port each running frontend is bound to; when given, a model frontend missing here failed to bind. */
  readonly boundPorts?: ReadonlyMap<string, number>;
  readonly metrics: MetricSamples;
  /** The speaker's addresses and events, newest event first; absent for `fulcrum proxy`. */
  readonly ownership?: { readonly owned: readonly OwnedAddress[]; readonly events: readonly OwnershipEvent[] };
}

export const HTTP_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const;
export type HttpClass = (typeof HTTP_CLASSES)[number];

export interface HttpTotals {
  /** Every request (or response, for a backend), whatever its class. */
  readonly total: number;
  /** 5xx: what the page counts as an error (the proxy's own 502/503/504 included). */
  readonly errors: number;
  readonly byClass: Readonly<Record<HttpClass, number>>;
}

export type FrontendState = 'active' | 'notBound' | 'draining';

export interface FrontendRow {
  readonly name: string;
  readonly listen: string;
  readonly protocol: string;
  readonly state: FrontendState;
  /** Certificate sources (`secret ns/name` or a file), first is the default; null: no TLS. */
  readonly tls: { readonly sources: readonly string[]; readonly minVersion: string } | null;
  readonly routes: readonly { readonly hosts: readonly string[]; readonly pathPrefix: string | null; readonly backend: string }[];
  readonly maxconn: number | null;
  readonly connections: { readonly current: number; readonly total: number };
  readonly bytes: { readonly in: number; readonly out: number };
  readonly rejected: { readonly total: number; readonly byReason: Readonly<Record<string, number>> };
  readonly http: HttpTotals | null;
}

export type EndpointState = 'up' | 'down' | 'ejected' | 'unknown';

export interface EndpointRow {
  readonly endpoint: string;
  readonly state: EndpointState;
  readonly weight: number;
  /** EndpointSlice conditions other than ready+serving: `notReady`, `terminating`. */
  readonly conditions: readonly string[];
  readonly connections: { readonly current: number; readonly total: number };
  readonly errors: { readonly total: number; readonly byReason: Readonly<Record<string, number>> };
}

export interface BackendRow {
  readonly name: string;
  readonly balance: string;
  readonly protocol: string;
  /** e.g. `tcp every 2000ms` or `http GET /healthz every 1000ms`; null: passive only. */
  readonly healthCheck: string | null;
  readonly reencrypt: { readonly verified: boolean; readonly serverName: string | null } | null;
  readonly up: number;
  readonly endpoints: readonly EndpointRow[];
  readonly http: HttpTotals | null;
}

export interface StatsSnapshot {
  readonly program: 'speaker' | 'proxy';
  readonly node: string | null;
  readonly nowMs: number;
  readonly startedMs: number;
  readonly ownership: { readonly owned: readonly OwnedAddress[]; readonly events: readonly OwnershipEvent[] } | null;
  readonly frontends: readonly FrontendRow[];
  readonly backends: readonly BackendRow[];
  /** Kernel-mode ports whose rules this node holds (speaker/kernel/port.ts's metrics), by name. */
  readonly kernel: readonly KernelRow[];
}

export interface KernelRow {
  readonly name: string;
  readonly endpoints: readonly { readonly endpoint: string; readonly up: boolean; readonly slots: number }[];
}

/** The kernel-mode ports from their gauges, ports and endpoints sorted by name. */
function kernelRows(metrics: MetricSamples): KernelRow[] {
  const ports = new Map<string, Map<string, { up: boolean; slots: number }>>();
  const entry = (labels: MetricSample['labels']) => {
    const port = String(labels.port ?? '');
    const endpoint = String(labels.endpoint ?? '');
    const eps = ports.get(port) ?? new Map<string, { up: boolean; slots: number }>();
    ports.set(port, eps);
    const e = eps.get(endpoint) ?? { up: false, slots: 0 };
    eps.set(endpoint, e);
    return e;
  };
  for (const sample of metrics.get('fulcrum_kernel_endpoint_slots') ?? []) entry(sample.labels).slots = sample.value;
  for (const sample of metrics.get('fulcrum_kernel_endpoint_up') ?? []) entry(sample.labels).up = sample.value === 1;
  const sorted = <T>(m: Map<string, T>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted(ports).map(([name, eps]) => ({ name, endpoints: sorted(eps).map(([endpoint, e]) => ({ endpoint, ...e })) }));
}

/** Sums the series of `name` whose labels include every pair of `match`. */
function sum(metrics: MetricSamples, name: string, match: Readonly<Record<string, string>>): number {
  let total = 0;
  for (const s of metrics.get(name) ?? []) {
    if (Object.entries(match).every(([k, v]) => String(s.labels[k]) === v)) total += s.value;
  }
  return total;
}

/** The series of `name` matching `match`, summed by the value of `label`. */
function byLabel(metrics: MetricSamples, name: string, match: Readonly<Record<string, string>>, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of metrics.get(name) ?? []) {
    if (!Object.entries(match).every(([k, v]) => String(s.labels[k]) === v)) continue;
    const key = String(s.labels[label]);
    if (s.value > 0) out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

function httpTotals(metrics: MetricSamples, name: string, match: Readonly<Record<string, string>>): HttpTotals {
  const found = byLabel(metrics, name, match, 'class');
  const byClass = Object.fromEntries(HTTP_CLASSES.map((c) => [c, found[c] ?? 0])) as Record<HttpClass, number>;
  const total = HTTP_CLASSES.reduce((n, c) => n + byClass[c], 0);
  return { total, errors: byClass['5xx'], byClass };
}

/** A frontend's counters, read from its series (a draining one has only these). */
function frontendCounts(m: MetricSamples, name: string, isHttp: boolean): Pick<FrontendRow, 'connections' | 'bytes' | 'rejected' | 'http'> {
  const match = { frontend: name };
  const rejected = byLabel(m, 'fulcrum_proxy_frontend_rejected_total', match, 'reason');
  return {
    connections: { current: sum(m, 'fulcrum_proxy_frontend_connections', match), total: sum(m, 'fulcrum_proxy_frontend_connections_total', match) },
    bytes: { in: sum(m, 'fulcrum_proxy_frontend_bytes_total', { ...match, direction: 'in' }), out: sum(m, 'fulcrum_proxy_frontend_bytes_total', { ...match, direction: 'out' }) },
    rejected: { total: Object.values(rejected).reduce((a, b) => a + b, 0), byReason: rejected },
    http: isHttp ? httpTotals(m, 'fulcrum_proxy_http_requests_total', match) : null,
  };
}

function frontendRow(f: Frontend, input: StatsInput): FrontendRow {
  const bound = input.boundPorts?.get(f.name);
  return {
    name: f.name,
    listen: hostPort(f.listen.address, bound ?? f.listen.port),
    protocol: f.protocol,
    state: input.boundPorts === undefined || bound !== undefined ? 'active' : 'notBound',
    tls: f.tls ? { sources: f.tls.certificates.map((c) => c.source), minVersion: f.tls.minVersion } : null,
    routes: f.routes.map((r) => (r.match.kind === 'http' ? { hosts: [...r.match.hosts], pathPrefix: r.match.pathPrefix, backend: r.backend } : { hosts: [], pathPrefix: null, backend: r.backend })),
    maxconn: f.maxconn ?? null,
    ...frontendCounts(input.metrics, f.name, f.protocol === 'http'),
  };
}

/** Frontends removed from the model whose stats are still tracked: they are finishing their connections. */
function drainingRows(input: StatsInput): FrontendRow[] {
  const inModel = new Set(input.model.frontends.map((f) => f.name));
  const seen = new Map<string, string>();
  for (const s of input.metrics.get('fulcrum_proxy_frontend_connections_total') ?? []) {
    const name = String(s.labels.frontend);
    if (!inModel.has(name)) seen.set(name, String(s.labels.protocol ?? ''));
  }
  return [...seen].map(([name, protocol]) => ({
    name, listen: '', protocol, state: 'draining', tls: null, routes: [], maxconn: null,
    ...frontendCounts(input.metrics, name, protocol === 'http'),
  }));
}

function endpointState(metrics: MetricSamples, backend: string, endpoint: string): EndpointState {
  const up = (metrics.get('fulcrum_proxy_endpoint_up') ?? []).find((s) => s.labels.backend === backend && s.labels.endpoint === endpoint);
  const state = up?.labels.state;
  return state === 'up' || state === 'down' || state === 'ejected' ? state : 'unknown';
}

function healthCheckText(b: Backend): string | null {
  const h = b.healthCheck;
  if (h === undefined) return null;
  return h.type === 'http' ? `http GET ${h.path ?? '/'} every ${h.intervalMs}ms` : `tcp every ${h.intervalMs}ms`;
}

function backendRow(b: Backend, input: StatsInput, isHttp: boolean): BackendRow {
  const m = input.metrics;
  const endpoints = b.endpoints.map((e): EndpointRow => {
    const key = hostPort(e.address, e.port);
    const match = { backend: b.name, endpoint: key };
    const errors = byLabel(m, 'fulcrum_proxy_endpoint_errors_total', match, 'reason');
    return {
      endpoint: key,
      state: endpointState(m, b.name, key),
      weight: e.weight,
      conditions: [...(e.ready ? [] : ['notReady']), ...(e.serving ? [] : ['notServing']), ...(e.terminating ? ['terminating'] : [])],
      connections: { current: sum(m, 'fulcrum_proxy_endpoint_connections', match), total: sum(m, 'fulcrum_proxy_endpoint_connections_total', match) },
      errors: { total: Object.values(errors).reduce((x, y) => x + y, 0), byReason: errors },
    };
  });
  return {
    name: b.name,
    balance: b.balance,
    protocol: b.protocol ?? (isHttp ? 'http' : 'tcp'),
    healthCheck: healthCheckText(b),
    reencrypt: b.tls ? { verified: b.tls.caPem !== undefined, serverName: b.tls.serverName ?? null } : null,
    up: endpoints.filter((e) => e.state === 'up').length,
    endpoints,
    http: isHttp ? httpTotals(m, 'fulcrum_proxy_backend_http_responses_total', { backend: b.name }) : null,
  };
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The page's JSON: frontends and backends sorted by name, endpoints in the model's order. */
export function statsSnapshot(input: StatsInput): StatsSnapshot {
  const httpBackends = new Set(input.model.frontends.filter((f) => f.protocol === 'http').flatMap((f) => f.routes.map((r) => r.backend)));
  return {
    program: input.program,
    node: input.node ?? null,
    nowMs: input.nowMs,
    startedMs: input.startedMs,
    ownership: input.ownership ? { owned: [...input.ownership.owned].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)), events: [...input.ownership.events] } : null,
    frontends: [...input.model.frontends.map((f) => frontendRow(f, input)), ...drainingRows(input)].sort(byName),
    backends: input.model.backends.map((b) => backendRow(b, input, httpBackends.has(b.name))).sort(byName),
    kernel: kernelRows(input.metrics),
  };
}
