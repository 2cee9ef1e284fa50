/**
 * What the Table printers share (lab/apiserver/table.ts, table-printers.ts, crd/printer.ts):
 * column and cell types, the Name and Age columns, kube's human durations, and readers of
 * wire-form objects. Pure.
 */
export type Obj = Record<string, unknown>;

export interface Column {
  name: string;
  type: 'string' | 'integer' | 'date' | 'number' | 'boolean';
  format?: string;
  description: string;
  priority?: number;
}

export type Cell = string | number | boolean | null;

export interface Printer {
  columns: Column[];
  cells(o: Obj, nowMs: number): Cell[];
}

export const NAME: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.' };
export const AGE: Column = { name: 'Age', type: 'string', description: 'Time since the object was created.' };

/** kube's duration.HumanDuration, as kubectl shows ages: 45s, 7m30s, 3h12m, 5d, 2y; more than a second ahead is <invalid>. */
export function humanDuration(ms: number): string {
  if (ms <= -2000) return '<invalid>';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

export function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Obj)[p] : undefined;
  return cur;
}

export function arr(o: unknown, ...path: string[]): Obj[] {
  const v = get(o, ...path);
  return Array.isArray(v) ? (v as Obj[]) : [];
}

export function str(o: unknown, ...path: string[]): string {
  const v = get(o, ...path);
  return typeof v === 'string' ? v : '';
}

/** The time since a timestamp, as kube's translateTimestampSince: `<unknown>` when absent. */
export function since(timestamp: string, nowMs: number): string {
  const t = Date.parse(timestamp);
  return Number.isFinite(t) ? humanDuration(nowMs - t) : '<unknown>';
}

export function age(obj: Obj, nowMs: number): string {
  return since(str(obj, 'metadata', 'creationTimestamp'), nowMs);
}
