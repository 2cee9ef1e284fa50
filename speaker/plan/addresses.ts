import type { V1Node, V1Service } from '@kubernetes/client-node';
import { poolInterfacesOn, poolSelectsNode } from '../../src/config/node-selector.js';
import type { Config, Pool } from '../../src/config/types.js';
import { parseAddress, rangeContains } from '../../src/address.js';
import { annotationText } from '../../src/service/annotations.js';
import { ingressIps } from '../../src/service/ingress.js';
import { keyOf, type ServiceKey } from '../../src/service/key.js';
import { isOurs } from '../../src/service/ours.js';
import { canonicalAddress } from '../../src/address.js';
import { nodeExcludedFromLoadBalancers, nodeReady } from '../../src/k8s/nodes.js';
import { electOwner } from './elect.js';
import { endpointsOf, localTier, type EndpointIndex, type EndpointView } from '../../src/service/endpoints.js';

/**
 * The speaker's desired state, pure: from one snapshot of the caches and of the membership,
 * for every service address, the Services on it, its pool, the interfaces to announce on and
 * the owner elected among the eligible nodes; then what this node owns. Every speaker computes
 * the same owners from the same snapshot, so they never need to talk to each other about it.
 */


export interface SpeakerSnapshot {
  readonly me: string;
  /** Every Service in the cache; the plan keeps LoadBalancer ones of our class with addresses. */
  readonly services: readonly V1Service[];
  /** KEP-1959 class we serve; undefined: Services without a class. */
  readonly lbClass: string | undefined;
  readonly endpoints: EndpointIndex;
  readonly nodes: readonly V1Node[];
  readonly config: Config;
  /** Nodes whose speaker the membership says is alive (this node included unless isolated). */
  readonly alive: ReadonlySet<string>;
  /** Interfaces this speaker announces on (the announcer's); a pool's `interfaces` narrow them. */
  readonly interfaces: readonly string[];
}

/** Why an address has no owner, or why a node cannot be one. */
export type NoOwnerReason = 'noPool' | 'noEligibleNode' | 'noLocalEndpoints';
export type Owner = { kind: 'elected'; node: string; candidates: readonly string[] } | { kind: 'none'; reason: NoOwnerReason };

export interface AddressPlan {
  readonly address: string;
  /** Sorted. */
  readonly services: readonly ServiceKey[];
  readonly pool: string | undefined;
  /**
   * Where this node would announce it: local, unlike the owner. An owner left with none (the
   * pool names interfaces this speaker does not announce on) does not count it as owned.
   */
  readonly interfaces: readonly string[];
  readonly owner: Owner;
}

export interface SpeakerPlan {
  /** By canonical address, sorted by address. */
  readonly addresses: ReadonlyMap<string, AddressPlan>;
  /** Addresses this node owns (with at least one interface), sorted. */
  readonly owned: readonly string[];
}

export type Ineligible = 'notAlive' | 'notReady' | 'excluded' | 'notSelected' | 'unknownNode';
export type Eligibility = { eligible: true } | { eligible: false; reason: Ineligible };

/** The node-level rules (the per-Service Local rule comes on top). */
export function nodeEligibility(node: V1Node | undefined, pool: Pool, alive: ReadonlySet<string>): Eligibility {
  if (!node?.metadata?.name) return { eligible: false, reason: 'unknownNode' };
  const name = node.metadata.name;
  if (!alive.has(name)) return { eligible: false, reason: 'notAlive' };
  if (!nodeReady(node)) return { eligible: false, reason: 'notReady' };
  const labels = node.metadata.labels ?? {};
  if (nodeExcludedFromLoadBalancers(node)) return { eligible: false, reason: 'excluded' };
  if (!poolSelectsNode(pool, labels)) return { eligible: false, reason: 'notSelected' };
  return { eligible: true };
}

/** The valid IPs of the Service's status, canonical (RFC 5952), each once. */
export function ingressAddresses(svc: V1Service): string[] {
  return [...new Set(ingressIps(svc).map(canonicalAddress).filter((ip) => ip !== undefined))];
}

/** The pool the allocator wrote in the annotation, else the pool whose ranges hold the address. */
export function poolOf(svc: V1Service, address: string, config: Config): Pool | undefined {
  const named = annotationText(svc, 'ip-allocated-from-pool');
  const parsed = parseAddress(address);
  if (!parsed.ok) return undefined;
  const holds = (p: Pool) => p.ranges.some((r) => rangeContains(r, parsed.address));
  const byName = named === undefined ? undefined : config.pools.find((p) => p.name === named);
  if (byName && holds(byName)) return byName;
  return config.pools.find(holds);
}

interface Gathered {
  readonly services: V1Service[];
  pool: Pool | undefined;
}

export function planSpeaker(s: SpeakerSnapshot): SpeakerPlan {
  const byAddress = new Map<string, Gathered>();
  for (const svc of s.services) {
    if (!isOurs(svc, s.lbClass)) continue;
    for (const address of ingressAddresses(svc)) {
      let g = byAddress.get(address);
      if (!g) byAddress.set(address, (g = { services: [], pool: undefined }));
      g.services.push(svc);
      g.pool ??= poolOf(svc, address, s.config);
    }
  }
  const nodesByName = new Map(s.nodes.map((n) => [n.metadata?.name ?? '', n]));
  const addresses = new Map<string, AddressPlan>();
  const owned: string[] = [];
  for (const address of [...byAddress.keys()].sort()) {
    const g = byAddress.get(address)!;
    const plan = planAddress(address, g, s, nodesByName);
    addresses.set(address, plan);
    if (plan.owner.kind === 'elected' && plan.owner.node === s.me && plan.interfaces.length > 0) owned.push(address);
  }
  return { addresses, owned };
}

function planAddress(address: string, g: Gathered, s: SpeakerSnapshot, nodesByName: ReadonlyMap<string, V1Node>): AddressPlan {
  const services = g.services.map(keyOf).sort();
  const base = { address, services, pool: g.pool?.name };
  if (!g.pool) return { ...base, interfaces: [], owner: { kind: 'none', reason: 'noPool' } };
  const pool = g.pool;
  // This node's: the interfaces of the pool's advertisements that select it (src/config/node-selector.ts).
  const interfaces = poolInterfacesOn(pool, nodesByName.get(s.me)?.metadata?.labels ?? {}, s.interfaces);
  const eligible = [...nodesByName.values()].filter((n) => nodeEligibility(n, pool, s.alive).eligible).map((n) => n.metadata!.name!);
  const local = localPreference(g.services, eligible, s.endpoints);
  const candidates = local ? eligible.filter((n) => (local.get(n) ?? 0) > 0) : eligible;
  if (candidates.length === 0) {
    return { ...base, interfaces, owner: { kind: 'none', reason: local && eligible.length > 0 ? 'noLocalEndpoints' : 'noEligibleNode' } };
  }
  // Preference first (the most Local Services served), then speaker/election's hash order.
  const best = Math.max(...candidates.map((n) => local?.get(n) ?? 0));
  const elected = electOwner(address, candidates.filter((n) => (local?.get(n) ?? 0) === best));
  if (elected.kind !== 'owner') throw new Error(`incoherent state: no owner among ${candidates.length} candidates for ${address}`);
  const node = elected.node;
  return { ...base, interfaces, owner: { kind: 'elected', node, candidates: [...candidates].sort() } };
}

/**
 * For an address with `externalTrafficPolicy: Local` Services: how many of them each node can
 * serve locally (a ready local endpoint, else serving+terminating ones when no candidate has a
 * ready one, as kube-proxy falls back), so the node that satisfies the most wins; undefined
 * when every Service on the address is `Cluster` (no preference, every eligible node counts).
 */
export function localPreference(services: readonly V1Service[], nodes: readonly string[], index: EndpointIndex): Map<string, number> | undefined {
  const locals = services.filter((svc) => svc.spec?.externalTrafficPolicy === 'Local');
  if (locals.length === 0) return undefined;
  const score = new Map<string, number>(nodes.map((n) => [n, 0]));
  for (const svc of locals) {
    const eps: EndpointView[] = endpointsOf(svc, index);
    const tiers = new Map(nodes.map((n) => [n, localTier(eps, n)]));
    const anyReady = [...tiers.values()].includes('ready');
    for (const [n, tier] of tiers) {
      if (tier === 'ready' || (!anyReady && tier === 'servingTerminating')) score.set(n, score.get(n)! + 1);
    }
  }
  return score;
}
