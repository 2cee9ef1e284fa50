// The load generators and backends of the L4 suite, each a bounded child process.
import { fileURLToPath } from 'node:url';
import { runToEnd, start, waitForOutput, waitForPort, type Spawned } from '../lib/children.js';
import { parseIperf3, parseUdpLoad, parseWrk, type WrkResult } from './parse.js';

const NODE = process.execPath;
const UDP_LOAD = fileURLToPath(new URL('./udp-load.js', import.meta.url));
const UDP_ECHO = fileURLToPath(new URL('./udp-echo.js', import.meta.url));
const HTTP_BACKEND = fileURLToPath(new URL('./http-backend.js', import.meta.url));

/** Slack on top of a run's own duration before `timeout` kills a stuck load generator. */
export const SLACK_S = 20;

export interface LoadOptions {
  host: string;
  port: number;
  seconds: number;
  cpus: string | undefined;
  /** Network namespace of the load generator (the nodes suite); default: this one. */
  netns?: string;
}

/**
 * wrk with one thread (it shares CPU 0 with the backend). `close` adds `Connection: close`:
 * the conn backend answers with `Connection: close` too, wrk closes first and reconnects, so
 * every request is a new TCP connection.
 */
export async function runWrk(o: LoadOptions & { connections: number; close: boolean }): Promise<WrkResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '5s', '--latency'];
  if (o.close) args.push('-H', 'Connection: close');
  args.push(`http://${o.host}:${o.port}/`);
  return parseWrk(await runToEnd('wrk', 'wrk', args, { cpus: o.cpus, netns: o.netns, maxSeconds: o.seconds + SLACK_S }));
}

/** One iperf3 TCP stream, default 128 KiB writes; the first `omitSeconds` (slow start) not counted. */
export async function runIperf3(o: LoadOptions & { omitSeconds: number }): Promise<number> {
  const args = ['-c', o.host, '-p', String(o.port), '-t', String(o.seconds), '-O', String(o.omitSeconds), '-J', '--connect-timeout', '3000'];
  const out = await runToEnd('iperf3 client', 'iperf3', args, { cpus: o.cpus, netns: o.netns, maxSeconds: o.seconds + o.omitSeconds + SLACK_S }).catch(
    (err: Error) => {
      // iperf3 -J prints its error as JSON and exits 1: surface that error, not the exit code
      const json = err.message.indexOf('{');
      if (json >= 0) parseIperf3(err.message.slice(json));
      throw err;
    },
  );
  return parseIperf3(out);
}

/** bench/l4/udp-load.js: 8 flows × 16 requests in flight of 64-byte datagrams. */
export async function runUdpLoad(o: LoadOptions): Promise<number> {
  const args = [UDP_LOAD, o.host, String(o.port), String(o.seconds), '8', '16'];
  return parseUdpLoad(await runToEnd('udp-load', NODE, args, { cpus: o.cpus, netns: o.netns, maxSeconds: o.seconds + SLACK_S })).packetsPerSec;
}

export async function startIperf3Server(host: string, port: number, cpus: string | undefined, maxSeconds: number, netns?: string): Promise<Spawned> {
  // --idle-timeout: a client killed mid-test must not leave the server stuck for the next one
  const s = start('iperf3 server', 'iperf3', ['-s', '-B', host, '-p', String(port), '--idle-timeout', '10', '--forceflush'], { cpus, maxSeconds, netns });
  await waitForOutput(s, /Server listening/, 5000);
  return s;
}

/** bench/l4/http-backend.js: the new-connection-per-request backend. */
export async function startHttpCloseBackend(host: string, port: number, cpus: string | undefined, maxSeconds: number, netns?: string): Promise<Spawned> {
  const s = start('conn backend', NODE, [HTTP_BACKEND, host, String(port)], { cpus, maxSeconds, netns });
  await waitForOutput(s, /^ready/m, 5000);
  return s;
}

export async function startUdpEcho(host: string, port: number, cpus: string | undefined, maxSeconds: number, netns?: string): Promise<Spawned> {
  const s = start('udp echo', NODE, [UDP_ECHO, host, String(port)], { cpus, maxSeconds, netns });
  await waitForOutput(s, /^ready/m, 5000);
  return s;
}

/** haproxy in the foreground (-db) on a config file; ready once `probePort` accepts. */
export async function startHaproxy(name: string, configFile: string, host: string, probePort: number, cpus: string | undefined, maxSeconds: number): Promise<Spawned> {
  const s = start(name, 'haproxy', ['-db', '-f', configFile], { cpus, maxSeconds });
  await waitForPort(host, probePort, 5000, s);
  return s;
}
