import { ANY, flat, listOf, type FieldSpec } from './fields.js';
import type { Obj } from '../status.js';

/**
 * Unknown and duplicate fields, found the way kube-apiserver's strict decoder reports them
 * (sigs.k8s.io/json): a dotted path with list indexes, `spec.ports[0].nmae`. A field that is
 * unknown is reported once, as unknown, however often it repeats, and nothing below it is looked at.
 */
export interface FieldFinding {
  readonly problem: 'unknown' | 'duplicate';
  readonly path: string;
  /** Found in the operations of a JSON patch rather than in the object. */
  readonly inJsonPatch?: true;
}

/** `unknown field "spec.prots"`, the text of one strict-decoding error or `Warning` header. */
export function findingText(f: FieldFinding): string {
  return `${f.inJsonPatch ? 'json patch ' : ''}${f.problem} field ${JSON.stringify(f.path)}`;
}

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** The spec of a struct's field; undefined for a field the struct does not have. */
function known(spec: FieldSpec, key: string): FieldSpec | undefined {
  if (spec.kind !== 'struct') return undefined;
  return Object.prototype.hasOwnProperty.call(spec.fields, key) ? spec.fields[key] : undefined;
}

/**
 * Walks a JSON text (already known to parse) in document order, as a streaming decoder does:
 * create and update bodies. `spec` undefined below an unknown field: nothing is reported there.
 */
class JsonScanner {
  readonly #s: string;
  readonly #out: FieldFinding[];
  readonly #inJsonPatch: boolean;
  #i = 0;

  constructor(text: string, out: FieldFinding[], inJsonPatch: boolean) {
    this.#s = text;
    this.#out = out;
    this.#inJsonPatch = inJsonPatch;
  }

  #report(problem: FieldFinding['problem'], path: string): void {
    this.#out.push(this.#inJsonPatch ? { problem, path, inJsonPatch: true } : { problem, path });
  }

  #ws(): void {
    const s = this.#s;
    while (this.#i < s.length && (s[this.#i] === ' ' || s[this.#i] === '\n' || s[this.#i] === '\r' || s[this.#i] === '\t')) this.#i++;
  }

  #string(): string {
    const s = this.#s;
    const start = this.#i;
    this.#i++; // opening quote
    while (s[this.#i] !== '"') this.#i += s[this.#i] === '\\' ? 2 : 1;
    this.#i++;
    return JSON.parse(s.slice(start, this.#i)) as string;
  }

  value(spec: FieldSpec | undefined, path: string): void {
    this.#ws();
    const c = this.#s[this.#i];
    if (c === '{') this.#object(spec, path);
    else if (c === '[') this.#array(spec, path);
    else if (c === '"') this.#string();
    else while (this.#i < this.#s.length && !',}] \n\r\t'.includes(this.#s[this.#i]!)) this.#i++;
  }

  #object(spec: FieldSpec | undefined, path: string): void {
    this.#i++;
    this.#ws();
    if (this.#s[this.#i] === '}') {
      this.#i++;
      return;
    }
    const seen = new Set<string>();
    for (;;) {
      this.#ws();
      const key = this.#string();
      this.#ws();
      this.#i++; // ':'
      const p = childPath(path, key);
      let child: FieldSpec | undefined;
      if (spec === undefined) child = undefined;
      else if (spec.kind === 'struct') {
        child = known(spec, key);
        if (child === undefined && !seen.has(key)) this.#report('unknown', p);
        else if (child !== undefined && seen.has(key)) this.#report('duplicate', p);
      } else {
        child = ANY;
        if (seen.has(key)) this.#report('duplicate', p);
      }
      seen.add(key);
      this.value(child, p);
      this.#ws();
      if (this.#s[this.#i++] !== ',') return; // '}'
    }
  }

  #array(spec: FieldSpec | undefined, path: string): void {
    this.#i++;
    this.#ws();
    if (this.#s[this.#i] === ']') {
      this.#i++;
      return;
    }
    const items = spec === undefined ? undefined : spec.kind === 'list' ? spec.items : spec.kind === 'any' ? ANY : undefined;
    for (let n = 0; ; n++) {
      this.value(items, `${path}[${n}]`);
      this.#ws();
      if (this.#s[this.#i++] !== ',') return; // ']'
    }
  }
}

/** Unknown and duplicate fields of a create or update body, in document order. */
export function scanJsonBody(text: string, spec: FieldSpec): FieldFinding[] {
  const out: FieldFinding[] = [];
  new JsonScanner(text, out, false).value(spec, '');
  return out;
}

/** Duplicate fields of a merge or strategic-merge patch (it has no schema of its own), in document order. */
export function duplicateFields(text: string): FieldFinding[] {
  return scanJsonBody(text, ANY);
}

const JSON_PATCH_OPERATIONS = listOf(flat('op', 'path', 'value', 'from'));

/** Unknown and duplicate keys of a JSON patch's operations: `json patch unknown field "[0].foo"`. */
export function jsonPatchFindings(text: string): FieldFinding[] {
  const out: FieldFinding[] = [];
  new JsonScanner(text, out, true).value(JSON_PATCH_OPERATIONS, '');
  return out;
}

/** Unknown fields of an object (a patch result, a YAML body), keys in sorted order as the converter reports them. */
export function unknownFields(o: unknown, spec: FieldSpec, path = '', out: FieldFinding[] = []): FieldFinding[] {
  if (spec.kind === 'any' || typeof o !== 'object' || o === null) return out;
  if (spec.kind === 'list') {
    if (Array.isArray(o)) o.forEach((e, i) => unknownFields(e, spec.items, `${path}[${i}]`, out));
    return out;
  }
  if (Array.isArray(o)) return out;
  for (const key of Object.keys(o).sort()) {
    const child = known(spec, key);
    if (child === undefined) out.push({ problem: 'unknown', path: childPath(path, key) });
    else unknownFields((o as Obj)[key], child, childPath(path, key), out);
  }
  return out;
}

/** Drops unknown fields in place, as decoding into the typed object does (Warn and Ignore). */
export function pruneUnknown(o: unknown, spec: FieldSpec): void {
  if (spec.kind === 'any' || typeof o !== 'object' || o === null) return;
  if (spec.kind === 'list') {
    if (Array.isArray(o)) for (const e of o) pruneUnknown(e, spec.items);
    return;
  }
  if (Array.isArray(o)) return;
  for (const key of Object.keys(o)) {
    const child = known(spec, key);
    if (child === undefined) delete (o as Obj)[key];
    else pruneUnknown((o as Obj)[key], child);
  }
}
