import type { V1Service } from '@kubernetes/client-node';
import { ANNOTATION_PREFIX, METALLB_PREFIX } from '../src/ipam/request.js';
import { endpointsOf, usableEndpoints, type EndpointIndex } from './plan-endpoints.js';
import { ingressAddresses } from './plan.js';
import {
  DEFAULT_AFFINITY,
  DEFAULT_CONNECT_ATTEMPTS,
  DEFAULT_PASSIVE_EJECTION,
  DEFAULT_TIMEOUTS,
  DEFAULT_UDP_TIMEOUTS,
  type Backend,
  type Frontend,
  type ProxyModel,
  type ProxyProtocolVersion,
} from './proxy/model.js';

/**
 * The proxy's desired state on this node, pure: for every Service with an address this node
 * owns, one backend per port (the endpoints plan-endpoints.ts `usableEndpoints` allows: Local
 * keeps this node's, endpoints on nodes the membership says are down are skipped) and one
 * frontend per owned address and port. Interim builder: speaker/proxy's `buildProxyModel`
 * (balance, health checks, source ranges) replaces the per-Service part once it is committed.
 */

export function proxyProtocolOf(svc: V1Service): ProxyProtocolVersion {
  const a = svc.metadata?.annotations ?? {};
  const v = a[`${ANNOTATION_PREFIX}proxy-protocol`] ?? a[`${METALLB_PREFIX}proxy-protocol`];
  return v === 'v1' || v === 'v2' ? v : 'none';
}

export function buildNodeProxyModel(o: {
  me: string;
  owned: ReadonlySet<string>;
  services: readonly V1Service[];
  endpoints: EndpointIndex;
  down: ReadonlySet<string>;
}): ProxyModel {
  const frontends: Frontend[] = [];
  const backends: Backend[] = [];
  for (const svc of o.services) {
    const addresses = ingressAddresses(svc).filter((a) => o.owned.has(a));
    if (addresses.length === 0) continue;
    const local = svc.spec?.externalTrafficPolicy === 'Local';
    const eps = usableEndpoints(endpointsOf(svc, o.endpoints), { local, me: o.me, down: o.down });
    const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    const proxyProtocol = proxyProtocolOf(svc);
    for (const p of svc.spec?.ports ?? []) {
      const protocol = p.protocol ?? 'TCP';
      if (protocol !== 'TCP' && protocol !== 'UDP') continue;
      const udp = protocol === 'UDP';
      const name = `${key}:${p.port}/${protocol}`;
      const portName = p.name ?? '';
      const endpoints = eps.flatMap((e) => {
        const port = e.ports.get(portName);
        return port === undefined ? [] : [{ address: e.address, port, nodeName: e.nodeName, ready: e.ready, serving: e.serving, terminating: e.terminating, weight: 1 }];
      });
      backends.push({
        name,
        balance: 'roundrobin',
        proxyProtocol: udp ? 'none' : proxyProtocol,
        affinity: DEFAULT_AFFINITY,
        passiveEjection: DEFAULT_PASSIVE_EJECTION,
        connectAttempts: DEFAULT_CONNECT_ATTEMPTS,
        endpoints: dedupe(endpoints).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port)),
      });
      for (const address of addresses) {
        frontends.push({
          name: `${name}@${address}`,
          listen: { address, port: p.port },
          protocol: udp ? 'udp' : 'tcp',
          routes: [{ match: { kind: 'any' }, backend: name }],
          sourceRanges: [],
          acceptProxyProtocolFrom: [],
          timeouts: udp ? DEFAULT_UDP_TIMEOUTS : DEFAULT_TIMEOUTS,
        });
      }
    }
  }
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { workers: 1, frontends: frontends.sort(byName), backends: backends.sort(byName) };
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
