import type { V1LoadBalancerIngress, V1LoadBalancerStatus, V1Service } from '@kubernetes/client-node';
import { allocatedPoolKeys } from '../src/service/annotations.js';

/**
 * Pure decisions of the allocator about one Service: what its status should say, and the pool
 * annotation. Which Services are ours, their keys and status addresses: src/service/.
 */

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

/**
 * The annotation patch that makes the Service show its pool (null removes it) under
 * `fulcrum-lb.io/ip-allocated-from-pool` and each MetalLB prefix the Service uses
 * (`allocatedPoolKeys`); undefined: no change.
 */
export function poolAnnotationPatch(svc: V1Service, pool: string | null): Record<string, string | null> | undefined {
  const current = svc.metadata?.annotations ?? {};
  const patch: Record<string, string | null> = {};
  for (const key of allocatedPoolKeys(svc)) if ((current[key] ?? null) !== pool) patch[key] = pool;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

