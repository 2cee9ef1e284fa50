import { NAME, type Cell, type Column, type Printer } from '../table.js';
import type { Obj } from '../status.js';

/**
 * The Table of a custom resource, as apiextensions-apiserver's tableconvertor makes it: Name,
 * then the version's `additionalPrinterColumns` (described by their JSONPath unless they carry a
 * description), or, without any, kube's default Age column (type date, the creationTimestamp).
 * Note: declared columns replace the default, so MetalLB's pools show no Age.
 * JSONPath: the simple paths CRDs use (`.spec.a.b`, `[0]`, `[*]`, `[?(@.type=="Ready")]`). Pure.
 */

interface PrinterColumn {
  readonly name: string;
  readonly type: string;
  readonly format?: string;
  readonly description?: string;
  readonly priority?: number;
  readonly jsonPath: string;
}

const AGE_DEFAULT: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
};

type Step = { kind: 'field'; name: string } | { kind: 'index'; index: number } | { kind: 'all' } | { kind: 'filter'; path: string[]; value: string };

/** `.status.conditions[?(@.type=="Ready")].status` → steps; undefined for what is not understood (the cell is then null). */
function parsePath(p: string): Step[] | undefined {
  const steps: Step[] = [];
  const re = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*["']([^"']*)["']\)\]/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < p.length && (m = re.exec(p)) !== null) {
    at = re.lastIndex;
    if (m[1] !== undefined) steps.push({ kind: 'field', name: m[1] });
    else if (m[2] !== undefined) steps.push({ kind: 'index', index: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ kind: 'filter', path: m[3].split('.'), value: m[4]! });
    else steps.push({ kind: 'all' });
  }
  return at === p.length ? steps : undefined;
}

function dig(o: unknown, path: readonly string[]): unknown {
  let cur = o;
  for (const k of path) cur = cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? (cur as Obj)[k] : undefined;
  return cur;
}

/** Every value the path reaches (kube prints the first). */
function find(o: unknown, steps: readonly Step[]): unknown[] {
  let cur: unknown[] = [o];
  for (const s of steps) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (s.kind === 'field') {
        const c = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj)[s.name] : undefined;
        if (c !== undefined) next.push(c);
      } else if (Array.isArray(v)) {
        if (s.kind === 'index') { if (s.index < v.length) next.push(v[s.index]); }
        else if (s.kind === 'all') next.push(...v);
        else next.push(...v.filter((e) => String(dig(e, s.path)) === s.value));
      }
    }
    cur = next;
  }
  return cur;
}

/** JSONPath's printing of a value in a string column: strings as they are, anything else as JSON (Go maps: sorted keys). */
function printed(v: unknown): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Obj)[k]])) : x));
}

/** kube's cellForJSONValue: the value when it has the column's type, else null. */
function cell(type: string, v: unknown): Cell {
  switch (type) {
    case 'string': return printed(v);
    case 'integer': return typeof v === 'number' && Number.isInteger(v) ? v : null;
    case 'number': return typeof v === 'number' ? v : null;
    case 'boolean': return typeof v === 'boolean' ? v : null;
    case 'date': return typeof v === 'string' ? v : null;
    default: return null;
  }
}

export function customPrinter(declared: readonly PrinterColumn[] | undefined): Printer {
  const cols = declared && declared.length > 0 ? declared : [AGE_DEFAULT];
  const columns: Column[] = [NAME, ...cols.map((c) => ({
    name: c.name,
    type: c.type as Column['type'],
    format: c.format ?? '',
    description: c.description ?? `Custom resource definition column (in JSONPath format): ${c.jsonPath}`,
    priority: c.priority ?? 0,
  }))];
  const paths = cols.map((c) => parsePath(c.jsonPath));
  return {
    columns,
    cells: (o) => [
      String((o.metadata as Obj | undefined)?.name ?? ''),
      ...cols.map((c, i) => {
        const steps = paths[i];
        const found = steps ? find(o, steps) : [];
        return found.length === 0 ? null : cell(c.type, found[0]);
      }),
    ],
  };
}
