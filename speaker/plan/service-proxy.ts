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
 *
 * Frontends, per Service port and owned address: UDP ports get udp frontends; a TCP port is tcp
 * or http as src/service/http.ts reads it (appProtocol, `protocol`, redirect), with `tls` on the
 * TLS ports when the caller's `tls` lookup gives at least one certificate — a TLS port without
 * one gets no frontend (never plain text). HTTP frontends carry one route, the Service's
 * hosts and path prefix, and are merged with other Services' by proxy-model.ts.
 */
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { annotationText, FULCRUM_PREFIX, K8S_SOURCE_RANGES_ANNOTATION } from '../../src/service/annotations.js';
import type { EndpointView } from '../../src/service/endpoints.js';
import { serviceHttpTerms, type TcpPortTerms } from '../../src/service/http.js';
import { keyOf } from '../../src/service/key.js';
import { parseCidr } from '../proxy/acl.js';
import {
  BALANCE_ALGORITHMS,
  DEFAULT_AFFINITY,
  DEFAULT_CONNECT_ATTEMPTS,
  DEFAULT_PASSIVE_EJECTION,
  DEFAULT_TIMEOUTS,
  DEFAULT_TLS_MIN_VERSION,
  DEFAULT_UDP_TIMEOUTS,
  hostPort,
  PROXY_PROTOCOL_VERSIONS,
  type Backend,
  type BackendProtocol,
  type BalanceAlgorithm,
  type Endpoint,
  type Frontend,
  type FrontendTimeouts,
  type ProxyProtocolVersion,
  type Route,
  type TlsCertificate,
} from '../proxy/model.js';
import { backendEncryptionOf, connectionRateOf, healthCheckOf, httpOptionsOf, maxconnOf, oneOf, stickyCookieOf, warnHttpOnly, type BackendEncryption, type BuildWarning } from './service-annotations.js';

export type { BuildWarning } from './service-annotations.js';

export interface ServiceProxyModel {
  readonly frontends: readonly Frontend[];
  readonly backends: readonly Backend[];
  readonly warnings: readonly BuildWarning[];
}

/** The certificates of `tls-secret` names, read in the Service's namespace by the caller. */
export interface TlsLookupResult {
  /** Usable certificates, in the order of the names (the resolver keeps a Secret's last good pair). */
  readonly certificates: readonly TlsCertificate[];
  /** One per Secret that is missing or has no valid key pair; `reason` completes a sentence after its name. */
  readonly problems: readonly { readonly secret: string; readonly reason: string }[];
}

/** `reason` completes a sentence after the Secret's name: `is not found in namespace "shop"`, `has no ca.crt`. */
export type CaLookupResult = { readonly kind: 'ok'; readonly caPem: string } | { readonly kind: 'unavailable'; readonly reason: string };

export interface BuildOptions {
  readonly timeouts?: { readonly tcp?: FrontendTimeouts; readonly udp?: FrontendTimeouts };
  /**
   * The certificates of these `tls-secret` names (Secrets of the Service's namespace). Absent:
   * no Secret can be read, so every TLS port is left unserved (with a warning).
   */
  readonly tls?: (names: readonly string[]) => TlsLookupResult;
  /** The `ca.crt` of the `backend-ca-secret` Secret (the Service's namespace). Absent: unavailable. */
  readonly backendCa?: (name: string) => CaLookupResult;
}

interface Candidate extends Endpoint {
  readonly key: string;
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

/**
 * Every endpoint a Service port may ever use on this node, whatever its readiness: the candidates
 * after the ETP Local filter, sorted. Kernel mode builds its Maglev table over these, so that a
 * change of health (a node down, a pod not ready) moves only the flows of that endpoint.
 */
export function portEndpointUniverse(port: V1ServicePort, endpoints: readonly EndpointView[], local: boolean, nodeName: string): Endpoint[] {
  const all = candidatesOf(port, endpoints);
  const mine = local ? all.filter((c) => c.nodeName === nodeName) : all;
  return mine.map(({ key: _key, ...e }) => e).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

/** ETP Local filter, then ready, else serving+terminating (kube-proxy's fallback). */
export function chooseEndpoints(candidates: readonly Candidate[], local: boolean, nodeName: string): Endpoint[] {
  const mine = local ? candidates.filter((c) => c.nodeName === nodeName) : candidates;
  const ready = mine.filter((c) => c.ready);
  const chosen = ready.length > 0 ? ready : mine.filter((c) => c.serving && c.terminating);
  return chosen.map(({ key: _key, ...e }) => e).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

/**
 * HTTP frontends are named after their address and port, not after a Service: several Services
 * may share one (proxy-model.ts merges their routes), and a Service joining or leaving must not
 * rename it (a rename is a drain plus a new listener).
 */
export function httpFrontendName(address: string, port: number): string {
  return `http@${hostPort(address, port)}`;
}

/** The certificates for the TLS ports, looked up once per Service; problems become warnings. */
function certificatesOf(names: readonly string[], needed: boolean, opts: BuildOptions, warnings: BuildWarning[]): readonly TlsCertificate[] {
  if (!needed || names.length === 0 || opts.tls === undefined) return [];
  const found = opts.tls(names);
  for (const p of found.problems) warnings.push({ kind: 'tlsSecretProblem', secret: p.secret, reason: p.reason });
  return found.certificates;
}

/** The CA that verifies the pods: none asked, a CA, or asked but unavailable (then re-encrypting ports are not served). */
function backendCaOf(svc: V1Service, reencrypting: boolean, opts: BuildOptions, warnings: BuildWarning[]): { kind: 'none' } | CaLookupResult & { secret?: string } {
  const secret = annotationText(svc, 'backend-ca-secret')?.trim();
  if (secret === undefined) return { kind: 'none' };
  if (!reencrypting) {
    warnings.push({ kind: 'badAnnotation', annotation: `${FULCRUM_PREFIX}backend-ca-secret`, value: secret, reason: 'applies only when a port re-encrypts (backend-protocol https or tls)', effect: 'ignored' });
    return { kind: 'none' };
  }
  const found = opts.backendCa?.(secret) ?? { kind: 'unavailable', reason: 'cannot be read (no Secret lookup)' };
  return { ...found, secret };
}

function backendProtocolOf(t: TcpPortTerms, encryption: BackendEncryption): BackendProtocol | undefined {
  // appProtocol https/wss: the pods speak TLS, so a port that terminates TLS re-encrypts unless told otherwise.
  const reencrypt = encryption === 'reencrypt' || (encryption === 'default' && t.podsSpeakTls && t.tls);
  if (t.mode === 'http') return reencrypt ? 'https' : 'http';
  return reencrypt ? 'tls' : undefined;
}

function reencrypts(protocol: BackendProtocol | undefined): boolean {
  return protocol === 'https' || protocol === 'tls';
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
  const terms = serviceHttpTerms(service);
  for (const p of terms.problems) warnings.push({ kind: 'badAnnotation', annotation: p.annotation, value: p.value, reason: p.reason, effect: p.effect });
  const balance: BalanceAlgorithm = oneOf(service, 'balance', BALANCE_ALGORITHMS, 'roundrobin', warnings);
  const proxyProtocol: ProxyProtocolVersion = oneOf(service, 'proxy-protocol', PROXY_PROTOCOL_VERSIONS, 'none', warnings);
  const healthCheck = healthCheckOf(service, warnings);
  const tcpTerms = [...terms.ports.values()];
  const anyHttp = tcpTerms.some((t) => t.mode === 'http');
  const stickyCookie = stickyCookieOf(service, anyHttp, warnings);
  if (!anyHttp) warnHttpOnly(service, warnings);
  const http = anyHttp ? httpOptionsOf(service, warnings) : undefined;
  const encryption = backendEncryptionOf(service, warnings);
  const certificates = certificatesOf(terms.tlsSecrets, tcpTerms.some((t) => t.tls), opts, warnings);
  const ca = backendCaOf(service, tcpTerms.some((t) => reencrypts(backendProtocolOf(t, encryption))), opts, warnings);
  const clientIP = service.spec?.sessionAffinity === 'ClientIP';
  const affinity = clientIP ? { clientIP: true, timeoutSeconds: service.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY.timeoutSeconds } : DEFAULT_AFFINITY;
  const ranges = sourceRangesOf(service, warnings);
  const maxconn = maxconnOf(service, warnings);
  const rate = connectionRateOf(service, (service.spec?.ports ?? []).some((p) => (p.protocol ?? 'TCP') === 'TCP'), warnings);
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
    const t = udp ? undefined : terms.ports.get(port.port);
    const backendName = `${key}:${portLabel}`;
    const endpoints = chooseEndpoints(candidatesOf(port, serviceEndpoints), local, nodeName);
    const backendProtocol = t === undefined ? undefined : backendProtocolOf(t, encryption);
    const reencrypt = reencrypts(backendProtocol);
    let backend: Backend = {
      name: backendName,
      balance,
      proxyProtocol: udp ? 'none' : proxyProtocol,
      affinity,
      passiveEjection: DEFAULT_PASSIVE_EJECTION,
      connectAttempts: DEFAULT_CONNECT_ATTEMPTS,
      endpoints,
    };
    if (backendProtocol !== undefined) backend = { ...backend, protocol: backendProtocol };
    if (reencrypt) backend = { ...backend, tls: ca.kind === 'ok' ? { caPem: ca.caPem } : {} };
    if (t?.mode === 'http' && stickyCookie !== undefined) backend = { ...backend, stickyCookie };
    if (healthCheck !== undefined) backend = { ...backend, healthCheck };
    backends.push(backend);
    if (denyAll) continue;
    if (t?.tls && certificates.length === 0) {
      warnings.push({ kind: 'tlsUnavailable', port: portLabel, secrets: terms.tlsSecrets });
      continue;
    }
    if (reencrypt && ca.kind === 'unavailable') {
      warnings.push({ kind: 'backendCaUnavailable', port: portLabel, secret: ca.secret ?? '', reason: ca.reason });
      continue;
    }
    const timeouts = udp ? (opts.timeouts?.udp ?? DEFAULT_UDP_TIMEOUTS) : (opts.timeouts?.tcp ?? DEFAULT_TIMEOUTS);
    const route: Route =
      t?.mode === 'http' ? { match: { kind: 'http', hosts: terms.hosts, pathPrefix: terms.pathPrefix }, backend: backendName } : { match: { kind: 'any' }, backend: backendName };
    for (const vip of vipAddresses) {
      let frontend: Frontend = {
        name: t?.mode === 'http' ? httpFrontendName(vip, port.port) : `${backendName}@${vip}`,
        listen: { address: vip, port: port.port },
        protocol: udp ? 'udp' : t?.mode === 'http' ? 'http' : 'tcp',
        routes: [route],
        sourceRanges: ranges.ok,
        acceptProxyProtocolFrom: [],
        timeouts,
      };
      if (maxconn !== undefined) frontend = { ...frontend, maxconn };
      if (rate !== undefined && !udp) frontend = { ...frontend, maxConnectionRatePerSource: rate };
      if (t?.tls) frontend = { ...frontend, tls: { certificates, minVersion: DEFAULT_TLS_MIN_VERSION } };
      if (t?.mode === 'http' && http !== undefined) frontend = { ...frontend, http: { redirectToHttps: t.redirect, ...http } };
      frontends.push(frontend);
    }
  }
  return { frontends, backends, warnings };
}
