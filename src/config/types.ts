import type { AddressRange } from '../address.js';

/**
 * The validated config: what `parseConfig` returns when the ConfigMap is good. Everything is
 * resolved (defaults applied, ranges parsed), so consumers never look at the YAML again.
 */
export interface Config {
  /** In config order: the first auto-assign pool that can serve a Service wins. */
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
  /** `node-selectors`: a node may announce the pool when ANY selector matches; empty = every node. */
  readonly nodeSelectors: readonly NodeSelector[];
  /** `interfaces`: NICs that announce the pool's addresses; empty = every interface. */
  readonly interfaces: readonly string[];
}

/** A Kubernetes label selector: every label AND every expression must match. */
export interface NodeSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly MatchExpression[];
}

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
  | 'FUL_ERR_CONFIG_UNSUPPORTED' // BGP: protocol bgp, peers, bgp-communities, bgp-advertisements
  | 'FUL_ERR_CONFIG_TYPE' // a field of the wrong type (bad boolean, name not a string, …)
  | 'FUL_ERR_POOL_NAME' // missing, invalid or duplicate pool name
  | 'FUL_ERR_POOL_RANGE' // an address that is not a range, start after end, mixed families
  | 'FUL_ERR_POOL_OVERLAP' // two ranges overlap, within a pool or across pools
  | 'FUL_ERR_POOL_EMPTY' // a pool without addresses
  | 'FUL_ERR_POOL_SELECTOR' // a bad node selector
  | 'FUL_ERR_POOL_INTERFACE' // a bad interface name
  | 'FUL_WARN_HOST_BITS' // warning: a CIDR with host bits set
  | 'FUL_WARN_NO_USABLE_ADDRESS' // warning: avoid-buggy-ips leaves a pool without addresses
  | 'FUL_WARN_NO_POOLS' // warning: the config has no pools
  | 'FUL_WARN_CONFIGMAP_NAME'; // warning: the ConfigMap is not fulcrum-system/config

export interface ConfigIssue {
  readonly severity: 'error' | 'warning';
  readonly code: ConfigIssueCode;
  /** The whole line for users: `pool "web": addresses[2]: "192.0.2.300/32" is not an IP range`. */
  readonly message: string;
}

export type ParseConfigResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: readonly string[]; readonly issues: readonly ConfigIssue[] }
  | { readonly ok: false; readonly errors: readonly string[]; readonly warnings: readonly string[]; readonly issues: readonly ConfigIssue[] };

/** Where the allocator and speaker read their config from. */
export const CONFIGMAP_NAMESPACE = 'fulcrum-system';
export const CONFIGMAP_NAME = 'config';
export const CONFIGMAP_KEY = 'config';
