// Pure parsers of the load generators' outputs.
import { FulcrumError } from '../../src/errors.js';

export interface WrkResult {
  requestsPerSec: number;
  /** null when wrk ran without --latency. */
  p99Ms: number | null;
  requests: number;
  /** connect + read + write + timeout socket errors, plus non-2xx/3xx responses. */
  errors: number;
}

const TIME_UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60000 };

function toMs(value: string, unit: string): number {
  const factor = TIME_UNIT_MS[unit];
  if (factor === undefined) throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'wrk', reason: `unknown time unit "${unit}" in "${value}${unit}"` });
  return Number(value) * factor;
}

export function parseWrk(text: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!rps) throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'wrk', reason: `no "Requests/sec" in output: ${text.slice(-500)}` });
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(text);
  const total = /(\d+) requests in/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const errors =
    (sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return {
    requestsPerSec: Number(rps[1]),
    p99Ms: p99 ? toMs(p99[1]!, p99[2]!) : null,
    requests: total ? Number(total[1]) : 0,
    errors,
  };
}

/** Receiver-side throughput of an `iperf3 -J` client run, in Gbit/s. */
export function parseIperf3(text: string): number {
  let doc: { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  try {
    doc = JSON.parse(text.slice(text.indexOf('{'))) as typeof doc;
  } catch (err) {
    throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'iperf3', reason: `output is not JSON: ${text.slice(0, 300)}` }, { cause: err });
  }
  if (doc.error) throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'iperf3', reason: doc.error });
  const bps = doc.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'iperf3', reason: `no end.sum_received.bits_per_second (got ${JSON.stringify(bps)})` });
  return bps / 1e9;
}

export interface UdpLoadResult {
  packetsPerSec: number;
  sent: number;
  received: number;
  seconds: number;
}

/** The last line of bench/l4/udp-load.js: one JSON object. */
export function parseUdpLoad(text: string): UdpLoadResult {
  const line = text.trim().split('\n').pop() ?? '';
  let doc: Partial<UdpLoadResult>;
  try {
    doc = JSON.parse(line) as Partial<UdpLoadResult>;
  } catch (err) {
    throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'udp-load', reason: `last line is not JSON: ${line.slice(0, 300)}` }, { cause: err });
  }
  if (typeof doc.packetsPerSec !== 'number') throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'udp-load', reason: `no packetsPerSec in ${line}` });
  return { packetsPerSec: doc.packetsPerSec, sent: doc.sent ?? 0, received: doc.received ?? 0, seconds: doc.seconds ?? 0 };
}
