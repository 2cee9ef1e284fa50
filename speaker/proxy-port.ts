import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { errorMessage } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { FrontendSpec } from './plan-proxy.js';

/**
 * What the controller needs from the data plane: apply the full desired frontend list as a
 * diff (unchanged binds keep their sockets, removed ones stop accepting and drain), and stop.
 */
export interface ProxyPort {
  apply(frontends: readonly FrontendSpec[]): Promise<void>;
  /** Stop accepting everywhere; open connections get up to `drainTimeoutMs`, then are cut. */
  stop(drainTimeoutMs: number): Promise<void>;
}

/** UDP has no close: a client flow's upstream socket is dropped after this much silence. */
const UDP_FLOW_IDLE_MS = 30_000;

interface Live {
  spec: FrontendSpec;
  next: number;
  server: Server | undefined;
  udp: UdpSocket | undefined;
  conns: Set<Socket>;
  flows: Map<string, { socket: UdpSocket; timer: NodeJS.Timeout; endpoint: { address: string; port: number } }>;
}

/**
 * Interim L4 engine (until speaker/proxy's ProxyEngine lands): TCP with round-robin and the
 * PROXY v1 header (sent for v1 and v2 alike), UDP with one upstream socket per client flow.
 */
export class InterimProxy implements ProxyPort {
  readonly #log: Logger;
  readonly #live = new Map<string, Live>();
  readonly #draining = new Set<Live>();

  constructor(logger: Logger) {
    this.#log = logger.child({ part: 'proxy' });
  }

  async apply(frontends: readonly FrontendSpec[]): Promise<void> {
    const want = new Map(frontends.map((f) => [f.name, f]));
    for (const [name, live] of this.#live) {
      const next = want.get(name);
      if (next && next.address === live.spec.address && next.port === live.spec.port && next.protocol === live.spec.protocol) {
        live.spec = next; // in place: new connections use the new endpoints
        continue;
      }
      this.#live.delete(name);
      this.#drain(live, 30_000);
    }
    for (const f of frontends) {
      if (this.#live.has(f.name)) continue;
      try {
        this.#live.set(f.name, await this.#open(f));
      } catch (err) {
        this.#log.error({ event: 'frontendListenFailed', frontend: f.name, err: errorMessage(err) }, 'could not listen');
      }
    }
  }

  async stop(drainTimeoutMs: number): Promise<void> {
    const all = [...this.#live.values()];
    this.#live.clear();
    await Promise.all([...all.map((l) => this.#drain(l, drainTimeoutMs)), ...[...this.#draining].map((l) => this.#drain(l, drainTimeoutMs))]);
  }

  async #open(spec: FrontendSpec): Promise<Live> {
    const live: Live = { spec, next: 0, server: undefined, udp: undefined, conns: new Set(), flows: new Map() };
    if (spec.protocol === 'TCP') {
      const server = createServer((c) => this.#onConnection(live, c));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: spec.address, port: spec.port, backlog: 1024 }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.#log.warn({ event: 'frontendError', frontend: spec.name, err: errorMessage(err) }));
      live.server = server;
    } else {
      const udp = createSocket({ type: spec.address.includes(':') ? 'udp6' : 'udp4' });
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(spec.port, spec.address, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      udp.on('message', (msg, rinfo) => this.#onDatagram(live, msg, rinfo));
      live.udp = udp;
    }
    this.#log.info({ event: 'frontendAdded', frontend: spec.name });
    return live;
  }

  #pick(live: Live): { address: string; port: number } | undefined {
    const eps = live.spec.endpoints;
    if (eps.length === 0) return undefined;
    live.next = (live.next + 1) % eps.length;
    return eps[live.next];
  }

  #onConnection(live: Live, client: Socket): void {
    const ep = this.#pick(live);
    if (!ep) {
      client.destroy();
      return;
    }
    live.conns.add(client);
    const upstream = createConnection({ host: ep.address, port: ep.port });
    if (live.spec.proxyProtocol !== 'none') upstream.write(proxyV1(client));
    client.pipe(upstream);
    upstream.pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      live.conns.delete(client);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  }

  #onDatagram(live: Live, msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    let flow = live.flows.get(key);
    if (!flow) {
      const ep = this.#pick(live);
      if (!ep) return;
      const socket = createSocket({ type: ep.address.includes(':') ? 'udp6' : 'udp4' });
      socket.on('message', (reply) => live.udp?.send(reply, rinfo.port, rinfo.address));
      socket.on('error', () => undefined);
      const f = { socket, timer: setTimeout(() => undefined, 0), endpoint: ep };
      live.flows.set(key, (flow = f));
    }
    const f = flow;
    clearTimeout(f.timer);
    f.timer = setTimeout(() => {
      f.socket.close();
      live.flows.delete(key);
    }, UDP_FLOW_IDLE_MS);
    f.timer.unref();
    f.socket.send(msg, f.endpoint.port, f.endpoint.address);
  }

  #drain(live: Live, timeoutMs: number): Promise<void> {
    this.#draining.add(live);
    live.server?.close();
    live.udp?.close();
    live.udp = undefined;
    for (const f of live.flows.values()) {
      clearTimeout(f.timer);
      f.socket.close();
    }
    live.flows.clear();
    this.#log.info({ event: 'frontendDraining', frontend: live.spec.name, connections: live.conns.size });
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearInterval(poll);
        clearTimeout(deadline);
        for (const c of live.conns) c.destroy();
        this.#draining.delete(live);
        resolve();
      };
      const poll = setInterval(() => live.conns.size === 0 && done(), 50);
      const deadline = setTimeout(done, timeoutMs);
    });
  }
}

function proxyV1(client: Socket): string {
  const unmap = (a: string | undefined) => (a ?? '').replace(/^::ffff:(?=\d+\.)/, '');
  const src = unmap(client.remoteAddress);
  const dst = unmap(client.localAddress);
  return `PROXY ${src.includes(':') ? 'TCP6' : 'TCP4'} ${src} ${dst} ${client.remotePort} ${client.localPort}\r\n`;
}
