import type { ResourceDef } from './resources.js';
import { kindFields } from './schema/kinds.js';
import type { FieldSpec } from './schema/fields.js';
import { duplicateFields, findingText, jsonPatchFindings, pruneUnknown, scanJsonBody, unknownFields, type FieldFinding } from './schema/unknown-fields.js';
import { ApiStatusError, badRequest, cause, type Obj } from './status.js';

/**
 * Server-side field validation (the `fieldValidation` query parameter, GA in v1.27): what a write
 * does with fields its kind does not have. Strict → 400 naming every unknown and duplicate field;
 * Warn → accepted with one `Warning` header per field; Ignore → accepted silently. Without the
 * parameter kube-apiserver warns. In every accepted case the unknown fields are dropped, as
 * decoding into the typed object drops them.
 */
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export type OptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions';

/** The request's directive; a value other than the three (or empty) is a 422 like ValidateCreateOptions'. */
export function fieldValidationOf(q: URLSearchParams, absent: FieldValidation, options: OptionsKind): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return absent;
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  const c = cause.notSupported('fieldValidation', v, ['', 'Ignore', 'Strict', 'Warn']);
  throw new ApiStatusError(422, 'Invalid', `${options}.meta.k8s.io "" is invalid: ${c.field}: ${c.message}`, { group: 'meta.k8s.io', kind: options, causes: [c] });
}

function fieldsOf(def: ResourceDef): FieldSpec {
  const spec = def.fields ?? kindFields(def.apiVersion, def.kind);
  if (!spec) throw new Error(`incoherent state: no field table for ${def.apiVersion} ${def.kind}`);
  return spec;
}

/**
 * A custom resource's body, in kube-apiserver's order: duplicate keys (the JSON decoder's), the
 * unknown fields of ObjectMeta (decoded strictly), then what pruning removed, sorted by path.
 */
function customFindings(contentType: string, raw: Buffer, wire: Obj, spec: FieldSpec): FieldFinding[] {
  const duplicates = isYaml(contentType) ? [] : scanJsonBody(raw.toString('utf8'), spec).filter((f) => f.problem === 'duplicate');
  const unknown = unknownFields(wire, spec);
  const meta = unknown.filter((f) => f.path.startsWith('metadata.'));
  return [...duplicates, ...meta, ...unknown.filter((f) => !f.path.startsWith('metadata.'))];
}

/** Strict: throws the 400 (after `prefix`); Warn: the warnings; Ignore: none. */
function settle(findings: readonly FieldFinding[], directive: FieldValidation, prefix: string): string[] {
  if (findings.length === 0 || directive === 'Ignore') return [];
  const texts = findings.map(findingText);
  if (directive === 'Strict') throw badRequest(`${prefix}strict decoding error: ${texts.join(', ')}`);
  return texts;
}

function isYaml(contentType: string): boolean {
  return contentType.split(';')[0]!.trim().toLowerCase() === 'application/yaml';
}

/**
 * A create or update body (`wire`, parsed from `raw`): findings in document order, as the
 * streaming decoder reports them; the 400 reads `Service in version "v1" cannot be handled as a
 * Service: strict decoding error: unknown field "spec.prots"`. Prunes `wire` in place.
 */
export function checkBody(def: ResourceDef, directive: FieldValidation, contentType: string, raw: Buffer, wire: Obj): string[] {
  const spec = fieldsOf(def);
  let warnings: string[] = [];
  if (directive !== 'Ignore') {
    const findings = def.custom ? customFindings(contentType, raw, wire, spec) : isYaml(contentType) ? unknownFields(wire, spec) : scanJsonBody(raw.toString('utf8'), spec);
    warnings = settle(findings, directive, `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: `);
  }
  pruneUnknown(wire, spec);
  return warnings;
}

/**
 * A patch result (`patched`, wire shape): first the patch's own problems in document order
 * (duplicate keys; for JSON patch, unknown keys of the operations), then the result's unknown
 * fields in key order — kube-apiserver's order. The 400 has no kind prefix. Prunes `patched`.
 */
export function checkPatch(def: ResourceDef, directive: FieldValidation, type: 'json' | 'merge' | 'strategic' | 'apply', raw: Buffer, patched: Obj): string[] {
  const spec = fieldsOf(def);
  let warnings: string[] = [];
  if (directive !== 'Ignore') {
    // an apply patch is YAML: its duplicate keys are the YAML parser's business
    const own = type === 'json' ? jsonPatchFindings(raw.toString('utf8')) : type === 'apply' ? [] : duplicateFields(raw.toString('utf8'));
    warnings = settle([...own, ...unknownFields(patched, spec)], directive, '');
  }
  pruneUnknown(patched, spec);
  return warnings;
}

const MAX_WARNING_HEADER_BYTES = 4096; // kube-apiserver caps the warnings of one response at 4 KiB too

/** `Warning: 299 - "unknown field \"spec.prots\""` header values (RFC 7234 quoted-string; non-ASCII shown as `?`). */
export function warningHeaders(warnings: readonly string[]): string[] {
  const out: string[] = [];
  let bytes = 0;
  for (const w of new Set(warnings)) {
    const v = `299 - "${w.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, (c) => `\\${c}`)}"`;
    if (bytes + v.length > MAX_WARNING_HEADER_BYTES) break;
    bytes += v.length;
    out.push(v);
  }
  return out;
}
