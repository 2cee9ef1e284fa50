import { buggyCount, formatCount, rangeSize, type Family } from '../address.js';
import type { Config, Pool } from './types.js';

/** Assignable addresses of a pool per family (without .0/.255 under avoid-buggy-ips). */
export function poolSize(pool: Pool, family: Family): bigint | undefined {
  const ranges = pool.ranges.filter((r) => r.family === family);
  if (ranges.length === 0) return undefined;
  return ranges.reduce((n, r) => n + rangeSize(r) - (pool.avoidBuggyIps ? buggyCount(r) : 0n), 0n);
}

/** `1,024`, or `18,446,744,073,709,551,616 (2^64)` for big powers of two: exact at any size. */
export function formatSize(n: bigint | undefined): string {
  if (n === undefined) return '-';
  const bits = n.toString(2);
  const power = n >= 1n << 16n && /^10*$/.test(bits) ? ` (2^${bits.length - 1})` : '';
  return `${formatCount(n)}${power}`;
}

function options(pool: Pool): string {
  const out: string[] = [];
  if (!pool.autoAssign) out.push('auto-assign: false');
  if (pool.avoidBuggyIps) out.push('avoid-buggy-ips');
  if (pool.disabled) out.push('disabled');
  if (pool.nodeSelectors.length > 0) out.push(`node-selectors: ${pool.nodeSelectors.length}`);
  if (pool.interfaces.length > 0) out.push(`interfaces: ${pool.interfaces.join(',')}`);
  return out.join(', ');
}

/** The human summary `fulcrum check-config` prints for a valid config. Pure. */
export function summarizeConfig(config: Config, warnings: readonly string[]): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const lines = [`config OK: ${plural(config.pools.length, 'pool')}, ${plural(warnings.length, 'warning')}`];
  if (config.pools.length > 0) {
    const rows = [
      ['POOL', 'RANGES', 'IPv4', 'IPv6', 'OPTIONS'],
      ...config.pools.map((p) => [p.name, String(p.ranges.length), formatSize(poolSize(p, 'IPv4')), formatSize(poolSize(p, 'IPv6')), options(p)]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    lines.push('');
    for (const r of rows) lines.push(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  }
  if (warnings.length > 0) lines.push('', ...warnings.map((w) => `warning: ${w}`));
  return lines.join('\n') + '\n';
}
