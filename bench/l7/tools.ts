// The load generators of the L7 suite (wrk over http:// and https://, the full-handshake client)
// and the backend's connection counter, each bounded in time.
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FulcrumError } from '../../src/errors.js';
import { runToEnd } from '../lib/children.js';
import { parseWrk, type WrkResult } from '../l4/parse.js';
import { SLACK_S, type LoadOptions } from '../l4/tools.js';
import { acceptedConnections, parseTlsLoad, type TlsLoadResult } from './parse.js';

const TLS_LOAD = fileURLToPath(new URL('./tls-load.js', import.meta.url));


/**
 * wrk with one thread (it shares CPU 0 with the backend), `https://` when `tls`. `close` adds
 * `Connection: close`: every request on a new connection. Over TLS wrk resumes its session on
 * every reconnect, so it is used for keep-alive only there (see tls-load.ts).
 */
export async function runWrk(o: LoadOptions & { connections: number; close: boolean; tls: boolean }): Promise<WrkResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '5s', '--latency'];
  if (o.close) args.push('-H', 'Connection: close');
  args.push(`${o.tls ? 'https' : 'http'}://${o.host}:${o.port}/`);
  return parseWrk(await runToEnd('wrk', 'wrk', args, { cpus: o.cpus, maxSeconds: o.seconds + SLACK_S }));
}

/** bench/l7/tls-load.js: `concurrency` loops of new connection + full handshake + one request. */
export async function runTlsLoad(o: LoadOptions & { concurrency: number; serverName: string }): Promise<TlsLoadResult> {
  const args = [TLS_LOAD, o.host, String(o.port), String(o.seconds), String(o.concurrency), o.serverName];
  return parseTlsLoad(await runToEnd('tls-load', process.execPath, args, { cpus: o.cpus, maxSeconds: o.seconds + SLACK_S }));
}

/** Connections a haproxy has accepted so far, read from its stats socket (`show info`). */
export async function haproxyAcceptedConnections(socketPath: string, timeoutMs = 2000): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    let out = '';
    const sock = createConnection(socketPath);
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    sock.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    sock.once('end', () => resolve(out));
    sock.once('error', (err) => reject(new FulcrumError('FUL_ERR_BENCH_CHILD', { child: 'backend haproxy', reason: `stats socket ${socketPath}: ${err.message}` }, { cause: err })));
    sock.write('show info\n');
  });
  return acceptedConnections(text);
}
