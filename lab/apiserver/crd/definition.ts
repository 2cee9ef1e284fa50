import { dns1035Label, dns1123Subdomain, rfc3339 } from '../kinds/common.js';
import { cause, invalid, type Cause, type Obj } from '../status.js';
import type { KindStrategy, ResourceDef } from '../resources.js';
import type { Schema } from './structural.js';

/**
 * apiextensions.k8s.io/v1 CustomResourceDefinition as kube-apiserver's strategy treats it:
 * defaults (`listKind`, `singular`, `conversion`), validation with its causes and texts (checked
 * against v1.37 by test/k8s-real/fidelity-diff-crd.test.ts), the status a create starts with, and
 * the deletion mark (the cleanup finalizer and the Terminating condition). Establishing and the
 * cleanup of the objects are the controller's (`served.ts`). Pure.
 */

export const CRD_STORE_KEY = 'customresourcedefinitions.apiextensions.k8s.io';
export const CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';
const SCOPES = ['Cluster', 'Namespaced'];
const SCHEMA_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string'];

/** The storage version's entry, or undefined when not exactly one version is stored. */
export function storageVersion(crd: Obj): Obj | undefined {
  const stored = ((crd.spec?.versions ?? []) as Obj[]).filter((v) => v.storage === true);
  return stored.length === 1 ? stored[0] : undefined;
}

function defaults(crd: Obj): void {
  const spec: Obj = (crd.spec ??= {});
  const names: Obj = (spec.names ??= {});
  if (names.kind && !names.listKind) names.listKind = `${names.kind}List`;
  if (names.kind && !names.singular) names.singular = String(names.kind).toLowerCase();
  spec.conversion ??= { strategy: 'None' };
}

/** Go's `%v` of []CustomResourceDefinitionVersion as the "exactly one storage version" cause prints it (schemas are hoisted out first). */
function versionsValue(versions: unknown): string {
  if (!Array.isArray(versions)) return 'null';
  return JSON.stringify(versions.map((v: Obj) => ({
    Name: v.name ?? '', Served: v.served === true, Storage: v.storage === true, Deprecated: v.deprecated === true, DeprecationWarning: v.deprecationWarning ?? null,
    Schema: null, Subresources: null, AdditionalPrinterColumns: null, SelectableFields: null,
  })));
}

/** Structural-schema checks that matter: a type on every node that has properties or items, and known type names. */
function schemaErrors(s: Schema | undefined, path: string, root: boolean, out: Cause[]): void {
  if (!s || typeof s !== 'object') return;
  if (!s.type) {
    if (root) out.push(cause.required(`${path}.type`, 'must not be empty at the root'));
  } else if (!SCHEMA_TYPES.includes(s.type)) out.push(cause.notSupported(`${path}.type`, s.type, SCHEMA_TYPES));
  for (const [k, child] of Object.entries(s.properties ?? {})) {
    if (!child?.type && !child?.['x-kubernetes-preserve-unknown-fields'] && !child?.['x-kubernetes-int-or-string']) out.push(cause.required(`${path}.properties[${k}].type`, 'must not be empty for specified object fields'));
    schemaErrors({ ...child, type: child?.type ?? 'object' }, `${path}.properties[${k}]`, false, out);
  }
  if (s.items) {
    if (!s.items.type && !s.items['x-kubernetes-preserve-unknown-fields'] && !s.items['x-kubernetes-int-or-string']) out.push(cause.required(`${path}.items.type`, 'must not be empty for specified array items'));
    schemaErrors({ ...s.items, type: s.items.type ?? 'object' }, `${path}.items`, false, out);
  }
}

/** kube's ValidateCustomResourceDefinition (the parts that matter), in its order. */
export function crdErrors(crd: Obj, old: Obj | undefined): Cause[] {
  const errs: Cause[] = [];
  const spec: Obj = crd.spec ?? {};
  const names: Obj = spec.names ?? {};
  const name: string = crd.metadata?.name ?? '';
  const nameErrs = dns1123Subdomain('metadata.name', name);
  if (nameErrs.length) errs.push(...nameErrs);
  else if (name !== `${names.plural ?? ''}.${spec.group ?? ''}`) errs.push(cause.invalid('metadata.name', name, 'must be spec.names.plural+"."+spec.group'));
  if (!spec.group) errs.push(cause.required('spec.group'));
  else if (!String(spec.group).includes('.')) errs.push(cause.invalid('spec.group', spec.group, 'should be a domain with at least one dot'));
  else errs.push(...dns1123Subdomain('spec.group', spec.group));
  if (!spec.scope) errs.push(cause.required('spec.scope'));
  else if (!SCOPES.includes(spec.scope)) errs.push(cause.notSupported('spec.scope', spec.scope, SCOPES));
  else if (old && old.spec?.scope !== spec.scope) errs.push(cause.invalid('spec.scope', spec.scope, 'field is immutable'));
  const versions: Obj[] = Array.isArray(spec.versions) ? spec.versions : [];
  const stored = versions.filter((v) => v.storage === true);
  if (stored.length !== 1) errs.push(invalidRaw('spec.versions', versionsValue(spec.versions), 'must have exactly one version marked as storage version'));
  // one version (or identical schemas): kube hoists the schema to spec.validation and checks the name as spec.version too
  const single = versions.length === 1;
  versions.forEach((v, i) => {
    const ve = dns1035Label(`spec.versions[${i}].name`, String(v.name ?? ''));
    errs.push(...ve);
    if (single && ve.length) errs.push(...dns1035Label('spec.version', String(v.name ?? '')));
  });
  for (const f of ['plural', 'singular', 'kind', 'listKind'] as const) {
    const value = names[f];
    if (!value) errs.push(cause.required(`spec.names.${f}`));
    else if ((f === 'plural' || f === 'singular') && dns1035Label('x', value).length) errs.push(...dns1035Label(`spec.names.${f}`, value));
    else if ((f === 'kind' || f === 'listKind') && dns1035Label('x', String(value).toLowerCase()).length) {
      errs.push(cause.invalid(`spec.names.${f}`, value, 'may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?'));
    }
  }
  versions.forEach((v, i) => {
    const s = v.schema?.openAPIV3Schema as Schema | undefined;
    if (!s) errs.push(cause.required(`spec.versions[${i}].schema.openAPIV3Schema`));
    else schemaErrors(s, single ? 'spec.validation.openAPIV3Schema' : `spec.versions[${i}].schema.openAPIV3Schema`, true, errs);
  });
  const storedVersions = crd.status?.storedVersions as string[] | undefined;
  if (!storedVersions || storedVersions.length === 0) errs.push(invalidRaw('status.storedVersions', 'null', 'must have at least one stored version'));
  else if (stored.length > 0 && !storedVersions.includes(stored[stored.length - 1]!.name)) {
    errs.push(invalidRaw('status.storedVersions', JSON.stringify(storedVersions), `must have the storage version ${stored[stored.length - 1]!.name}`));
  }
  return errs;
}

/** An Invalid cause whose value is already rendered (`Invalid value: []`, not `"[]"`). */
function invalidRaw(field: string, rendered: string, detail: string): Cause {
  return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${rendered}: ${detail}` };
}

function fail(def: ResourceDef, crd: Obj, errs: Cause[]): void {
  if (errs.length) throw invalid(def.kind, crd.metadata?.name ?? '', def, errs);
}

export const crdStrategy: KindStrategy = {
  create(def, crd) {
    defaults(crd);
    const first = ((crd.spec.versions ?? []) as Obj[]).find((v) => v.storage === true);
    // what kube's PrepareForCreate leaves: no conditions, empty accepted names, the stored version
    crd.status = { conditions: null, acceptedNames: { plural: '', kind: '' }, storedVersions: first ? [first.name] : null };
    fail(def, crd, crdErrors(crd, undefined));
  },
  update(def, crd, old) {
    defaults(crd);
    const stored = new Set<string>(old.status?.storedVersions ?? []);
    const now = storageVersion(crd);
    crd.status = { ...(old.status ?? {}), storedVersions: [...stored, ...(now && !stored.has(now.name) ? [now.name] : [])] };
    fail(def, crd, crdErrors(crd, old));
  },
  status(def, crd) {
    fail(def, crd, []);
  },
  markForDeletion(crd, now) {
    crd.metadata.deletionTimestamp = rfc3339(now);
    crd.metadata.finalizers = [...(crd.metadata.finalizers ?? []), CLEANUP_FINALIZER];
    const conditions: Obj[] = (crd.status?.conditions ?? []).filter((c: Obj) => c.type !== 'Terminating');
    conditions.push({ type: 'Terminating', status: 'True', lastTransitionTime: rfc3339(now), reason: 'InstanceDeletionPending', message: 'CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon' });
    crd.status = { ...(crd.status ?? {}), conditions };
    return crd;
  },
};

/** The conditions and accepted names the naming and establishing controllers write. */
export function establishedStatus(crd: Obj, now: Date): Obj {
  const t = rfc3339(now);
  const { plural, singular, kind, listKind, shortNames, categories } = crd.spec.names as Obj;
  return {
    ...crd.status,
    conditions: [
      { type: 'NamesAccepted', status: 'True', lastTransitionTime: t, reason: 'NoConflicts', message: 'no conflicts found' },
      { type: 'Established', status: 'True', lastTransitionTime: t, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
    ],
    acceptedNames: { plural, singular, ...(shortNames ? { shortNames } : {}), kind, listKind, ...(categories ? { categories } : {}) },
  };
}
