/**
 * The lab's LoadBalancer Services as its table and tests see them: addresses, ports, and the
 * ready endpoints by node, from the Services and EndpointSlices the API lists. Pure.
 */

export interface LabService {
  readonly namespace: string;
  readonly name: string;
  readonly addresses: string[];
  readonly ports: { port: number; protocol: string; name?: string }[];
  /** e.g. "2 ready (ful-n1, ful-n2)". */
  readonly endpoints: string;
}

export interface ServiceJson {
  metadata: { name: string; namespace: string };
  spec?: { type?: string; ports?: { port: number; protocol?: string; name?: string }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

export interface SliceJson {
  metadata: { namespace: string; labels?: Record<string, string> };
  endpoints?: { addresses: string[]; nodeName?: string; targetRef?: { name?: string }; conditions?: { ready?: boolean } }[];
}

/** Every LoadBalancer Service with its addresses, ports and ready endpoints. */
export function labServices(svcs: readonly ServiceJson[], slices: readonly SliceJson[]): LabService[] {
  const out: LabService[] = [];
  for (const s of svcs.filter((x) => x.spec?.type === 'LoadBalancer')) {
    const mine = slices.filter((sl) => sl.metadata.namespace === s.metadata.namespace && sl.metadata.labels?.['kubernetes.io/service-name'] === s.metadata.name);
    // by pod, not by address: a dual-stack pod is one endpoint in each family's slice
    const ready = new Map<string, string | undefined>();
    for (const e of mine.flatMap((sl) => sl.endpoints ?? [])) if (e.conditions?.ready !== false) ready.set(e.targetRef?.name ?? e.addresses[0] ?? '', e.nodeName);
    const nodes = [...new Set(ready.values())].filter(Boolean).sort();
    out.push({
      namespace: s.metadata.namespace,
      name: s.metadata.name,
      addresses: (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip),
      ports: (s.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP', ...(p.name ? { name: p.name } : {}) })),
      endpoints: ready.size === 0 ? 'none ready' : `${ready.size} ready (${nodes.join(', ')})`,
    });
  }
  return out;
}
