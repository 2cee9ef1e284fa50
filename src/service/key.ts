/** `namespace/name` of a Service. Branded so an address or a pool name cannot be passed by mistake. */
export type ServiceKey = string & { readonly __brand: 'ServiceKey' };

export function serviceKey(namespace: string, name: string): ServiceKey {
  return `${namespace}/${name}` as ServiceKey;
}

/** For keys that already are `namespace/name` (work-queue and informer keys, test fixtures). */
export function asServiceKey(key: string): ServiceKey {
  return key as ServiceKey;
}

/** The key of an API object (a Service, or an EndpointSlice's or Endpoints' own name). */
export function keyOf(obj: { readonly metadata?: { readonly namespace?: string; readonly name?: string } }): ServiceKey {
  return serviceKey(obj.metadata?.namespace ?? 'default', obj.metadata?.name ?? '');
}
