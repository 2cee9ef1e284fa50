/**
 * A UDP frontend: the VIP socket and a flow table, client address:port → one connected socket
 * to the endpoint chosen for that flow. Replies come back through the VIP socket, so the client
 * sees them from the address it sent to. Flows end when idle (shared coarse timer). The
 * source-range ACL is checked on every datagram.
 *
 * Bounds (README "Limits and protection"), checked when a datagram needs a new flow: the
 * source's fair share of this frontend's flows, the frontend's flows (`maxconn`), and the flow
 * sockets of the whole process (process-limits.ts). At a bound, the new flow evicts one of that
 * scope (udp-flow-table.ts): the oldest unassured flow idle for 500 ms, else an assured one
 * without a reply for 10 s; an established flow (a client datagram after a reply, answered in
 * the last 10 s) and a flow younger than 500 ms are never evicted. No candidate: the datagram
 * is dropped and counted. So under a flood of forged sources a new client's query lives long
 * enough to be answered, and conversations carry on.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { addSweeper, coarseNow, removeSweeper, type Sweeper } from './coarse-timer.js';
import type { FrontendContext, FrontendState } from './context.js';
import type { EndpointRuntime } from './backend-pool.js';
import { admitFlow, defaultFlowsPerSource, evictability, localResourceError, LogThrottle, type FlowCounts, type FlowScope } from './limits.js';
import { countResourceError, type RejectReason } from './metrics.js';
import { processBudget } from './process-limits.js';
import { unmapIPv4 } from './proxy-protocol.js';
import { FlowTable, oldestEvictable } from './udp-flow-table.js';

export { FlowTable } from './udp-flow-table.js';

/** A udp frontend's flows without `maxconn`: one socket each, within the process's flow sockets too. */
export const DEFAULT_MAX_FLOWS = 16384;

/** Unassured flows of every frontend of the process, oldest first: where the process's bound evicts. */
const processUnassured = new Set<UdpFlow>();
const udpFrontends = new Set<UdpFrontend>();

const REFUSAL: Record<FlowScope, RejectReason> = { source: 'sourceFlowLimit', frontend: 'flowTableFull', process: 'processFlowLimit' };
/** Datagrams held while a new flow's socket connects; more are dropped (the client retries). */
const MAX_QUEUED_PER_FLOW = 64;

const kFlow = Symbol('fulcrum.flow');
type FlowSocket = dgram.Socket & { [kFlow]: UdpFlow };

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
  /** Coarse time of the last reply from the endpoint; 0: none yet. */
  lastReplyMs = 0;
  /** A client datagram came after a reply: a conversation (limits.ts `evictability`). */
  assured = false;

  constructor(frontend: UdpFrontend, ctx: FrontendContext, clientAddress: string, clientPort: number, endpoint: EndpointRuntime) {
    this.frontend = frontend;
    this.ctx = ctx;
    this.clientAddress = clientAddress;
    this.clientPort = clientPort;
    this.endpoint = endpoint;
    this.lastActiveMs = coarseNow();
    processBudget.udpFlowSockets++;
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
    processBudget.udpFlowSockets--;
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
  f.lastActiveMs = f.lastReplyMs = coarseNow();
  f.ctx.stats.bytesOut += msg.length;
  f.frontend.reply(msg, f.clientPort, f.clientAddress);
}

function onUpstreamError(this: FlowSocket, err: NodeJS.ErrnoException): void {
  // ECONNREFUSED here is an ICMP port unreachable from the endpoint: the flow ends, the next
  // datagram from the client starts a new one (possibly on another endpoint).
  // EMFILE and the like (no socket for the flow) are the proxy's trouble, not the endpoint's.
  const f = this[kFlow];
  const local = localResourceError(err.code);
  if (local !== undefined) {
    countResourceError('udpFlow', local);
    f.ctx.stats.rejected.localResources++;
  } else {
    f.ctx.pool.onConnectFailed(f.endpoint, err.code === 'ECONNREFUSED' ? 'connectRefused' : 'connectError', coarseNow());
  }
  f.frontend.removeFlow(f);
}

export class UdpFrontend implements Sweeper {
  ctx: FrontendContext;
  state: FrontendState = 'warming';
  readonly flows = new FlowTable<UdpFlow>();
  /** The engine's default bound of flows (a frontend's `maxconn` overrides it) and share per source (0: derived). */
  readonly #defaultMaxFlows: number;
  readonly #flowsPerSource: number;
  readonly #socket: dgram.Socket;
  #drainDeadlineMs = 0;
  #drained: (() => void) | null = null;
  /** Assured flows without a recent reply, collected by the sweep: the second choice for an eviction. */
  #stale: UdpFlow[] = [];
  readonly #logThrottles = new Map<string, LogThrottle>();

  constructor(ctx: FrontendContext, maxFlows = DEFAULT_MAX_FLOWS, flowsPerSource = 0) {
    this.ctx = ctx;
    this.#defaultMaxFlows = maxFlows;
    this.#flowsPerSource = flowsPerSource;
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
    udpFrontends.add(this);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /** The bound of this frontend's flows: its `maxconn`, else the engine's default. */
  get maxFlows(): number {
    return this.ctx.spec.maxconn ?? this.#defaultMaxFlows;
  }

  /** The most flows one client address may hold here (its fair share). */
  get maxFlowsPerSource(): number {
    return this.#flowsPerSource > 0 ? this.#flowsPerSource : defaultFlowsPerSource(this.maxFlows);
  }

  update(ctx: FrontendContext): void {
    this.ctx = ctx;
  }

  reply(msg: Buffer, port: number, address: string): void {
    if (this.state !== 'closed') this.#socket.send(msg, port, address);
  }

  removeFlow(f: UdpFlow): void {
    if (!this.flows.delete(f)) return;
    processUnassured.delete(f);
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
    const stale: UdpFlow[] = [];
    for (const f of this.flows.values()) {
      if (deadline || nowMs - f.lastActiveMs >= f.ctx.idleMs) this.removeFlow(f);
      else if (f.assured && evictability(f, nowMs) === 'stale') stale.push(f);
    }
    this.#stale = stale;
  }

  /** A stale assured flow still here and still stale, from the sweep's list. */
  popStale(nowMs: number): UdpFlow | undefined {
    for (let f = this.#stale.pop(); f !== undefined; f = this.#stale.pop()) if (f.frontend === this && this.flows.get(f.clientAddress, f.clientPort) === f && evictability(f, nowMs) === 'stale') return f;
    return undefined;
  }

  /** The flow a new one of `scope` may push out, if any (module comment: the order). */
  #victim(scope: FlowScope, address: string, nowMs: number): UdpFlow | undefined {
    if (scope === 'source') return this.flows.evictableOf(address, nowMs);
    if (scope === 'frontend') return oldestEvictable(this.flows.unassured, nowMs) ?? this.popStale(nowMs);
    const v = oldestEvictable(processUnassured, nowMs);
    if (v !== undefined) return v;
    for (const fe of udpFrontends) {
      const stale = fe.popStale(nowMs);
      if (stale !== undefined) return stale;
    }
    return undefined;
  }

  /** Room for a new flow from `address`: true when it fits, or fits after one eviction; else counted as refused. */
  #makeRoom(address: string, nowMs: number): boolean {
    const first = admitFlow(this.#counts(address));
    if (first.kind === 'admit') return true;
    const victim = this.#victim(first.scope, address, nowMs);
    if (victim !== undefined) {
      this.ctx.stats.evictions[first.scope]++;
      victim.frontend.removeFlow(victim);
      this.#note(`evict ${first.scope}`, { event: 'flowsEvicting', scope: first.scope });
      // One eviction frees a slot at its scope and every narrower one; a bound lowered by a reload may still be exceeded.
      if (admitFlow(this.#counts(address)).kind === 'admit') return true;
    }
    const reason = REFUSAL[first.scope];
    this.ctx.stats.rejected[reason]++;
    this.#note(reason, { event: 'limitReached', reason });
    return false;
  }

  #counts(address: string): FlowCounts {
    return {
      sourceFlows: this.flows.sourceCount(address),
      maxPerSource: this.maxFlowsPerSource,
      frontendFlows: this.flows.size,
      maxFlows: this.maxFlows,
      processSockets: processBudget.udpFlowSockets,
      maxProcessSockets: processBudget.maxUdpFlowSockets,
    };
  }

  /** Logs a limit at most once per 10 s per kind, with how many events it stands for. */
  #note(kind: string, fields: Record<string, unknown>): void {
    let t = this.#logThrottles.get(kind);
    if (t === undefined) this.#logThrottles.set(kind, (t = new LogThrottle()));
    const n = t.due(coarseNow());
    if (n > 0) this.ctx.log.warn({ ...fields, count: n, flows: this.flows.size, maxFlows: this.maxFlows, processFlowSockets: processBudget.udpFlowSockets, maxProcessFlowSockets: processBudget.maxUdpFlowSockets });
  }

  #checkDrained(): void {
    if (this.flows.size > 0 || this.#drained === null) return;
    this.state = 'closed';
    removeSweeper(this);
    udpFrontends.delete(this);
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
      if (!this.#makeRoom(rinfo.address, coarseNow())) return;
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
      processUnassured.add(flow);
    } else if (!flow.assured && flow.lastReplyMs !== 0) {
      // A datagram after a reply: a conversation, out of the eviction order for good.
      flow.assured = true;
      this.flows.assured(flow);
      processUnassured.delete(flow);
    }
    flow.lastActiveMs = coarseNow();
    ctx.stats.bytesIn += msg.length;
    flow.send(msg);
  }
}
