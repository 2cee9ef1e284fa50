// Shared pieces of the proxy integration tests: model builders with defaults (rows override only
// what differs), backends on loopback port 0, and small clients. Everything is closed by `closeAll`.
import dgram from 'node:dgram';
import net from 'node:net';
import { ProxyEngine, type ProxyEngineOptions } from '../../speaker/proxy/engine.js';
import { DEFAULT_AFFINITY, DEFAULT_PASSIVE_EJECTION, DEFAULT_TIMEOUTS, type Backend, type Endpoint, type Frontend, type ProxyModel } from '../../speaker/proxy/model.js';
import { rootLogger } from '../../src/log.js';

export function frontend(name: string, over: Partial<Frontend> & { backend?: string } = {}): Frontend {
  const { backend, ...rest } = over;
  return {
    name,
    listen: { address: '127.0.0.1', port: 0 },
    protocol: 'tcp',
    routes: [{ match: { kind: 'any' }, backend: backend ?? name }],
    sourceRanges: [],
    acceptProxyProtocolFrom: [],
    timeouts: DEFAULT_TIMEOUTS,
    ...rest,
  };
}

export function endpoint(port: number, over: Partial<Endpoint> = {}): Endpoint {
  return { address: '127.0.0.1', port, ready: true, serving: true, terminating: false, weight: 1, ...over };
}

export function backend(name: string, endpoints: Endpoint[], over: Partial<Backend> = {}): Backend {
  return { name, balance: 'roundrobin', proxyProtocol: 'none', affinity: DEFAULT_AFFINITY, passiveEjection: DEFAULT_PASSIVE_EJECTION, connectAttempts: 3, endpoints, ...over };
}

export function model(frontends: Frontend[], backends: Backend[]): ProxyModel {
  return { workers: 1, frontends, backends };
}

/** Everything a test opened, closed in reverse order by `closeAll` (in after/afterEach hooks). */
export class Resources {
  readonly #closers: (() => Promise<void> | void)[] = [];

  add(close: () => Promise<void> | void): void {
    this.#closers.push(close);
  }

  async closeAll(): Promise<void> {
    while (this.#closers.length > 0) await this.#closers.pop()!();
  }

  engine(opts: ProxyEngineOptions = {}): ProxyEngine {
    const e = new ProxyEngine({ log: rootLogger.child({ component: 'proxy-test' }), drainTimeoutMs: 5000, ...opts });
    this.add(() => e.stop({ drainTimeoutMs: 0 }));
    return e;
  }

  /** A TCP backend; `onConnection` defaults to echo. Tracks its sockets so close() is prompt. */
  async server(onConnection: (s: net.Socket) => void = (s) => s.pipe(s), host = '127.0.0.1', port = 0): Promise<TestServer> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
      onConnection(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const t: TestServer = {
      port: (server.address() as net.AddressInfo).port,
      sockets,
      accepted: () => accepted,
      close: async () => {
        for (const s of sockets) s.destroy();
        if (server.listening) await new Promise<void>((r) => server.close(() => r()));
      },
    };
    let accepted = 0;
    server.on('connection', () => accepted++);
    this.add(t.close);
    return t;
  }

  /** A backend that writes its name and a newline on connect, then echoes. */
  namedServer(name: string, port = 0): Promise<TestServer> {
    return this.server((s) => {
      s.write(`${name}\n`);
      s.pipe(s);
    }, '127.0.0.1', port);
  }

  async udpEcho(prefix = ''): Promise<{ port: number; socket: dgram.Socket }> {
    const socket = dgram.createSocket('udp4');
    socket.on('message', (m, r) => socket.send(Buffer.concat([Buffer.from(prefix), m]), r.port, r.address));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    this.add(() => new Promise<void>((r) => socket.close(() => r())));
    return { port: socket.address().port, socket };
  }

  /**
   * A port nothing listens on: connects to it are refused. Taken below the ephemeral range
   * (32768+), so no outgoing connection can get it as its source port and connect to itself
   * (TCP simultaneous open on loopback); checked free by binding it once.
   */
  async deadPort(): Promise<number> {
    for (;;) {
      const port = 20000 + Math.floor(Math.random() * 12000);
      const s = net.createServer();
      const free = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (!free) continue;
      await new Promise<void>((r) => s.close(() => r()));
      return port;
    }
  }

  async connect(port: number, opts: { host?: string; localAddress?: string } = {}): Promise<net.Socket> {
    const s = net.connect({ port, host: opts.host ?? '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    s.on('error', () => undefined);
    this.add(() => void s.destroy());
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    return s;
  }
}

export interface TestServer {
  port: number;
  sockets: Set<net.Socket>;
  accepted(): number;
  close(): Promise<void>;
}

/** Everything the socket receives until it closes, and how it closed. */
export function collect(s: net.Socket): Promise<{ data: Buffer; error: string | undefined }> {
  const chunks: Buffer[] = [];
  let error: string | undefined;
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  return new Promise((resolve) => s.once('close', () => resolve({ data: Buffer.concat(chunks), error })));
}

/** Connects, reads the first line (a named backend's name), closes. undefined if refused or reset. */
export async function whoAnswers(port: number, localAddress?: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    // A silent answer is a failure of the test, not a hang.
    s.setTimeout(5000, () => {
      s.destroy();
      reject(new Error(`no greeting within 5 s on port ${port}`));
    });
    let buf = '';
    s.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.destroy();
        resolve(buf.slice(0, nl));
      }
    });
    s.on('error', () => resolve(undefined));
    s.on('close', () => resolve(undefined));
  });
}

export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (v: T) => resolve(v)));
}
