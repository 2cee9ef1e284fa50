import YAML from 'yaml';
import { IssueList, checkKeys, isMapping, show } from './issues.js';
import { parsePool, type ParsedPool } from './pool.js';
import { CONFIGMAP_KEY, CONFIGMAP_NAME, CONFIGMAP_NAMESPACE, type Config, type ParseConfigResult } from './types.js';
import { rangesOverlap, type AddressRange } from '../address.js';

/**
 * Text in, validated config or every error out. Pure: no I/O, no logging.
 *
 * The input is either the bare config (the YAML under the ConfigMap's `config` key) or a whole
 * ConfigMap manifest (possibly among other documents). YAML is read as 1.2 (so a label value
 * `no` stays a string); boolean fields also take the YAML 1.1 words MetalLB's yaml.v2 took.
 */
export function parseConfig(text: string): ParseConfigResult {
  const issues = new IssueList();
  const config = parseText(issues, text);
  const errors = issues.all.filter((i) => i.severity === 'error').map((i) => i.message);
  const warnings = issues.all.filter((i) => i.severity === 'warning').map((i) => i.message);
  if (config === undefined || errors.length > 0) return { ok: false, errors, warnings, issues: issues.all };
  return { ok: true, config, warnings, issues: issues.all };
}

const TOP_KEYS = ['address-pools', 'peers', 'bgp-communities'] as const;

type YamlResult = { ok: true; values: unknown[] } | { ok: false; message: string };

function readYaml(text: string): YamlResult {
  try {
    const docs = YAML.parseAllDocuments(text, { prettyErrors: false });
    const list = Array.isArray(docs) ? docs : [];
    for (const doc of list) {
      const first = doc.errors[0];
      if (first) return { ok: false, message: firstLine(first.message) };
    }
    return { ok: true, values: list.map((d) => d.toJS({ maxAliasCount: 100 }) as unknown).filter((v) => v !== null && v !== undefined) };
  } catch (err) {
    // The yaml package throws on alias bombs and similar; its message is still one line.
    return { ok: false, message: firstLine(err instanceof Error ? err.message : String(err)) };
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

function parseText(issues: IssueList, text: string): Config | undefined {
  // YAML forbids C0 controls (but tab, LF, CR) and DEL; U+FFFD is what invalid UTF-8 decodes to.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(text)) {
    issues.error('FUL_ERR_CONFIG_YAML', { input: 'input', reason: 'is not YAML: it contains control characters or invalid UTF-8 (a binary file?)' });
    return undefined;
  }
  const outer = readYaml(text);
  if (!outer.ok) {
    issues.error('FUL_ERR_CONFIG_YAML', { input: 'input', reason: `is not YAML: ${outer.message}` });
    return undefined;
  }
  const isManifest = (v: unknown) => isMapping(v) && (v.kind !== undefined || v.apiVersion !== undefined);
  if (outer.values.length === 0) {
    issues.warn('FUL_WARN_NO_POOLS', {});
    return { pools: [] };
  }
  if (!outer.values.some(isManifest)) {
    if (outer.values.length > 1) {
      issues.error('FUL_ERR_CONFIG_YAML', { input: 'input', reason: `has ${outer.values.length} YAML documents; a bare config is one document` });
      return undefined;
    }
    return parseBareConfig(issues, outer.values[0], '');
  }
  const configMaps = outer.values.filter((v): v is Record<string, unknown> => isMapping(v) && v.kind === 'ConfigMap');
  if (configMaps.length === 0) {
    const kinds = outer.values.map((v) => (isMapping(v) ? show(v.kind) : show(v))).join(', ');
    issues.error('FUL_ERR_CONFIG_MANIFEST', { input: 'input', reason: `is a manifest of kind ${kinds}, not a ConfigMap` });
    return undefined;
  }
  const named = (cm: Record<string, unknown>) => {
    const meta = isMapping(cm.metadata) ? cm.metadata : {};
    return { name: meta.name, namespace: meta.namespace };
  };
  let chosen = configMaps[0]!;
  if (configMaps.length > 1) {
    const ours = configMaps.filter((cm) => named(cm).name === CONFIGMAP_NAME && (named(cm).namespace ?? CONFIGMAP_NAMESPACE) === CONFIGMAP_NAMESPACE);
    if (ours.length !== 1) {
      issues.error('FUL_ERR_CONFIG_MANIFEST', { input: 'input', reason: `has ${configMaps.length} ConfigMaps; keep only ${CONFIGMAP_NAMESPACE}/${CONFIGMAP_NAME}` });
      return undefined;
    }
    chosen = ours[0]!;
  }
  const { name, namespace } = named(chosen);
  const id = `${typeof namespace === 'string' ? namespace : CONFIGMAP_NAMESPACE}/${typeof name === 'string' ? name : '?'}`;
  if (name !== CONFIGMAP_NAME || (namespace !== undefined && namespace !== CONFIGMAP_NAMESPACE)) {
    issues.warn('FUL_WARN_CONFIGMAP_NAME', { configMap: id, expected: `${CONFIGMAP_NAMESPACE}/${CONFIGMAP_NAME}` });
  }
  const data = chosen.data;
  const inner = isMapping(data) ? data[CONFIGMAP_KEY] : undefined;
  if (typeof inner !== 'string') {
    const why = inner === undefined ? `has no data key "${CONFIGMAP_KEY}"` : `data.${CONFIGMAP_KEY} is ${show(inner)}, not a string (use "config: |")`;
    issues.error('FUL_ERR_CONFIG_MANIFEST', { input: `ConfigMap "${id}"`, reason: why });
    return undefined;
  }
  const parsed = readYaml(inner);
  if (!parsed.ok) {
    issues.error('FUL_ERR_CONFIG_YAML', { input: `ConfigMap "${id}": data.${CONFIGMAP_KEY}`, reason: `is not YAML: ${parsed.message}` });
    return undefined;
  }
  if (parsed.values.length > 1) {
    issues.error('FUL_ERR_CONFIG_YAML', { input: `ConfigMap "${id}": data.${CONFIGMAP_KEY}`, reason: `has ${parsed.values.length} YAML documents; it needs one` });
    return undefined;
  }
  if (parsed.values.length === 0) {
    issues.warn('FUL_WARN_NO_POOLS', {});
    return { pools: [] };
  }
  return parseBareConfig(issues, parsed.values[0], `data.${CONFIGMAP_KEY}: `);
}

function notEmpty(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isMapping(value)) return Object.keys(value).length > 0;
  return true;
}

function parseBareConfig(issues: IssueList, raw: unknown, where: string): Config | undefined {
  if (!isMapping(raw)) {
    issues.error('FUL_ERR_CONFIG_YAML', { input: `${where}the config`, reason: `must be a mapping with "address-pools" (or a ConfigMap manifest), got ${show(raw)}` });
    return undefined;
  }
  checkKeys(issues, where, raw, TOP_KEYS);
  for (const key of ['peers', 'bgp-communities']) {
    if (notEmpty(raw[key])) issues.error('FUL_ERR_CONFIG_UNSUPPORTED', { field: `${where}${key}`, what: 'BGP' });
  }
  const rawPools = raw['address-pools'];
  if (rawPools === undefined || rawPools === null || (Array.isArray(rawPools) && rawPools.length === 0)) {
    issues.warn('FUL_WARN_NO_POOLS', {});
    return { pools: [] };
  }
  if (!Array.isArray(rawPools)) {
    issues.error('FUL_ERR_CONFIG_TYPE', { field: `${where}address-pools`, value: show(rawPools), expected: 'a list of pools' });
    return undefined;
  }
  const parsed: ParsedPool[] = [];
  rawPools.forEach((item: unknown, i) => {
    const pool = parsePool(issues, i, item);
    if (pool) parsed.push(pool);
  });
  checkDuplicateNames(issues, parsed);
  checkOverlaps(issues, parsed);
  return { pools: parsed.map((p) => p.pool) };
}

function checkDuplicateNames(issues: IssueList, pools: readonly ParsedPool[]): void {
  const first = new Map<string, number>();
  for (const p of pools) {
    if (p.pool.name === '') continue;
    const seen = first.get(p.pool.name);
    if (seen === undefined) first.set(p.pool.name, p.index);
    else issues.error('FUL_ERR_POOL_NAME', { field: `${p.label}: name`, reason: `${show(p.pool.name)} is already the name of address-pools[${seen}]` });
  }
}

/** Sorts every range by (family, first) and sweeps once: O(n log n), whatever the sizes. */
function checkOverlaps(issues: IssueList, pools: readonly ParsedPool[]): void {
  type Entry = { range: AddressRange; pool: ParsedPool; field: string };
  const entries: Entry[] = [];
  for (const pool of pools) {
    pool.pool.ranges.forEach((range, i) => entries.push({ range, pool, field: `addresses[${pool.addressIndexes[i]}]` }));
  }
  entries.sort((a, b) => {
    if (a.range.family !== b.range.family) return a.range.family < b.range.family ? -1 : 1;
    return a.range.first < b.range.first ? -1 : a.range.first > b.range.first ? 1 : 0;
  });
  let reach: Entry | undefined; // the entry reaching furthest so far, within the current family
  for (const e of entries) {
    if (reach && rangesOverlap(reach.range, e.range)) {
      const other = reach.pool === e.pool ? `${reach.field} ${show(reach.range.text)}` : `${show(reach.range.text)} of ${reach.pool.label}`;
      issues.error('FUL_ERR_POOL_OVERLAP', { field: `${e.pool.label}: ${e.field}`, value: show(e.range.text), other });
    }
    if (!reach || reach.range.family !== e.range.family || e.range.last > reach.range.last) reach = e;
  }
}
