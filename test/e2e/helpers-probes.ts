import type { NeighbourEvent } from '../../lab/capture.js';
import type { Lab } from '../../lab/lab.js';
import type { LabProcess } from '../../lab/netns.js';

/**
 * Test helpers (not a test file) of the speaker resilience e2e tests: a client that opens a new
 * connection every interval from the client namespace and records each attempt, and the pure
 * arithmetic on ARP captures (who answered for an address, and when two nodes did at once).
 */

// ---------------------------------------------------------------- the probing client

export type ProbeMode = 'echo' | 'http' | 'https';

export interface ProbeResult {
  /** Start of the attempt, ms since the epoch. */
  readonly t: number;
  readonly ok: boolean;
  readonly ms: number;
  readonly err?: string;
}

export interface ProberOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly mode: ProbeMode;
  /** http/https: the Host header (and for https the SNI name); default "lab". */
  readonly hostName?: string;
  /** https: the CA the certificate must verify against (required for https: nothing goes unverified). */
  readonly caFile?: string;
  /** http/https: an answer counts only if one of these pods sent it (host routing picked the right backends). */
  readonly pods?: readonly string[];
}

// Runs in the client namespace: every interval, one new TCP (or TLS) connection that must echo a
// token (or answer an HTTP GET with 200, from one of the expected pods) within the timeout; one
// JSON line per attempt on stdout.
const PROBER = `
const net = require('node:net');
const tls = require('node:tls');
const fs = require('node:fs');
const [host, port, intervalMs, timeoutMs, mode, hostName, caFile, pods] = process.argv.slice(1);
const TOKEN = 'fulcrum-resilience\\n';
const web = mode === 'http' || mode === 'https';
const ca = mode === 'https' ? fs.readFileSync(caFile) : undefined;
const podRe = pods ? new RegExp('"pod":"(' + pods.split(',').join('|') + ')"') : undefined;
const request = 'GET / HTTP/1.0\\r\\nHost: ' + (hostName || 'lab') + '\\r\\n\\r\\n';
function answered(got) {
  if (!web) return got === TOKEN;
  if (!/^HTTP\\/1\\.[01] 200/.test(got)) return false;
  return !podRe || podRe.test(got);
}
function attempt() {
  const t = Date.now();
  let done = false, got = '';
  const finish = (ok, err) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    s.destroy();
    process.stdout.write(JSON.stringify({ t, ok, ms: Date.now() - t, ...(err ? { err } : {}) }) + '\\n');
  };
  const send = () => s.write(web ? request : TOKEN);
  const s = mode === 'https'
    ? tls.connect({ host, port: Number(port), servername: hostName || undefined, ca, rejectUnauthorized: true }, send)
    : net.connect({ host, port: Number(port) }, send);
  const timer = setTimeout(() => finish(false, 'timeout'), Number(timeoutMs));
  s.on('data', (d) => {
    got += d;
    if (answered(got)) finish(true);
  });
  s.on('error', (e) => finish(false, e.code || e.message));
  s.on('close', () => {
    const pod = /"pod":"([^"]*)"/.exec(got);
    finish(false, podRe && pod ? 'answered by ' + pod[1] : 'closed after ' + JSON.stringify(got.slice(0, 40)));
  });
}
setInterval(attempt, Number(intervalMs));
attempt();
`;

export class ConnectionProber {
  readonly results: ProbeResult[] = [];
  /** `address:port`, and the Host when one is sent: `192.0.2.64:80 (shop.lab.example)`. */
  readonly target: string;
  #process: LabProcess | undefined;

  constructor(lab: Lab, address: string, port: number, o: ProberOptions) {
    if (o.mode === 'https' && o.caFile === undefined) throw new Error(`prober ${address}:${port}: https needs caFile`);
    this.target = `${address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`}${o.hostName ? ` (${o.hostName})` : ''}`;
    const args = [address, String(port), String(o.intervalMs), String(o.timeoutMs), o.mode, o.hostName ?? '', o.caFile ?? '', (o.pods ?? []).join(',')];
    this.#process = lab.topology.spawn(lab.topology.client.namespace, process.execPath, ['-e', PROBER, ...args], {
      name: `prober ${this.target}`,
      onStdoutLine: (line) => {
        try {
          this.results.push(JSON.parse(line) as ProbeResult);
        } catch {
          // not a result line
        }
      },
    });
  }

  /** Results whose attempt started in [fromMs, toMs). */
  between(fromMs: number, toMs = Infinity): ProbeResult[] {
    return this.results.filter((r) => r.t >= fromMs && r.t < toMs);
  }

  async stop(): Promise<void> {
    await this.#process?.stop(1000);
    this.#process = undefined;
  }
}

export interface ProbeSummary {
  readonly attempts: number;
  readonly failed: number;
  /** Longest time between two successful attempts' starts, ms. */
  readonly maxGapMs: number;
  readonly maxLatencyMs: number;
  readonly errors: string[];
}

/** Pure: failed attempts, the longest gap between successes, the slowest success. */
export function summarizeProbes(results: readonly ProbeResult[]): ProbeSummary {
  const sorted = [...results].sort((a, b) => a.t - b.t);
  let maxGapMs = 0;
  let last: number | undefined;
  for (const r of sorted) {
    if (!r.ok) continue;
    if (last !== undefined) maxGapMs = Math.max(maxGapMs, r.t - last);
    last = r.t;
  }
  const failed = sorted.filter((r) => !r.ok);
  return {
    attempts: sorted.length,
    failed: failed.length,
    maxGapMs,
    maxLatencyMs: Math.max(0, ...sorted.filter((r) => r.ok).map((r) => r.ms)),
    errors: [...new Set(failed.map((r) => r.err ?? '?'))].slice(0, 5),
  };
}

export function probeText(s: ProbeSummary): string {
  return `${s.attempts} attempts, ${s.failed} failed${s.errors.length ? ` (${s.errors.join(', ')})` : ''}, longest gap between successes ${s.maxGapMs} ms, slowest success ${s.maxLatencyMs} ms`;
}

// ---------------------------------------------------------------- who answered, from ARP captures

/** One node answering for an address: an ARP reply, or a gratuitous ARP, seen on the bridge. */
export interface Answer {
  readonly time: number;
  readonly node: string;
}

/** Pure: the answers for `address` from node ports in the capture, in time order (seconds). */
export function answersFor(events: readonly NeighbourEvent[], address: string, nodeByMac: ReadonlyMap<string, string>): Answer[] {
  const out: Answer[] = [];
  for (const e of events) {
    if (e.targetIp !== address) continue;
    const claims = e.op === 'arp-reply' || e.op === 'ndp-advert' || (e.op === 'arp-request' && e.gratuitous);
    const node = nodeByMac.get(e.srcMac);
    if (claims && node) out.push({ time: e.time, node });
  }
  return out.sort((a, b) => a.time - b.time);
}

/**
 * Pure: the longest time two nodes both answered for the address after `fromS`: for each node
 * the span from its first to its last answer after `fromS`, and the largest intersection of two
 * spans (0 when one node alone answered). Seconds.
 */
export function overlapSeconds(answers: readonly Answer[], fromS: number): number {
  const spans = new Map<string, { first: number; last: number }>();
  for (const a of answers) {
    if (a.time < fromS) continue;
    const s = spans.get(a.node);
    if (s) s.last = a.time;
    else spans.set(a.node, { first: a.time, last: a.time });
  }
  const list = [...spans.values()];
  let worst = 0;
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      worst = Math.max(worst, Math.min(list[i]!.last, list[j]!.last) - Math.max(list[i]!.first, list[j]!.first));
    }
  }
  return worst;
}

/** Pure: the last answer of `node` at or after `fromS`, if any. */
export function lastAnswer(answers: readonly Answer[], node: string, fromS: number): number | undefined {
  let last: number | undefined;
  for (const a of answers) if (a.node === node && a.time >= fromS) last = a.time;
  return last;
}
