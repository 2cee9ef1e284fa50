import { fileURLToPath } from 'node:url';
import { parseProbeOutput, type ProbeKind, type ProbeResult } from './probe.js';
import { shardOfPod, type CheckKind, type CheckSpec } from './samples.js';
import type { Topology } from './topology.js';

/**
 * Real connections from the client namespace to Service addresses, and the table that `npm run
 * lab` prints. The owner is read from the client's own neighbour table (the MAC that answered
 * ARP/NDP for the address), not from what the speakers say about themselves.
 */

export interface CheckResult {
  readonly ok: boolean;
  /** e.g. "web-2 saw 192.0.2.2", "echoed", "connection refused". */
  readonly detail: string;
}

/** The probe's own deadline; the outer one only catches a probe that hangs or cannot start. */
const PROBE_TIMEOUT_MS = 3000;
const CHECK_TIMEOUT_MS = 6000;
const TOKEN = 'fulcrum-lab-check';
const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url));

const PROBE_KIND: Readonly<Record<CheckKind, ProbeKind>> = { 'tcp-echo': 'tcp', 'udp-echo': 'udp', http: 'http', https: 'https' };

/** The probe's command line for a check: `node dist/lab/probe.js tcp 192.0.2.64 5678 fulcrum-lab-check --timeout-ms 3000`. */
export function probeArgs(check: CheckKind | CheckSpec, address: string, port: number, caFile?: string): string[] {
  const spec = typeof check === 'string' ? { kind: check } : check;
  const web = spec.kind === 'http' || spec.kind === 'https';
  const args = [PROBE, PROBE_KIND[spec.kind], address, String(port), ...(web ? [] : [TOKEN]), '--timeout-ms', String(PROBE_TIMEOUT_MS)];
  if (web && spec.host !== undefined) args.push('--host', spec.host);
  if (spec.kind === 'https' && caFile !== undefined) args.push('--ca', caFile);
  return args;
}

/**
 * What a probe's result means for a check. Pure. An echo must return the token; an HTTP answer
 * must be the pod server's JSON, whose `client` is the address the backend saw (the client's own
 * through a PROXY header, else the proxy's node).
 */
export function interpretProbe(check: CheckKind | CheckSpec, r: ProbeResult): CheckResult {
  const spec = typeof check === 'string' ? { kind: check } : check;
  const kind = spec.kind;
  if (kind !== 'http' && kind !== 'https') {
    if (r.ok && r.reply === TOKEN) return { ok: true, detail: 'echoed' };
    if (r.ok) return { ok: false, detail: `answered "${(r.reply ?? '').slice(0, 40)}"` };
    return { ok: false, detail: r.reason === 'timeout' && kind === 'udp-echo' ? 'no answer' : (r.error ?? r.reason ?? 'failed') };
  }
  const b = r.body as { pod?: unknown; client?: { address?: unknown }; forwardedFor?: unknown } | undefined;
  if (r.ok && r.status === 200 && b && typeof b === 'object' && typeof b.pod === 'string') {
    if (spec.shard !== undefined && shardOfPod(b.pod) !== spec.shard) return { ok: false, detail: `${b.pod} answered for ${spec.host ?? 'the host'}: not of shard ${spec.shard}` };
    // Behind an HTTP frontend the client's address is in X-Forwarded-For; behind TCP, in the PROXY header.
    const client = typeof b.forwardedFor === 'string' ? `${b.forwardedFor.split(',').pop()!.trim()} (X-Forwarded-For)` : typeof b.client?.address === 'string' ? b.client.address : '?';
    const tls = r.tls ? `, ${r.tls.version}${r.tls.verified ? ' verified' : ''}` : '';
    return { ok: true, detail: `${b.pod} saw ${client}${tls}` };
  }
  if (r.status !== undefined) {
    const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? '');
    return { ok: false, detail: `HTTP ${r.status}: ${text.trim().slice(0, 60)}` };
  }
  return { ok: false, detail: r.error ?? r.reason ?? 'failed' };
}

/** One real connection from the client namespace, made by lab/probe.ts running there. */
export async function checkAddress(topo: Topology, kind: CheckKind | CheckSpec, address: string, port: number, caFile?: string): Promise<CheckResult> {
  const r = await topo.exec(topo.client.namespace, process.execPath, probeArgs(kind, address, port, caFile), { timeoutMs: CHECK_TIMEOUT_MS });
  const result = parseProbeOutput(r.stdout);
  if (result) return interpretProbe(kind, result);
  const why = r.stderr.trim().split('\n')[0]?.slice(0, 80);
  return { ok: false, detail: `probe ${r.signal ? `killed by ${r.signal}` : `exit ${r.code}`}${why ? `: ${why}` : ''}` };
}

/** A speaker's `/readyz`, asked inside its node namespace: "ok: 3 of 3 members alive", "not ready: …". */
export async function speakerReadyz(topo: Topology, nodeName: string, port: number): Promise<{ ready: boolean; text: string }> {
  const node = topo.node(nodeName);
  const r = await topo.exec(node.namespace, process.execPath, [PROBE, 'http', '127.0.0.1', String(port), '/readyz', '--timeout-ms', '1000'], { timeoutMs: 3000 });
  const result = parseProbeOutput(r.stdout);
  if (!result) return { ready: false, text: `probe exit ${r.code ?? r.signal}` };
  const text = typeof result.body === 'string' ? result.body.trim() : (result.error ?? result.reason ?? 'no answer');
  return { ready: result.ok && result.status === 200, text };
}

/** How many members a ready speaker sees alive, and of how many ("ok: 2 of 3 members alive"). */
export function membersAlive(readyz: string): { alive: number; members: number } | undefined {
  const m = /^ok: (\d+) of (\d+) members alive$/.exec(readyz);
  return m ? { alive: Number(m[1]), members: Number(m[2]) } : undefined;
}

/** The node whose MAC the client has for this address, if any. */
export async function ownerSeenByClient(topo: Topology, address: string): Promise<string | undefined> {
  const entry = (await topo.neighbours(topo.client.namespace)).find((n) => n.ip === address && n.mac);
  if (!entry) return undefined;
  return topo.nodes.find((n) => n.mac === entry.mac)?.name ?? `unknown MAC ${entry.mac}`;
}

export interface TableRow {
  readonly service: string;
  readonly address: string;
  readonly owner: string;
  readonly endpoints: string;
  readonly result: string;
}

/** A plain-text table with a header, columns padded to their widest cell. */
export function formatTable(rows: readonly TableRow[]): string {
  const header: TableRow = { service: 'SERVICE', address: 'ADDRESS', owner: 'OWNER', endpoints: 'ENDPOINTS', result: 'RESULT' };
  const cols: (keyof TableRow)[] = ['service', 'address', 'owner', 'endpoints', 'result'];
  const all = [header, ...rows];
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(...all.map((r) => r[c].length))])) as Record<keyof TableRow, number>;
  return all.map((r) => cols.map((c, i) => (i === cols.length - 1 ? r[c] : r[c].padEnd(width[c]))).join('  ')).join('\n');
}
