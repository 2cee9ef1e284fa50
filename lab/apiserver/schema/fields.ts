/**
 * What the emulator knows about a kind's fields: their names, for unknown-field detection
 * (`fieldValidation`, fidelity spec §1) and the OpenAPI v3 documents. No types, no defaults, no
 * strategic-merge metadata: values are checked by the kinds' own validation (lab/apiserver/kinds/).
 *
 * - `struct`: the listed fields are known, any other key is an unknown field;
 * - `list`: every element is checked against `items`;
 * - `ANY`: a scalar, a free-form map (labels, data, selector) or a subtree the emulator does not
 *   check (the "shallow" kinds' status, Pod spec details below the container level).
 */
export type FieldSpec =
  | { readonly kind: 'any' }
  | { readonly kind: 'struct'; readonly fields: Readonly<Record<string, FieldSpec>> }
  | { readonly kind: 'list'; readonly items: FieldSpec };

export const ANY: FieldSpec = { kind: 'any' };

export function struct(fields: Readonly<Record<string, FieldSpec>>): FieldSpec {
  return { kind: 'struct', fields };
}

export function listOf(items: FieldSpec): FieldSpec {
  return { kind: 'list', items };
}

/** A struct whose fields are all scalars or unchecked maps. */
export function flat(...names: string[]): FieldSpec {
  return struct(Object.fromEntries(names.map((n) => [n, ANY])));
}

/** A kind's top level: TypeMeta, ObjectMeta and the kind's own fields. */
export function kindOf(meta: FieldSpec, fields: Readonly<Record<string, FieldSpec>>): FieldSpec {
  return struct({ apiVersion: ANY, kind: ANY, metadata: meta, ...fields });
}
