import { formatCount } from '../address.js';
import type { MigrationReport, PoolReport, ServiceOutcome, ServiceReport } from './report.js';

/** The text `fulcrum migrate-from-metallb` prints (`--output json` prints the report itself). Pure. */
export function formatMigrationReport(report: MigrationReport): string {
  const lines: string[] = [];
  const from = report.source === 'metallb' ? 'MetalLB resources' : report.source === 'configMap' ? "MetalLB's legacy ConfigMap" : 'no MetalLB config';
  lines.push(`${from}: ${plural(report.pools.length, 'pool')}, ${plural(report.services.length, 'LoadBalancer Service')}`);
  lines.push('');
  const counted = `${plural(report.errors.length, 'error')}, ${plural(report.warnings.length, 'warning')}`;
  lines.push(report.configValid ? `Config: valid (${counted})` : `Config: INVALID (${counted}): Fulcrum refuses it as a whole and assigns nothing`);
  const poolIssues = new Set(report.pools.flatMap((p) => p.issues));
  for (const e of report.errors) if (!poolIssues.has(`error: ${e}`)) lines.push(`  error: ${e}`);
  for (const w of report.warnings) if (!poolIssues.has(`warning: ${w}`)) lines.push(`  warning: ${w}`);
  if (report.pools.length > 0) {
    lines.push('', 'Pools');
    for (const p of report.pools) lines.push(...poolLines(p));
  }
  if (report.services.length > 0) {
    lines.push('', 'Services');
    const rows = report.services.map((s) => [s.service, s.current.length > 0 ? s.current.join(',') : '<pending>', outcomeText(s)]);
    const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
    report.services.forEach((s, i) => {
      const r = rows[i]!;
      lines.push(`  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`);
      for (const n of s.notes) lines.push(`      note: ${n}`);
    });
  }
  lines.push('', resultLine(report));
  return lines.join('\n') + '\n';
}

function poolLines(p: PoolReport): string[] {
  const sizes = (['IPv4', 'IPv6'] as const).filter((f) => p.size[f] !== null).map((f) => `${f}: ${formatCount(BigInt(p.size[f]!))}`);
  const out = [`  ${p.name}: ${p.addresses.join(', ') || '(no addresses)'} (${sizes.join(', ') || 'no address'})`];
  out.push(`    autoAssign: ${p.autoAssign}, avoidBuggyIPs: ${p.avoidBuggyIPs}`);
  const a = p.serviceAllocation;
  if (a) {
    const parts: string[] = [];
    parts.push(a.priority === null ? 'no priority' : `priority ${a.priority}`);
    if (a.namespaces.length > 0) parts.push(`namespaces [${a.namespaces.join(', ')}]`);
    if (a.namespaceSelectors.length > 0) parts.push(`namespaceSelectors ${a.namespaceSelectors.map((s) => `{${s}}`).join(' or ')}`);
    if (a.serviceSelectors.length > 0) parts.push(`serviceSelectors ${a.serviceSelectors.map((s) => `{${s}}`).join(' or ')}`);
    out.push(`    serviceAllocation: ${parts.join(', ')}`);
  }
  if (p.announcements.length === 0) {
    out.push('    announced by: nothing (no L2Advertisement selects it): its addresses are assigned, not announced');
  } else {
    const by = p.announcements.map((ad) => {
      const nodes = ad.nodeSelectors.length === 0 ? 'every node' : `nodes ${ad.nodeSelectors.map((s) => `{${s}}`).join(' or ')}`;
      const nics = ad.interfaces.length === 0 ? 'every interface' : `interfaces ${ad.interfaces.join(', ')}`;
      return `${ad.source} (${nodes}, ${nics})`;
    });
    out.push(`    announced by: ${by.join('; ')}`);
  }
  if (p.nodes !== null) out.push(`    nodes that may announce it: ${p.nodes.length > 0 ? p.nodes.join(', ') : 'none of the nodes listed'}`);
  out.push(`    Services: ${p.services.length > 0 ? p.services.join(', ') : 'none'}`);
  for (const i of p.issues) out.push(`    ${i}`);
  return out;
}

function held(addresses: readonly string[], pool: string): string {
  return `${addresses.join(', ')} (pool ${pool})`;
}

/** One sentence per Service: what Fulcrum does with it, and why when it is not what it had. */
export function outcomeText(s: ServiceReport): string {
  const o: ServiceOutcome = s.outcome;
  const current = s.current.join(', ');
  switch (o.kind) {
    case 'keeps':
      return `keeps ${held(o.addresses.filter((a) => !o.added.includes(a)), o.pool)}`;
    case 'gets':
      return `gets ${held(o.addresses, o.pool)}`;
    case 'pending':
      return `stays pending: ${o.message} (${o.reason})`;
    case 'loses': {
      const then = o.then.kind === 'gets' ? `gets ${held(o.then.addresses, o.then.pool)} instead` : `then gets nothing: ${o.then.message} (${o.then.reason})`;
      return `LOSES ${current}: ${o.message} (${o.reason}); ${then}`;
    }
    case 'invalid':
      return `INVALID request: ${o.message} (${o.reason}); ${o.holds ? `Fulcrum holds ${current} for it and changes nothing until it is fixed` : `Fulcrum cannot hold ${current || 'an address'} for it`}`;
    case 'notServed':
      return `${o.metallb ? 'NOT SERVED' : "not Fulcrum's"}: ${o.message}`;
    case 'unchecked':
      return `not checked: ${o.message}`;
  }
}

function resultLine(r: MigrationReport): string {
  const c = r.counts;
  // Services with an address that Fulcrum is to take over: not those of another provider.
  const had = r.services.filter((s) => s.current.length > 0 && !(s.outcome.kind === 'notServed' && !s.outcome.metallb)).length;
  const parts = [`${c.keeps} of ${plural(had, 'Service')} with an address ${had === 1 ? 'keeps' : 'keep'} it`];
  if (c.loses > 0) parts.push(`${c.loses} lose${c.loses === 1 ? 's' : ''} it`);
  if (c.invalid > 0) parts.push(`${c.invalid} with an invalid request`);
  const unserved = r.services.filter((s) => s.outcome.kind === 'notServed' && s.outcome.metallb).length;
  if (unserved > 0) parts.push(`${unserved} of another loadBalancerClass`);
  if (c.unchecked > 0) parts.push(`${c.unchecked} not checked`);
  if (c.gets > 0) parts.push(`${c.gets} pending get${c.gets === 1 ? 's' : ''} an address`);
  if (c.pending > 0) parts.push(`${c.pending} stay${c.pending === 1 ? 's' : ''} pending`);
  const verdict = r.ok ? 'Safe to migrate: no Service changes its address.' : 'Not safe to migrate as it is: fix what is marked above first.';
  return `Result: ${parts.join(', ')}. ${verdict}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
