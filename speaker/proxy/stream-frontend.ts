/**
 * What the TCP and HTTP frontends share: one listening TCP socket, TLS terminated on it when the
 * frontend has `tls`, the limits on accepting (README "Limits and protection"), and the
 * lifecycle warming → active → draining → closed. `update(ctx)`
 * swaps the context (and the certificates for new handshakes) in place; `drain(timeoutMs)` stops
 * accepting, lets the subclass end what is idle, and resolves once no connection is left (the
 * subclass's sweep closes the rest at the deadline, `drainDeadlineReached`).
 */
import net from 'node:net';
import { addSweeper, coarseNow, removeSweeper, type Sweeper } from './coarse-timer.js';
import type { FrontendContext, FrontendState } from './context.js';
import { localResourceError, LogThrottle, SourceRateLimiter } from './limits.js';
import { countResourceError, type RejectReason } from './metrics.js';
import { processBudget } from './process-limits.js';
import { renewTermination, type TlsTermination } from './tls.js';

/**
 * Limits on accepting, checked before a connection costs anything more than its accept:
 *   1. the frontend's `maxconn`: Node's `server.maxConnections`, which closes a connection over
 *      the bound as soon as it is accepted, before any JavaScript object is built for it
 *      ('drop'). Node has no way to stop reading the accept queue and leave connections waiting
 *      in the kernel's backlog as haproxy does (libuv polls a listening socket for as long as it
 *      is open; closing and reopening it would reset everything queued and lose the port for a
 *      moment), so over the limit is refused, at once, and established connections carry on;
 *   2. the process's bound (process-limits.ts), across all frontends: reset (RST);
 *   3. the per-source connection rate, when set: reset (RST). Trusted PROXY-protocol peers speak
 *      for many clients and are not limited.
 * Each refusal is counted by reason and logged at most once per 10 s per reason.
 */
function onAcceptedClose(): void {
  processBudget.connections--;
}

export abstract class StreamFrontend implements Sweeper {
  ctx: FrontendContext;
  state: FrontendState = 'warming';
  protected readonly server: net.Server;
  /** TLS terminated here (`tls` on the frontend); null: plain. */
  protected tls: TlsTermination | null;
  #drainDeadlineMs = 0;
  #drained: (() => void) | null = null;
  #serverClosed = false;
  /** Per-source connection rate; kept across in-place updates while the rate is the same. */
  #rate: SourceRateLimiter | null = null;
  readonly #logThrottles = new Map<string, LogThrottle>();

  constructor(ctx: FrontendContext, options: net.ServerOpts) {
    this.ctx = ctx;
    this.tls = renewTermination(null, ctx.spec, ctx.log);
    this.server = net.createServer(options);
    this.server.on('connection', this.#accept.bind(this));
    this.server.on('drop', this.#dropped.bind(this));
    this.server.on('error', this.#listenerError.bind(this));
    this.#applyLimits(ctx);
  }

  #applyLimits(ctx: FrontendContext): void {
    this.server.maxConnections = ctx.spec.maxconn ?? Infinity;
    const rate = ctx.spec.maxConnectionRatePerSource;
    if (rate === undefined) this.#rate = null;
    else if (this.#rate === null || this.#rate.rate.count !== rate.count || this.#rate.rate.perMs !== rate.perMs) this.#rate = new SourceRateLimiter(rate);
  }

  #accept(socket: net.Socket): void {
    if (processBudget.connections >= processBudget.maxconn) {
      this.#refuse(socket, 'processMaxconn', processBudget.maxconn);
      return;
    }
    if (this.#rate !== null) {
      const remote = socket.remoteAddress;
      const ctx = this.ctx;
      if (remote !== undefined && (ctx.trustedProxies.matchesAll || !ctx.trustedProxies.contains(remote)) && !this.#rate.allow(remote, coarseNow())) {
        this.#refuse(socket, 'rateLimited', this.#rate.rate.count);
        return;
      }
    }
    processBudget.connections++;
    socket.on('close', onAcceptedClose);
    this.onConnection(socket);
  }

  #refuse(socket: net.Socket, reason: RejectReason, limit: number): void {
    this.ctx.stats.rejected[reason]++;
    socket.resetAndDestroy();
    this.noteLimit(reason, limit);
  }

  /** Over the frontend's maxconn: Node closed the connection at once. */
  #dropped(): void {
    this.ctx.stats.rejected.maxconn++;
    this.noteLimit('maxconn', this.server.maxConnections);
  }

  /** Accept failed: out of descriptors or memory is counted (and logged now and then), anything else logged. */
  #listenerError(err: NodeJS.ErrnoException): void {
    const code = localResourceError(err.code);
    if (code === undefined) {
      this.ctx.log.error({ event: 'listenerError', err });
      return;
    }
    countResourceError('accept', code);
    this.ctx.stats.rejected.localResources++;
    this.noteLimit('localResources', 0, code);
  }

  /** A refusal because of a limit: logged at most once per 10 s per reason, with how many it stands for. */
  protected noteLimit(reason: RejectReason, limit: number, code?: string): void {
    let t = this.#logThrottles.get(reason);
    if (t === undefined) this.#logThrottles.set(reason, (t = new LogThrottle()));
    const refused = t.due(coarseNow());
    if (refused > 0) this.ctx.log.warn({ event: 'limitReached', reason, limit, refused, open: this.openCount, processOpen: processBudget.connections, ...(code ? { code } : {}) });
  }

  /** Open connections (sessions) of this frontend. */
  protected abstract get openCount(): number;
  protected abstract onConnection(socket: net.Socket): void;
  /** Draining began: end what can end now. */
  protected abstract beginDrain(): void;
  abstract sweep(nowMs: number): void;
  /** Runs once the listening socket is bound (and again right after `listen` was called). */
  protected onListening(): void {}

  /** Binds the listener; resolves once it accepts (warming → active). */
  async listen(): Promise<void> {
    const { address, port } = this.ctx.spec.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: address, port }, () => {
        this.server.removeListener('error', onError);
        this.onListening(); // in a cluster worker the handle only exists now
        resolve();
      });
      this.onListening(); // a local listen has its handle at once: before any accept
    });
    this.state = 'active';
    addSweeper(this);
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : 0;
  }

  /** Same bind: new connections use `ctx` (new certificates for new handshakes); open ones keep theirs. */
  update(ctx: FrontendContext): void {
    this.tls = renewTermination(this.tls, ctx.spec, ctx.log);
    this.ctx = ctx;
    this.#applyLimits(ctx);
  }

  /** Stops accepting; resolves when every connection has ended or was closed at the deadline. */
  drain(timeoutMs: number): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    this.state = 'draining';
    this.#drainDeadlineMs = coarseNow() + timeoutMs;
    if (!this.#serverClosed) {
      this.#serverClosed = true;
      this.server.close();
    }
    this.beginDrain();
    const done = new Promise<void>((resolve) => (this.#drained = resolve));
    this.checkDrained();
    return done;
  }

  /** Draining and past the deadline: what is left is closed now. */
  protected drainDeadlineReached(nowMs: number): boolean {
    return this.state === 'draining' && nowMs >= this.#drainDeadlineMs;
  }

  /** A connection ended: when draining and none is left, the frontend is closed. */
  protected checkDrained(): void {
    if (this.state !== 'draining' || this.openCount > 0 || this.#drained === null) return;
    this.state = 'closed';
    removeSweeper(this);
    this.tls?.close();
    const resolve = this.#drained;
    this.#drained = null;
    resolve();
  }
}
