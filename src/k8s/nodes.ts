import type { V1Node } from '@kubernetes/client-node';

/** What Fulcrum reads of a Node, pure: readiness, the load-balancer exclusion label, its node-network addresses. */

/** Kubernetes' well-known label: a node with it (any value) never takes load-balancer traffic. */
export const EXCLUDE_FROM_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

/** The Node's `Ready` condition is `True` (a node without conditions is not ready). */
export function nodeReady(node: V1Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The Node carries the exclude-from-external-load-balancers label, whatever its value. */
export function nodeExcludedFromLoadBalancers(node: V1Node): boolean {
  const labels = node.metadata?.labels;
  return labels !== undefined && Object.hasOwn(labels, EXCLUDE_FROM_LB_LABEL);
}

/** Its InternalIP addresses, as the Node lists them. */
export function internalIps(node: V1Node): string[] {
  return (node.status?.addresses ?? []).filter((x) => x.type === 'InternalIP').map((x) => x.address);
}

/** Its address on the node network: the first IPv4 InternalIP, else the first one. */
export function internalIp(node: V1Node): string | undefined {
  const internal = internalIps(node);
  return internal.find((ip) => !ip.includes(':')) ?? internal[0];
}
