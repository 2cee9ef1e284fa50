/**
 * Kernel mode's choice per port, pure: which of a Service's frontends the kernel forwards
 * (nftables DNAT over a Maglev table, speaker/kernel/) instead of the proxy, from the annotation
 * `fulcrum-lb.io/data-plane`:
 *
 *   proxy (default)   every port in the proxy
 *   kernel            every TCP and UDP port that needs nothing only the proxy does
 *   kernel:80,dns     those Service ports (numbers or names; both protocols of a number)
 *
 * Kernel mode serves balance `roundrobin`, `source` and `random` (all three become the seeded
 * Maglev hash; weights honoured), `sessionAffinity: ClientIP` (hash on the client address, no
 * timeout), source ranges and health checks. A port asked for with a proxy-only feature (HTTP,
 * TLS, re-encryption, PROXY protocol, leastconn/sed/nq, maxconn, a connection rate limit)
 * stays in the proxy, with a warning naming the feature. The kernel does not retry a failed
 * connect to another endpoint as the proxy does.
 */
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { annotationText, FULCRUM_PREFIX } from '../../src/service/annotations.js';
import { keyOf } from '../../src/service/key.js';
import { familyOf, type KernelPort } from '../kernel/ruleset.js';
import { seedOf, tableSizeFor } from '../kernel/slots.js';
import type { EndpointView } from '../../src/service/endpoints.js';
import { hostPort, type Backend, type Endpoint, type Frontend, type HealthCheck } from '../proxy/model.js';
import type { BuildWarning } from './service-annotations.js';
import { portEndpointUniverse, type ServiceProxyModel } from './service-proxy.js';

/** A kernel-mode port with what its table is built from. */
export interface KernelPortPlan extends KernelPort {
  /** The backend's name: the proxy keeps the backend (its health checks feed the table). */
  readonly backend: string;
  /**
   * Every endpoint the port may use, sorted by key, so every node builds the same table: the
   * Service's endpoints whatever their readiness (the universe), `healthy` for those the proxy
   * model chose (ready, not on a node the membership says is down). A health change moves only
   * that endpoint's slots; the table's size follows the universe, not the health.
   */
  readonly endpoints: readonly { readonly key: string; readonly address: string; readonly port: number; readonly weight: number; readonly healthy: boolean }[];
  readonly healthCheck?: HealthCheck;
}

export type DataPlaneChoice = { readonly kind: 'proxy' } | { readonly kind: 'kernel'; readonly ports: 'all' | ReadonlySet<string> };

const ANNOTATION = `${FULCRUM_PREFIX}data-plane`;

/** The annotation, read: a bad value is a warning and every port stays in the proxy. */
export function dataPlaneOf(svc: V1Service, warnings: BuildWarning[]): DataPlaneChoice {
  const v = annotationText(svc, 'data-plane')?.trim();
  if (v === undefined || v === 'proxy') return { kind: 'proxy' };
  if (v === 'kernel') return { kind: 'kernel', ports: 'all' };
  const m = /^kernel:(.+)$/.exec(v);
  const list = m === null ? [] : m[1]!.split(',').map((s) => s.trim());
  if (list.length === 0 || list.some((s) => !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(s))) {
    warnings.push({ kind: 'badAnnotation', annotation: ANNOTATION, value: v, reason: 'is not proxy, kernel, or kernel: followed by port numbers or names separated by commas', effect: 'every port stays in the proxy' });
    return { kind: 'proxy' };
  }
  const known = new Set((svc.spec?.ports ?? []).flatMap((p) => [String(p.port), ...(p.name ? [p.name] : [])]));
  for (const s of list) if (!known.has(s)) warnings.push({ kind: 'badAnnotation', annotation: ANNOTATION, value: v, reason: `names port "${s}", which the Service does not have`, effect: 'ignored' });
  return { kind: 'kernel', ports: new Set(list) };
}

/** The proxy-only feature a frontend and its backend use, or undefined when the kernel can serve it. */
export function proxyOnlyFeature(f: Frontend, b: Backend): string | undefined {
  if (f.protocol === 'http') return 'HTTP';
  if (f.tls !== undefined) return 'TLS';
  if (b.protocol === 'tls' || b.protocol === 'https' || b.tls !== undefined) return 'TLS towards the endpoints (backend-protocol)';
  if (b.proxyProtocol !== 'none') return `PROXY protocol ${b.proxyProtocol}`;
  if (b.balance !== 'roundrobin' && b.balance !== 'source' && b.balance !== 'random') return `balance ${b.balance}`;
  if (f.maxconn !== undefined) return 'maxconn';
  if (f.maxConnectionRatePerSource !== undefined) return 'max-connection-rate-per-source';
  if (b.stickyCookie !== undefined) return 'sticky-cookie';
  return undefined;
}

function servicePortOf(svc: V1Service, port: number, protocol: string): V1ServicePort | undefined {
  return (svc.spec?.ports ?? []).find((p) => p.port === port && (p.protocol ?? 'TCP') === protocol);
}

export interface KernelSplit {
  /** The Service's proxy model without the kernel-mode frontends (their backends stay, for health checks). */
  readonly proxy: ServiceProxyModel;
  readonly kernel: readonly KernelPortPlan[];
}

/** The Service's endpoints before any health choice, and this node (for `externalTrafficPolicy: Local`). */
export interface EndpointUniverse {
  readonly endpoints: readonly EndpointView[];
  readonly me: string;
}

/**
 * Splits a Service's proxy model (service-proxy.ts) into what the proxy and the kernel serve.
 * Without `universe` a kernel port's table is built over the chosen endpoints alone (then a
 * health change may move every flow).
 */
export function splitKernelPorts(svc: V1Service, model: ServiceProxyModel, universe?: EndpointUniverse): KernelSplit {
  const warnings: BuildWarning[] = [...model.warnings];
  const choice = dataPlaneOf(svc, warnings);
  if (choice.kind === 'proxy') return { proxy: { ...model, warnings }, kernel: [] };
  const backends = new Map(model.backends.map((b) => [b.name, b]));
  const key = keyOf(svc);
  const kept: Frontend[] = [];
  const kernel: KernelPortPlan[] = [];
  const warned = new Set<string>();
  for (const f of model.frontends) {
    const protocol = f.protocol === 'udp' ? 'UDP' : 'TCP';
    const sp = servicePortOf(svc, f.listen.port, protocol);
    const asked = sp !== undefined && (choice.ports === 'all' || choice.ports.has(String(sp.port)) || (sp.name !== undefined && choice.ports.has(sp.name)));
    const backend = f.routes.length === 1 ? backends.get(f.routes[0]!.backend) : undefined;
    if (!asked || backend === undefined) {
      kept.push(f);
      continue;
    }
    const label = `${f.listen.port}/${protocol}`;
    /** The port stays in the proxy, with one warning per port saying why. */
    const stays = (why: string): void => {
      kept.push(f);
      if (!warned.has(label)) warnings.push({ kind: 'badAnnotation', annotation: ANNOTATION, value: annotationText(svc, 'data-plane') ?? '', reason: `asks kernel mode for port ${label}, ${why}`, effect: 'the port stays in the proxy' });
      warned.add(label);
    };
    const feature = proxyOnlyFeature(f, backend);
    if (feature !== undefined) {
      stays(`which uses ${feature}: only the proxy does that`);
      continue;
    }
    const all = universe === undefined || sp === undefined ? undefined : portEndpointUniverse(sp, universe.endpoints, svc.spec?.externalTrafficPolicy === 'Local', universe.me);
    const port = kernelPortOf(svc, key, f, backend, all);
    const size = tableSizeFor(port.endpoints.reduce((n, e) => n + e.weight, 0));
    if (size.kind !== 'ok') {
      // Served by the proxy rather than by nobody: the largest table holds 100 slots for each of at most size.max endpoints.
      stays(`which has ${size.endpoints} endpoints: kernel mode's largest table holds ${size.max}`);
      continue;
    }
    kernel.push(port);
  }
  return { proxy: { frontends: kept, backends: model.backends, warnings }, kernel };
}

function kernelPortOf(svc: V1Service, serviceKey: string, f: Frontend, b: Backend, universe: readonly Endpoint[] | undefined): KernelPortPlan {
  const protocol = f.protocol === 'udp' ? 'udp' : 'tcp';
  const family = familyOf(f.listen.address);
  // Source ranges of the other family say nothing about this VIP; only those ranges means nobody of this family.
  const ranges = f.sourceRanges.filter((r) => familyOf(r) === family);
  const chosen = new Map(b.endpoints.filter((e) => familyOf(e.address) === family && e.weight > 0).map((e) => [hostPort(e.address, e.port), e]));
  const byKey = new Map((universe ?? []).filter((e) => familyOf(e.address) === family).map((e) => [hostPort(e.address, e.port), e]));
  for (const [k, e] of chosen) byKey.set(k, e); // the chosen are in the universe; their weights win
  const endpoints = [...byKey]
    .map(([key, e]) => ({ key, address: e.address, port: e.port, weight: chosen.get(key)?.weight ?? 1, healthy: chosen.has(key) }))
    .sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const plan: KernelPortPlan = {
    name: `${f.name.includes('@') ? f.name : `${serviceKey}:${f.listen.port}/${protocol.toUpperCase()}@${f.listen.address}`}`,
    address: f.listen.address,
    port: f.listen.port,
    protocol,
    seed: seedOf(serviceKey, f.listen.port, protocol),
    hashOn: b.affinity.clientIP ? 'clientAddress' : 'flow',
    snat: svc.spec?.externalTrafficPolicy !== 'Local',
    sourceRanges: ranges,
    denyAll: ranges.length === 0 && f.sourceRanges.length > 0,
    backend: b.name,
    endpoints,
  };
  return b.healthCheck === undefined ? plan : { ...plan, healthCheck: b.healthCheck };
}
