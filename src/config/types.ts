import type { AddressRange } from '../address.js';

/**
 * The validated config: what `parseConfig` returns when the ConfigMap is good. Everything is
 * resolved (defaults applied, ranges parsed), so consumers never look at the YAML again.
 */
export interface Config {
  /**
   * In config order (MetalLB resources: by name, since a cluster has no order): among the
   * pools of one rank (src/ipam/service-allocation.ts), the first that can serve a Service wins.
   */
  readonly pools: readonly Pool[];
}

export interface Pool {
  readonly name: string;
  /** Only layer2 is supported; bgp is refused at parse time. */
  readonly protocol: 'layer2';
  /** Parsed `addresses[]`, in config order; never overlapping (within or across pools). */
  readonly ranges: readonly AddressRange[];
  /** `auto-assign` (default true): false means only by pool annotation or requested address. */
  readonly autoAssign: boolean;
  /** `avoid-buggy-ips` (default false): never hand out IPv4 addresses ending in .0 or .255. */
  readonly avoidBuggyIps: boolean;
  /** `disabled` (default false): existing assignments stay, no new ones are made. */
  readonly disabled: boolean;
  /**
   * Which Services the pool serves and in which order it is tried (MetalLB's `IPAddressPool`
   * `spec.serviceAllocation`); undefined: every Service, after the pools that have one. The
   * ConfigMap has no such key.
   */
  readonly serviceAllocation: ServiceAllocation | undefined;
  /**
   * Where the pool's addresses are announced. A node may announce them when ANY advertisement
   * selects it, on the interfaces of the advertisements that select it (their union; one
   * without interfaces: every interface). The ConfigMap gives each pool exactly one, from its
   * `node-selectors` and `interfaces`; MetalLB resources give one per `L2Advertisement` that
   * names or selects the pool, and none (the pool is not announced, as in MetalLB) when no
   * `L2Advertisement` does.
   */
  readonly advertisements: readonly Advertisement[];
}

/** One way a pool is announced: by which nodes, on which interfaces. */
export interface Advertisement {
  /** Where it comes from, for messages: `L2Advertisement "metallb-system/east"`; undefined for the ConfigMap. */
  readonly source?: string;
  /** A node is selected when ANY selector matches; empty = every node. */
  readonly nodeSelectors: readonly NodeSelector[];
  /** NICs that announce the pool's addresses; empty = every interface. */
  readonly interfaces: readonly string[];
}

/**
 * `serviceAllocation` of a MetalLB `IPAddressPool`: the pool serves a Service only when the
 * Service's namespace is named or selected (when `namespaces` or `namespaceSelectors` are set)
 * AND its labels match one of `serviceSelectors` (when set). With no condition at all it serves
 * every Service, but still comes before the pools without `serviceAllocation` (as in MetalLB).
 */
export interface ServiceAllocation {
  /** Lower first; undefined (MetalLB's 0 or unset): after every pool that has a priority. */
  readonly priority: number | undefined;
  /** Namespace names. */
  readonly namespaces: readonly string[];
  /** Over the labels of the Service's namespace; ANY selector. */
  readonly namespaceSelectors: readonly LabelSelector[];
  /** Over the Service's own labels; ANY selector. */
  readonly serviceSelectors: readonly LabelSelector[];
}

/** A Kubernetes label selector: every label AND every expression must match. */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly MatchExpression[];
}

/** A label selector over a node's labels. */
export type NodeSelector = LabelSelector;

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface MatchExpression {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** Non-empty for In/NotIn, empty for Exists/DoesNotExist. */
  readonly values: readonly string[];
}

/** Stable codes of config problems (documented in src/config/README.md; templates in src/error-codes.ts). */
export type ConfigIssueCode =
  | 'FUL_ERR_CONFIG_YAML' // the text is not YAML, or not a mapping where one is needed
  | 'FUL_ERR_CONFIG_MANIFEST' // a ConfigMap without data.config, or several ConfigMaps
  | 'FUL_ERR_CONFIG_UNKNOWN_KEY' // a key Fulcrum does not know (typo)
  | 'FUL_ERR_CONFIG_UNSUPPORTED' // BGP: protocol bgp, peers, bgp-communities, bgp-advertisements, MetalLB's BGP kinds
  | 'FUL_ERR_CONFIG_UNSUPPORTED_FIELD' // a MetalLB field or kind Fulcrum cannot honour (L2Advertisement serviceSelectors, AddressPool)
  | 'FUL_ERR_CONFIG_TYPE' // a field of the wrong type (bad boolean, name not a string, …)
  | 'FUL_ERR_POOL_NAME' // missing, invalid or duplicate pool name
  | 'FUL_ERR_POOL_RANGE' // an address that is not a range, start after end, mixed families
  | 'FUL_ERR_POOL_OVERLAP' // two ranges overlap, within a pool or across pools
  | 'FUL_ERR_POOL_EMPTY' // a pool without addresses
  | 'FUL_ERR_POOL_SELECTOR' // a bad label selector (nodes, namespaces, Services, pools)
  | 'FUL_ERR_POOL_ALLOCATION' // a bad serviceAllocation: priority, namespaces
  | 'FUL_ERR_POOL_INTERFACE' // a bad interface name
  | 'FUL_WARN_HOST_BITS' // warning: a CIDR with host bits set
  | 'FUL_WARN_NO_USABLE_ADDRESS' // warning: avoid-buggy-ips leaves a pool without addresses
  | 'FUL_WARN_NO_POOLS' // warning: the config has no pools
  | 'FUL_WARN_CONFIGMAP_NAME' // warning: the ConfigMap is not fulcrum-system/config
  | 'FUL_WARN_CONFIG_IGNORED' // warning: a MetalLB field or kind that changes nothing Fulcrum does (preferredNodeSelectors, status kinds)
  | 'FUL_WARN_POOL_NOT_ANNOUNCED' // warning: no L2Advertisement selects an IPAddressPool
  | 'FUL_WARN_UNKNOWN_POOL'; // warning: an L2Advertisement names an IPAddressPool that is not there

export interface ConfigIssue {
  readonly severity: 'error' | 'warning';
  readonly code: ConfigIssueCode;
  /** The whole line for users: `pool "web": addresses[2]: "192.0.2.300/32" is not an IP range`. */
  readonly message: string;
  /** The API object the problem is in (MetalLB resources), for an Event on it; undefined for the ConfigMap. */
  readonly object?: ObjectRef;
}

/** An API object named in a config issue. */
export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string;
}

/** Where a parsed config came from: the ConfigMap (or its bare YAML), or MetalLB's resources. */
export type ConfigSource = 'configMap' | 'metallb';

export type ParseConfigResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: readonly string[]; readonly issues: readonly ConfigIssue[] }
  | { readonly ok: false; readonly errors: readonly string[]; readonly warnings: readonly string[]; readonly issues: readonly ConfigIssue[] };

/** `parseConfigInput`'s result: `parseConfig`'s, and which source the input was. */
export type ParseInputResult = ParseConfigResult & { readonly source: ConfigSource };

/** Where the allocator and speaker read their config from. */
export const CONFIGMAP_NAMESPACE = 'fulcrum-system';
export const CONFIGMAP_NAME = 'config';
export const CONFIGMAP_KEY = 'config';
