import { createSocket } from 'node:dgram';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseProxyHeader, type PeerAddress } from '../speaker/proxy/proxy-protocol.js';

/**
 * The lab's backend "container": run inside a pod namespace as
 *   node dist/lab/pod-server.js --name pod1 --http 8080 --tcp-echo 5678 --udp-echo 5678 [--accept-proxy]
 *
 * - HTTP: GET / answers JSON {pod, client, peer, proxyProtocol, local, method, path, host,
 *   forwardedFor, forwardedProto} (the last two: X-Forwarded-For/-Proto, from an HTTP frontend):
 *   `peer` is the TCP peer (the proxy), `client` the address from the PROXY header when there is
 *   one, else the peer. GET /healthz answers 200 "ok".
 * - TCP echo: echoes every byte back (after a PROXY header, which is stripped).
 * - UDP echo: echoes every datagram back.
 * With --accept-proxy, a connection may start with a PROXY v1 or v2 header; it is parsed and
 * reported, not required (a missing header gives proxyProtocol: null). An invalid one closes
 * the connection. Prints one JSON line {"event":"ready",…} on stdout when every port listens;
 * SIGTERM closes the listeners and exits 0.
 */

export interface PodServerOptions {
  readonly name: string;
  readonly http?: number;
  readonly tcpEcho?: number;
  readonly udpEcho?: number;
  readonly acceptProxy?: boolean;
  /** Listen address (default `::`, both families). */
  readonly host?: string;
}

export interface PodServer {
  readonly ports: { http?: number; tcpEcho?: number; udpEcho?: number };
  close(): Promise<void>;
}

interface ConnectionInfo {
  proxyProtocol: 'v1' | 'v2' | null;
  source: PeerAddress | undefined;
}

/** IPv4 clients of a dual-stack socket appear as ::ffff:a.b.c.d; report them as a.b.c.d. */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

const MAX_HEADER_WAIT_BYTES = 232; // v2 with IPv6 and some TLVs; more means it is not coming

/**
 * Reads an optional PROXY header off the start of a socket, then hands the socket on with the
 * remaining bytes put back.
 */
function readProxyHeader(socket: Socket, done: (info: ConnectionInfo) => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const h = parseProxyHeader(buffered);
    if (h.kind === 'incomplete' && buffered.length < MAX_HEADER_WAIT_BYTES) return;
    socket.off('data', onData);
    socket.pause();
    if (h.kind === 'invalid' || h.kind === 'incomplete') {
      socket.destroy();
      return;
    }
    const rest = h.kind === 'none' ? buffered : buffered.subarray(h.length);
    if (rest.length > 0) socket.unshift(rest);
    if (h.kind === 'none') done({ proxyProtocol: null, source: undefined });
    else done({ proxyProtocol: h.version === 1 ? 'v1' : 'v2', source: h.kind === 'proxy' ? h.source : undefined });
    socket.resume();
  };
  socket.on('data', onData);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ipv6Only: false }, () => resolve((server.address() as { port: number }).port));
  });
}

export async function startPodServer(options: PodServerOptions): Promise<PodServer> {
  const host = options.host ?? '::';
  const closers: (() => Promise<void>)[] = [];
  const ports: { http?: number; tcpEcho?: number; udpEcho?: number } = {};
  const info = new WeakMap<Socket, ConnectionInfo>();

  if (options.http !== undefined) {
    const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 }).end('ok\n');
        return;
      }
      const s = req.socket;
      const conn = info.get(s) ?? { proxyProtocol: null, source: undefined };
      const peer = { address: plainAddress(s.remoteAddress), port: s.remotePort ?? 0 };
      const body = {
        pod: options.name,
        client: conn.source ? { address: plainAddress(conn.source.address), port: conn.source.port } : peer,
        peer,
        proxyProtocol: conn.proxyProtocol,
        local: { address: plainAddress(s.localAddress), port: s.localPort ?? 0 },
        method: req.method,
        path: req.url,
        host: req.headers.host ?? null,
        forwardedFor: typeof req.headers['x-forwarded-for'] === 'string' ? req.headers['x-forwarded-for'] : null,
        forwardedProto: typeof req.headers['x-forwarded-proto'] === 'string' ? req.headers['x-forwarded-proto'] : null,
      };
      const text = JSON.stringify(body) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    });
    http.keepAliveTimeout = 5000;
    const front = createTcpServer({ pauseOnConnect: false }, (socket) => {
      if (!options.acceptProxy) {
        http.emit('connection', socket);
        return;
      }
      readProxyHeader(socket, (conn) => {
        info.set(socket, conn);
        http.emit('connection', socket);
      });
    });
    ports.http = await listen(front, options.http, host);
    closers.push(() => new Promise((r) => {
      http.closeAllConnections();
      front.close(() => r());
    }));
  }

  if (options.tcpEcho !== undefined) {
    const sockets = new Set<Socket>();
    const echo = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      if (options.acceptProxy) readProxyHeader(socket, () => socket.pipe(socket));
      else socket.pipe(socket);
    });
    ports.tcpEcho = await listen(echo, options.tcpEcho, host);
    closers.push(() => new Promise((r) => {
      for (const s of sockets) s.destroy();
      echo.close(() => r());
    }));
  }

  if (options.udpEcho !== undefined) {
    const udp = createSocket({ type: 'udp6', ipv6Only: false });
    udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
    ports.udpEcho = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(options.udpEcho, host, () => resolve(udp.address().port));
    });
    closers.push(() => new Promise((r) => udp.close(() => r())));
  }

  return {
    ports,
    async close() {
      await Promise.all(closers.map((c) => c()));
    },
  };
}

function portFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name}: "${value}" is not a port`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      http: { type: 'string' },
      'tcp-echo': { type: 'string' },
      'udp-echo': { type: 'string' },
      'accept-proxy': { type: 'boolean' },
      host: { type: 'string' },
    },
    strict: true,
  });
  const server = await startPodServer({
    name: values.name ?? process.env.POD_NAME ?? 'pod',
    http: portFlag('http', values.http),
    tcpEcho: portFlag('tcp-echo', values['tcp-echo']),
    udpEcho: portFlag('udp-echo', values['udp-echo']),
    acceptProxy: values['accept-proxy'] ?? false,
    host: values.host,
  });
  process.stdout.write(JSON.stringify({ event: 'ready', name: values.name, ports: server.ports }) + '\n');
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`pod-server: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
