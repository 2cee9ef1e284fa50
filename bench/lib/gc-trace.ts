/**
 * The live heap of a Node process over a long run, from V8's `--trace-gc` lines. Pure.
 *
 * RSS alone cannot tell a leak from a heap that has not been collected yet: V8 lets the old
 * generation grow to a limit set at the last full collection, so a process that allocates
 * slowly (an idle speaker, the allocator) grows for many minutes before its next mark-compact.
 * What a full collection leaves is the live heap: if that grows from one mark-compact to the
 * next, something is kept; if it stays, the RSS growth is garbage waiting for its collection.
 *
 * A line looks like (Node 20–24):
 *   [1234:0x5e0c8a0]    61234 ms: Mark-Compact 35.2 (50.1) -> 30.1 (48.0) MB, 12.3 / 0.1 ms  (…) …
 * (`Mark-Compact (reduce)` when V8 shrinks the heap under memory pressure).
 */

export interface MajorGc {
  /** Since the process started. */
  readonly atMs: number;
  /** Heap used before and after the collection. */
  readonly beforeMiB: number;
  readonly afterMiB: number;
}

const MARK_COMPACT = /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: Mark-Compact(?: \(reduce\))? ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/;

/** The mark-compacts in a log that also holds other lines (the program's own JSON log lines). */
export function majorGcs(log: string): MajorGc[] {
  const out: MajorGc[] = [];
  for (const line of log.split('\n')) {
    const m = MARK_COMPACT.exec(line);
    if (m) out.push({ atMs: Number(m[1]), beforeMiB: Number(m[2]), afterMiB: Number(m[3]) });
  }
  return out;
}

export interface LiveHeapGrowth {
  /** Mark-compacts after the warm-up. */
  readonly count: number;
  /** The live heap after the first and after the last of them (undefined with fewer than two). */
  readonly firstMiB: number | undefined;
  readonly lastMiB: number | undefined;
  readonly growthPct: number | undefined;
  readonly maxMiB: number | undefined;
}

/** Live heap after the first mark-compact past `warmupMs` against after the last one. */
export function liveHeapGrowth(gcs: readonly MajorGc[], warmupMs: number): LiveHeapGrowth {
  const after = gcs.filter((g) => g.atMs >= warmupMs);
  if (after.length < 2) return { count: after.length, firstMiB: after[0]?.afterMiB, lastMiB: undefined, growthPct: undefined, maxMiB: after[0]?.afterMiB };
  const first = after[0]!.afterMiB;
  const last = after.at(-1)!.afterMiB;
  return { count: after.length, firstMiB: first, lastMiB: last, growthPct: ((last - first) / first) * 100, maxMiB: Math.max(...after.map((g) => g.afterMiB)) };
}

/** The heap after a collection the soak forced (src/heap-probe.ts's JSON line), in log order. */
export function forcedHeaps(log: string): { readonly uptimeMs: number; readonly usedMiB: number }[] {
  const out: { uptimeMs: number; usedMiB: number }[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"heapAfterFullGc"')) continue;
    try {
      const j = JSON.parse(line) as { event?: string; usedBytes?: number; uptimeMs?: number };
      if (j.event === 'heapAfterFullGc' && typeof j.usedBytes === 'number') out.push({ uptimeMs: j.uptimeMs ?? 0, usedMiB: j.usedBytes / 1048576 });
    } catch {
      // a line that only mentions it
    }
  }
  return out;
}
