import type { V1Service } from '@kubernetes/client-node';
import { claimsOverlap, describeOverlap, type HttpClaim } from '../../src/http-match.js';
import { endpointsOf, withoutNodes, type EndpointIndex } from '../../src/service/endpoints.js';
import { keyOf } from '../../src/service/key.js';
import type { Backend, Frontend, ProxyModel, Route, TlsCertificate } from '../proxy/model.js';
import { ingressAddresses } from './addresses.js';
import { splitKernelPorts, type KernelPortPlan } from './kernel-ports.js';
import type { SharedPortConflictReason } from './service-annotations.js';
import { buildProxyModel, type BuildOptions, type BuildWarning, type CaLookupResult, type TlsLookupResult } from './service-proxy.js';

/**
 * The proxy's desired state on this node, pure: `buildProxyModel` for every Service with an
 * address this node accepts on (frontends on those addresses only), merged into one model.
 * Endpoints on nodes the membership says are down are left out, so traffic stops going to them
 * before any kubelet or controller notices.
 *
 * One address and port is one listener. Services of one sharing key may share it when all of
 * them serve it as HTTP: their frontends become one, with each Service's route to its own
 * backend and the certificates of all of them (SNI picks). The allocator only lets Services
 * share when that works (src/ipam/sharing.ts); if they clash anyway (a Service changed after it
 * was given its address, or another allocator wrote the status), the Service created first
 * (then the first by namespace/name) keeps the port and sets its frontend-wide settings; a
 * later one whose port is not HTTP, whose TLS, redirect or source ranges differ, or whose
 * host and path prefix overlap a route already there, is left out of that port with a warning;
 * one whose HTTP timeouts or forwarded-header settings differ joins with the first one's.
 */

export interface NodeProxyModel {
  readonly model: ProxyModel;
  readonly warnings: readonly { readonly service: string; readonly warning: BuildWarning }[];
  /** Kernel-mode ports (kernel-ports.ts), only when the input says kernel mode is available; their frontends are not in `model`. */
  readonly kernel?: readonly KernelPortPlan[];
}

export interface NodeProxyInput {
  readonly me: string;
  readonly owned: ReadonlySet<string>;
  readonly services: readonly V1Service[];
  readonly endpoints: EndpointIndex;
  readonly down: ReadonlySet<string>;
  /**
   * The certificates of `tls-secret` names in a namespace (speaker/plan/tls-secrets.ts keeps each
   * Secret's last good pair). Absent: TLS ports are not served.
   */
  readonly tls?: (namespace: string, names: readonly string[]) => TlsLookupResult;
  /** The `ca.crt` of a `backend-ca-secret`. Absent: re-encrypting ports that ask for one are not served. */
  readonly backendCa?: (namespace: string, name: string) => CaLookupResult;
  /** Kernel mode can run on this node (speaker/kernel/applier.ts started): ports annotated `data-plane: kernel` leave the proxy. */
  readonly kernel?: boolean;
}

interface Claim {
  readonly service: string;
  readonly frontend: Frontend;
}

type Warnings = { service: string; warning: BuildWarning }[];

/** Milliseconds since the epoch of `creationTimestamp` (a Date from the client, or text); unknown: last. */
function createdMs(svc: V1Service): number {
  const t = svc.metadata?.creationTimestamp as unknown;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/** Oldest first, then by namespace/name: the order in which Services claim a shared port. */
function precedence(a: V1Service, b: V1Service): number {
  const ka = keyOf(a);
  const kb = keyOf(b);
  return createdMs(a) - createdMs(b) || (ka < kb ? -1 : ka > kb ? 1 : 0);
}

export function buildNodeProxyModel(o: NodeProxyInput): NodeProxyModel {
  const claims: Claim[] = [];
  const backends: Backend[] = [];
  const warnings: Warnings = [];
  const kernel: KernelPortPlan[] = [];
  for (const svc of [...o.services].sort(precedence)) {
    const addresses = ingressAddresses(svc).filter((a) => o.owned.has(a));
    if (addresses.length === 0) continue;
    const namespace = svc.metadata?.namespace ?? 'default';
    const { tls, backendCa } = o;
    const opts: BuildOptions = {
      ...(tls ? { tls: (names: readonly string[]) => tls(namespace, names) } : {}),
      ...(backendCa ? { backendCa: (name: string) => backendCa(namespace, name) } : {}),
    };
    const serviceEndpoints = endpointsOf(svc, o.endpoints);
    const all = buildProxyModel(svc, withoutNodes(serviceEndpoints, o.down), o.me, addresses, opts);
    const split = o.kernel === true ? splitKernelPorts(svc, all, { endpoints: serviceEndpoints, me: o.me }) : undefined;
    const built = split?.proxy ?? all;
    if (split) kernel.push(...split.kernel);
    const service = keyOf(svc);
    for (const frontend of built.frontends) claims.push({ service, frontend });
    backends.push(...built.backends);
    for (const warning of built.warnings) warnings.push({ service, warning });
  }
  const frontends = resolvePorts(claims, warnings);
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const model = { workers: 1, frontends: frontends.sort(byName), backends: backends.sort(byName) };
  return o.kernel === true ? { model, warnings, kernel: kernel.sort(byName) } : { model, warnings };
}

/** One frontend per transport, address and port; claims come in precedence order. */
function resolvePorts(claims: readonly Claim[], warnings: Warnings): Frontend[] {
  const groups = new Map<string, Claim[]>();
  for (const c of claims) {
    const key = `${c.frontend.protocol === 'udp' ? 'udp' : 'tcp'} ${c.frontend.listen.address} ${c.frontend.listen.port}`;
    const group = groups.get(key);
    if (group) group.push(c);
    else groups.set(key, [c]);
  }
  return [...groups.values()].map(([first, ...rest]) => (rest.length === 0 ? first!.frontend : sharePort(first!, rest, warnings)));
}

function claimOf(route: Route): HttpClaim {
  return route.match.kind === 'http' ? route.match : { hosts: [], pathPrefix: '/' };
}

function sameRanges(a: readonly string[], b: readonly string[]): boolean {
  return [...a].sort().join(',') === [...b].sort().join(',');
}

/** The frontend of a port claimed by several Services: the first one's, with the routes of those that fit. */
function sharePort(first: Claim, rest: readonly Claim[], warnings: Warnings): Frontend {
  const base = first.frontend;
  const joined: Claim[] = [first];
  const routes: Route[] = [...base.routes];
  const certificates: TlsCertificate[] = [...(base.tls?.certificates ?? [])];
  const port = `${base.listen.port}/${base.protocol === 'udp' ? 'UDP' : 'TCP'}`;
  for (const c of rest) {
    const f = c.frontend;
    const lose = (winner: string, reason: SharedPortConflictReason, detail: string) =>
      warnings.push({ service: c.service, warning: { kind: 'sharedPortConflict', port, address: base.listen.address, winner, reason, detail } });
    if (base.protocol !== 'http' || f.protocol !== 'http') {
      lose(first.service, 'notHttp', `${first.service} serves it as ${base.protocol}, ${c.service} as ${f.protocol}`);
      continue;
    }
    if ((base.tls === undefined) !== (f.tls === undefined)) {
      lose(first.service, 'tlsDiffers', `${base.tls ? first.service : c.service} terminates TLS on it`);
      continue;
    }
    if (base.http?.redirectToHttps !== f.http?.redirectToHttps) {
      lose(first.service, 'redirectDiffers', `${base.http?.redirectToHttps ? first.service : c.service} redirects it to https`);
      continue;
    }
    if (!sameRanges(base.sourceRanges, f.sourceRanges)) {
      lose(first.service, 'sourceRangesDiffer', `[${base.sourceRanges.join(', ')}] against [${f.sourceRanges.join(', ')}]`);
      continue;
    }
    const clash = overlapWith(joined, f.routes);
    if (clash !== undefined) {
      lose(clash.service, 'routeOverlap', clash.detail);
      continue;
    }
    const differing = differingSettings(base, f);
    if (differing.length > 0) warnings.push({ service: c.service, warning: { kind: 'sharedSettingIgnored', port, address: base.listen.address, winner: first.service, setting: differing.join(' and ') } });
    joined.push(c);
    routes.push(...f.routes);
    for (const cert of f.tls?.certificates ?? []) if (!certificates.some((x) => x.source === cert.source && x.certPem === cert.certPem)) certificates.push(cert);
  }
  return base.tls === undefined ? { ...base, routes } : { ...base, routes, tls: { ...base.tls, certificates } };
}

function overlapWith(joined: readonly Claim[], routes: readonly Route[]): { service: string; detail: string } | undefined {
  for (const j of joined) {
    for (const mine of j.frontend.routes) {
      for (const theirs of routes) {
        const o = claimsOverlap(claimOf(mine), claimOf(theirs));
        if (o.kind === 'overlap') return { service: j.service, detail: describeOverlap(o) };
      }
    }
  }
  return undefined;
}

/** The frontend-wide settings of a shared HTTP frontend that a joining Service sets otherwise. */
function differingSettings(base: Frontend, f: Frontend): string[] {
  const out: string[] = [];
  if (!sameFields(base.http?.timeouts, f.http?.timeouts)) out.push('HTTP timeouts');
  if (base.http?.forwardedHeader !== f.http?.forwardedHeader) out.push('forwarded-header');
  if (!sameRanges(base.http?.trustForwardedFrom ?? [], f.http?.trustForwardedFrom ?? [])) out.push('trust-forwarded-from');
  if (base.tls?.minVersion !== f.tls?.minVersion) out.push('TLS minimum version');
  if (!sameFields(base.timeouts, f.timeouts)) out.push('connect and idle timeouts');
  if (base.maxconn !== f.maxconn) out.push('maxconn');
  if (!sameFields(base.maxConnectionRatePerSource, f.maxConnectionRatePerSource)) out.push('max-connection-rate-per-source');
  return out;
}

/** Flat records of numbers (timeouts) with the same value for every key. */
function sameFields<T extends object>(a: T | undefined, b: T | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
}
