import { buggyCount, formatCount, rangeSize, type Family } from '../address.js';
import type { Config, ConfigSource, Pool, ServiceAllocation } from './types.js';

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

function options(pool: Pool, source: ConfigSource): string {
  return source === 'metallb' ? metallbOptions(pool) : configMapOptions(pool);
}

/** In the ConfigMap's words: every pool has exactly one advertisement (node-selectors, interfaces). */
function configMapOptions(pool: Pool): string {
  const out: string[] = [];
  if (!pool.autoAssign) out.push('auto-assign: false');
  if (pool.avoidBuggyIps) out.push('avoid-buggy-ips');
  if (pool.disabled) out.push('disabled');
  const nodeSelectors = pool.advertisements.reduce((n, a) => n + a.nodeSelectors.length, 0);
  const interfaces = [...new Set(pool.advertisements.flatMap((a) => a.interfaces))];
  if (nodeSelectors > 0) out.push(`node-selectors: ${nodeSelectors}`);
  if (interfaces.length > 0) out.push(`interfaces: ${interfaces.join(',')}`);
  return out.join(', ');
}

/** In MetalLB's words: its fields, and the L2Advertisements that announce the pool. */
function metallbOptions(pool: Pool): string {
  const out: string[] = [];
  if (!pool.autoAssign) out.push('autoAssign: false');
  if (pool.avoidBuggyIps) out.push('avoidBuggyIPs');
  if (pool.serviceAllocation) out.push(`serviceAllocation: {${allocationText(pool.serviceAllocation)}}`);
  const by = pool.advertisements.map((a) => (a.source ?? '?').replace(/^L2Advertisement "(.*)"$/, '$1'));
  out.push(by.length === 0 ? 'not announced (no L2Advertisement)' : `L2Advertisements: ${by.join(', ')}`);
  return out.join(', ');
}

/** `priority: 50, namespaces: [a, b], namespaceSelectors: 1, serviceSelectors: 1` (selectors counted). */
function allocationText(a: ServiceAllocation): string {
  const parts: string[] = [];
  if (a.priority !== undefined) parts.push(`priority: ${a.priority}`);
  if (a.namespaces.length > 0) parts.push(`namespaces: [${a.namespaces.join(', ')}]`);
  if (a.namespaceSelectors.length > 0) parts.push(`namespaceSelectors: ${a.namespaceSelectors.length}`);
  if (a.serviceSelectors.length > 0) parts.push(`serviceSelectors: ${a.serviceSelectors.length}`);
  return parts.join(', ');
}

/** The human summary `fulcrum check-config` prints for a valid config. Pure. */
export function summarizeConfig(config: Config, warnings: readonly string[], source: ConfigSource = 'configMap'): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const from = source === 'metallb' ? ' from MetalLB resources' : '';
  const lines = [`config OK: ${plural(config.pools.length, 'pool')}${from}, ${plural(warnings.length, 'warning')}`];
  if (config.pools.length > 0) {
    const rows = [
      ['POOL', 'RANGES', 'IPv4', 'IPv6', 'OPTIONS'],
      ...config.pools.map((p) => [p.name, String(p.ranges.length), formatSize(poolSize(p, 'IPv4')), formatSize(poolSize(p, 'IPv6')), options(p, source)]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    lines.push('');
    for (const r of rows) lines.push(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  }
  if (warnings.length > 0) lines.push('', ...warnings.map((w) => `warning: ${w}`));
  return lines.join('\n') + '\n';
}
