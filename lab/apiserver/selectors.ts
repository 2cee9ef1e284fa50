import type { FieldGetter, ResourceDef } from './resources.js';
import { badRequest, type Obj } from './status.js';

/** One parsed label requirement, as in k8s.io/apimachinery/pkg/labels. */
export type LabelRequirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: readonly string[] }
  | { op: 'exists' | 'notexists'; key: string };

export type LabelSelector = readonly LabelRequirement[];

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function checkKey(key: string, whole: string): string {
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: <nil>: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') (in "${whole}")`);
  return key;
}

function checkValue(value: string): string {
  if (!VALUE.test(value)) throw badRequest(`unable to parse requirement: values[0][${value}]: Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  return value;
}

/** Parses `k=v,k!=v,k in (a,b),k notin (a),k,!k`; a syntax error is a 400 as on the real server. */
export function parseLabelSelector(raw: string | null | undefined): LabelSelector {
  if (raw === null || raw === undefined || raw.trim() === '') return [];
  const out: LabelRequirement[] = [];
  for (const part0 of splitTopLevel(raw)) {
    const part = part0.trim();
    if (part === '') throw badRequest(`unable to parse requirement: found '', expected: identifier`);
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([^\s=!(),]+)$/.exec(part))) out.push({ op: 'notexists', key: checkKey(m[1]!, raw) });
    else if ((m = /^([^\s=!(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part))) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim()));
      out.push({ op: m[2] as 'in' | 'notin', key: checkKey(m[1]!, raw), values });
    } else if ((m = /^([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(part))) {
      out.push({ op: m[2] === '!=' ? 'neq' : 'eq', key: checkKey(m[1]!, raw), value: checkValue(m[3]!) });
    } else if ((m = /^([^\s=!(),]+)$/.exec(part))) out.push({ op: 'exists', key: checkKey(m[1]!, raw) });
    else throw badRequest(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`);
  }
  return out;
}

export function labelsMatch(sel: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  for (const r of sel) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels![r.key] : undefined;
    switch (r.op) {
      case 'eq': if (v !== r.value) return false; break;
      case 'neq': if (v === r.value) return false; break;
      case 'in': if (!has || !r.values.includes(v!)) return false; break;
      case 'notin': if (has && r.values.includes(v!)) return false; break;
      case 'exists': if (!has) return false; break;
      case 'notexists': if (has) return false; break;
    }
  }
  return true;
}

/** A Service-style selector map matches labels when every pair is present. */
export function mapSelectorMatches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!labels) return Object.keys(selector).length === 0;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

export interface FieldRequirement { readonly field: string; readonly negate: boolean; readonly value: string; readonly get: FieldGetter }
export type FieldSelector = readonly FieldRequirement[];

const nameGetter: FieldGetter = (o) => o.metadata?.name ?? '';
const namespaceGetter: FieldGetter = (o) => o.metadata?.namespace ?? '';

/** Parses `f=v,f!=v` against the fields this resource supports; unknown fields → 400. */
export function parseFieldSelector(raw: string | null | undefined, def: ResourceDef): FieldSelector {
  if (raw === null || raw === undefined || raw.trim() === '') return [];
  const out: FieldRequirement[] = [];
  for (const part0 of raw.split(',')) {
    const part = part0.trim();
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${raw}'; can't understand '${part}'`);
    const field = m[1]!.trim();
    const get = field === 'metadata.name' ? nameGetter : field === 'metadata.namespace' ? namespaceGetter : def.fieldSelectors[field];
    if (!get) {
      // custom resources are answered by the generic field-label check
      if (def.custom) throw badRequest(`field label not supported: ${field}`);
      const known = ['metadata.name', 'metadata.namespace', ...Object.keys(def.fieldSelectors)];
      throw badRequest(`"${field}" is not a known field selector: only ${known.map((k) => `"${k}"`).join(', ')}`);
    }
    out.push({ field, negate: m[2] === '!=', value: m[3]!.trim(), get });
  }
  return out;
}

export function fieldsMatch(sel: FieldSelector, o: Obj): boolean {
  for (const r of sel) if ((r.get(o) === r.value) === r.negate) return false;
  return true;
}

/** The name a `metadata.name=X` requirement pins, so a list can skip the scan. */
export function pinnedName(sel: FieldSelector): string | undefined {
  return sel.find((r) => r.field === 'metadata.name' && !r.negate)?.value;
}
