import type { V1Endpoints, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { keyOf, serviceKey, type ServiceKey } from './key.js';

/**
 * The endpoints of one Service, pure: from its EndpointSlices (label
 * kubernetes.io/service-name), or from its hand-made Endpoints object when the Service has no
 * selector and no slice names it (the EndpointSlice mirroring controller may be absent).
 */

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface EndpointPort {
  readonly port: number;
  readonly protocol: string;
}

export interface EndpointConditions {
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

export interface EndpointView extends EndpointConditions {
  readonly address: string;
  readonly nodeName: string | undefined;
  /** Target port by Service port name ('' for an unnamed port). */
  readonly ports: ReadonlyMap<string, EndpointPort>;
}

/** discovery/v1: a nil `ready` or `serving` means true (serving defaults to ready); a nil `terminating` means false. */
export function endpointConditions(c: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null } | null | undefined): EndpointConditions {
  const ready = c?.ready ?? true;
  return { ready, serving: c?.serving ?? ready, terminating: c?.terminating === true };
}

/** Slices and Endpoints of every Service, indexed once per plan by `namespace/name`. */
export interface EndpointIndex {
  readonly slices: ReadonlyMap<ServiceKey, readonly V1EndpointSlice[]>;
  readonly endpoints: ReadonlyMap<ServiceKey, V1Endpoints>;
}

export function indexEndpoints(slices: readonly V1EndpointSlice[], endpoints: readonly V1Endpoints[]): EndpointIndex {
  const bySvc = new Map<ServiceKey, V1EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const key = serviceKey(s.metadata?.namespace ?? 'default', svc);
    let list = bySvc.get(key);
    if (!list) bySvc.set(key, (list = []));
    list.push(s);
  }
  const eps = new Map<ServiceKey, V1Endpoints>();
  for (const e of endpoints) eps.set(keyOf(e), e);
  return { slices: bySvc, endpoints: eps };
}

export function endpointsOf(svc: V1Service, index: EndpointIndex): EndpointView[] {
  const key = keyOf(svc);
  const slices = index.slices.get(key);
  if (slices && slices.length > 0) return slices.flatMap(sliceEndpoints);
  const hasSelector = Object.keys(svc.spec?.selector ?? {}).length > 0;
  const manual = index.endpoints.get(key);
  return !hasSelector && manual ? manualEndpoints(manual) : [];
}

function sliceEndpoints(slice: V1EndpointSlice): EndpointView[] {
  const ports = new Map<string, EndpointPort>();
  for (const p of slice.ports ?? []) if (p.port !== undefined) ports.set(p.name ?? '', { port: p.port, protocol: p.protocol ?? 'TCP' });
  const out: EndpointView[] = [];
  for (const e of slice.endpoints ?? []) {
    const view = { nodeName: e.nodeName, ...endpointConditions(e.conditions), ports };
    for (const address of e.addresses ?? []) out.push({ address, ...view });
  }
  return out;
}

function manualEndpoints(ep: V1Endpoints): EndpointView[] {
  const out: EndpointView[] = [];
  for (const subset of ep.subsets ?? []) {
    const ports = new Map<string, EndpointPort>();
    for (const p of subset.ports ?? []) ports.set(p.name ?? '', { port: p.port, protocol: p.protocol ?? 'TCP' });
    for (const a of subset.addresses ?? []) out.push({ address: a.ip, nodeName: a.nodeName, ready: true, serving: true, terminating: false, ports });
    for (const a of subset.notReadyAddresses ?? []) out.push({ address: a.ip, nodeName: a.nodeName, ready: false, serving: false, terminating: false, ports });
  }
  return out;
}

/** What a node has of a Service's endpoints, kube-proxy's order of preference. */
export type LocalTier = 'ready' | 'servingTerminating' | 'none';

export function localTier(endpoints: readonly EndpointView[], node: string): LocalTier {
  let tier: LocalTier = 'none';
  for (const e of endpoints) {
    if (e.nodeName !== node) continue;
    if (e.ready) return 'ready';
    if (e.serving && e.terminating) tier = 'servingTerminating';
  }
  return tier;
}

/** Without the endpoints on nodes the membership says are down (traffic stops going there before any kubelet notices). */
export function withoutNodes(endpoints: readonly EndpointView[], down: ReadonlySet<string>): EndpointView[] {
  return down.size === 0 ? [...endpoints] : endpoints.filter((e) => !e.nodeName || !down.has(e.nodeName));
}
