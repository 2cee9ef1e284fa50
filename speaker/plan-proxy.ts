import type { V1Endpoints, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { EndpointIndex } from './plan-endpoints.js';
import { ingressAddresses } from './plan.js';
import { buildProxyModel, type BuildWarning } from './proxy/build.js';
import type { Backend, Frontend, ProxyModel } from './proxy/model.js';

/**
 * The proxy's desired state on this node, pure: speaker/proxy's `buildProxyModel` for every
 * Service with an address this node owns (frontends on the owned addresses only), merged into
 * one model. Endpoints on nodes the membership says are down are removed from the slices first,
 * so traffic stops going to them before any kubelet or controller notices.
 */

export interface NodeProxyModel {
  readonly model: ProxyModel;
  readonly warnings: readonly { readonly service: string; readonly warning: BuildWarning }[];
}

export function withoutDownNodes(slices: readonly V1EndpointSlice[], down: ReadonlySet<string>): V1EndpointSlice[] {
  if (down.size === 0) return [...slices];
  return slices.map((s) => ({ ...s, endpoints: (s.endpoints ?? []).filter((e) => !e.nodeName || !down.has(e.nodeName)) }));
}

function endpointsWithoutDownNodes(ep: V1Endpoints | undefined, down: ReadonlySet<string>): V1Endpoints | undefined {
  if (!ep || down.size === 0) return ep;
  const keep = <T extends { nodeName?: string }>(xs: T[] | undefined) => xs?.filter((a) => !a.nodeName || !down.has(a.nodeName));
  return { ...ep, subsets: ep.subsets?.map((s) => ({ ...s, addresses: keep(s.addresses), notReadyAddresses: keep(s.notReadyAddresses) })) };
}

export function buildNodeProxyModel(o: {
  me: string;
  owned: ReadonlySet<string>;
  services: readonly V1Service[];
  endpoints: EndpointIndex;
  down: ReadonlySet<string>;
}): NodeProxyModel {
  const frontends: Frontend[] = [];
  const backends: Backend[] = [];
  const warnings: { service: string; warning: BuildWarning }[] = [];
  for (const svc of o.services) {
    const addresses = ingressAddresses(svc).filter((a) => o.owned.has(a));
    if (addresses.length === 0) continue;
    const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    const slices = withoutDownNodes(o.endpoints.slices.get(key) ?? [], o.down);
    const hasSelector = Object.keys(svc.spec?.selector ?? {}).length > 0;
    const manual = slices.length === 0 && !hasSelector ? endpointsWithoutDownNodes(o.endpoints.endpoints.get(key), o.down) : undefined;
    const built = buildProxyModel(svc, slices, o.me, addresses, manual ? { endpoints: manual } : {});
    frontends.push(...built.frontends);
    backends.push(...built.backends);
    for (const warning of built.warnings) warnings.push({ service: key, warning });
  }
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { model: { workers: 1, frontends: frontends.sort(byName), backends: backends.sort(byName) }, warnings };
}
