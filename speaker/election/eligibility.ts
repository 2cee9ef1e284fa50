import { electOwner, type Election, type NoCandidateReason } from './elect.js';

/**
 * Which nodes may own a service address: small named filtering steps, each pure, applied in
 * order by `eligibleCandidates`. Inputs are plain V1Node-like / V1EndpointSlice-like objects so
 * callers can pass informer cache entries as they are.
 */

/** Kubernetes' well-known label: a node with it (any value) never takes load-balancer traffic. */
export const EXCLUDE_FROM_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

export interface NodeLike {
  readonly metadata?: { readonly name?: string; readonly labels?: Readonly<Record<string, string>> };
  readonly status?: { readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string }> };
}

export interface EndpointConditionsLike {
  readonly ready?: boolean | null;
  readonly serving?: boolean | null;
  readonly terminating?: boolean | null;
}

export interface EndpointSliceLike {
  readonly endpoints?: ReadonlyArray<{ readonly nodeName?: string | null; readonly conditions?: EndpointConditionsLike | null }> | null;
}

export type ExternalTrafficPolicy = 'Cluster' | 'Local';

export interface ElectionInput {
  /** Canonical service address (as candidateHash wants it). */
  readonly address: string;
  /** Every Node from the cache. */
  readonly nodes: readonly NodeLike[];
  /** Node names whose speaker is alive by the Lease + probe rule (membership/liveness.ts). */
  readonly aliveMembers: ReadonlySet<string>;
  /** Whether the address's pool may be announced from a node with these labels. */
  readonly poolSelectsNode: (labels: Readonly<Record<string, string>>) => boolean;
  readonly externalTrafficPolicy: ExternalTrafficPolicy;
  /** The EndpointSlices of this Service (only read under `Local`). */
  readonly endpointSlices: readonly EndpointSliceLike[];
}

export type CandidateSet =
  | { readonly kind: 'candidates'; readonly nodes: readonly string[] }
  | { readonly kind: 'noCandidate'; readonly reason: NoCandidateReason };

function nodeName(node: NodeLike): string | undefined {
  return node.metadata?.name || undefined;
}

/** The Node's `Ready` condition is `True` (a node without conditions is not ready). */
export function nodeReady(node: NodeLike): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The Node carries the exclude-from-external-load-balancers label, whatever its value. */
export function nodeExcludedFromLoadBalancers(node: NodeLike): boolean {
  const labels = node.metadata?.labels;
  return labels !== undefined && Object.hasOwn(labels, EXCLUDE_FROM_LB_LABEL);
}

/** `ready` unset means ready, as the EndpointSlice API says consumers should read it. */
function endpointReady(c: EndpointConditionsLike | null | undefined): boolean {
  return c?.ready ?? true;
}

/** Serving and terminating: kube-proxy's fallback when no endpoint is ready. */
function endpointServingTerminating(c: EndpointConditionsLike | null | undefined): boolean {
  return (c?.serving ?? endpointReady(c)) && c?.terminating === true;
}

/**
 * Nodes hosting an endpoint of the Service that may take traffic: the nodes with a ready
 * endpoint; if there is none anywhere, the nodes with a serving+terminating one (kube-proxy's
 * fallback), so a Service whose pods are all being replaced keeps an owner.
 */
export function nodesWithLocalEndpoint(slices: readonly EndpointSliceLike[]): Set<string> {
  const ready = new Set<string>();
  const fallback = new Set<string>();
  for (const slice of slices) {
    for (const ep of slice.endpoints ?? []) {
      if (!ep.nodeName) continue;
      if (endpointReady(ep.conditions)) ready.add(ep.nodeName);
      else if (endpointServingTerminating(ep.conditions)) fallback.add(ep.nodeName);
    }
  }
  return ready.size > 0 ? ready : fallback;
}

/**
 * The eligible node names for one address, or the step that left none. Steps, in order:
 * member alive, Node Ready, not excluded by label, selected by the pool, and under `Local` a
 * local endpoint. The reason names the first step that emptied the list.
 */
export function eligibleCandidates(input: ElectionInput): CandidateSet {
  const named = input.nodes.filter((n) => nodeName(n) !== undefined);
  if (named.length === 0) return { kind: 'noCandidate', reason: 'noNodes' };
  const steps: Array<[NoCandidateReason, (n: NodeLike) => boolean]> = [
    ['noAliveMember', (n) => input.aliveMembers.has(nodeName(n)!)],
    ['noReadyNode', nodeReady],
    ['noIncludedNode', (n) => !nodeExcludedFromLoadBalancers(n)],
    ['noSelectedNode', (n) => input.poolSelectsNode(n.metadata?.labels ?? {})],
  ];
  if (input.externalTrafficPolicy === 'Local') {
    const local = nodesWithLocalEndpoint(input.endpointSlices);
    steps.push(['noLocalEndpoint', (n) => local.has(nodeName(n)!)]);
  }
  let remaining = named;
  for (const [reason, keep] of steps) {
    remaining = remaining.filter(keep);
    if (remaining.length === 0) return { kind: 'noCandidate', reason };
  }
  return { kind: 'candidates', nodes: remaining.map((n) => nodeName(n)!) };
}

/** Filtering then election: what every speaker computes for every address it knows. */
export function electServiceOwner(input: ElectionInput): Election {
  const set = eligibleCandidates(input);
  if (set.kind === 'noCandidate') return set;
  return electOwner(input.address, set.nodes);
}
