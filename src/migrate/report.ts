import { canonicalAddress, parseAddress, rangeContains } from '../address.js';
import { selectorText, poolSelectsNode } from '../config/node-selector.js';
import { poolSize } from '../config/summary.js';
import type { Config, ConfigIssue, Pool } from '../config/types.js';
import { Allocator } from '../ipam/allocator.js';
import { holdingRequest, serviceRequest } from '../ipam/request.js';
import type { AssignFailureReason, AssignResult, NamespaceLabels } from '../ipam/types.js';
import { annotationText } from '../service/annotations.js';
import { ingressIps } from '../service/ingress.js';
import { keyOf, type ServiceKey } from '../service/key.js';
import { responsibility } from '../service/ours.js';
import type { MigrationInput, MigrationService, MigrationSource } from './input.js';

export type { MigrationService } from './input.js';

/**
 * What Fulcrum will do with a MetalLB install, pure: the pools as Fulcrum reads them, and for
 * every LoadBalancer Service whether it keeps the address MetalLB gave it. The answer comes from
 * the allocator core itself, replayed the way the allocator starts (allocator/controller.ts):
 * every address already in a status is adopted first (`Allocator.adopt`, with the request
 * `serviceRequest` builds, in namespace/name order, as the API server lists them), a Service
 * whose request is invalid holds what it shows, then every Service is reconciled
 * (`Allocator.assign`; a failure clears it). Nothing is re-derived here.
 */

export interface MigrationOptions {
  /** The `--lb-class` Fulcrum will run with; undefined: Services without a class. */
  readonly lbClass?: string | undefined;
}

export interface PoolReport {
  readonly name: string;
  /** The ranges as written. */
  readonly addresses: readonly string[];
  /** Assignable addresses per family (exact, as decimal text); null: none of that family. */
  readonly size: { readonly IPv4: string | null; readonly IPv6: string | null };
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly serviceAllocation: {
    readonly priority: number | null;
    readonly namespaces: readonly string[];
    readonly namespaceSelectors: readonly string[];
    readonly serviceSelectors: readonly string[];
  } | null;
  /** One per L2Advertisement (or the ConfigMap's one): node selectors as text, empty: every node / interface. */
  readonly announcements: readonly { readonly source: string; readonly nodeSelectors: readonly string[]; readonly interfaces: readonly string[] }[];
  /** The nodes of the input that may announce the pool; null when the input has no nodes. */
  readonly nodes: readonly string[] | null;
  /** Services holding its addresses once Fulcrum runs. */
  readonly services: readonly string[];
  /** Errors and warnings about this pool (its IPAddressPool object, or its ConfigMap entry). */
  readonly issues: readonly string[];
}

export type ServiceRequestFailure = 'badRequestedAddress' | 'conflictingRequests' | 'tooManyRequestedAddresses' | 'familyMismatch' | 'badSpec';

/** What becomes of one Service; `loses`, `invalid`, `notServed` (of a MetalLB address) and `unchecked` fail the migration. */
export type ServiceOutcome =
  /** Adopted and kept; `added`: a PreferDualStack Service topped up with its missing family. */
  | { readonly kind: 'keeps'; readonly pool: string; readonly addresses: readonly string[]; readonly added: readonly string[] }
  /** Had no address; Fulcrum gives it these. */
  | { readonly kind: 'gets'; readonly pool: string; readonly addresses: readonly string[] }
  /** Had no address and gets none. */
  | { readonly kind: 'pending'; readonly reason: AssignFailureReason; readonly message: string }
  /** Its address is not adopted (`reason`, `message`): it gets `then` instead. */
  | {
      readonly kind: 'loses';
      readonly reason: AssignFailureReason;
      readonly message: string;
      readonly then: { readonly kind: 'gets'; readonly pool: string; readonly addresses: readonly string[] } | { readonly kind: 'nothing'; readonly reason: AssignFailureReason; readonly message: string };
    }
  /** Its request is invalid: Fulcrum leaves its status alone, holding its address when it can (`holds`), until it is fixed. */
  | { readonly kind: 'invalid'; readonly reason: ServiceRequestFailure; readonly message: string; readonly holds: boolean }
  /** Of a loadBalancerClass Fulcrum does not serve; `metallb`: its address is in a MetalLB pool. */
  | { readonly kind: 'notServed'; readonly reason: 'otherLoadBalancerClass'; readonly message: string; readonly metallb: boolean }
  /** The config is invalid: Fulcrum would assign nothing until it is fixed. */
  | { readonly kind: 'unchecked'; readonly message: string };

export interface ServiceReport {
  /** `namespace/name`. */
  readonly service: string;
  /** `status.loadBalancer.ingress` IPs, as written. */
  readonly current: readonly string[];
  /** MetalLB's `ip-allocated-from-pool`, either prefix. */
  readonly metallbPool: string | null;
  readonly outcome: ServiceOutcome;
  /** Things worth knowing that change no address: sharing, status order, an unannounced pool. */
  readonly notes: readonly string[];
}

export interface MigrationReport {
  readonly source: MigrationSource;
  readonly configValid: boolean;
  /** Every config error and warning, each naming the object, the field and the value. */
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
  readonly pools: readonly PoolReport[];
  readonly services: readonly ServiceReport[];
  /** How many Services end in each outcome. */
  readonly counts: Readonly<Record<ServiceOutcome['kind'], number>>;
  /** True when the config is valid and no Service loses its address or is left unserved. */
  readonly ok: boolean;
}

/** Whether an outcome fails the migration (the command exits 1). */
export function isProblem(o: ServiceOutcome): boolean {
  return o.kind === 'loses' || o.kind === 'invalid' || o.kind === 'unchecked' || (o.kind === 'notServed' && o.metallb);
}

export function planMigration(input: MigrationInput, options: MigrationOptions = {}): MigrationReport {
  const errors = input.issues.filter((i) => i.severity === 'error');
  const warnings = input.issues.filter((i) => i.severity === 'warning');
  const config = errors.length === 0 ? input.config : undefined;
  const services = input.services
    // A Service being deleted is let go at once by the allocator: nothing to migrate.
    .filter((s) => s.spec?.type === 'LoadBalancer' && !s.metadata?.deletionTimestamp)
    .map((svc) => ({ svc, key: keyOf(svc) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const allocator = config ? new Allocator(config) : undefined;
  const outcomes = allocator ? replay(allocator, services, input.namespaces, options) : new Map<ServiceKey, ServiceOutcome>();
  const reports: ServiceReport[] = services.map(({ svc, key }) => {
    const outcome = outcomes.get(key) ?? unchecked(svc, input.config, options.lbClass);
    return { service: key, current: ingressIps(svc), metallbPool: annotationText(svc, 'ip-allocated-from-pool') ?? null, outcome, notes: allocator && config ? notesFor(key, svc, outcome, allocator, config) : [] };
  });
  const holders = new Map<string, string[]>();
  for (const a of allocator?.assignments() ?? []) holders.set(a.pool, [...(holders.get(a.pool) ?? []), a.service].sort());
  const counts = { keeps: 0, gets: 0, pending: 0, loses: 0, invalid: 0, notServed: 0, unchecked: 0 };
  for (const r of reports) counts[r.outcome.kind]++;
  const configValid = config !== undefined;
  return {
    source: input.source,
    configValid,
    errors: errors.map((i) => i.message),
    warnings: warnings.map((i) => i.message),
    pools: (input.config?.pools ?? []).map((p) => poolReport(p, input, holders.get(p.name) ?? [])),
    services: reports,
    counts,
    ok: configValid && !reports.some((r) => isProblem(r.outcome)),
  };
}

type Keyed = { readonly svc: MigrationService; readonly key: ServiceKey };

/** The allocator's start, Service by Service: adopt every shown address, hold for invalid requests, then reconcile. */
function replay(allocator: Allocator, services: readonly Keyed[], namespaces: NamespaceLabels, options: MigrationOptions): Map<ServiceKey, ServiceOutcome> {
  const { lbClass } = options;
  const notAdopted = new Map<ServiceKey, Extract<AssignResult, { kind: 'failed' }>>();
  const invalid: Keyed[] = [];
  for (const s of services) {
    const addresses = ingressIps(s.svc);
    if (addresses.length === 0 || responsibility(s.svc, lbClass).kind !== 'ours') continue;
    const req = serviceRequest(s.svc, { loadBalancerClass: lbClass });
    if (req.kind === 'invalid') invalid.push(s);
    if (req.kind !== 'request') continue;
    const r = allocator.adopt(s.key, addresses, req.request, namespaces);
    if (r.kind === 'failed') notAdopted.set(s.key, r);
  }
  for (const s of invalid) {
    const addresses = ingressIps(s.svc);
    const r = allocator.adopt(s.key, addresses, holdingRequest(s.svc, addresses));
    if (r.kind === 'failed') notAdopted.set(s.key, r);
  }
  const out = new Map<ServiceKey, ServiceOutcome>();
  for (const { svc, key } of services) out.set(key, reconcile(allocator, svc, key, namespaces, lbClass, notAdopted.get(key)));
  return out;
}

function reconcile(
  allocator: Allocator,
  svc: MigrationService,
  key: ServiceKey,
  namespaces: NamespaceLabels,
  lbClass: string | undefined,
  notAdopted: Extract<AssignResult, { kind: 'failed' }> | undefined,
): ServiceOutcome {
  const shown = ingressIps(svc).map((ip) => canonicalAddress(ip) ?? ip);
  if (responsibility(svc, lbClass).kind !== 'ours') return notServed(svc, allocator.config, lbClass);
  const req = serviceRequest(svc, { loadBalancerClass: svc.spec?.loadBalancerClass });
  if (req.kind === 'invalid') return { kind: 'invalid', reason: req.reason, message: req.message, holds: allocator.assignmentOf(key) !== undefined };
  if (req.kind === 'ignored') throw new Error(`incoherent state: ${key} is ours but serviceRequest ignores it: ${req.message}`);
  const result = allocator.assign(key, req.request, namespaces);
  if (result.kind === 'failed') {
    // As the allocator: what it held is given back, and a shown address is cleared.
    allocator.release(key);
    if (shown.length === 0) return { kind: 'pending', reason: result.reason, message: result.message };
    const why = notAdopted ?? result;
    return { kind: 'loses', reason: why.reason, message: why.message, then: { kind: 'nothing', reason: result.reason, message: result.message } };
  }
  if (shown.length === 0) return { kind: 'gets', pool: result.pool, addresses: result.addresses };
  if (shown.every((ip) => result.addresses.includes(ip))) {
    return { kind: 'keeps', pool: result.pool, addresses: result.addresses, added: result.addresses.filter((ip) => !shown.includes(ip)) };
  }
  const why = notAdopted ?? { reason: 'requestMismatch' as const, message: 'no longer allowed by the Service or the config' };
  return { kind: 'loses', reason: why.reason, message: why.message, then: { kind: 'gets', pool: result.pool, addresses: result.addresses } };
}

function notServed(svc: MigrationService, config: Config | undefined, lbClass: string | undefined): ServiceOutcome {
  const cls = svc.spec?.loadBalancerClass;
  const serves = lbClass === undefined ? 'Services without a class' : `loadBalancerClass "${lbClass}"`;
  const inPool = config !== undefined && ingressIps(svc).some((ip) => poolOfAddress(config, ip) !== undefined);
  const message =
    cls === undefined
      ? `it has no loadBalancerClass, and Fulcrum will serve ${serves}`
      : `its loadBalancerClass is "${cls}", and Fulcrum will serve ${serves}${inPool ? `: run Fulcrum with --lb-class ${cls} if MetalLB served this class` : ''}`;
  return { kind: 'notServed', reason: 'otherLoadBalancerClass', message, metallb: inPool };
}

function unchecked(svc: MigrationService, config: Config | undefined, lbClass: string | undefined): ServiceOutcome {
  const who = responsibility(svc, lbClass);
  if (who.kind === 'notOurs' && who.reason === 'otherClass') return notServed(svc, config, lbClass);
  return { kind: 'unchecked', message: 'the config has errors: Fulcrum refuses it as a whole and assigns nothing until they are fixed' };
}

function poolOfAddress(config: Config, ip: string): Pool | undefined {
  const parsed = parseAddress(canonicalAddress(ip) ?? ip);
  return parsed.ok ? config.pools.find((p) => p.ranges.some((r) => rangeContains(r, parsed.address))) : undefined;
}

function notesFor(key: ServiceKey, svc: MigrationService, outcome: ServiceOutcome, allocator: Allocator, config: Config): string[] {
  const notes: string[] = [];
  const held = outcome.kind === 'keeps' || outcome.kind === 'gets' ? outcome : outcome.kind === 'loses' && outcome.then.kind === 'gets' ? outcome.then : undefined;
  if (!held) return notes;
  const metallbPool = annotationText(svc, 'ip-allocated-from-pool');
  if (outcome.kind === 'keeps' && metallbPool !== undefined && metallbPool !== outcome.pool) {
    notes.push(`MetalLB's ip-allocated-from-pool says "${metallbPool}"; the address is in pool "${outcome.pool}", which the allocator writes instead`);
  }
  const shown = ingressIps(svc).map((ip) => canonicalAddress(ip) ?? ip);
  const kept = held.addresses.filter((ip) => shown.includes(ip));
  if (outcome.kind === 'keeps' && kept.length > 1 && kept.join(',') !== shown.filter((ip) => kept.includes(ip)).join(',')) {
    notes.push(`the status lists ${kept.join(', ')} in the Service's ipFamilies order (MetalLB lists IPv4 first): the allocator rewrites the order once`);
  }
  if (outcome.kind === 'keeps' && outcome.added.length > 0) notes.push(`PreferDualStack: also gets ${outcome.added.join(', ')} from pool "${outcome.pool}", its missing family`);
  for (const ip of held.addresses) {
    const others = allocator.servicesOn(ip).filter((s) => s !== key);
    if (others.length > 0) notes.push(`shares ${ip} with ${others.join(', ')}`);
  }
  const pool = config.pools.find((p) => p.name === held.pool);
  if (pool && pool.advertisements.length === 0) notes.push(`pool "${pool.name}" has no L2Advertisement: the address is assigned but no node announces it (as under MetalLB)`);
  return notes;
}

function poolReport(pool: Pool, input: MigrationInput, services: readonly string[]): PoolReport {
  const a = pool.serviceAllocation;
  const size = (f: 'IPv4' | 'IPv6') => poolSize(pool, f)?.toString() ?? null;
  return {
    name: pool.name,
    addresses: pool.ranges.map((r) => r.text),
    size: { IPv4: size('IPv4'), IPv6: size('IPv6') },
    autoAssign: pool.autoAssign,
    avoidBuggyIPs: pool.avoidBuggyIps,
    serviceAllocation: a
      ? { priority: a.priority ?? null, namespaces: a.namespaces, namespaceSelectors: a.namespaceSelectors.map(selectorText), serviceSelectors: a.serviceSelectors.map(selectorText) }
      : null,
    announcements: pool.advertisements.map((ad) => ({ source: ad.source ?? 'the ConfigMap', nodeSelectors: ad.nodeSelectors.map(selectorText), interfaces: ad.interfaces })),
    nodes: input.nodes ? input.nodes.filter((n) => poolSelectsNode(pool, n.labels)).map((n) => n.name).sort() : null,
    services,
    issues: input.issues.filter((i) => isAbout(i, pool.name)).map((i) => `${i.severity}: ${i.message}`),
  };
}

/** An issue about one pool: on its IPAddressPool object, or (ConfigMap) a message naming it. */
function isAbout(issue: ConfigIssue, pool: string): boolean {
  if (issue.object) return issue.object.kind === 'IPAddressPool' && issue.object.name === pool;
  return issue.message.startsWith(`pool ${JSON.stringify(pool)}:`);
}
