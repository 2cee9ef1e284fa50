import type { ServiceKey } from '../service/key.js';
import type { Family } from '../address.js';

export type PortProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePort {
  readonly port: number;
  readonly protocol: PortProtocol;
  /** Set when the port is HTTP (src/service/http.ts): what decides whether it can be shared. */
  readonly http?: HttpPortClaim;
}

/**
 * An HTTP port's claim on its address and port: Services of one sharing key may serve the same
 * HTTP port when their claims do not overlap (src/http-match.ts `claimsOverlap`) and its
 * frontend-wide settings agree (TLS or not, redirect or not).
 */
export interface HttpPortClaim {
  /** Lower case; empty: the default route (any host). */
  readonly hosts: readonly string[];
  /** Normalised (`/api/` is `/api`). */
  readonly pathPrefix: string;
  /** The port terminates TLS. */
  readonly tls: boolean;
  /** Port 80 answers 308s to https. */
  readonly redirect: boolean;
}

export type IpFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
export type TrafficPolicy = 'Cluster' | 'Local';

/**
 * What one Service asks of the allocator, extracted from the Service object by `serviceRequest`.
 * Plain data: two requests are the same when their fields are equal.
 */
export interface AllocationRequest {
  /** Pool annotation (`fulcrum-lb.io/address-pool` or MetalLB's alias); undefined: any auto-assign pool. */
  readonly pool: string | undefined;
  /** Requested addresses in canonical text, at most one per family, in `families` order. */
  readonly requestedAddresses: readonly string[];
  /**
   * The families to serve, in the Service's `ipFamilies` order. SingleStack: one, required.
   * RequireDualStack: both, required. PreferDualStack: both wanted, at least one required.
   */
  readonly families: readonly Family[];
  readonly familyPolicy: IpFamilyPolicy;
  /** `allow-shared-ip` annotation; undefined: this Service shares its address with nobody. */
  readonly sharingKey: string | undefined;
  readonly ports: readonly ServicePort[];
  readonly externalTrafficPolicy: TrafficPolicy;
  /** `spec.selector` (empty for Services without one); compared for sharing under Local. */
  readonly selector: Readonly<Record<string, string>>;
  /**
   * The Service's own `metadata.labels`, which a pool's `serviceAllocation.serviceSelectors`
   * match (src/ipam/service-allocation.ts); absent: no labels.
   */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * The labels of each namespace, by name: what a pool's `serviceAllocation.namespaceSelectors`
 * match a Service's namespace against. The caller passes its Namespace cache as a map (the
 * allocator stays pure). A namespace missing from it has only the label Kubernetes gives every
 * namespace, `kubernetes.io/metadata.name: <name>`.
 */
export type NamespaceLabels = ReadonlyMap<string, Readonly<Record<string, string>>>;

/** Why an assign or adopt failed. Each reason has its own metric label. */
export type AssignFailureReason =
  | 'poolExhausted' // the pool (or every auto-assign pool) has no free address of a needed family
  | 'notInAnyPool' // a requested/adopted address is in no pool of the config (or is not an address)
  | 'avoidedAddress' // a requested/adopted address ends in .0/.255 in a pool with avoid-buggy-ips
  | 'splitAcrossPools' // the requested/adopted addresses are in different pools
  | 'wrongPool' // the requested/adopted addresses are not in the pool the annotation names
  | 'sharingConflict' // the address is held by a Service it cannot share with
  | 'poolDisabled' // the pool is disabled: it keeps existing assignments but makes no new ones
  | 'familyUnavailable' // no usable pool has a range of the needed family
  | 'unknownPool' // the pool annotation names a pool that is not in the config
  | 'poolPinned' // the pool (or every auto-assign pool with the family) serves other namespaces or Services (serviceAllocation)
  | 'requestMismatch'; // adopted addresses do not match the request (requested IPs, families)

export type AssignResult =
  | {
      readonly kind: 'assigned';
      /** Canonical text, in the request's family order. */
      readonly addresses: readonly string[];
      readonly pool: string;
      /** False when the Service already had exactly these addresses from this pool. */
      readonly changed: boolean;
    }
  | { readonly kind: 'failed'; readonly reason: AssignFailureReason; readonly message: string };

export interface Assignment {
  readonly service: ServiceKey;
  readonly pool: string;
  /** Canonical text, in the request's family order. */
  readonly addresses: readonly string[];
  readonly request: AllocationRequest;
}

export type ReleaseResult = { readonly kind: 'released'; readonly addresses: readonly string[] } | { readonly kind: 'notAssigned' };

export interface AddressHolder {
  readonly service: ServiceKey;
  readonly address: string;
  readonly pool: string;
}

export type SetConfigResult =
  | {
      readonly kind: 'applied';
      /** Assignments whose addresses now belong to another pool (a rename or a moved range). */
      readonly moved: readonly { readonly service: ServiceKey; readonly from: string; readonly to: string }[];
    }
  | {
      readonly kind: 'refused';
      readonly reason: 'addressesInUse';
      /** Every Service holding an address the new config no longer offers (or splits across pools). */
      readonly holders: readonly AddressHolder[];
      readonly message: string;
    };

export interface PoolCount {
  readonly pool: string;
  readonly family: Family;
  /** Assignable addresses (without .0/.255 under avoid-buggy-ips); a /64 is 2^64, hence bigint. */
  readonly total: bigint;
  /** Distinct addresses held by at least one Service. */
  readonly inUse: number;
}
