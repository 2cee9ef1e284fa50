import type { V1ConfigMap } from '@kubernetes/client-node';
import { readConfigMap } from './configmap.js';
import { METALLB_API_VERSION, parseMetalLBResources } from './metallb.js';
import type { Config, ConfigSource } from './types.js';

/**
 * Which source configures the pools, and what it says: the one rule the allocator and the
 * speakers share. Pure: the cached objects in, a decision out.
 *
 * - Only the ConfigMap: it is read as today (`readConfigMap`).
 * - Only MetalLB's `IPAddressPool` / `L2Advertisement` objects of the config namespace: they are
 *   converted (`parseMetalLBResources`); each issue names the object it is about.
 * - Both: refused, with a message naming both and saying which to remove. Fulcrum reads one
 *   source; merging two would make the result depend on which the user looked at last.
 * - Neither: `missing`.
 *
 * What a reader does with a refusal is its policy, the same for every refusal (an invalid
 * ConfigMap, an invalid resource, both sources, or — in the allocator — a config that would
 * release an address in use): the last good config stays in force, nothing is released, and the
 * Warning goes on the objects in `complaints`. `missing` keeps the last good config too (fail
 * static: a deleted ConfigMap or a deleted last IPAddressPool releases nothing).
 */

/** An object a config Event is about (what an Event's involvedObject needs). */
export interface SourceObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly uid: string | undefined;
}

/** One Warning: the object it goes on, and what it says. */
export interface Complaint {
  readonly object: SourceObjectRef;
  readonly message: string;
}

/** The API objects as cached: the ConfigMap's type, or a custom object's shape. */
export interface SourceObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> };
}

export interface ConfigSourceInput {
  /** The pool ConfigMap from the cache, if it exists. */
  readonly configMap: V1ConfigMap | undefined;
  /** Its `namespace/name`, for messages (it may not exist). */
  readonly configMapName: string;
  /** The `IPAddressPool`s and `L2Advertisement`s of the config namespace, from the caches. */
  readonly ipAddressPools: readonly SourceObject[];
  readonly l2Advertisements: readonly SourceObject[];
  /** `version` of the config in force (or last seen); the same version again is `unchanged`. */
  readonly lastVersion: string | undefined;
}

export type ConfigSourceRead =
  /** Neither source exists. */
  | { readonly kind: 'missing'; readonly message: string }
  /** The same objects at the same versions as `lastVersion`. */
  | { readonly kind: 'unchanged' }
  /** Both sources, or an invalid one: the Warnings to record, one per object concerned. */
  | {
      readonly kind: 'refused';
      readonly why: 'bothSources' | 'invalid';
      readonly source: ConfigSource | 'both';
      readonly version: string;
      /** One line for logs: every problem. */
      readonly message: string;
      readonly complaints: readonly Complaint[];
    }
  | {
      readonly kind: 'parsed';
      readonly source: ConfigSource;
      readonly version: string;
      readonly config: Config;
      readonly warnings: readonly string[];
      /** For messages: `ConfigMap fulcrum-system/config`, `2 IPAddressPools and 1 L2Advertisement`. */
      readonly from: string;
      /** The objects of this config that are new or changed since `lastVersion` (the ConfigMap: itself), for a `ConfigLoaded` Event. */
      readonly changed: readonly SourceObjectRef[];
    };

/** At most this many objects are named in the both-sources message; the rest are counted. */
const NAMED_IN_MESSAGE = 5;

export function readConfigSource(input: ConfigSourceInput): ConfigSourceRead {
  const cm = input.configMap;
  const resources = [
    ...input.ipAddressPools.map((o) => stamp(o, 'IPAddressPool')),
    ...input.l2Advertisements.map((o) => stamp(o, 'L2Advertisement')),
  ].sort((a, b) => compare(entry(a), entry(b)));
  if (!cm && resources.length === 0) {
    return { kind: 'missing', message: `no pool config: ConfigMap ${input.configMapName} not found, and no IPAddressPool in ${namespaceOf(input.configMapName)}` };
  }
  const version = cm && resources.length > 0
    ? `both:${cm.metadata?.resourceVersion ?? ''}:${resources.map(entry).join(',')}`
    : cm ? `configMap:${cm.metadata?.resourceVersion ?? ''}` : `metallb:${resources.map(entry).join(',')}`;
  if (version === input.lastVersion) return { kind: 'unchanged' };
  if (cm && resources.length > 0) return bothSources(cm, input.configMapName, resources, version);
  if (cm) return fromConfigMap(cm, input.configMapName, version);
  return fromResources(resources, version, input.lastVersion);
}

function bothSources(cm: V1ConfigMap, cmName: string, resources: readonly SourceObject[], version: string): ConfigSourceRead {
  const named = resources.slice(0, NAMED_IN_MESSAGE).map((o) => `${o.kind} "${o.metadata?.name ?? ''}"`);
  const more = resources.length > NAMED_IN_MESSAGE ? ` and ${resources.length - NAMED_IN_MESSAGE} more` : '';
  const ns = namespaceOf(cmName);
  const message =
    `both the ConfigMap ${cmName} and ${resources.length} MetalLB resource(s) (${named.join(', ')}${more}) configure pools: ` +
    `remove one source (the ConfigMap: kubectl -n ${ns} delete configmap ${cm.metadata?.name ?? ''}; or the resources: ` +
    `kubectl -n ${ns} delete ipaddresspools,l2advertisements --all); the last good config stays in force`;
  return { kind: 'refused', why: 'bothSources', source: 'both', version, message, complaints: [{ object: refOf(cm, 'v1', 'ConfigMap'), message }] };
}

function fromConfigMap(cm: V1ConfigMap, cmName: string, version: string): ConfigSourceRead {
  const read = readConfigMap(cm, undefined);
  if (read.kind === 'invalid') {
    const message = `invalid config, ${read.errors.length} error(s): ${read.errors.join('; ')}`;
    return { kind: 'refused', why: 'invalid', source: 'configMap', version, message, complaints: [{ object: refOf(cm, 'v1', 'ConfigMap'), message }] };
  }
  if (read.kind !== 'parsed') throw new Error(`incoherent state: readConfigMap of a present ConfigMap without a last version gave "${read.kind}"`);
  return { kind: 'parsed', source: 'configMap', version, config: read.config, warnings: read.warnings, from: `ConfigMap ${cmName}`, changed: [refOf(cm, 'v1', 'ConfigMap')] };
}

function fromResources(resources: readonly SourceObject[], version: string, lastVersion: string | undefined): ConfigSourceRead {
  const parsed = parseMetalLBResources(resources);
  const pools = resources.filter((o) => o.kind === 'IPAddressPool').length;
  const from = `${plural(pools, 'IPAddressPool')} and ${plural(resources.length - pools, 'L2Advertisement')}`;
  if (parsed.ok) {
    const before = new Set(lastVersion?.startsWith('metallb:') ? lastVersion.slice('metallb:'.length).split(',') : []);
    const changed = resources.filter((o) => !before.has(entry(o))).map((o) => refOf(o, o.apiVersion ?? METALLB_API_VERSION, o.kind ?? ''));
    return { kind: 'parsed', source: 'metallb', version, config: parsed.config, warnings: parsed.warnings, from, changed };
  }
  // One Warning per object with errors, naming each error (field and value); an error that
  // names no object goes on every IPAddressPool (there is always one when a config is invalid).
  const byObject = new Map<string, { object: SourceObjectRef; errors: string[] }>();
  const loose: string[] = [];
  for (const issue of parsed.issues) {
    if (issue.severity !== 'error') continue;
    const o = issue.object && resources.find((r) => r.kind === issue.object!.kind && r.metadata?.name === issue.object!.name && (r.metadata?.namespace || undefined) === issue.object!.namespace);
    if (!o) {
      loose.push(issue.message);
      continue;
    }
    const key = entry(o);
    const slot = byObject.get(key) ?? { object: refOf(o, o.apiVersion ?? METALLB_API_VERSION, o.kind ?? ''), errors: [] };
    slot.errors.push(issue.message);
    byObject.set(key, slot);
  }
  if (loose.length > 0) {
    for (const o of resources.filter((r) => r.kind === 'IPAddressPool')) {
      const key = entry(o);
      const slot = byObject.get(key) ?? { object: refOf(o, o.apiVersion ?? METALLB_API_VERSION, 'IPAddressPool'), errors: [] };
      slot.errors.push(...loose);
      byObject.set(key, slot);
    }
  }
  const complaints = [...byObject.values()].map(({ object, errors }) => ({ object, message: `invalid, ${errors.length} error(s): ${errors.join('; ')}` }));
  const message = `invalid MetalLB resources (${from}), ${parsed.errors.length} error(s): ${parsed.errors.join('; ')}`;
  return { kind: 'refused', why: 'invalid', source: 'metallb', version, message, complaints };
}

/** The kind and apiVersion of a custom object the server may have left out of a list item. */
function stamp(o: SourceObject, kind: string): SourceObject {
  return o.kind === kind && o.apiVersion ? o : { ...o, kind: o.kind ?? kind, apiVersion: o.apiVersion ?? METALLB_API_VERSION };
}

/** One object at one version: `IPAddressPool/web@123`. */
function entry(o: SourceObject): string {
  return `${o.kind ?? ''}/${o.metadata?.name ?? ''}@${o.metadata?.resourceVersion ?? ''}`;
}

function refOf(o: SourceObject, apiVersion: string, kind: string): SourceObjectRef {
  const md = o.metadata ?? {};
  return { apiVersion, kind, namespace: md.namespace, name: md.name ?? '', uid: md.uid };
}

function namespaceOf(name: string): string {
  const i = name.indexOf('/');
  return i < 0 ? 'default' : name.slice(0, i);
}

function plural(n: number, kind: string): string {
  return `${n} ${kind}${n === 1 ? '' : 's'}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
