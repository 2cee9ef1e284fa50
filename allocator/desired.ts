import type { V1LoadBalancerIngress, V1LoadBalancerStatus, V1Service } from '@kubernetes/client-node';
import type { ServiceKey } from '../src/ipam/types.js';
import { serviceKey } from '../src/ipam/types.js';

/**
 * Pure decisions of the allocator about one Service: is it ours, which addresses its status
 * holds now, and what its status should say. No I/O; the controller applies the result.
 */

export const POOL_ALLOCATED_ANNOTATION = 'fulcrum-lb.io/ip-allocated-from-pool';

export type Responsibility =
  | { readonly kind: 'ours' }
  | { readonly kind: 'notOurs'; readonly reason: 'notLoadBalancer' | 'otherClass' | 'deleting' };

/**
 * KEP-1959: without `--lb-class` Fulcrum serves LoadBalancer Services that name no class; with
 * it, exactly the Services that name that class. A Service being deleted is let go at once.
 */
export function responsibility(svc: V1Service, lbClass: string | undefined): Responsibility {
  if (svc.spec?.type !== 'LoadBalancer') return { kind: 'notOurs', reason: 'notLoadBalancer' };
  if ((svc.spec.loadBalancerClass ?? undefined) !== lbClass) return { kind: 'notOurs', reason: 'otherClass' };
  if (svc.metadata?.deletionTimestamp) return { kind: 'notOurs', reason: 'deleting' };
  return { kind: 'ours' };
}

export function keyOf(svc: V1Service): ServiceKey {
  return serviceKey(svc.metadata?.namespace ?? 'default', svc.metadata?.name ?? '');
}

/** The IPs in `status.loadBalancer.ingress`, in order, without duplicates or hostnames. */
export function statusAddresses(svc: V1Service): string[] {
  const out: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (ing.ip && !out.includes(ing.ip)) out.push(ing.ip);
  }
  return out;
}

/**
 * The status Fulcrum writes for assigned addresses: one ingress per address with
 * `ipMode: Proxy` (the speaker terminates the connection, so kube-proxy must not capture the
 * address) and the Service's ports.
 */
export function desiredStatus(svc: V1Service, addresses: readonly string[]): V1LoadBalancerStatus {
  const ports = (svc.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' }));
  const ingress: V1LoadBalancerIngress[] = addresses.map((ip) => (ports.length ? { ip, ipMode: 'Proxy', ports } : { ip, ipMode: 'Proxy' }));
  return ingress.length ? { ingress } : {};
}

/** The annotation patch that makes the Service show its pool (null removes it); undefined: no change. */
export function poolAnnotationPatch(svc: V1Service, pool: string | null): Record<string, string | null> | undefined {
  const current = svc.metadata?.annotations?.[POOL_ALLOCATED_ANNOTATION] ?? null;
  return current === pool ? undefined : { [POOL_ALLOCATED_ANNOTATION]: pool };
}
