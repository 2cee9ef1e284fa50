import type { Config } from '../config/types.js';
import { FulcrumError } from '../errors.js';
import { addressKey, formatAddress, parseAddress, type Address, type Family } from '../address.js';
import { PoolState } from './pool-state.js';
import { canShare, portPairs, type Sharer } from './sharing.js';
import { chooseAddresses, locate, type Choice, type Failure } from './choose.js';
import { NO_NAMESPACE_LABELS, pinnedMessage, poolServes, scopeOf, type ServiceScope } from './service-allocation.js';
import type {
  AddressHolder,
  AllocationRequest,
  AssignResult,
  Assignment,
  NamespaceLabels,
  PoolCount,
  ReleaseResult,
  SetConfigResult,
} from './types.js';
import type { ServiceKey } from '../service/key.js';

/** An assignment with its addresses parsed; the one record the Allocator keeps per Service. */
interface Held {
  readonly assignment: Assignment;
  readonly addresses: readonly Address[];
}

/**
 * The allocator core: in memory, pure (no I/O, no clock), deterministic (lowest free address
 * first, pools in config order). The single source of truth is `#held`, the assignments by
 * Service; everything else (used addresses per range, holders per address, addresses per
 * sharing key) is derived from it in `#index`/`#unindex` and nowhere else.
 *
 * A failed operation changes nothing.
 */
export class Allocator {
  #config: Config;
  #pools: Map<string, PoolState>;
  readonly #held = new Map<ServiceKey, Held>();
  // Derived indexes:
  readonly #holders = new Map<string, Set<ServiceKey>>();
  readonly #shared = new Map<string, Map<string, Address>>();
  /** Per sharing key, per `port/protocol`: on how many of the key's addresses it is in use. */
  readonly #pairUse = new Map<string, Map<string, number>>();

  constructor(config: Config) {
    this.#config = config;
    this.#pools = buildPools(config);
  }

  get config(): Config {
    return this.#config;
  }

  /** The Service's assignment, if it has one. */
  assignmentOf(service: ServiceKey): Assignment | undefined {
    return this.#held.get(service)?.assignment;
  }

  /** Every assignment, in no particular order. */
  assignments(): Assignment[] {
    return [...this.#held.values()].map((h) => h.assignment);
  }

  /** The Services holding an address (several when they share it). */
  servicesOn(address: string): ServiceKey[] {
    const parsed = parseAddress(address);
    if (!parsed.ok) return [];
    return [...(this.#holders.get(addressKey(parsed.address)) ?? [])].sort();
  }

  /**
   * Gives the Service addresses for its request. An existing assignment that still satisfies
   * the request (and whose pool still serves the Service) is kept (no reshuffle); a
   * PreferDualStack Service missing a family gets it added when its pool can. Otherwise a new
   * choice is made as if the Service held nothing; when that fails, the Service keeps what it had.
   *
   * `namespaces`: the labels of each namespace (the caller's Namespace cache), for the pools
   * whose `serviceAllocation` selects namespaces by label; see `NamespaceLabels`.
   */
  assign(service: ServiceKey, request: AllocationRequest, namespaces: NamespaceLabels = NO_NAMESPACE_LABELS): AssignResult {
    const scope = scopeOf(service, request, namespaces);
    const existing = this.#held.get(service);
    if (existing) {
      const kept = this.#keep(existing, request, scope);
      if (kept) return this.#commit(service, existing, kept, request);
      this.#unindex(existing);
    }
    const choice = chooseAddresses(this.#context(), service, request, existing?.assignment, scope);
    if (choice.kind === 'failed') {
      if (existing) this.#index(existing);
      return choice;
    }
    if (existing) this.#index(existing); // #commit swaps it out
    return this.#commit(service, existing, choice, request);
  }

  /**
   * Takes back addresses a Service already has (from its status, after a restart) when the
   * config and its request still allow them; families the request no longer wants are
   * dropped. Disabled and auto-assign false pools are fine here, a pool whose serviceAllocation
   * does not serve the Service is not (`poolPinned`, as MetalLB clears such an address). Says
   * why when it refuses. `namespaces`: as for `assign`.
   */
  adopt(service: ServiceKey, addresses: readonly string[], request: AllocationRequest, namespaces: NamespaceLabels = NO_NAMESPACE_LABELS): AssignResult {
    const parsed: Address[] = [];
    for (const text of addresses) {
      const p = parseAddress(text.trim());
      if (!p.ok) return fail('notInAnyPool', `"${text}" is not an IP address`);
      if (parsed.some((a) => a.family === p.address.family)) return fail('requestMismatch', `"${addresses.join(',')}" has more than one address per family`);
      parsed.push(p.address);
    }
    const wanted = orderByFamilies(parsed.filter((a) => request.families.includes(a.family)), request.families);
    if (wanted.length === 0) return fail('requestMismatch', `"${addresses.join(',')}" has no address of the family the Service asks for (${request.families.join(', ')})`);
    if (request.familyPolicy === 'RequireDualStack' && wanted.length < 2) return fail('requestMismatch', `"${addresses.join(',')}": a RequireDualStack Service needs one address per family`);
    if (request.familyPolicy === 'SingleStack' && wanted[0]!.family !== request.families[0]) {
      return fail('requestMismatch', `"${addresses.join(',')}" is not ${request.families[0]}`);
    }
    const texts = wanted.map(formatAddress);
    if (request.requestedAddresses.length > 0 && !sameSet(texts, request.requestedAddresses)) {
      return fail('requestMismatch', `"${texts.join(',')}" is not the requested "${request.requestedAddresses.join(',')}"`);
    }
    const at = locate(this.#context(), wanted);
    if (at.kind === 'failed') return at;
    if (request.pool !== undefined && request.pool !== at.pool.name) {
      return fail('wrongPool', `"${texts.join(',')}" is in pool "${at.pool.name}", not in the requested pool "${request.pool}"`);
    }
    const scope = scopeOf(service, request, namespaces);
    if (!poolServes(at.pool.pool, scope)) return fail('poolPinned', `"${texts.join(',')}": ${pinnedMessage(at.pool.pool, scope)}`);
    const existing = this.#held.get(service);
    if (existing) this.#unindex(existing);
    const conflict = this.#sharingConflict(service, request, wanted);
    if (existing) this.#index(existing);
    if (conflict) return fail('sharingConflict', conflict);
    return this.#commit(service, existing, { kind: 'chosen', pool: at.pool.name, addresses: wanted }, request);
  }

  /** Frees the Service's addresses (for everyone once no sharer is left). */
  release(service: ServiceKey): ReleaseResult {
    const held = this.#held.get(service);
    if (!held) return { kind: 'notAssigned' };
    this.#unindex(held);
    this.#held.delete(service);
    return { kind: 'released', addresses: held.assignment.addresses };
  }

  /**
   * Switches to a new config, or refuses it as a whole when it takes away an address a Service
   * holds (naming every such Service), so the program can keep the last good config. Ranges may
   * move between pools or pools be renamed: the assignment follows its addresses.
   */
  setConfig(config: Config): SetConfigResult {
    const pools = buildPools(config);
    const context = { config, pools };
    const holders: AddressHolder[] = [];
    const moves = new Map<ServiceKey, string>();
    for (const held of this.#held.values()) {
      const { service, pool } = held.assignment;
      const at = locate(context, held.addresses);
      if (at.kind === 'failed') {
        for (const a of held.addresses) {
          const one = locate(context, [a]);
          if (one.kind === 'failed' || at.reason === 'splitAcrossPools') holders.push({ service, address: formatAddress(a), pool });
        }
      } else if (at.pool.name !== pool) {
        moves.set(service, at.pool.name);
      }
    }
    if (holders.length > 0) {
      holders.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.address < b.address ? -1 : 1));
      const list = holders.map((h) => `${h.address} (${h.service}, pool "${h.pool}")`).join(', ');
      return { kind: 'refused', reason: 'addressesInUse', holders, message: `the new config takes away addresses in use: ${list}` };
    }
    const all = [...this.#held.values()];
    for (const held of all) this.#unindex(held);
    this.#config = config;
    this.#pools = pools;
    const moved: { service: ServiceKey; from: string; to: string }[] = [];
    for (const held of all) {
      const to = moves.get(held.assignment.service);
      const next = to === undefined ? held : { ...held, assignment: { ...held.assignment, pool: to } };
      if (to !== undefined) moved.push({ service: held.assignment.service, from: held.assignment.pool, to });
      this.#held.set(held.assignment.service, next);
      this.#index(next);
    }
    return { kind: 'applied', moved: moved.sort((a, b) => (a.service < b.service ? -1 : 1)) };
  }

  /** Per pool (config order) and family: assignable addresses and addresses in use. */
  counts(): PoolCount[] {
    const out: PoolCount[] = [];
    for (const pool of this.#config.pools) {
      const state = this.#pools.get(pool.name)!;
      for (const family of ['IPv4', 'IPv6'] as const) {
        if (state.hasFamily(family)) out.push({ pool: pool.name, family, total: state.total(family), inUse: state.inUse(family) });
      }
    }
    return out;
  }

  /**
   * Rebuilds every derived index from the assignments and throws when they differ, or when two
   * holders of an address could not share it. For tests and debugging: O(assignments).
   */
  checkInvariants(): void {
    const incoherent = (what: string) => new FulcrumError('FUL_ERR_IPAM_INCOHERENT', { what });
    const holders = new Map<string, Set<ServiceKey>>();
    for (const [service, held] of this.#held) {
      if (held.assignment.service !== service) throw incoherent(`assignment of ${service} is filed under ${held.assignment.service}`);
      const pool = this.#pools.get(held.assignment.pool);
      if (!pool) throw incoherent(`${service} holds addresses of unknown pool "${held.assignment.pool}"`);
      for (const a of held.addresses) {
        if (pool.placement(a) === 'outside') throw incoherent(`${service} holds ${formatAddress(a)} outside pool "${pool.name}"`);
        if (!pool.isUsed(a)) throw incoherent(`${formatAddress(a)} of ${service} is not marked used`);
        const set = holders.get(addressKey(a)) ?? new Set();
        set.add(service);
        holders.set(addressKey(a), set);
      }
    }
    if (holders.size !== this.#holders.size) throw incoherent(`${this.#holders.size} addresses indexed, ${holders.size} held`);
    for (const [key, set] of holders) {
      const indexed = this.#holders.get(key);
      if (!indexed || indexed.size !== set.size || [...set].some((s) => !indexed.has(s))) throw incoherent(`holders of ${key} differ from the index`);
      const sharers = [...set].map((s) => this.#sharer(s));
      for (const s of sharers) {
        const verdict = canShare(s, sharers, key);
        if (!verdict.ok) throw incoherent(`${key} is held by services that cannot share it: ${verdict.message}`);
      }
    }
    const shared = new Map<string, Set<string>>();
    const pairUse = new Map<string, number>();
    for (const held of this.#held.values()) {
      const k = held.assignment.request.sharingKey;
      if (k === undefined) continue;
      for (const a of held.addresses) {
        shared.set(k, (shared.get(k) ?? new Set()).add(addressKey(a)));
        for (const pair of portPairs(held.assignment.request)) pairUse.set(`${k}|${pair}`, (pairUse.get(`${k}|${pair}`) ?? 0) + 1);
      }
    }
    const sharedIndexed = [...this.#shared].map(([k, m]) => `${k}:${[...m.keys()].sort().join(',')}`).sort();
    if (sharedIndexed.join(';') !== [...shared].map(([k, set]) => `${k}:${[...set].sort().join(',')}`).sort().join(';')) {
      throw incoherent('the addresses of each sharing key differ from the index');
    }
    const pairsIndexed = [...this.#pairUse].flatMap(([k, m]) => [...m].map(([pair, n]) => `${k}|${pair}=${n}`)).sort();
    if (pairsIndexed.join(';') !== [...pairUse].map(([kp, n]) => `${kp}=${n}`).sort().join(';')) throw incoherent('port use per sharing key differs from the index');
    let used = 0;
    for (const p of this.#pools.values()) for (const f of p.families()) used += p.inUse(f);
    if (used !== holders.size) throw incoherent(`${used} addresses marked used, ${holders.size} held`);
  }

  #sharer(service: ServiceKey): Sharer {
    return { service, request: this.#held.get(service)!.assignment.request };
  }

  #context() {
    return {
      config: this.#config,
      pools: this.#pools,
      holders: (address: Address) => [...(this.#holders.get(addressKey(address)) ?? [])].map((s) => this.#sharer(s)),
      sharedAddresses: (sharingKey: string) => [...(this.#shared.get(sharingKey)?.values() ?? [])],
      // A port/protocol pair never appears twice on one address (it always clashes), so a pair
      // counted on as many addresses as the key has is in use on every one of them.
      everySharedAddressClashes: (sharingKey: string, pairs: readonly string[]) => {
        const size = this.#shared.get(sharingKey)?.size ?? 0;
        const use = this.#pairUse.get(sharingKey);
        return size > 0 && use !== undefined && pairs.some((p) => use.get(p) === size);
      },
    };
  }

  /** The message of the first sharing conflict of `addresses` for this request, if any. */
  #sharingConflict(service: ServiceKey, request: AllocationRequest, addresses: readonly Address[]): string | undefined {
    const context = this.#context();
    for (const a of addresses) {
      const verdict = canShare({ service, request }, context.holders(a), formatAddress(a));
      if (!verdict.ok) return verdict.message;
    }
    return undefined;
  }

  /** The existing assignment, adjusted to the new request, when it still satisfies it. */
  #keep(existing: Held, request: AllocationRequest, scope: ServiceScope): Choice | undefined {
    const { assignment } = existing;
    const addresses = orderByFamilies(existing.addresses.filter((a) => request.families.includes(a.family)), request.families);
    if (addresses.length === 0) return undefined;
    if (request.familyPolicy === 'SingleStack' && addresses[0]!.family !== request.families[0]) return undefined;
    if (request.familyPolicy === 'RequireDualStack' && addresses.length < request.families.length) return undefined;
    if (request.requestedAddresses.length > 0 && !sameSet(addresses.map(formatAddress), request.requestedAddresses)) return undefined;
    if (request.pool !== undefined && request.pool !== assignment.pool) return undefined;
    if (this.#sharingConflict(assignment.service, request, addresses) !== undefined) return undefined;
    const pool = this.#pools.get(assignment.pool)!;
    if (!poolServes(pool.pool, scope)) return undefined;
    const missing = request.families.filter((f) => !addresses.some((a) => a.family === f));
    if (missing.length > 0 && request.requestedAddresses.length === 0 && !pool.pool.disabled) {
      // PreferDualStack topped up from the same pool; without a free address it stays as it is.
      const more = chooseAddresses(this.#context(), assignment.service, { ...request, pool: pool.name, families: missing, familyPolicy: 'SingleStack' }, undefined, scope);
      if (more.kind === 'chosen') return { kind: 'chosen', pool: pool.name, addresses: orderByFamilies([...addresses, ...more.addresses], request.families) };
    }
    return { kind: 'chosen', pool: assignment.pool, addresses };
  }

  #commit(service: ServiceKey, existing: Held | undefined, choice: Choice, request: AllocationRequest): AssignResult {
    const addresses = choice.addresses.map(formatAddress);
    const held: Held = { assignment: { service, pool: choice.pool, addresses, request }, addresses: choice.addresses };
    const changed = !existing || existing.assignment.pool !== choice.pool || existing.assignment.addresses.join(',') !== addresses.join(',');
    if (existing) this.#unindex(existing);
    this.#held.set(service, held);
    this.#index(held);
    return { kind: 'assigned', addresses, pool: choice.pool, changed };
  }

  #index(held: Held): void {
    const { service, pool, request } = held.assignment;
    const state = this.#pools.get(pool);
    if (!state) throw new FulcrumError('FUL_ERR_IPAM_INCOHERENT', { what: `indexing ${service} in unknown pool "${pool}"` });
    for (const a of held.addresses) {
      const key = addressKey(a);
      let set = this.#holders.get(key);
      if (!set) {
        set = new Set();
        this.#holders.set(key, set);
        state.markUsed(a);
      }
      set.add(service);
      if (request.sharingKey !== undefined) {
        let shared = this.#shared.get(request.sharingKey);
        if (!shared) this.#shared.set(request.sharingKey, (shared = new Map()));
        shared.set(key, a);
        for (const pair of portPairs(request)) {
          let use = this.#pairUse.get(request.sharingKey);
          if (!use) this.#pairUse.set(request.sharingKey, (use = new Map()));
          use.set(pair, (use.get(pair) ?? 0) + 1);
        }
      }
    }
  }

  #unindex(held: Held): void {
    const { service, pool, request } = held.assignment;
    for (const a of held.addresses) {
      const key = addressKey(a);
      const set = this.#holders.get(key);
      if (!set?.delete(service)) throw new FulcrumError('FUL_ERR_IPAM_INCOHERENT', { what: `${service} is not indexed on ${key}` });
      if (set.size === 0) {
        this.#holders.delete(key);
        this.#pools.get(pool)?.markFree(a);
      }
      // Every holder of an address has the same sharing key, so the address leaves the key's
      // index only when its last holder does.
      if (request.sharingKey !== undefined && set.size === 0) {
        const shared = this.#shared.get(request.sharingKey);
        shared?.delete(key);
        if (shared?.size === 0) this.#shared.delete(request.sharingKey);
      }
      const use = request.sharingKey === undefined ? undefined : this.#pairUse.get(request.sharingKey);
      if (use) {
        for (const pair of portPairs(request)) {
          const n = (use.get(pair) ?? 0) - 1;
          if (n <= 0) use.delete(pair);
          else use.set(pair, n);
        }
        if (use.size === 0) this.#pairUse.delete(request.sharingKey!);
      }
    }
  }
}

function buildPools(config: Config): Map<string, PoolState> {
  return new Map(config.pools.map((p) => [p.name, new PoolState(p)]));
}

function fail(reason: Failure['reason'], message: string): Failure {
  return { kind: 'failed', reason, message };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function orderByFamilies(addresses: readonly Address[], families: readonly Family[]): Address[] {
  return families.flatMap((f) => addresses.filter((a) => a.family === f));
}
