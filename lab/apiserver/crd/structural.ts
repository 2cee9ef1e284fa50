import { ANY, listOf, struct, type FieldSpec } from '../schema/fields.js';
import { OBJECT_META } from '../schema/kinds.js';
import { clone } from '../patch.js';
import { cause, goValue, type Cause, type Obj } from '../status.js';

/**
 * A CRD's structural schema (apiextensions.k8s.io/v1 JSONSchemaProps, the part the emulator
 * uses) applied to custom objects as kube-apiserver does: pruning (through the field table
 * `fieldSpecOf` makes, so unknown fields are reported by field validation like any kind's),
 * defaulting from `default:`, then validation: types, `required`, `enum`, `minimum`/`maximum`,
 * `minItems`/`maxItems`, `minLength`/`maxLength`. Not emulated: `pattern`, `format`, CEL rules
 * (`x-kubernetes-validations`), `oneOf`/`anyOf`/`allOf`/`not`, list-type and map-type uniqueness.
 * Pure: objects in, causes out.
 */
export interface Schema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
  readonly additionalProperties?: Schema | boolean;
  readonly required?: readonly string[];
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly nullable?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: boolean;
  readonly exclusiveMaximum?: boolean;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
  readonly 'x-kubernetes-int-or-string'?: boolean;
  readonly 'x-kubernetes-embedded-resource'?: boolean;
}

const PRESERVE = 'x-kubernetes-preserve-unknown-fields';

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The field table of a custom kind: what pruning keeps and what field validation reports as unknown. */
export function fieldSpecOf(root: Schema): FieldSpec {
  const top = nodeSpec(root);
  const fields = top.kind === 'struct' ? top.fields : {};
  // the root keeps TypeMeta and is an ObjectMeta at `metadata`, whatever the schema says there
  return top.kind === 'any' ? ANY : struct({ ...fields, apiVersion: ANY, kind: ANY, metadata: OBJECT_META });
}

function nodeSpec(s: Schema): FieldSpec {
  if (s[PRESERVE] || s['x-kubernetes-int-or-string']) return ANY;
  if (s.type === 'array') return s.items ? listOf(nodeSpec(s.items)) : ANY;
  if (s.type === 'object' || s.properties) {
    if (s.additionalProperties !== undefined && s.additionalProperties !== false) return ANY;
    return struct(Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, nodeSpec(v)])));
  }
  return ANY;
}

/** Fills `default:` values of absent fields below objects that are present (in place), as kube's structural defaulting. */
export function applyDefaults(o: unknown, s: Schema): void {
  if (Array.isArray(o)) {
    if (s.items) for (const e of o) applyDefaults(e, s.items);
    return;
  }
  if (!isObject(o)) return;
  for (const [k, child] of Object.entries(s.properties ?? {})) {
    if (!(k in o) && child.default !== undefined) o[k] = clone(child.default);
    if (k in o) applyDefaults(o[k], child);
  }
  if (isObject(s.additionalProperties)) for (const k of Object.keys(o)) if (!(k in (s.properties ?? {}))) applyDefaults(o[k], s.additionalProperties);
}

/** The type kube-openapi names a value by in "must be of type" messages. */
function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, type: string): boolean {
  switch (type) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'boolean': return typeof v === 'boolean';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number';
    default: return true;
  }
}

function typeCause(path: string, v: unknown, type: string): Cause {
  const t = typeName(v);
  return { reason: 'FieldValueTypeInvalid', field: path, message: `Invalid value: "${t}": ${path} in body must be of type ${type}: "${t}"` };
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Every schema violation of `o`, depth first in the schema's property order. */
export function validateAgainst(o: unknown, s: Schema, path = ''): Cause[] {
  const out: Cause[] = [];
  walk(o, s, path, out);
  return out;
}

function walk(v: unknown, s: Schema, path: string, out: Cause[]): void {
  if (v === null && s.nullable) return;
  if (s['x-kubernetes-int-or-string']) {
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isInteger(v))) out.push(typeCause(path, v, 'integer,string'));
    return;
  }
  if (s.type && !typeMatches(v, s.type)) {
    out.push(typeCause(path, v, s.type));
    return;
  }
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
    out.push({ reason: 'FieldValueNotSupported', field: path, message: `Unsupported value: ${goValue(v)}: supported values: ${s.enum.map((e) => JSON.stringify(e)).join(', ')}` });
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum)) out.push(cause.invalid(path, v, `${path} in body should be greater than ${s.exclusiveMinimum ? '' : 'or equal to '}${s.minimum}`));
    if (s.maximum !== undefined && (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum)) out.push(cause.invalid(path, v, `${path} in body should be less than ${s.exclusiveMaximum ? '' : 'or equal to '}${s.maximum}`));
  }
  if (typeof v === 'string') {
    if (s.maxLength !== undefined && v.length > s.maxLength) out.push({ reason: 'FieldValueTooLong', field: path, message: `Too long: may not be more than ${s.maxLength} bytes` });
    if (s.minLength !== undefined && v.length < s.minLength) out.push(cause.invalid(path, v, `${path} in body should be at least ${s.minLength} chars long`));
  }
  if (Array.isArray(v)) {
    if (s.maxItems !== undefined && v.length > s.maxItems) out.push({ reason: 'FieldValueTooMany', field: path, message: `Too many: ${v.length}: must have at most ${s.maxItems} items` });
    if (s.minItems !== undefined && v.length < s.minItems) out.push(cause.invalid(path, v, `${path} in body should have at least ${s.minItems} items`));
    if (s.items) v.forEach((e, i) => walk(e, s.items!, `${path}[${i}]`, out));
    return;
  }
  if (!isObject(v)) return;
  for (const r of s.required ?? []) if (!(r in v)) out.push(cause.required(join(path, r)));
  for (const [k, child] of Object.entries(s.properties ?? {})) if (k in v) walk(v[k], child, join(path, k), out);
  if (isObject(s.additionalProperties)) {
    for (const k of Object.keys(v)) if (!(k in (s.properties ?? {}))) walk(v[k], s.additionalProperties, join(path, k), out);
  }
}

/** The schema of the root without `metadata`, `apiVersion` and `kind`, which the API server checks itself. */
export function bodySchema(root: Schema): Schema {
  const { metadata: _m, apiVersion: _a, kind: _k, ...props } = root.properties ?? {};
  return { ...root, properties: props, required: (root.required ?? []).filter((r) => r !== 'metadata' && r !== 'apiVersion' && r !== 'kind') };
}
