import type { Config, Pool } from '../config/types.js';
import { anySelectorMatches, selectorText } from '../config/node-selector.js';
import type { ServiceKey } from '../service/key.js';
import type { AllocationRequest, NamespaceLabels } from './types.js';

/**
 * MetalLB's `serviceAllocation`, pure: which pools serve a Service, and in which order the
 * allocator tries them when the Service names no pool and requests no address.
 *
 * - A pool with `serviceAllocation` serves a Service when the Service's namespace is one of
 *   `namespaces` or its labels match one of `namespaceSelectors` (when either is set), AND the
 *   Service's labels match one of `serviceSelectors` (when set). A pool without it serves every
 *   Service. This holds for every way of getting an address: a named pool or a requested
 *   address in a pool that does not serve the Service is refused (`poolPinned`), as in MetalLB.
 * - Auto-assignment tries, among the auto-assign pools that are not disabled, first the pools
 *   with `serviceAllocation` that serve the Service (lowest `priority` first, then those without
 *   a priority), then the pools without `serviceAllocation`; config order breaks ties.
 */

/** What a pool's serviceAllocation looks at: the Service's namespace, its labels, its namespace's labels. */
export interface ServiceScope {
  readonly service: ServiceKey;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The labels of every namespace; see `namespaceLabels`. */
  readonly namespaces: NamespaceLabels;
}

/** Kubernetes gives every namespace this label, with its name as the value (1.22+). */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export const NO_NAMESPACE_LABELS: NamespaceLabels = new Map();

/** The namespace of a `namespace/name` key (`default` for a key without one, as `keyOf` does). */
export function namespaceOf(service: ServiceKey): string {
  const slash = service.indexOf('/');
  return slash === -1 ? 'default' : service.slice(0, slash);
}

export function scopeOf(service: ServiceKey, request: AllocationRequest, namespaces: NamespaceLabels): ServiceScope {
  return { service, namespace: namespaceOf(service), labels: request.labels ?? NO_LABELS, namespaces };
}

const NO_LABELS: Readonly<Record<string, string>> = {};

/** The labels of the Service's namespace (built only for pools that select namespaces by label). */
export function namespaceLabels(scope: ServiceScope): Readonly<Record<string, string>> {
  // The API server sets the name label on every namespace; a namespace missing from the
  // caller's cache still has it.
  return { [NAMESPACE_NAME_LABEL]: scope.namespace, ...scope.namespaces.get(scope.namespace) };
}

/** Whether the pool may give this Service an address. */
export function poolServes(pool: Pick<Pool, 'serviceAllocation'>, scope: ServiceScope): boolean {
  const a = pool.serviceAllocation;
  if (a === undefined) return true;
  if (a.namespaces.length > 0 || a.namespaceSelectors.length > 0) {
    const named = a.namespaces.includes(scope.namespace);
    const selected = !named && a.namespaceSelectors.length > 0 && anySelectorMatches(a.namespaceSelectors, namespaceLabels(scope));
    if (!named && !selected) return false;
  }
  return anySelectorMatches(a.serviceSelectors, scope.labels);
}

/** Why the pool does not serve the Service, for a failure message. */
export function pinnedMessage(pool: Pool, scope: ServiceScope): string {
  const a = pool.serviceAllocation!;
  const parts: string[] = [];
  const namespaces = [...a.namespaces.map((n) => JSON.stringify(n)), ...a.namespaceSelectors.map((s) => `{${selectorText(s)}}`)];
  if (namespaces.length > 0) parts.push(`namespaces ${namespaces.join(' or ')}`);
  if (a.serviceSelectors.length > 0) parts.push(`Services labelled ${a.serviceSelectors.map((s) => `{${selectorText(s)}}`).join(' or ')}`);
  return `pool "${pool.name}" serves only ${parts.join(' and ')} (serviceAllocation), not ${scope.service}`;
}

export interface AutoAssignPools {
  /** Tried in this order: the pools with serviceAllocation that serve the Service, then the others. */
  readonly ranks: readonly (readonly Pool[])[];
  /** Auto-assign pools left out because their serviceAllocation serves other Services. */
  readonly pinnedElsewhere: readonly Pool[];
}

export function autoAssignPools(config: Config, scope: ServiceScope): AutoAssignPools {
  const pinned: Pool[] = [];
  const open: Pool[] = [];
  const pinnedElsewhere: Pool[] = [];
  for (const p of config.pools) {
    if (!p.autoAssign || p.disabled) continue;
    if (p.serviceAllocation === undefined) open.push(p);
    else if (poolServes(p, scope)) pinned.push(p);
    else pinnedElsewhere.push(p);
  }
  // Array.prototype.sort is stable: equal priorities keep config order.
  if (pinned.length > 1) pinned.sort((a, b) => rankOf(a) - rankOf(b));
  return { ranks: [pinned, open], pinnedElsewhere };
}

/** A priority of 1 first; no priority after every number. */
function rankOf(pool: Pool): number {
  return pool.serviceAllocation?.priority ?? Number.MAX_SAFE_INTEGER;
}
