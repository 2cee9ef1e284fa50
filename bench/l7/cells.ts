// The samples of one (workload, path) of the L7 suite, and how they become table rows: medians of
// the runs, and notes saying where the CPU went and what each path asked of the backend.
import { median, type Workload } from '../lib/report.js';

/** The L7 paths: the two proxies, and the direct path (load generator → backend) for plain HTTP. */
export const L7_PATHS = ['fulcrum', 'haproxy', 'direct'] as const;
export type L7Path = (typeof L7_PATHS)[number];

export interface Metric {
  key: string;
  name: string;
  unit: string;
  lowerIsBetter?: boolean;
  /**
   * A figure for the two proxies only: the CPU time of the proxy's processes (user+sys, all
   * threads and workers) over the run, divided by the units of work the run completed
   * (requests, connections, handshakes), times `scale`.
   */
  proxyCpuPer?: { scale: number };
}

/** What one run measured: its figures, the units of work done, and what the client saw. */
export interface Outcome {
  figures: Record<string, number>;
  units: number;
  errors: number;
  /** Handshakes that resumed a session (the handshake workloads; must stay 0). */
  resumed?: number;
  /** What was negotiated, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519". */
  negotiated?: string;
  /** CPU of the load generator, in cores, when it reports it. */
  clientCores?: number;
}

export interface Cell {
  figures: Record<string, number[]>;
  /** Per run: busy % of each core (the whole machine). */
  cpu: number[][];
  proxyCores: number[];
  backendCores: number[];
  clientCores: number[];
  /** Connections the backend accepted per unit of work, per run. */
  backendConnsPerUnit: number[];
  negotiated: Set<string>;
  errors: number;
  resumed: number;
  problems: string[];
}

export function emptyCell(): Cell {
  return { figures: {}, cpu: [], proxyCores: [], backendCores: [], clientCores: [], backendConnsPerUnit: [], negotiated: new Set(), errors: 0, resumed: 0, problems: [] };
}

/** One run's samples into its cell: the figures of every metric, CPU and backend use. */
export function record(cell: Cell, metrics: readonly Metric[], r: Outcome, run: { proxyCpuSeconds: number | null; wallSeconds: number; backendCpuSeconds: number; backendConns: number; busy: number[] }): void {
  if (run.proxyCpuSeconds !== null) cell.proxyCores.push(run.proxyCpuSeconds / run.wallSeconds);
  cell.backendCores.push(run.backendCpuSeconds / run.wallSeconds);
  if (r.clientCores !== undefined) cell.clientCores.push(r.clientCores);
  if (r.units > 0) cell.backendConnsPerUnit.push(run.backendConns / r.units);
  for (const m of metrics) {
    if (!m.proxyCpuPer) (cell.figures[m.key] ??= []).push(r.figures[m.key]!);
    else if (run.proxyCpuSeconds !== null && r.units > 0) (cell.figures[m.key] ??= []).push((run.proxyCpuSeconds / r.units) * m.proxyCpuPer.scale);
  }
  if (r.negotiated) cell.negotiated.add(r.negotiated);
  cell.cpu.push(run.busy);
  cell.errors += r.errors;
  cell.resumed += r.resumed ?? 0;
}

const cores = (xs: readonly number[]): string => (median(xs) ?? 0).toFixed(2);

/**
 * Where the CPU went, medians over the runs: the proxy's, the backend's and (when it reports it)
 * the load generator's own processes in cores, and each core's busy share for the whole machine.
 */
export function cpuNote(cells: Partial<Record<L7Path, Cell>>): string {
  const parts: string[] = [];
  for (const p of L7_PATHS) {
    const c = cells[p];
    if (!c || c.cpu.length === 0) continue;
    const width = Math.max(...c.cpu.map((b) => b.length));
    const busy = Array.from({ length: width }, (_, i) => Math.round(median(c.cpu.map((b) => b[i] ?? 0)) ?? 0));
    const proxy = c.proxyCores.length ? `proxy ${cores(c.proxyCores)} + ` : '';
    const client = c.clientCores.length ? ` + client ${cores(c.clientCores)}` : '';
    parts.push(`${p} ${proxy}backend ${cores(c.backendCores)}${client} cores, cpu busy ${busy.join('/')}%`);
  }
  return parts.length ? `CPU: ${parts.join('; ')}` : '';
}

/** How many connections the backend accepted per request or handshake, per path (reuse shows as ~0). */
export function backendNote(cells: Partial<Record<L7Path, Cell>>): string {
  const parts = L7_PATHS.flatMap((p) => {
    const v = cells[p] ? median(cells[p]!.backendConnsPerUnit) : null;
    return v === null ? [] : [`${p} ${v.toFixed(v < 0.01 ? 4 : 2)}`];
  });
  return parts.length ? `backend connections per unit: ${parts.join(', ')}` : '';
}

/** The rows of one workload: the median of each metric per path (kernel: always null here). */
export function toWorkloads(metrics: readonly Metric[], cells: Partial<Record<L7Path, Cell>>, extraNotes: readonly string[]): Workload[] {
  return metrics.map((m, i) => {
    const w: Workload = { name: m.name, unit: m.unit, fulcrum: null, haproxy: null, kernel: null, direct: null };
    if (m.lowerIsBetter) w.lowerIsBetter = true;
    const notes: string[] = [];
    for (const p of L7_PATHS) {
      const c = cells[p];
      const v = c ? median(c.figures[m.key] ?? []) : null;
      w[p] = v === null ? null : Number(v.toPrecision(4));
      if (i > 0 || !c) continue;
      if (c.problems.length > 0) notes.push(`${p}: ${c.problems.length} failed run(s), e.g. ${c.problems[0]}`);
      if (c.errors > 0) notes.push(`${p}: ${c.errors} socket errors/non-2xx`);
      if (c.resumed > 0) notes.push(`${p}: ${c.resumed} handshakes resumed a session (the figure is not of full handshakes only)`);
      if (c.negotiated.size > 0) notes.push(`${p} negotiated ${[...c.negotiated].join(' | ')}`);
    }
    if (i === 0) {
      notes.push(...extraNotes);
      const backend = backendNote(cells);
      if (backend) notes.push(backend);
      const cpu = cpuNote(cells);
      if (cpu) notes.push(cpu);
    }
    if (notes.length) w.notes = notes.join('; ');
    return w;
  });
}
