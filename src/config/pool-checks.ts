import { rangesOverlap, type AddressRange } from '../address.js';
import { show, type IssueList } from './issues.js';
import type { ParsedPool } from './pool.js';

/**
 * The checks across pools, shared by both sources (the ConfigMap's `address-pools`, MetalLB's
 * `IPAddressPool`s): names are unique, and no two ranges overlap, within a pool or across pools.
 * Each message names the pool with its own label and field paths; `issuesOf` gives the list
 * to report a pool's problems on (tagged with its object, for MetalLB resources).
 */
export function checkPools(pools: readonly ParsedPool[], issuesOf: (pool: ParsedPool) => IssueList): void {
  checkDuplicateNames(pools, issuesOf);
  checkOverlaps(pools, issuesOf);
}

function checkDuplicateNames(pools: readonly ParsedPool[], issuesOf: (pool: ParsedPool) => IssueList): void {
  const first = new Map<string, ParsedPool>();
  for (const p of pools) {
    if (p.pool.name === '') continue;
    const seen = first.get(p.pool.name);
    if (seen === undefined) first.set(p.pool.name, p);
    else issuesOf(p).error('FUL_ERR_POOL_NAME', { field: `${p.label}: ${p.nameField}`, reason: `${show(p.pool.name)} is already the name of ${seen.ref}` });
  }
}

/** Sorts every range by (family, first) and sweeps once: O(n log n), whatever the sizes. */
function checkOverlaps(pools: readonly ParsedPool[], issuesOf: (pool: ParsedPool) => IssueList): void {
  type Entry = { range: AddressRange; pool: ParsedPool; field: string };
  const entries: Entry[] = [];
  for (const pool of pools) {
    pool.pool.ranges.forEach((range, i) => entries.push({ range, pool, field: `${pool.addressField}[${pool.addressIndexes[i]}]` }));
  }
  entries.sort((a, b) => {
    if (a.range.family !== b.range.family) return a.range.family < b.range.family ? -1 : 1;
    return a.range.first < b.range.first ? -1 : a.range.first > b.range.first ? 1 : 0;
  });
  let reach: Entry | undefined; // the entry reaching furthest so far, within the current family
  for (const e of entries) {
    if (reach && rangesOverlap(reach.range, e.range)) {
      const other = reach.pool === e.pool ? `${reach.field} ${show(reach.range.text)}` : `${show(reach.range.text)} of ${reach.pool.label}`;
      issuesOf(e.pool).error('FUL_ERR_POOL_OVERLAP', { field: `${e.pool.label}: ${e.field}`, value: show(e.range.text), other });
    }
    if (!reach || reach.range.family !== e.range.family || e.range.last > reach.range.last) reach = e;
  }
}
