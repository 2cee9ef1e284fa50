/**
 * What the TCP and HTTP frontends share: one listening TCP socket, TLS terminated on it when the
 * frontend has `tls`, and the lifecycle warming → active → draining → closed. `update(ctx)`
 * swaps the context (and the certificates for new handshakes) in place; `drain(timeoutMs)` stops
 * accepting, lets the subclass end what is idle, and resolves once no connection is left (the
 * subclass's sweep closes the rest at the deadline, `drainDeadlineReached`).
 */
import net from 'node:net';
import { addSweeper, coarseNow, removeSweeper, type Sweeper } from './coarse-timer.js';
import type { FrontendContext, FrontendState } from './context.js';
import { renewTermination, type TlsTermination } from './tls.js';

export abstract class StreamFrontend implements Sweeper {
  ctx: FrontendContext;
  state: FrontendState = 'warming';
  protected readonly server: net.Server;
  /** TLS terminated here (`tls` on the frontend); null: plain. */
  protected tls: TlsTermination | null;
  #drainDeadlineMs = 0;
  #drained: (() => void) | null = null;
  #serverClosed = false;

  constructor(ctx: FrontendContext, options: net.ServerOpts) {
    this.ctx = ctx;
    this.tls = renewTermination(null, ctx.spec, ctx.log);
    this.server = net.createServer(options);
    this.server.on('connection', this.onConnection.bind(this));
    this.server.on('error', (err) => this.ctx.log.error({ event: 'listenerError', err }));
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
