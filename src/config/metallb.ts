import { IssueList, isMapping, show } from './issues.js';
import { anySelectorMatches } from './node-selector.js';
import { objectSite, parseIPAddressPool, parseL2Advertisement, type ObjectSite, type ParsedL2Advertisement } from './metallb-resources.js';
import { checkPools } from './pool-checks.js';
import type { ParsedPool } from './pool.js';
import type { Config, ParseConfigResult, Pool } from './types.js';

/**
 * MetalLB's resources (`metallb.io/v1beta1` `IPAddressPool` and `L2Advertisement`, the
 * configuration MetalLB has used since v0.13) → the same pure config the ConfigMap gives. Pure:
 * API-shaped objects in (from a file or from the API), config or every problem out.
 *
 * Rules, as MetalLB's `internal/config`:
 * - each `IPAddressPool` is a pool named by `metadata.name`; pools are kept in name order (a
 *   cluster has no order; MetalLB tries same-rank pools in random order);
 * - an `L2Advertisement` applies to the pools it names (`ipAddressPools`) and those whose labels
 *   match one of `ipAddressPoolSelectors`; with neither, to every pool. Several may apply to one
 *   pool: a node may announce it when any of them selects it, on the interfaces of those that do;
 * - a pool no `L2Advertisement` applies to gets addresses but is not announced (a warning);
 * - `BGPPeer`, `BGPAdvertisement`, `Community` and `BFDProfile` are refused: layer2 only.
 *
 * As with the ConfigMap, every object is checked whatever the others hold, and one error makes
 * the whole config invalid (the reader keeps its last good one). Each issue carries the object
 * it is about (`ConfigIssue.object`), so a reader can put a Warning Event on it.
 */

export const METALLB_API_VERSION = 'metallb.io/v1beta1';

/** MetalLB's BGP kinds: refused, layer2 only. */
const BGP_KINDS = ['BGPPeer', 'BGPAdvertisement', 'Community', 'BFDProfile'];
/** Kinds MetalLB writes to report state (v0.14+): not configuration, so ignored with a warning. */
const STATUS_KINDS = ['ServiceL2Status', 'ServiceBGPStatus', 'ConfigurationState'];

/** Any object of MetalLB's API group. */
export function isMetalLBObject(value: unknown): value is Record<string, unknown> {
  return isMapping(value) && typeof value.apiVersion === 'string' && value.apiVersion.startsWith('metallb.io/');
}

/** `IPAddressPool`, `L2Advertisement` and other MetalLB objects (anything else is skipped) → a config, or every problem. */
export function parseMetalLBResources(objects: readonly unknown[]): ParseConfigResult {
  const issues = new IssueList();
  const config = convertMetalLB(issues, objects);
  const errors = issues.all.filter((i) => i.severity === 'error').map((i) => i.message);
  const warnings = issues.all.filter((i) => i.severity === 'warning').map((i) => i.message);
  if (config === undefined || errors.length > 0) return { ok: false, errors, warnings, issues: issues.all };
  return { ok: true, config, warnings, issues: issues.all };
}

/** The conversion, reporting on `issues`; undefined only when nothing could be read. */
export function convertMetalLB(issues: IssueList, objects: readonly unknown[]): Config | undefined {
  const pools: { parsed: ParsedPool; site: ObjectSite }[] = [];
  const advertisements: ParsedL2Advertisement[] = [];
  objects.forEach((raw, index) => {
    if (!isMetalLBObject(raw)) return;
    const kind = typeof raw.kind === 'string' ? raw.kind : undefined;
    const site = objectSite(issues, raw, index);
    if (kind === 'IPAddressPool' || kind === 'L2Advertisement') {
      if (raw.apiVersion !== METALLB_API_VERSION) {
        site.issues.error('FUL_ERR_CONFIG_TYPE', { field: `${site.label}: apiVersion`, value: show(raw.apiVersion), expected: JSON.stringify(METALLB_API_VERSION) });
      }
      if (kind === 'IPAddressPool') pools.push({ parsed: parseIPAddressPool(site, raw), site });
      else advertisements.push(parseL2Advertisement(site, raw));
    } else if (kind !== undefined && BGP_KINDS.includes(kind)) {
      site.issues.error('FUL_ERR_CONFIG_UNSUPPORTED', { field: site.label, what: 'BGP' });
    } else if (kind === 'AddressPool') {
      site.issues.error('FUL_ERR_CONFIG_UNSUPPORTED_FIELD', { field: `${site.label}: kind`, reason: 'MetalLB removed AddressPool in v0.14; write an IPAddressPool and an L2Advertisement instead' });
    } else if (kind !== undefined && STATUS_KINDS.includes(kind)) {
      site.issues.warn('FUL_WARN_CONFIG_IGNORED', { field: site.label, reason: 'it is state MetalLB reports, not configuration' });
    } else {
      site.issues.warn('FUL_WARN_CONFIG_IGNORED', { field: site.label, reason: `Fulcrum reads only IPAddressPool and L2Advertisement of ${METALLB_API_VERSION}` });
    }
  });
  const siteOf = new Map(pools.map((p) => [p.parsed, p.site]));
  checkPools(
    pools.map((p) => p.parsed),
    (p) => siteOf.get(p)!.issues,
  );
  pools.sort((a, b) => compare(a.parsed.pool.name, b.parsed.pool.name) || compare(a.site.ref?.namespace ?? '', b.site.ref?.namespace ?? ''));
  advertisements.sort((a, b) => compare(a.site.label, b.site.label));
  warnUnknownPools(advertisements, new Set(pools.map((p) => p.parsed.pool.name)));
  const out: Pool[] = pools.map(({ parsed, site }) => {
    const applying = advertisements.filter((a) => appliesTo(a, parsed.pool.name, site.labels));
    if (applying.length === 0) site.issues.warn('FUL_WARN_POOL_NOT_ANNOUNCED', { field: site.label });
    return { ...parsed.pool, advertisements: applying.map((a) => a.advertisement) };
  });
  if (out.length === 0) issues.warn('FUL_WARN_NO_POOLS', {});
  return { pools: out };
}

/** MetalLB's `setL2AdvertisementsToPools`: named, selected, or every pool when the advertisement says neither. */
function appliesTo(adv: ParsedL2Advertisement, pool: string, poolLabels: Readonly<Record<string, string>>): boolean {
  if (adv.everyPool) return true;
  // An empty list of pool selectors selects no pool here (anySelectorMatches would say every one).
  return adv.poolNames.some((n) => n.name === pool) || (adv.poolSelectors.length > 0 && anySelectorMatches(adv.poolSelectors, poolLabels));
}

function warnUnknownPools(advertisements: readonly ParsedL2Advertisement[], names: ReadonlySet<string>): void {
  for (const adv of advertisements) {
    for (const { name, index } of adv.poolNames) {
      if (!names.has(name)) adv.site.issues.warn('FUL_WARN_UNKNOWN_POOL', { field: `${adv.site.label}: spec.ipAddressPools[${index}]`, value: show(name) });
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
