/**
 * A UDP frontend: the VIP socket and a flow table, client address:port → one connected socket
 * to the endpoint chosen for that flow. Replies come back through the VIP socket, so the client
 * sees them from the address it sent to. Flows end when idle (shared coarse timer); the table
 * is bounded, and datagrams that would need a new flow beyond the bound are dropped and counted.
 * The source-range ACL is checked on every datagram.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { addSweeper, coarseNow, removeSweeper, type Sweeper } from './coarse-timer.js';
import type { FrontendContext, FrontendState } from './context.js';
import type { EndpointRuntime } from './backend-pool.js';
import { unmapIPv4 } from './proxy-protocol.js';

/** Flows beyond this are refused: 2 sockets' worth of fds each must fit the process limit. */
export const DEFAULT_MAX_FLOWS = 16384;
/** Datagrams held while a new flow's socket connects; more are dropped (the client retries). */
const MAX_QUEUED_PER_FLOW = 64;

const kFlow = Symbol('fulcrum.flow');
type FlowSocket = dgram.Socket & { [kFlow]: UdpFlow };

/**
 * Flows by client address, then port: a datagram finds its flow with two map lookups on the
 * values `dgram` already gives, without building a key string per datagram.
 */
export class FlowTable {
  readonly #byAddress = new Map<string, Map<number, UdpFlow>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(address: string, port: number): UdpFlow | undefined {
    return this.#byAddress.get(address)?.get(port);
  }

  add(f: UdpFlow): void {
    let ports = this.#byAddress.get(f.clientAddress);
    if (ports === undefined) this.#byAddress.set(f.clientAddress, (ports = new Map()));
    if (!ports.has(f.clientPort)) this.#size++;
    ports.set(f.clientPort, f);
  }

  /** Removes `f` if it is the flow held for its client; false otherwise. */
  delete(f: UdpFlow): boolean {
    const ports = this.#byAddress.get(f.clientAddress);
    if (ports?.get(f.clientPort) !== f) return false;
    ports.delete(f.clientPort);
    if (ports.size === 0) this.#byAddress.delete(f.clientAddress);
    this.#size--;
    return true;
  }

  *values(): IterableIterator<UdpFlow> {
    for (const ports of this.#byAddress.values()) yield* ports.values();
  }
}

export class UdpFlow {
  readonly frontend: UdpFrontend;
  readonly ctx: FrontendContext;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly endpoint: EndpointRuntime;
  readonly socket: dgram.Socket;
  connected = false;
  queue: Buffer[] | null = [];
  lastActiveMs: number;

  constructor(frontend: UdpFrontend, ctx: FrontendContext, clientAddress: string, clientPort: number, endpoint: EndpointRuntime) {
    this.frontend = frontend;
    this.ctx = ctx;
    this.clientAddress = clientAddress;
    this.clientPort = clientPort;
    this.endpoint = endpoint;
    this.lastActiveMs = coarseNow();
    const socket = dgram.createSocket(isIPv6(endpoint.address) ? 'udp6' : 'udp4') as FlowSocket;
    socket[kFlow] = this;
    socket.on('message', onUpstreamMessage);
    socket.on('connect', onUpstreamConnect);
    socket.on('error', onUpstreamError);
    socket.connect(endpoint.port, endpoint.address);
    this.socket = socket;
  }

  send(msg: Buffer): void {
    if (this.connected) this.socket.send(msg);
    else if (this.queue !== null && this.queue.length < MAX_QUEUED_PER_FLOW) this.queue.push(msg);
  }

  close(): void {
    this.queue = null;
    this.socket.close();
  }
}

function onUpstreamConnect(this: FlowSocket): void {
  const f = this[kFlow];
  f.connected = true;
  f.ctx.pool.onConnected(f.endpoint);
  const q = f.queue;
  f.queue = null;
  if (q !== null) for (const m of q) this.send(m);
}

function onUpstreamMessage(this: FlowSocket, msg: Buffer): void {
  const f = this[kFlow];
  f.lastActiveMs = coarseNow();
  f.ctx.stats.bytesOut += msg.length;
  f.frontend.reply(msg, f.clientPort, f.clientAddress);
}

function onUpstreamError(this: FlowSocket, err: NodeJS.ErrnoException): void {
  // ECONNREFUSED here is an ICMP port unreachable from the endpoint: the flow ends, the next
  // datagram from the client starts a new one (possibly on another endpoint).
  const f = this[kFlow];
  f.ctx.pool.onConnectFailed(f.endpoint, err.code === 'ECONNREFUSED' ? 'connectRefused' : 'connectError', coarseNow());
  f.frontend.removeFlow(f);
}

export class UdpFrontend implements Sweeper {
  ctx: FrontendContext;
  state: FrontendState = 'warming';
  readonly flows = new FlowTable();
  readonly maxFlows: number;
  readonly #socket: dgram.Socket;
  #drainDeadlineMs = 0;
  #drained: (() => void) | null = null;

  constructor(ctx: FrontendContext, maxFlows = DEFAULT_MAX_FLOWS) {
    this.ctx = ctx;
    this.maxFlows = maxFlows;
    this.#socket = dgram.createSocket(isIPv6(ctx.spec.listen.address) ? 'udp6' : 'udp4');
    this.#socket.on('message', this.#onMessage.bind(this));
    this.#socket.on('error', (err) => this.ctx.log.error({ event: 'listenerError', err }));
  }

  async listen(): Promise<void> {
    const { address, port } = this.ctx.spec.listen;
    await new Promise<void>((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind({ address, port }, () => {
        this.#socket.removeListener('error', reject);
        resolve();
      });
    });
    this.state = 'active';
    addSweeper(this);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  update(ctx: FrontendContext): void {
    this.ctx = ctx;
  }

  reply(msg: Buffer, port: number, address: string): void {
    if (this.state !== 'closed') this.#socket.send(msg, port, address);
  }

  removeFlow(f: UdpFlow): void {
    if (!this.flows.delete(f)) return;
    f.ctx.stats.connectionsCurrent--;
    f.endpoint.activeConnections--;
    f.close();
    if (this.state === 'draining') this.#checkDrained();
  }

  /** No new flows; existing ones live until idle or the deadline; then the VIP socket closes. */
  drain(timeoutMs: number): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    this.state = 'draining';
    this.#drainDeadlineMs = coarseNow() + timeoutMs;
    const done = new Promise<void>((resolve) => (this.#drained = resolve));
    this.#checkDrained();
    return done;
  }

  /**
   * Ends a draining frontend now: its flows are dropped and the socket closed, because another
   * frontend needs the same address and port (UDP keeps its socket while draining, for replies).
   */
  releaseBind(): Promise<void> {
    if (this.state !== 'draining') return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()));
    for (const f of [...this.flows.values()]) this.removeFlow(f);
    this.#checkDrained();
    return closed;
  }

  sweep(nowMs: number): void {
    const deadline = this.state === 'draining' && nowMs >= this.#drainDeadlineMs;
    for (const f of this.flows.values()) if (deadline || nowMs - f.lastActiveMs >= f.ctx.idleMs) this.removeFlow(f);
  }

  #checkDrained(): void {
    if (this.flows.size > 0 || this.#drained === null) return;
    this.state = 'closed';
    removeSweeper(this);
    this.#socket.close();
    const resolve = this.#drained;
    this.#drained = null;
    resolve();
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const ctx = this.ctx;
    if (!ctx.acl.allows(rinfo.address)) {
      ctx.stats.rejected.sourceRange++;
      return;
    }
    let flow = this.flows.get(rinfo.address, rinfo.port);
    if (flow === undefined) {
      if (this.state !== 'active') return;
      if (this.flows.size >= this.maxFlows) {
        ctx.stats.rejected.flowTableFull++;
        return;
      }
      const client = unmapIPv4(rinfo.address);
      const e = ctx.pool.pick(client, null, coarseNow());
      if (e === undefined) {
        ctx.stats.rejected.noEndpoint++;
        return;
      }
      e.activeConnections++;
      ctx.stats.connectionsTotal++;
      ctx.stats.connectionsCurrent++;
      flow = new UdpFlow(this, ctx, rinfo.address, rinfo.port, e);
      this.flows.add(flow);
    }
    flow.lastActiveMs = coarseNow();
    ctx.stats.bytesIn += msg.length;
    flow.send(msg);
  }
}
