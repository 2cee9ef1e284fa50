import type { V1Service } from '@kubernetes/client-node';
import { endpointsOf, withoutNodes, type EndpointIndex } from '../../src/service/endpoints.js';
import { keyOf } from '../../src/service/key.js';
import type { Backend, Frontend, ProxyModel } from '../proxy/model.js';
import { ingressAddresses } from './addresses.js';
import { buildProxyModel, type BuildWarning } from './service-proxy.js';

/**
 * The proxy's desired state on this node, pure: `buildProxyModel` for every Service with an
 * address this node accepts on (frontends on those addresses only), merged into one model.
 * Endpoints on nodes the membership says are down are left out, so traffic stops going to them
 * before any kubelet or controller notices.
 */

export interface NodeProxyModel {
  readonly model: ProxyModel;
  readonly warnings: readonly { readonly service: string; readonly warning: BuildWarning }[];
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
    const built = buildProxyModel(svc, withoutNodes(endpointsOf(svc, o.endpoints), o.down), o.me, addresses);
    frontends.push(...built.frontends);
    backends.push(...built.backends);
    for (const warning of built.warnings) warnings.push({ service: keyOf(svc), warning });
  }
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { model: { workers: 1, frontends: frontends.sort(byName), backends: backends.sort(byName) }, warnings };
}
