import { createSocket } from 'node:dgram';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseProxyHeader, type PeerAddress } from '../speaker/proxy/proxy-protocol.js';

/**
 * The lab's backend "container": run inside a pod namespace as
 *   node dist/lab/pod-server.js --name pod1 --http 8080 --tcp-echo 5678 --tcp-tick 5679 --udp-echo 5678 [--accept-proxy]
 *
 * - HTTP: GET / answers JSON {pod, client, peer, proxyProtocol, local, method, path, host,
 *   forwardedFor, forwardedProto} (the last two: X-Forwarded-For/-Proto, from an HTTP frontend):
 *   `peer` is the TCP peer (the proxy), `client` the address from the PROXY header when there is
 *   one, else the peer. GET /healthz answers 200 "ok".
 * - TCP echo: echoes every byte back (after a PROXY header, which is stripped).
 * - TCP tick, a server-first protocol (the server writes first, like an SMTP banner): on accept
 *   it writes `tick <name> 0\n` at once, then `tick <name> <n>\n` every 100 ms, and echoes
 *   every byte the client writes (a tick line is never split). With --accept-proxy it first waits
 *   up to 250 ms for a PROXY header (a proxy sends its header at once; a client that waits for
 *   the banner writes nothing).
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
  /** The server-first port: a banner at once, a tick line every 100 ms, and an echo. */
  readonly tcpTick?: number;
  readonly udpEcho?: number;
  readonly acceptProxy?: boolean;
  /** Listen address (default `::`, both families). */
  readonly host?: string;
}

export interface PodServer {
  readonly ports: PodServerPorts;
  close(): Promise<void>;
}

export interface PodServerPorts {
  http?: number;
  tcpEcho?: number;
  tcpTick?: number;
  udpEcho?: number;
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
/** How long a server-first port waits for a PROXY header's first byte before it writes. */
const FIRST_BYTE_WAIT_MS = 250;
export const TICK_INTERVAL_MS = 100;

/**
 * Reads an optional PROXY header off the start of a socket, then hands the socket on with the
 * remaining bytes put back. With `firstByteMs`, no byte within that time means no header.
 */
function readProxyHeader(socket: Socket, done: (info: ConnectionInfo) => void, firstByteMs?: number): void {
  let buffered = Buffer.alloc(0);
  const silent = firstByteMs === undefined ? undefined : setTimeout(() => {
    socket.off('data', onData);
    done({ proxyProtocol: null, source: undefined });
  }, firstByteMs);
  socket.once('close', () => clearTimeout(silent));
  const onData = (chunk: Buffer): void => {
    clearTimeout(silent);
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
  const ports: PodServerPorts = {};
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

  /** A TCP server on `port` whose open sockets are destroyed when the pod server closes. */
  const serveTcp = async (port: number, onSocket: (socket: Socket) => void): Promise<number> => {
    const sockets = new Set<Socket>();
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      onSocket(socket);
    });
    const bound = await listen(server, port, host);
    closers.push(() => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }));
    return bound;
  };

  if (options.tcpEcho !== undefined) {
    ports.tcpEcho = await serveTcp(options.tcpEcho, (socket) => {
      if (options.acceptProxy) readProxyHeader(socket, () => socket.pipe(socket));
      else socket.pipe(socket);
    });
  }

  if (options.tcpTick !== undefined) {
    const name = options.name;
    ports.tcpTick = await serveTcp(options.tcpTick, (socket) => {
      let timer: NodeJS.Timeout | undefined;
      const stop = (): void => clearInterval(timer);
      socket.on('close', stop);
      socket.on('end', stop); // the client is done: the echo ends our side, no tick after it
      const start = (): void => {
        if (socket.destroyed || !socket.writable) return;
        let n = 0;
        socket.write(`tick ${name} ${n}\n`);
        timer = setInterval(() => socket.write(`tick ${name} ${++n}\n`), TICK_INTERVAL_MS);
        socket.pipe(socket);
      };
      if (options.acceptProxy) readProxyHeader(socket, start, FIRST_BYTE_WAIT_MS);
      else start();
    });
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
      'tcp-tick': { type: 'string' },
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
    tcpTick: portFlag('tcp-tick', values['tcp-tick']),
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
