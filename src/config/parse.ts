import { IssueList, checkKeys, isMapping, show } from './issues.js';
import { flattenLists, isManifest, readDocuments, readYaml } from './documents.js';
import { isMetalLBObject, convertMetalLB } from './metallb.js';
import { parsePool, type ParsedPool } from './pool.js';
import { checkPools } from './pool-checks.js';
import { CONFIGMAP_KEY, CONFIGMAP_NAME, CONFIGMAP_NAMESPACE, type Config, type ParseConfigResult, type ParseInputResult } from './types.js';

/**
 * The ConfigMap's config: text in, validated config or every error out. Pure: no I/O, no logging.
 *
 * The input is either the bare config (the YAML under the ConfigMap's `config` key) or a whole
 * ConfigMap manifest (possibly among other documents, or in a `kind: List`). YAML is read as
 * 1.2 (so a label value `no` stays a string); boolean fields also take the YAML 1.1 words
 * MetalLB's yaml.v2 took.
 */
export function parseConfig(text: string): ParseConfigResult {
  const issues = new IssueList();
  const values = readDocuments(issues, text);
  return result(issues, values === undefined ? undefined : parseConfigMapValues(issues, flattenLists(values)));
}

/**
 * What `fulcrum check-config` reads: the ConfigMap (or its bare config) as `parseConfig`, or a
 * file of MetalLB resources (a multi-document manifest, or a `kubectl get ipaddresspools,
 * l2advertisements -A -o yaml` List) as `parseMetalLBResources`. The input is MetalLB's when it
 * holds any `metallb.io/*` object; a ConfigMap with a `config` key beside them is refused,
 * since Fulcrum reads one source at a time.
 */
export function parseConfigInput(text: string): ParseInputResult {
  const issues = new IssueList();
  const values = readDocuments(issues, text);
  const objects = values === undefined ? [] : flattenLists(values);
  if (values === undefined || !objects.some(isMetalLBObject)) {
    return { ...result(issues, values === undefined ? undefined : parseConfigMapValues(issues, objects)), source: 'configMap' };
  }
  const configMap = objects.filter(isMapping).find((o) => o.kind === 'ConfigMap' && isMapping(o.data) && o.data[CONFIGMAP_KEY] !== undefined);
  if (configMap !== undefined) {
    issues.error('FUL_ERR_CONFIG_MANIFEST', {
      input: 'input',
      reason: `has both MetalLB resources and ConfigMap "${objectId(configMap)}" with data.${CONFIGMAP_KEY}: Fulcrum reads one source, remove one of them`,
    });
  }
  return { ...result(issues, convertMetalLB(issues, objects)), source: 'metallb' };
}

function result(issues: IssueList, config: Config | undefined): ParseConfigResult {
  const errors = issues.all.filter((i) => i.severity === 'error').map((i) => i.message);
  const warnings = issues.all.filter((i) => i.severity === 'warning').map((i) => i.message);
  if (config === undefined || errors.length > 0) return { ok: false, errors, warnings, issues: issues.all };
  return { ok: true, config, warnings, issues: issues.all };
}

const TOP_KEYS = ['address-pools', 'peers', 'bgp-communities'] as const;

function objectId(o: Record<string, unknown>): string {
  const meta = isMapping(o.metadata) ? o.metadata : {};
  return `${typeof meta.namespace === 'string' ? meta.namespace : CONFIGMAP_NAMESPACE}/${typeof meta.name === 'string' ? meta.name : '?'}`;
}

function parseConfigMapValues(issues: IssueList, values: readonly unknown[]): Config | undefined {
  if (values.length === 0) {
    issues.warn('FUL_WARN_NO_POOLS', {});
    return { pools: [] };
  }
  if (!values.some(isManifest)) {
    if (values.length > 1) {
      issues.error('FUL_ERR_CONFIG_YAML', { input: 'input', reason: `has ${values.length} YAML documents; a bare config is one document` });
      return undefined;
    }
    return parseBareConfig(issues, values[0], '');
  }
  const configMaps = values.filter((v): v is Record<string, unknown> => isMapping(v) && v.kind === 'ConfigMap');
  if (configMaps.length === 0) {
    const kinds = values.map((v) => (isMapping(v) ? show(v.kind) : show(v))).join(', ');
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
  const id = objectId(chosen);
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
  checkPools(parsed, () => issues);
  return { pools: parsed.map((p) => p.pool) };
}
