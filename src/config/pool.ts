import { buggyCount, parseRange, rangeSize, type AddressRange } from '../address.js';
import { checkKeys, isMapping, show, type IssueList } from './issues.js';
import { parseNodeSelectors } from './selector.js';
import type { Pool } from './types.js';

/** Pool keys of MetalLB's legacy format plus Fulcrum's own (`disabled`, `node-selectors`, `interfaces`). */
export const POOL_KEYS = [
  'name',
  'protocol',
  'addresses',
  'auto-assign',
  'avoid-buggy-ips',
  'bgp-advertisements',
  'disabled',
  'node-selectors',
  'interfaces',
] as const;

/** A pool parsed as far as its own fields go; cross-pool checks (names, overlaps) come later. */
export interface ParsedPool {
  readonly pool: Pool;
  /** `pool "web"`, or `address-pools[3]` when the name is missing or unusable; `IPAddressPool "metallb-system/web"`. */
  readonly label: string;
  /** How another pool's message names this one's place: `address-pools[0]`, `IPAddressPool "metallb-system/web"`. */
  readonly ref: string;
  /** The field paths of the name and of the address list: `name`/`addresses`, `metadata.name`/`spec.addresses`. */
  readonly nameField: string;
  readonly addressField: string;
  /** For each of `pool.ranges`, its index in the YAML `addresses` list (bad items are skipped). */
  readonly addressIndexes: readonly number[];
}

// Linux interface names: 1-15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or whitespace.
const INTERFACE_NAME = /^[^\s/:]{1,15}$/;
// A pool name is an annotation value and a metric label: printable, no whitespace.
const POOL_NAME = /^[^\s"\\]{1,253}$/;

const YAML11_BOOLEANS = new Map([
  ['true', true], ['yes', true], ['y', true], ['on', true],
  ['false', false], ['no', false], ['n', false], ['off', false],
]);

function booleanField(issues: IssueList, where: string, raw: Record<string, unknown>, key: string, fallback: boolean): boolean {
  return parseBoolean(issues, `${where}${key}`, raw[key], fallback);
}

/** A boolean field (`field` is its whole path for messages); absent: `fallback`. */
export function parseBoolean(issues: IssueList, field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  // MetalLB read its config with yaml.v2 (YAML 1.1), where yes/no/on/off are booleans too.
  if (typeof value === 'string') {
    const word = YAML11_BOOLEANS.get(value.toLowerCase());
    if (word !== undefined) return word;
  }
  issues.error('FUL_ERR_CONFIG_TYPE', { field, value: show(value), expected: 'a boolean (true or false)' });
  return fallback;
}

function poolName(issues: IssueList, index: number, raw: Record<string, unknown>): string | undefined {
  const where = `address-pools[${index}]: `;
  const value = raw.name;
  if (value === undefined || value === null || value === '') {
    issues.error('FUL_ERR_POOL_NAME', { field: `${where}name`, reason: 'a pool needs a name' });
    return undefined;
  }
  // MetalLB (yaml.v2) reads `name: 123` as the string "123".
  const name = typeof value === 'number' ? String(value) : value;
  if (typeof name !== 'string') {
    issues.error('FUL_ERR_CONFIG_TYPE', { field: `${where}name`, value: show(value), expected: 'a string' });
    return undefined;
  }
  if (!POOL_NAME.test(name)) {
    issues.error('FUL_ERR_POOL_NAME', { field: `${where}name`, reason: `${show(name)} is not a valid pool name (no spaces or quotes, at most 253 characters)` });
    return undefined;
  }
  return name;
}

function protocol(issues: IssueList, where: string, raw: Record<string, unknown>): void {
  const value = raw.protocol;
  if (value === undefined || value === null || value === 'layer2') return;
  if (value === 'bgp') {
    issues.error('FUL_ERR_CONFIG_UNSUPPORTED', { field: `${where}protocol`, what: show(value) });
    return;
  }
  issues.error('FUL_ERR_CONFIG_TYPE', { field: `${where}protocol`, value: show(value), expected: 'a protocol (only "layer2" is supported)' });
}

/**
 * A pool's address list (`where` is the path of the list: `pool "web": addresses`); `indexes`
 * gets, for each range returned, its index in the list (bad items are reported and skipped).
 */
export function parseAddresses(issues: IssueList, where: string, value: unknown, indexes: number[]): AddressRange[] {
  if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) {
    issues.error('FUL_ERR_POOL_EMPTY', { field: where });
    return [];
  }
  if (!Array.isArray(value)) {
    issues.error('FUL_ERR_CONFIG_TYPE', { field: where, value: show(value), expected: 'a list of ranges' });
    return [];
  }
  const ranges: AddressRange[] = [];
  value.forEach((item: unknown, i) => {
    const field = `${where}[${i}]`;
    if (typeof item !== 'string') {
      const hint = typeof item === 'number' ? ' (YAML read it as a number: quote it)' : '';
      issues.error('FUL_ERR_POOL_RANGE', { field, value: show(item), reason: `is not an IP range${hint}` });
      return;
    }
    const parsed = parseRange(item);
    if (!parsed.ok) {
      issues.error('FUL_ERR_POOL_RANGE', { field, value: show(item), reason: parsed.reason });
      return;
    }
    if (parsed.network !== undefined) {
      issues.warn('FUL_WARN_HOST_BITS', { field, value: show(item), network: parsed.network });
    }
    ranges.push(parsed.range);
    indexes.push(i);
  });
  return ranges;
}

/** An interface list (`where` is its path: `pool "web": interfaces`); absent: every interface. */
export function parseInterfaces(issues: IssueList, where: string, value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    issues.error('FUL_ERR_CONFIG_TYPE', { field: where, value: show(value), expected: 'a list of interface names' });
    return [];
  }
  const names: string[] = [];
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string' || !INTERFACE_NAME.test(item) || item === '.' || item === '..') {
      issues.error('FUL_ERR_POOL_INTERFACE', { field: `${where}[${i}]`, value: show(item), reason: 'is not an interface name (1-15 characters, no "/", ":" or spaces)' });
      return;
    }
    if (names.includes(item)) {
      issues.error('FUL_ERR_POOL_INTERFACE', { field: `${where}[${i}]`, value: show(item), reason: 'is listed twice' });
      return;
    }
    names.push(item);
  });
  return names;
}

function bgpAdvertisements(issues: IssueList, where: string, raw: Record<string, unknown>): void {
  const value = raw['bgp-advertisements'];
  const empty = value === undefined || value === null || (Array.isArray(value) && value.length === 0);
  if (!empty) issues.error('FUL_ERR_CONFIG_UNSUPPORTED', { field: `${where}bgp-advertisements`, what: 'BGP' });
}

/** Parses `address-pools[index]`, reporting every problem of its own fields. */
export function parsePool(issues: IssueList, index: number, raw: unknown): ParsedPool | undefined {
  if (!isMapping(raw)) {
    issues.error('FUL_ERR_CONFIG_TYPE', { field: `address-pools[${index}]`, value: show(raw), expected: 'a pool (a mapping with name, protocol, addresses)' });
    return undefined;
  }
  const name = poolName(issues, index, raw);
  const label = name === undefined ? `address-pools[${index}]` : `pool ${JSON.stringify(name)}`;
  const where = `${label}: `;
  checkKeys(issues, where, raw, POOL_KEYS);
  protocol(issues, where, raw);
  bgpAdvertisements(issues, where, raw);
  const addressIndexes: number[] = [];
  const ranges = parseAddresses(issues, `${where}addresses`, raw.addresses, addressIndexes);
  const pool: Pool = {
    name: name ?? '',
    protocol: 'layer2',
    ranges,
    autoAssign: booleanField(issues, where, raw, 'auto-assign', true),
    avoidBuggyIps: booleanField(issues, where, raw, 'avoid-buggy-ips', false),
    disabled: booleanField(issues, where, raw, 'disabled', false),
    serviceAllocation: undefined,
    advertisements: [{ nodeSelectors: parseNodeSelectors(issues, where, raw['node-selectors']), interfaces: parseInterfaces(issues, `${where}interfaces`, raw.interfaces) }],
  };
  warnNoUsableAddress(issues, `${where}avoid-buggy-ips`, pool);
  return { pool, label, ref: `address-pools[${index}]`, nameField: 'name', addressField: 'addresses', addressIndexes };
}

/** Warns when avoid-buggy-ips leaves the pool nothing to give (`field`: the flag's path). */
export function warnNoUsableAddress(issues: IssueList, field: string, pool: Pool): void {
  if (pool.avoidBuggyIps && pool.ranges.length > 0 && pool.ranges.every((r) => buggyCount(r) === rangeSize(r))) {
    issues.warn('FUL_WARN_NO_USABLE_ADDRESS', { field });
  }
}
