import type { Config } from '../config/types.js';
import { formatAddress, parseAddress, type Address, type Family } from '../address.js';
import type { PoolState } from './pool-state.js';
import { canShare, portPairs, type Sharer } from './sharing.js';
import type { ServiceKey } from '../service/key.js';
import { autoAssignPools, pinnedMessage, poolServes, type ServiceScope } from './service-allocation.js';
import type { AllocationRequest, AssignFailureReason, Assignment } from './types.js';

/**
 * Choosing addresses for one request against the current state: pure functions of the pools,
 * the holders of each address and the addresses of each sharing key. They decide; the
 * Allocator records.
 */
export type Choice = { readonly kind: 'chosen'; readonly pool: string; readonly addresses: readonly Address[] };
export type Failure = { readonly kind: 'failed'; readonly reason: AssignFailureReason; readonly message: string };

export interface PoolsView {
  readonly config: Config;
  readonly pools: ReadonlyMap<string, PoolState>;
}

export interface StateView extends PoolsView {
  /** The Services on an address (the one choosing excluded or not: sharing skips itself). */
  holders(address: Address): Sharer[];
  /** Addresses held by Services with this sharing key. */
  sharedAddresses(sharingKey: string): Address[];
  /** True when one of these `port/protocol` pairs is in use on every address of the key: no sharing possible. */
  everySharedAddressClashes(sharingKey: string, pairs: readonly string[]): boolean;
}

function fail(reason: AssignFailureReason, message: string): Failure {
  return { kind: 'failed', reason, message };
}

/** The one pool all `addresses` belong to (config order decides nothing: pools never overlap). */
export function locate(view: PoolsView, addresses: readonly Address[]): { kind: 'located'; pool: PoolState } | Failure {
  let found: PoolState | undefined;
  for (const a of addresses) {
    const text = formatAddress(a);
    let here: PoolState | undefined;
    for (const pool of view.config.pools) {
      const state = view.pools.get(pool.name)!;
      const placement = state.placement(a);
      if (placement === 'avoided') return fail('avoidedAddress', `${text} ends in .0 or .255 and pool "${pool.name}" has avoid-buggy-ips`);
      if (placement === 'inPool') {
        here = state;
        break;
      }
    }
    if (!here) return fail('notInAnyPool', `${text} is not in any pool`);
    if (found && found !== here) {
      return fail('splitAcrossPools', `${addresses.map(formatAddress).join(',')} are in different pools ("${found.name}", "${here.name}")`);
    }
    found = here;
  }
  if (!found) return fail('notInAnyPool', 'no address given');
  return { kind: 'located', pool: found };
}

/**
 * The lowest address of the family the newcomer may take in this pool: the lowest free one, or
 * a lower one already held by Services it can share with (MetalLB packs sharers together).
 */
function candidate(view: StateView, pool: PoolState, family: Family, newcomer: Sharer): Address | undefined {
  let best = pool.lowestFree(family);
  const key = newcomer.request.sharingKey;
  if (key === undefined) return best;
  // Cheap exit for many Services of one key on the same port, which would otherwise cost a
  // scan of every address of the key per assign.
  if (view.everySharedAddressClashes(key, portPairs(newcomer.request))) return best;
  const shared = view
    .sharedAddresses(key)
    .filter((a) => a.family === family && (best === undefined || a.value < best.value) && pool.placement(a) === 'inPool')
    .sort((a, b) => (a.value < b.value ? -1 : 1));
  for (const a of shared) {
    if (canShare(newcomer, view.holders(a), formatAddress(a)).ok) {
      best = a;
      break;
    }
  }
  return best;
}

function fromPool(view: StateView, newcomer: Sharer & { request: AllocationRequest }, pool: PoolState, needAll: boolean): Choice | Failure {
  const got: Address[] = [];
  const exhausted: Family[] = [];
  const unavailable: Family[] = [];
  for (const family of newcomer.request.families) {
    if (!pool.hasFamily(family)) {
      unavailable.push(family);
      continue;
    }
    const a = candidate(view, pool, family, newcomer);
    if (a === undefined) exhausted.push(family);
    else got.push(a);
  }
  const ok = needAll ? got.length === newcomer.request.families.length : got.length > 0;
  if (ok) return { kind: 'chosen', pool: pool.name, addresses: got };
  if (exhausted.length > 0) return fail('poolExhausted', `no available IPs in pool "${pool.name}" for ${exhausted.join(' and ')}`);
  return fail('familyUnavailable', `pool "${pool.name}" has no ${unavailable.join(' and ')} range`);
}

/**
 * Addresses for a request, as if the Service held nothing (the caller has taken its current
 * addresses out of the state). `previous` lets a disabled pool keep requested addresses the
 * Service already had. Order of precedence: requested addresses, then the pool annotation,
 * then the auto-assign pools (src/ipam/service-allocation.ts: the pools pinned to the Service by
 * priority, then the others, each in config order). Whichever way, the pool must serve the
 * Service (`serviceAllocation`).
 */
export function chooseAddresses(view: StateView, service: ServiceKey, request: AllocationRequest, previous: Assignment | undefined, scope: ServiceScope): Choice | Failure {
  const newcomer = { service, request };
  if (request.pool !== undefined && !view.pools.has(request.pool)) return fail('unknownPool', `unknown pool "${request.pool}"`);
  if (request.requestedAddresses.length > 0) {
    const addresses: Address[] = [];
    for (const text of request.requestedAddresses) {
      const parsed = parseAddress(text);
      if (!parsed.ok) return fail('notInAnyPool', `"${text}" is not an IP address`);
      addresses.push(parsed.address);
    }
    const at = locate(view, addresses);
    if (at.kind === 'failed') return at;
    const texts = addresses.map(formatAddress);
    if (request.pool !== undefined && request.pool !== at.pool.name) {
      return fail('wrongPool', `requested ${texts.join(',')} is in pool "${at.pool.name}", not in the requested pool "${request.pool}"`);
    }
    if (!poolServes(at.pool.pool, scope)) return fail('poolPinned', `requested ${texts.join(',')}: ${pinnedMessage(at.pool.pool, scope)}`);
    const hadThem = previous !== undefined && previous.pool === at.pool.name && texts.every((t) => previous.addresses.includes(t));
    if (at.pool.pool.disabled && !hadThem) return fail('poolDisabled', `pool "${at.pool.name}" is disabled: it keeps existing assignments but gives no new addresses`);
    for (const a of addresses) {
      const verdict = canShare(newcomer, view.holders(a), formatAddress(a));
      if (!verdict.ok) return fail('sharingConflict', verdict.message);
    }
    return { kind: 'chosen', pool: at.pool.name, addresses };
  }
  if (request.pool !== undefined) {
    const pool = view.pools.get(request.pool)!;
    if (!poolServes(pool.pool, scope)) return fail('poolPinned', pinnedMessage(pool.pool, scope));
    if (pool.pool.disabled) return fail('poolDisabled', `pool "${pool.name}" is disabled: it keeps existing assignments but gives no new addresses`);
    return fromPool(view, newcomer, pool, request.familyPolicy !== 'PreferDualStack');
  }
  const { ranks, pinnedElsewhere } = autoAssignPools(view.config, scope);
  // PreferDualStack: within a rank, a pool that serves every family first, then one that serves any.
  const passes = request.familyPolicy === 'PreferDualStack' ? [true, false] : [true];
  let exhausted = false;
  for (const rank of ranks) {
    const pools = rank.map((p) => view.pools.get(p.name)!);
    for (const needAll of passes) {
      for (const pool of pools) {
        const r = fromPool(view, newcomer, pool, needAll);
        if (r.kind === 'chosen') return r;
        if (r.reason === 'poolExhausted') exhausted = true;
      }
    }
  }
  const families = request.families.join(request.familyPolicy === 'PreferDualStack' ? ' or ' : ' and ');
  if (exhausted) return fail('poolExhausted', `no available IPs: every auto-assign pool with ${families} addresses is full`);
  const pinned = pinnedElsewhere.filter((p) => request.families.some((f) => view.pools.get(p.name)!.hasFamily(f))).map((p) => `"${p.name}"`);
  if (pinned.length > 0) {
    return fail('poolPinned', `no auto-assign pool with ${families} addresses serves ${service}: ${pinned.join(', ')} ${pinned.length === 1 ? 'serves' : 'serve'} other namespaces or Services (serviceAllocation)`);
  }
  return fail('familyUnavailable', `no auto-assign pool has ${families} addresses`);
}
