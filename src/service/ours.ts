/**
 * Which Services are Fulcrum's, pure (KEP-1959): without `--lb-class`, the LoadBalancer
 * Services that name no class; with it, exactly those that name that class. The allocator also
 * lets a Service go the moment it is being deleted; the speaker serves it until it is gone.
 */

type ServiceLike = {
  readonly metadata?: { readonly deletionTimestamp?: unknown };
  readonly spec?: { readonly type?: string; readonly loadBalancerClass?: string | null };
};

export type Responsibility =
  | { readonly kind: 'ours' }
  | { readonly kind: 'notOurs'; readonly reason: 'notLoadBalancer' | 'otherClass' | 'deleting' };

export function responsibility(svc: ServiceLike, lbClass: string | undefined, o: { deletingIsOurs?: boolean } = {}): Responsibility {
  if (svc.spec?.type !== 'LoadBalancer') return { kind: 'notOurs', reason: 'notLoadBalancer' };
  if ((svc.spec.loadBalancerClass ?? undefined) !== lbClass) return { kind: 'notOurs', reason: 'otherClass' };
  if (svc.metadata?.deletionTimestamp && !o.deletingIsOurs) return { kind: 'notOurs', reason: 'deleting' };
  return { kind: 'ours' };
}

/** A LoadBalancer Service of our class, being deleted or not (what the speaker serves). */
export function isOurs(svc: ServiceLike, lbClass: string | undefined): boolean {
  return responsibility(svc, lbClass, { deletingIsOurs: true }).kind === 'ours';
}
