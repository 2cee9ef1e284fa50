import { def, type KindStrategy, type ResourceDef } from '../resources.js';
import { dns1123Subdomain } from '../kinds/common.js';
import { invalid, type Obj } from '../status.js';
import { customPrinter } from './printer.js';
import { applyDefaults, bodySchema, fieldSpecOf, validateAgainst, type Schema } from './structural.js';

/**
 * The served resource of an established CRD: one ResourceDef built once per CRD change (the
 * request path only reads it), with the strategy of its version's structural schema. The store
 * key is `plural.group`, as RBAC and messages name it. Pure.
 */

/** kube's discovery verbs for custom resources, in the order it lists them. */
const CUSTOM_VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];

function strategyFor(schema: Schema): KindStrategy {
  const body = bodySchema(schema);
  const check = (d: ResourceDef, o: Obj): void => {
    applyDefaults(o, body);
    const errs = [...dns1123Subdomain('metadata.name', String(o.metadata?.name ?? '')), ...validateAgainst(o, body)];
    if (errs.length) throw invalid(d.kind, o.metadata?.name ?? '', d, errs);
  };
  return {
    create(d, o) {
      if (d.statusSubresource) delete o.status; // a create never sets status when the status subresource is on
      check(d, o);
    },
    update: (d, next) => check(d, next),
    status: (d, next) => check(d, next),
  };
}

/** The served version's definition, or undefined when the CRD serves nothing the emulator can (no storage version, no schema). */
export function customResourceDef(crd: Obj): ResourceDef | undefined {
  const spec: Obj = crd.spec;
  const version = ((spec.versions ?? []) as Obj[]).find((v) => v.storage === true && v.served !== false);
  const schema = version?.schema?.openAPIV3Schema as Schema | undefined;
  if (!version || !schema) return undefined;
  const names: Obj = spec.names;
  return def({
    group: spec.group,
    version: version.name,
    resource: names.plural,
    singular: names.singular ?? String(names.kind).toLowerCase(),
    kind: names.kind,
    namespaced: spec.scope === 'Namespaced',
    shortNames: names.shortNames ?? [],
    ...(names.categories ? { categories: names.categories } : {}),
    status: version.subresources?.status !== undefined,
    generation: true,
    strategy: strategyFor(schema),
    fields: fieldSpecOf(schema),
    printer: customPrinter(version.additionalPrinterColumns),
    verbs: CUSTOM_VERBS,
    custom: true,
  });
}
