import type { V1Service } from '@kubernetes/client-node';
import { ANNOTATION_PREFIX, METALLB_PREFIX } from '../src/ipam/request.js';
import { endpointsOf, usableEndpoints, type EndpointIndex } from './plan-endpoints.js';
import { ingressAddresses } from './plan.js';

/**
 * The proxy's desired state on this node, pure: one frontend per owned address and Service port,
 * each with the endpoints it may use (plan-endpoints.ts `usableEndpoints`). Interim shape until
 * speaker/proxy's `buildProxyModel` lands; the controller only needs `FrontendSpec[]` in and
 * `ProxyPort.apply` out, so swapping the builder touches this file and the adapter only.
 */

export type ProxyProtocolVersion = 'none' | 'v1' | 'v2';

export interface FrontendSpec {
  /** `namespace/name:port/protocol@address`: unique, stable, the diff key. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly proxyProtocol: ProxyProtocolVersion;
  readonly endpoints: readonly { readonly address: string; readonly port: number }[];
}

export function proxyProtocolOf(svc: V1Service): ProxyProtocolVersion {
  const a = svc.metadata?.annotations ?? {};
  const v = a[`${ANNOTATION_PREFIX}proxy-protocol`] ?? a[`${METALLB_PREFIX}proxy-protocol`];
  return v === 'v1' || v === 'v2' ? v : 'none';
}

export function buildFrontends(o: {
  me: string;
  owned: ReadonlySet<string>;
  services: readonly V1Service[];
  endpoints: EndpointIndex;
  down: ReadonlySet<string>;
}): FrontendSpec[] {
  const out: FrontendSpec[] = [];
  for (const svc of o.services) {
    const addresses = ingressAddresses(svc).filter((a) => o.owned.has(a));
    if (addresses.length === 0) continue;
    const local = svc.spec?.externalTrafficPolicy === 'Local';
    const eps = usableEndpoints(endpointsOf(svc, o.endpoints), { local, me: o.me, down: o.down });
    const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    for (const p of svc.spec?.ports ?? []) {
      const protocol = p.protocol === 'UDP' ? 'UDP' : p.protocol === 'SCTP' ? undefined : 'TCP';
      if (!protocol) continue;
      const portName = p.name ?? '';
      for (const address of addresses) {
        // A userspace proxy reaches endpoints of either family from any frontend.
        const endpoints = eps.flatMap((e) => {
            const port = e.ports.get(portName);
            return port === undefined ? [] : [{ address: e.address, port }];
          });
        out.push({ name: `${key}:${p.port}/${protocol}@${address}`, address, port: p.port, protocol, proxyProtocol: proxyProtocolOf(svc), endpoints: dedupe(endpoints) });
      }
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function dedupe<T extends { address: string; port: number }>(xs: T[]): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = `${x.address}|${x.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
