import type { CheckKind } from './samples.js';
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

const CHECK_TIMEOUT_MS = 5000;
const TOKEN = 'fulcrum-lab-check';

// Runs inside the client namespace: one HTTP GET, prints the body (the pod server's JSON).
const HTTP_GET = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), timeout: 3000 }, () => s.write('GET / HTTP/1.1\\r\\nHost: lab\\r\\nConnection: close\\r\\n\\r\\n'));
let out = '';
s.on('data', (d) => (out += d));
s.on('end', () => process.stdout.write(out));
s.on('timeout', () => { console.error('timed out'); process.exit(1); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

function socatTarget(proto: 'TCP' | 'UDP', address: string, port: number): string {
  return address.includes(':') ? `${proto}6:[${address}]:${port}` : `${proto}4:${address}:${port}`;
}

function firstLine(text: string): string {
  return text.trim().split('\n').pop()?.replace(/^\d{4}\/\d\d\/\d\d [\d:.]+ socat\[\d+\] E /, '').slice(0, 80) ?? '';
}

export async function checkAddress(topo: Topology, kind: CheckKind, address: string, port: number): Promise<CheckResult> {
  const ns = topo.client.namespace;
  if (kind === 'http') {
    const r = await topo.exec(ns, process.execPath, ['-e', HTTP_GET, address, String(port)], { timeoutMs: CHECK_TIMEOUT_MS });
    if (r.code !== 0) return { ok: false, detail: firstLine(r.stderr) || `exit ${r.code ?? r.signal}` };
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(r.stdout)?.[1];
    const body = r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4);
    try {
      const b = JSON.parse(body) as { pod?: string; client?: { address?: string } };
      if (status === '200' && b.pod) return { ok: true, detail: `${b.pod} saw ${b.client?.address ?? '?'}` };
    } catch {
      // not the pod server's answer
    }
    return { ok: false, detail: `HTTP ${status ?? '?'}: ${body.trim().slice(0, 60)}` };
  }
  const proto = kind === 'udp-echo' ? 'UDP' : 'TCP';
  const r = await topo.exec(ns, 'socat', ['-T', '2', '-', socatTarget(proto, address, port)], { input: `${TOKEN}\n`, timeoutMs: CHECK_TIMEOUT_MS });
  if (r.stdout === `${TOKEN}\n`) return { ok: true, detail: 'echoed' };
  if (r.code !== 0) return { ok: false, detail: firstLine(r.stderr) || `exit ${r.code ?? r.signal}` };
  return { ok: false, detail: r.stdout === '' ? 'no answer' : `answered "${r.stdout.trim().slice(0, 40)}"` };
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
