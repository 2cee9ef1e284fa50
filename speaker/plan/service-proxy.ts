/**
 * Service + its endpoints (src/service/endpoints.ts: from its EndpointSlices, or its hand-made
 * Endpoints) + this node's name + the VIPs this node owns → the frontends and backends of that
 * Service. Pure: plain API-shaped objects in, data out; problems are returned as warnings, not
 * thrown.
 *
 * Endpoint choice, per Service port, as kube-proxy does it:
 *   1. every address of every endpoint that has a port of the Service port's name and protocol
 *      (that port's number is the resolved targetPort, named ports included);
 *   2. `externalTrafficPolicy: Local` keeps only endpoints on this node;
 *   3. the ready ones; if there is none, the serving and terminating ones (graceful shutdown).
 */
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { annotationText, FULCRUM_PREFIX, K8S_SOURCE_RANGES_ANNOTATION, type AnnotationName } from '../../src/service/annotations.js';
import type { EndpointView } from '../../src/service/endpoints.js';
import { keyOf } from '../../src/service/key.js';
import { parseCidr } from '../proxy/acl.js';
import {
  BALANCE_ALGORITHMS,
  DEFAULT_AFFINITY,
  DEFAULT_CONNECT_ATTEMPTS,
  DEFAULT_HEALTH_CHECK,
  DEFAULT_PASSIVE_EJECTION,
  DEFAULT_TIMEOUTS,
  DEFAULT_UDP_TIMEOUTS,
  PROXY_PROTOCOL_VERSIONS,
  type Backend,
  type BalanceAlgorithm,
  type Endpoint,
  type Frontend,
  type FrontendTimeouts,
  type HealthCheck,
  type ProxyProtocolVersion,
} from '../proxy/model.js';


export type BuildWarning =
  | { readonly kind: 'badAnnotation'; readonly annotation: string; readonly value: string; readonly reason: string }
  | { readonly kind: 'unsupportedProtocol'; readonly port: string; readonly protocol: string }
  | { readonly kind: 'badSourceRange'; readonly value: string; readonly reason: string }
  | { readonly kind: 'proxyProtocolOnUdp'; readonly port: string };

export interface ServiceProxyModel {
  readonly frontends: readonly Frontend[];
  readonly backends: readonly Backend[];
  readonly warnings: readonly BuildWarning[];
}

export interface BuildOptions {
  readonly timeouts?: { readonly tcp?: FrontendTimeouts; readonly udp?: FrontendTimeouts };
}

interface Candidate extends Endpoint {
  readonly key: string;
}

function annotation(svc: V1Service, name: AnnotationName): string | undefined {
  return annotationText(svc, name);
}

/** `2s`, `500ms`, `1m`, or a bare number of milliseconds. */
function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const ms = Math.round(m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n);
  return ms > 0 ? ms : undefined;
}

function oneOf<T extends string>(svc: V1Service, name: AnnotationName, allowed: readonly T[], fallback: T, warnings: BuildWarning[]): T {
  const v = annotation(svc, name);
  if (v === undefined) return fallback;
  if ((allowed as readonly string[]).includes(v.trim())) return v.trim() as T;
  warnings.push({ kind: 'badAnnotation', annotation: `${FULCRUM_PREFIX}${name}`, value: v, reason: `not one of ${allowed.join(', ')}` });
  return fallback;
}

function positiveInt(svc: V1Service, name: AnnotationName, fallback: number, warnings: BuildWarning[]): number {
  const v = annotation(svc, name);
  if (v === undefined) return fallback;
  const n = Number(v.trim());
  if (Number.isInteger(n) && n >= 1 && n <= 100) return n;
  warnings.push({ kind: 'badAnnotation', annotation: `${FULCRUM_PREFIX}${name}`, value: v, reason: 'not a whole number from 1 to 100' });
  return fallback;
}

export function healthCheckOf(svc: V1Service, warnings: BuildWarning[]): HealthCheck | undefined {
  const type = annotation(svc, 'health-check');
  if (type === undefined || type.trim() === 'none' || type.trim() === '') return undefined;
  if (type.trim() !== 'tcp') {
    warnings.push({ kind: 'badAnnotation', annotation: `${FULCRUM_PREFIX}health-check`, value: type, reason: 'only "tcp" is supported (http:/path comes with the HTTP frontend)' });
    return undefined;
  }
  let intervalMs = DEFAULT_HEALTH_CHECK.intervalMs;
  const interval = annotation(svc, 'health-check-interval');
  if (interval !== undefined) {
    const ms = parseDurationMs(interval);
    if (ms === undefined) warnings.push({ kind: 'badAnnotation', annotation: `${FULCRUM_PREFIX}health-check-interval`, value: interval, reason: 'not a duration such as 2s or 500ms' });
    else intervalMs = ms;
  }
  return {
    type: 'tcp',
    intervalMs,
    rise: positiveInt(svc, 'health-check-rise', DEFAULT_HEALTH_CHECK.rise, warnings),
    fall: positiveInt(svc, 'health-check-fall', DEFAULT_HEALTH_CHECK.fall, warnings),
    timeoutMs: intervalMs,
  };
}

function sourceRangesOf(svc: V1Service, warnings: BuildWarning[]): { ok: string[]; invalid: number } {
  const fromSpec = svc.spec?.loadBalancerSourceRanges ?? [];
  const raw = fromSpec.length > 0 ? fromSpec : (svc.metadata?.annotations?.[K8S_SOURCE_RANGES_ANNOTATION] ?? '').split(',').filter((s) => s.trim() !== '');
  const ok: string[] = [];
  let invalid = 0;
  for (const r of raw) {
    const parsed = parseCidr(r.trim());
    if (parsed.kind === 'ok') ok.push(r.trim());
    else {
      invalid++;
      warnings.push({ kind: 'badSourceRange', value: r, reason: parsed.reason });
    }
  }
  return { ok, invalid };
}

/** Every (address, port) a Service port may use: the endpoints with a port of its name and protocol. */
function candidatesOf(port: V1ServicePort, endpoints: readonly EndpointView[]): Candidate[] {
  const name = port.name ?? '';
  const protocol = port.protocol ?? 'TCP';
  const out = new Map<string, Candidate>();
  for (const e of endpoints) {
    const p = e.ports.get(name);
    if (p === undefined || p.protocol !== protocol) continue;
    const key = `${e.address} ${p.port}`;
    if (out.has(key)) continue;
    const base = { key, address: e.address, port: p.port, ready: e.ready, serving: e.serving, terminating: e.terminating, weight: 1 };
    out.set(key, e.nodeName === undefined ? base : { ...base, nodeName: e.nodeName });
  }
  return [...out.values()];
}

/** ETP Local filter, then ready, else serving+terminating (kube-proxy's fallback). */
export function chooseEndpoints(candidates: readonly Candidate[], local: boolean, nodeName: string): Endpoint[] {
  const mine = local ? candidates.filter((c) => c.nodeName === nodeName) : candidates;
  const ready = mine.filter((c) => c.ready);
  const chosen = ready.length > 0 ? ready : mine.filter((c) => c.serving && c.terminating);
  return chosen.map(({ key: _key, ...e }) => e).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

export function buildProxyModel(
  service: V1Service,
  serviceEndpoints: readonly EndpointView[],
  nodeName: string,
  vipAddresses: readonly string[],
  opts: BuildOptions = {},
): ServiceProxyModel {
  const warnings: BuildWarning[] = [];
  const key = keyOf(service);
  const balance: BalanceAlgorithm = oneOf(service, 'balance', BALANCE_ALGORITHMS, 'roundrobin', warnings);
  const proxyProtocol: ProxyProtocolVersion = oneOf(service, 'proxy-protocol', PROXY_PROTOCOL_VERSIONS, 'none', warnings);
  const healthCheck = healthCheckOf(service, warnings);
  const clientIP = service.spec?.sessionAffinity === 'ClientIP';
  const affinity = clientIP ? { clientIP: true, timeoutSeconds: service.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY.timeoutSeconds } : DEFAULT_AFFINITY;
  const ranges = sourceRangesOf(service, warnings);
  const local = service.spec?.externalTrafficPolicy === 'Local';
  const frontends: Frontend[] = [];
  const backends: Backend[] = [];
  // Every range invalid would leave an empty list, which means "everyone": serve nothing instead.
  const denyAll = ranges.invalid > 0 && ranges.ok.length === 0;
  for (const port of service.spec?.ports ?? []) {
    const protocol = port.protocol ?? 'TCP';
    const portLabel = `${port.port}/${protocol}`;
    if (protocol !== 'TCP' && protocol !== 'UDP') {
      warnings.push({ kind: 'unsupportedProtocol', port: portLabel, protocol });
      continue;
    }
    const udp = protocol === 'UDP';
    if (udp && proxyProtocol !== 'none') warnings.push({ kind: 'proxyProtocolOnUdp', port: portLabel });
    const backendName = `${key}:${portLabel}`;
    const endpoints = chooseEndpoints(candidatesOf(port, serviceEndpoints), local, nodeName);
    const backend: Backend = {
      name: backendName,
      balance,
      proxyProtocol: udp ? 'none' : proxyProtocol,
      affinity,
      passiveEjection: DEFAULT_PASSIVE_EJECTION,
      connectAttempts: DEFAULT_CONNECT_ATTEMPTS,
      endpoints,
    };
    backends.push(healthCheck === undefined ? backend : { ...backend, healthCheck });
    if (denyAll) continue;
    const timeouts = udp ? (opts.timeouts?.udp ?? DEFAULT_UDP_TIMEOUTS) : (opts.timeouts?.tcp ?? DEFAULT_TIMEOUTS);
    for (const vip of vipAddresses) {
      frontends.push({
        name: `${backendName}@${vip}`,
        listen: { address: vip, port: port.port },
        protocol: udp ? 'udp' : 'tcp',
        routes: [{ match: { kind: 'any' }, backend: backendName }],
        sourceRanges: ranges.ok,
        acceptProxyProtocolFrom: [],
        timeouts,
      });
    }
  }
  return { frontends, backends, warnings };
}
