// Pure parsers of the L7 suite's tools: the handshake client's result line and haproxy's `show info`.
import { FulcrumError } from '../../src/errors.js';

export interface TlsLoadResult {
  handshakesPerSec: number;
  /** Connections that completed a full handshake and a 200 response within the run. */
  handshakes: number;
  /** Handshakes that resumed a session: must be 0, the figure is of full handshakes. */
  resumed: number;
  errors: number;
  seconds: number;
  /** What the first connection negotiated, e.g. TLSv1.3, TLS_AES_256_GCM_SHA384, X25519. */
  protocol: string;
  cipher: string;
  group: string;
  clientCpuSeconds: number;
}

/** The last line of bench/l7/tls-load.js: one JSON object. */
export function parseTlsLoad(text: string): TlsLoadResult {
  const line = text.trim().split('\n').pop() ?? '';
  let doc: Partial<TlsLoadResult>;
  try {
    doc = JSON.parse(line) as Partial<TlsLoadResult>;
  } catch (err) {
    throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'tls-load', reason: `last line is not JSON: ${line.slice(0, 300)}` }, { cause: err });
  }
  for (const key of ['handshakesPerSec', 'handshakes', 'resumed', 'errors', 'seconds'] as const) {
    if (typeof doc[key] !== 'number') throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'tls-load', reason: `no number ${key} in ${line.slice(0, 300)}` });
  }
  return {
    handshakesPerSec: doc.handshakesPerSec!,
    handshakes: doc.handshakes!,
    resumed: doc.resumed!,
    errors: doc.errors!,
    seconds: doc.seconds!,
    protocol: doc.protocol ?? '?',
    cipher: doc.cipher ?? '?',
    group: doc.group ?? '?',
    clientCpuSeconds: doc.clientCpuSeconds ?? 0,
  };
}

/** `Name: value` lines of haproxy's `show info`; `CumConns` is every connection it accepted. */
export function parseHaproxyInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(': ');
    if (at > 0) out.set(line.slice(0, at), line.slice(at + 2).trim());
  }
  return out;
}

/** Connections a haproxy accepted so far, from its `show info`. */
export function acceptedConnections(info: string): number {
  const value = Number(parseHaproxyInfo(info).get('CumConns'));
  if (!Number.isFinite(value)) throw new FulcrumError('FUL_ERR_BENCH_PARSE', { tool: 'haproxy show info', reason: `no CumConns in ${info.slice(0, 300)}` });
  return value;
}
