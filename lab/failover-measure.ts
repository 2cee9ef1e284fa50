/**
 * The failover demo's figures (lab/failover-demo.ts), from the client's attempts
 * (lab/failover-client.ts prints one line each). Pure.
 */

export interface Attempt {
  /** The attempt's number, from 0 in the order they were started (lines come in the order they end). */
  readonly n: number;
  /** When the connection was started, ms since the epoch. */
  readonly at: number;
  readonly ok: boolean;
  readonly ms: number;
  /** Why it failed: timeout, refused, unreachable, reset, closed, answer (a wrong reply), error. */
  readonly reason?: string;
}

/** One line of the client, or undefined for anything else. */
export function parseAttemptLine(line: string): Attempt | undefined {
  try {
    const a = JSON.parse(line) as Partial<Attempt> | null;
    if (a && typeof a.n === 'number' && typeof a.at === 'number' && typeof a.ok === 'boolean' && typeof a.ms === 'number') {
      return { n: a.n, at: a.at, ok: a.ok, ms: a.ms, ...(typeof a.reason === 'string' ? { reason: a.reason } : {}) };
    }
  } catch {
    // not an attempt line
  }
  return undefined;
}

export interface GapMeasure {
  /**
   * The longest time between the starts of two successive successful connections, over the
   * window (the last success before it counts as the first); with none after `from`, the time
   * from the last one to `until` (and `recovered` false).
   */
  readonly longestGapMs: number;
  readonly recovered: boolean;
  /** Attempts started in the window, and how many of them failed, by reason. */
  readonly attempts: number;
  readonly failed: number;
  readonly reasons: Readonly<Record<string, number>>;
}

/**
 * Whether every attempt started up to `until` has ended (and so is counted): those numbered up
 * to the last one seen started by then are all there.
 */
export function allEndedUpTo(attempts: readonly Attempt[], until: number): boolean {
  let last = -1;
  let ended = 0;
  for (const a of attempts) if (a.at <= until) last = Math.max(last, a.n);
  for (const a of attempts) if (a.n <= last) ended++;
  return ended === last + 1;
}

export function measureGap(attempts: readonly Attempt[], from: number, until: number): GapMeasure {
  const successes = attempts.filter((a) => a.ok).map((a) => a.at).sort((x, y) => x - y);
  const before = successes.filter((t) => t <= from).pop() ?? from;
  const inside = successes.filter((t) => t > from && t <= until);
  let longest = 0;
  let prev = before;
  for (const t of inside) {
    longest = Math.max(longest, t - prev);
    prev = t;
  }
  const windowed = attempts.filter((a) => a.at >= from && a.at <= until);
  const reasons: Record<string, number> = {};
  for (const a of windowed) if (!a.ok) reasons[a.reason ?? 'error'] = (reasons[a.reason ?? 'error'] ?? 0) + 1;
  return {
    longestGapMs: inside.length ? longest : until - before,
    recovered: inside.length > 0,
    attempts: windowed.length,
    failed: windowed.filter((a) => !a.ok).length,
    reasons,
  };
}

export type FaultKind = 'linkDown' | 'sigkill' | 'sigterm';
export const FAULTS: readonly FaultKind[] = ['linkDown', 'sigkill', 'sigterm'];

/** What each fault does to the owner, as the table says it. */
export const FAULT_TITLES: Readonly<Record<FaultKind, string>> = {
  linkDown: 'link down',
  sigkill: 'speaker SIGKILL',
  sigterm: 'speaker SIGTERM',
};

export interface FailoverRow {
  readonly fault: FaultKind;
  readonly oldOwner: string;
  readonly newOwner: string;
  readonly gap: GapMeasure;
  /** Time from the fault until the client saw the new owner and it served 30 connections in a row. */
  readonly movedMs: number;
  /** How the node was restored ("link up", "speaker restarted (restart 2)"), the owner after it, and how long that took. */
  readonly restored: string;
  readonly ownerAfterRestore: string;
  readonly restoreMs: number;
}

function reasonsText(reasons: Readonly<Record<string, number>>): string {
  const parts = Object.entries(reasons).sort(([, a], [, b]) => b - a).map(([r, n]) => `${n} ${r}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** "link down        ful-n2 → ful-n3  longest gap 318 ms, 29 of 140 connections failed (29 timeout)". */
export function formatFailoverRow(r: FailoverRow): string {
  const g = r.gap;
  const gap = `${g.recovered ? '' : '≥ '}${Math.round(g.longestGapMs)} ms`;
  return `${FAULT_TITLES[r.fault].padEnd(15)}  ${r.oldOwner} → ${r.newOwner}  longest gap ${gap}, ${g.failed} of ${g.attempts} connections failed${reasonsText(g.reasons)}`;
}

/** The summary table printed after the three faults. */
export function formatFailoverTable(rows: readonly FailoverRow[]): string {
  const header = ['FAULT', 'OLD OWNER', 'NEW OWNER', 'LONGEST GAP', 'FAILED', 'ATTEMPTS', 'RESTORED'];
  const cells = rows.map((r) => [
    FAULT_TITLES[r.fault], r.oldOwner, r.newOwner, `${r.gap.recovered ? '' : '≥ '}${Math.round(r.gap.longestGapMs)} ms`, String(r.gap.failed), String(r.gap.attempts),
    `${r.restored}; ${r.ownerAfterRestore === r.oldOwner ? `back to ${r.oldOwner}` : `${r.ownerAfterRestore} keeps it`} (${(r.restoreMs / 1000).toFixed(1)}s)`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [header, ...cells].map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ')).join('\n');
}
