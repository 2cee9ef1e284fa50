import { checkKeys, isMapping, show, type IssueList } from './issues.js';
import { parseAddresses, parseBoolean, parseInterfaces, warnNoUsableAddress, type ParsedPool } from './pool.js';
import { isNamespaceName, isObjectName, KUBERNETES_SELECTOR, parseLabelSelectors } from './selector.js';
import type { Advertisement, LabelSelector, ObjectRef, Pool, ServiceAllocation } from './types.js';

/**
 * One MetalLB object at a time (`metallb.io/v1beta1` `IPAddressPool`, `L2Advertisement`) → its
 * part of the pure config, reporting every problem with the object, the field path and the
 * value: `IPAddressPool "metallb-system/web": spec.addresses[2]: "192.0.2.300/32" is not an IP
 * range`. Linking pools and advertisements is src/config/metallb.ts's.
 */

export const POOL_SPEC_KEYS = ['addresses', 'autoAssign', 'avoidBuggyIPs', 'serviceAllocation'] as const;
export const ALLOCATION_KEYS = ['priority', 'namespaces', 'namespaceSelectors', 'serviceSelectors'] as const;
export const L2_SPEC_KEYS = ['ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors', 'interfaces', 'serviceSelectors', 'preferredNodeSelectors'] as const;

/** An object of the input: where it is named in messages, and its issue list (tagged with it). */
export interface ObjectSite {
  readonly ref: ObjectRef | undefined;
  /** `IPAddressPool "metallb-system/web"`, `IPAddressPool "web"` (no namespace), `IPAddressPool #3` (no usable name). */
  readonly label: string;
  readonly issues: IssueList;
  readonly labels: Readonly<Record<string, string>>;
}

export function objectSite(issues: IssueList, raw: Record<string, unknown>, index: number): ObjectSite {
  const kind = typeof raw.kind === 'string' ? raw.kind : '?';
  const meta = isMapping(raw.metadata) ? raw.metadata : {};
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined;
  const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : undefined;
  const labels: Record<string, string> = {};
  if (isMapping(meta.labels)) for (const [k, v] of Object.entries(meta.labels)) if (typeof v === 'string') labels[k] = v;
  if (name === undefined) {
    const label = `${kind} #${index + 1}`;
    if (kind === 'IPAddressPool') issues.error('FUL_ERR_POOL_NAME', { field: `${label}: metadata.name`, reason: 'a pool needs a name' });
    else issues.error('FUL_ERR_CONFIG_TYPE', { field: `${label}: metadata.name`, value: show(meta.name), expected: 'a name' });
    return { ref: undefined, label, issues, labels };
  }
  const ref = { kind, namespace, name };
  return { ref, label: `${kind} ${JSON.stringify(namespace === undefined ? name : `${namespace}/${name}`)}`, issues: issues.about(ref), labels };
}

function spec(site: ObjectSite, raw: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const value = raw.spec;
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) {
    site.issues.error('FUL_ERR_CONFIG_TYPE', { field: `${site.label}: spec`, value: show(value), expected: 'a mapping' });
    return {};
  }
  checkKeys(site.issues, `${site.label}: spec: `, value, keys);
  return value;
}

function isEmptyList(value: unknown): boolean {
  return value === undefined || value === null || (Array.isArray(value) && value.length === 0);
}

/** An `IPAddressPool` → a pool, its problems reported (its advertisements are attached later). */
export function parseIPAddressPool(site: ObjectSite, raw: Record<string, unknown>): ParsedPool {
  const { issues, label } = site;
  const s = spec(site, raw, POOL_SPEC_KEYS);
  const where = `${label}: spec.`;
  const addressIndexes: number[] = [];
  const ranges = parseAddresses(issues, `${where}addresses`, s.addresses, addressIndexes);
  const name = site.ref?.name;
  if (name !== undefined && !isObjectName(name)) {
    issues.error('FUL_ERR_POOL_NAME', { field: `${label}: metadata.name`, reason: `${show(name)} is not a valid object name (lower case letters, digits, "-" and ".", at most 253 characters)` });
  }
  const pool: Pool = {
    name: name ?? '',
    protocol: 'layer2',
    ranges,
    autoAssign: parseBoolean(issues, `${where}autoAssign`, s.autoAssign, true),
    avoidBuggyIps: parseBoolean(issues, `${where}avoidBuggyIPs`, s.avoidBuggyIPs, false),
    disabled: false,
    serviceAllocation: parseServiceAllocation(issues, `${where}serviceAllocation`, s.serviceAllocation),
    advertisements: [],
  };
  warnNoUsableAddress(issues, `${where}avoidBuggyIPs`, pool);
  return { pool, label, ref: label, nameField: 'metadata.name', addressField: 'spec.addresses', addressIndexes };
}

/** `spec.serviceAllocation` (`where` is its path); absent: undefined (the pool serves every Service). */
export function parseServiceAllocation(issues: IssueList, where: string, raw: unknown): ServiceAllocation | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isMapping(raw)) {
    issues.error('FUL_ERR_CONFIG_TYPE', { field: where, value: show(raw), expected: 'a mapping (priority, namespaces, namespaceSelectors, serviceSelectors)' });
    return undefined;
  }
  checkKeys(issues, `${where}: `, raw, ALLOCATION_KEYS);
  return {
    priority: priority(issues, `${where}.priority`, raw.priority),
    namespaces: namespaces(issues, `${where}.namespaces`, raw.namespaces),
    namespaceSelectors: parseLabelSelectors(issues, `${where}.namespaceSelectors`, raw.namespaceSelectors, KUBERNETES_SELECTOR),
    serviceSelectors: parseLabelSelectors(issues, `${where}.serviceSelectors`, raw.serviceSelectors, KUBERNETES_SELECTOR),
  };
}

function priority(issues: IssueList, field: string, value: unknown): number | undefined {
  // MetalLB reads 0 (the Go zero value) as "no priority".
  if (value === undefined || value === null || value === 0) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  // MetalLB would sort a negative priority after every positive one, as if unset: refused here
  // rather than read as the opposite of what it seems to say.
  issues.error('FUL_ERR_POOL_ALLOCATION', { field, value: show(value), reason: 'is not a priority (an integer of 0 or more; 1 is tried first, 0 means none)' });
  return undefined;
}

function namespaces(issues: IssueList, where: string, raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    issues.error('FUL_ERR_CONFIG_TYPE', { field: where, value: show(raw), expected: 'a list of namespace names' });
    return [];
  }
  const names: string[] = [];
  raw.forEach((item: unknown, i) => {
    if (typeof item !== 'string' || !isNamespaceName(item)) {
      issues.error('FUL_ERR_POOL_ALLOCATION', { field: `${where}[${i}]`, value: show(item), reason: 'is not a namespace name (lower case letters, digits and "-", at most 63 characters)' });
    } else if (names.includes(item)) {
      issues.error('FUL_ERR_POOL_ALLOCATION', { field: `${where}[${i}]`, value: show(item), reason: 'is listed twice' });
    } else {
      names.push(item);
    }
  });
  return names;
}

/** An `L2Advertisement`: which pools it applies to, and the advertisement it gives them. */
export interface ParsedL2Advertisement {
  readonly site: ObjectSite;
  /** Neither `ipAddressPools` nor `ipAddressPoolSelectors`: every pool (MetalLB's rule). */
  readonly everyPool: boolean;
  /** The valid names of `ipAddressPools`, each with its index in the list. */
  readonly poolNames: readonly { readonly name: string; readonly index: number }[];
  readonly poolSelectors: readonly LabelSelector[];
  readonly advertisement: Advertisement;
}

export function parseL2Advertisement(site: ObjectSite, raw: Record<string, unknown>): ParsedL2Advertisement {
  const { issues, label } = site;
  const s = spec(site, raw, L2_SPEC_KEYS);
  const where = `${label}: spec.`;
  if (!isEmptyList(s.serviceSelectors)) {
    issues.error('FUL_ERR_CONFIG_UNSUPPORTED_FIELD', {
      field: `${where}serviceSelectors`,
      reason: 'Fulcrum announces every Service of a pool the same way; give those Services a pool of their own (serviceAllocation) and an L2Advertisement for it',
    });
  }
  if (!isEmptyList(s.preferredNodeSelectors)) {
    issues.warn('FUL_WARN_CONFIG_IGNORED', {
      field: `${where}preferredNodeSelectors`,
      reason: 'Fulcrum elects the owner of an address among the eligible nodes by its own order (nodes with local endpoints first, then a hash)',
    });
  }
  return {
    site,
    everyPool: isEmptyList(s.ipAddressPools) && isEmptyList(s.ipAddressPoolSelectors),
    poolNames: poolNames(issues, `${where}ipAddressPools`, s.ipAddressPools),
    poolSelectors: parseLabelSelectors(issues, `${where}ipAddressPoolSelectors`, s.ipAddressPoolSelectors, KUBERNETES_SELECTOR),
    advertisement: {
      ...(site.ref ? { source: label } : {}),
      nodeSelectors: parseLabelSelectors(issues, `${where}nodeSelectors`, s.nodeSelectors, KUBERNETES_SELECTOR),
      interfaces: parseInterfaces(issues, `${where}interfaces`, s.interfaces),
    },
  };
}

function poolNames(issues: IssueList, where: string, raw: unknown): { name: string; index: number }[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    issues.error('FUL_ERR_CONFIG_TYPE', { field: where, value: show(raw), expected: 'a list of IPAddressPool names' });
    return [];
  }
  const names: { name: string; index: number }[] = [];
  raw.forEach((item: unknown, index) => {
    if (typeof item !== 'string' || item === '') {
      issues.error('FUL_ERR_CONFIG_TYPE', { field: `${where}[${index}]`, value: show(item), expected: 'an IPAddressPool name' });
    } else if (names.some((n) => n.name === item)) {
      issues.error('FUL_ERR_POOL_NAME', { field: `${where}[${index}]`, reason: `${show(item)} is listed twice` });
    } else {
      names.push({ name: item, index });
    }
  });
  return names;
}
