// The shape every benchmark returns, and the one table/JSON writer for all of them.
// Pure except writeResults (the only function here that touches the file system).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FulcrumError } from '../../src/errors.js';

/** The four ways traffic can reach a backend in the L4 suite; other suites use `fulcrum` only. */
export const PATHS = ['fulcrum', 'haproxy', 'kernel', 'direct'] as const;
export type PathName = (typeof PATHS)[number];

/**
 * One measured figure per path, `null` where the path does not apply (haproxy has no UDP
 * frontend) or could not run (the proxy was not available). Higher is better unless
 * `lowerIsBetter` (latencies, durations).
 */
export interface Workload {
  name: string;
  unit: string;
  lowerIsBetter?: boolean;
  fulcrum: number | null;
  haproxy: number | null;
  kernel: number | null;
  direct: number | null;
  notes?: string;
}

/** What every benchmark module in dist/bench/ exports (bench/ipam.ts, bench/allocator.ts, …). */
export type BenchRun = (opts: { quick: boolean }) => Promise<Workload[]>;

/** The middle value (mean of the two middle ones for an even count); null for no samples. */
export function median(samples: readonly number[]): number | null {
  const finite = samples.filter((s) => Number.isFinite(s));
  if (finite.length === 0) return null;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** a / b, or null when either is missing or b is zero. Always the plain quotient, also for latencies. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return a / b;
}

/** About three significant figures, thousands separated by commas; '—' for null. */
export function formatFigure(value: number | null): string {
  if (value === null) return '—';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toFixed(digits);
}

function formatRatio(value: number | null): string {
  return value === null ? '—' : value.toFixed(2);
}

/** Column titles that say more than the path's name, e.g. `{ haproxy: 'haproxy (nbthread 1)' }`. */
export type PathLabels = Partial<Record<PathName, string>>;

/** The rows of the table as cells, header first: shared by the text and Markdown renderers. */
export function tableCells(workloads: readonly Workload[], labels: PathLabels = {}): string[][] {
  const header = ['workload', 'unit', ...PATHS.map((p) => labels[p] ?? p), 'F/haproxy', 'F/direct'];
  const rows = workloads.map((w) => [
    w.name,
    w.lowerIsBetter ? `${w.unit} (lower is better)` : w.unit,
    formatFigure(w.fulcrum),
    formatFigure(w.haproxy),
    formatFigure(w.kernel),
    formatFigure(w.direct),
    formatRatio(ratio(w.fulcrum, w.haproxy)),
    formatRatio(ratio(w.fulcrum, w.direct)),
  ]);
  return [header, ...rows];
}

/** A fixed-width text table for the terminal, numbers right-aligned, notes listed below it. */
export function formatTable(workloads: readonly Workload[], labels: PathLabels = {}): string {
  const cells = tableCells(workloads, labels);
  const widths = cells[0]!.map((_, col) => Math.max(...cells.map((row) => row[col]!.length)));
  const line = (row: string[]): string =>
    row.map((cell, col) => (col < 2 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  ').trimEnd();
  const out = [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
  const notes = workloads.filter((w) => w.notes).map((w) => `  ${w.name}: ${w.notes}`);
  if (notes.length > 0) out.push('', 'notes:', ...notes);
  return out.join('\n') + '\n';
}

/** The same table in GitHub Markdown, for bench/README.md. */
export function formatMarkdown(workloads: readonly Workload[], labels: PathLabels = {}): string {
  const cells = tableCells(workloads, labels);
  const row = (r: string[]): string => `| ${r.join(' | ')} |`;
  const align = `|${cells[0]!.map((_, col) => (col < 2 ? '---' : '---:')).join('|')}|`;
  return [row(cells[0]!), align, ...cells.slice(1).map(row)].join('\n') + '\n';
}

/** `2026-11-23T13-20-05Z`: an ISO instant that is also a portable file name. */
export function timestampName(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

/**
 * Writes the workloads as a JSON list to `<dir>/latest.json` and `<dir>/<timestamp>.json`
 * (only latest.json is committed; .gitignore keeps the dated copies local). Returns both paths.
 */
export function writeResults(dir: string, workloads: readonly Workload[], now: Date): { latest: string; dated: string } {
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(workloads, null, 2) + '\n';
  const latest = join(dir, 'latest.json');
  const dated = join(dir, `${timestampName(now)}.json`);
  writeFileSync(dated, text);
  writeFileSync(latest, text);
  return { latest, dated };
}

/** Checks a value read from another module or file really is a Workload list; names the bad field. */
export function assertWorkloads(value: unknown, source: string): Workload[] {
  if (!Array.isArray(value)) throw new FulcrumError('FUL_ERR_BENCH_RESULT', { source, reason: `expected a list of workloads, got ${typeof value}` });
  value.forEach((w: unknown, i) => {
    const rec = w as Record<string, unknown>;
    if (typeof rec?.name !== 'string' || typeof rec.unit !== 'string') {
      throw new FulcrumError('FUL_ERR_BENCH_RESULT', { source, reason: `workload ${i} has no string name/unit` });
    }
    for (const p of PATHS) {
      if (rec[p] !== null && typeof rec[p] !== 'number') {
        throw new FulcrumError('FUL_ERR_BENCH_RESULT', { source, reason: `workload "${rec.name}" field ${p} is ${JSON.stringify(rec[p])}, expected a number or null` });
      }
    }
  });
  return value as Workload[];
}
