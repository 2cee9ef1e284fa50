/**
 * A TCP frontend: one listening socket, the sessions it accepted, and its lifecycle
 * (warming → active → draining → closed). `update(ctx)` swaps the context in place (same bind:
 * the listening socket is kept); `drain(deadlineMs)` stops accepting and lets sessions finish
 * until the deadline, then closes what is left.
 */
import net from 'node:net';
import { addSweeper, coarseNow, removeSweeper, type Sweeper } from './coarse-timer.js';
import type { FrontendContext, FrontendState } from './context.js';
import { unmapIPv4 } from './proxy-protocol.js';
import { KEEPALIVE_DELAY_MS, TcpSession, type SessionOwner } from './tcp-session.js';

/** The part of Node's listening TCP handle used here (`server._handle`; not a public API). */
interface ListenHandle {
  setNoDelay?: (on: boolean) => number;
  setKeepAlive?: (on: boolean, delaySeconds: number) => number;
}

export class TcpFrontend implements SessionOwner, Sweeper {
  ctx: FrontendContext;
  state: FrontendState = 'warming';
  readonly sessions = new Set<TcpSession>();
  readonly #server: net.Server;
  #drainDeadlineMs = 0;
  #drained: (() => void) | null = null;
  #serverClosed = false;
  #listenerOptionsSet = false;
  #perSocketOptions = false;

  constructor(ctx: FrontendContext) {
    this.ctx = ctx;
    // TCP_NODELAY and keepalive are set once on the listening socket (see #setListenerOptions):
    // Linux copies them to every accepted socket, which saves 5 setsockopt calls per connection.
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    this.#server.on('connection', this.#onConnection.bind(this));
    this.#server.on('error', this.#onServerError.bind(this));
  }

  /** Binds the listener; resolves once it accepts (warming → active). */
  async listen(): Promise<void> {
    const { address, port } = this.ctx.spec.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host: address, port }, () => {
        this.#server.removeListener('error', onError);
        this.#setListenerOptions(); // in a cluster worker the handle only exists now
        resolve();
      });
      this.#setListenerOptions(); // a local listen has its handle at once: before any accept
    });
    this.state = 'active';
    addSweeper(this);
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const a = this.#server.address();
    return a !== null && typeof a === 'object' ? a.port : 0;
  }

  /** In-place update: new connections use `ctx`; open ones keep theirs. */
  update(ctx: FrontendContext): void {
    this.ctx = ctx;
  }

  /** Stops accepting; resolves when every session has ended or was closed at the deadline. */
  drain(timeoutMs: number): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    this.state = 'draining';
    this.#drainDeadlineMs = coarseNow() + timeoutMs;
    if (!this.#serverClosed) {
      this.#serverClosed = true;
      this.#server.close();
    }
    const done = new Promise<void>((resolve) => (this.#drained = resolve));
    this.#checkDrained();
    return done;
  }

  sessionClosed(s: TcpSession): void {
    this.sessions.delete(s);
    s.ctx.stats.connectionsCurrent--;
    if (this.state === 'draining') this.#checkDrained();
  }

  /** Coarse tick: connect and PROXY-header timeouts, idle timeouts, the drain deadline. */
  sweep(nowMs: number): void {
    const draining = this.state === 'draining' && nowMs >= this.#drainDeadlineMs;
    for (const s of this.sessions) {
      if (draining) {
        s.abort();
        continue;
      }
      const idleFor = nowMs - s.lastActiveMs;
      if (s.state === 'established') {
        if (idleFor >= s.ctx.idleMs) s.abort();
      } else if (s.state === 'connecting') {
        if (idleFor >= s.ctx.connectMs && s.upstream !== null) s.connectFailed('connectTimeout');
      } else if (s.state === 'header') {
        if (idleFor >= s.ctx.connectMs) s.reject('proxyHeaderTimeout');
      }
    }
  }

  #checkDrained(): void {
    if (this.sessions.size > 0 || this.#drained === null) return;
    this.state = 'closed';
    removeSweeper(this);
    const resolve = this.#drained;
    this.#drained = null;
    resolve();
  }

  /**
   * Sets TCP_NODELAY and keepalive on the listening socket, once. Accepted sockets inherit
   * both from it (Linux copies the listener's options to the child socket), so they need no
   * setsockopt of their own. Where the listening handle does not offer these calls, every
   * accepted socket gets them instead (#perSocketOptions).
   */
  #setListenerOptions(): void {
    if (this.#listenerOptionsSet) return;
    const handle = (this.#server as unknown as { _handle?: ListenHandle | null })._handle;
    if (handle === undefined || handle === null) return;
    this.#listenerOptionsSet = true;
    if (typeof handle.setNoDelay !== 'function' || typeof handle.setKeepAlive !== 'function') {
      this.#perSocketOptions = true;
      return;
    }
    handle.setNoDelay(true);
    handle.setKeepAlive(true, KEEPALIVE_DELAY_MS / 1000);
  }

  #onConnection(client: net.Socket): void {
    if (this.#perSocketOptions) {
      client.setNoDelay(true);
      client.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    }
    const ctx = this.ctx;
    const stats = ctx.stats;
    stats.connectionsTotal++;
    let peer = '';
    let trusted = false;
    if (ctx.needsAddresses) {
      const remote = client.remoteAddress;
      if (remote === undefined) {
        client.destroy(); // already gone before we saw it
        return;
      }
      trusted = !ctx.trustedProxies.matchesAll && ctx.trustedProxies.contains(remote);
      if (!trusted && !ctx.acl.allows(remote)) {
        stats.rejected.sourceRange++;
        client.resetAndDestroy();
        return;
      }
      peer = unmapIPv4(remote);
    }
    stats.connectionsCurrent++;
    const s = new TcpSession(this, ctx, client, peer);
    this.sessions.add(s);
    if (trusted) s.readHeader();
    else s.connect();
  }

  #onServerError(err: Error): void {
    this.ctx.log.error({ event: 'listenerError', err });
  }
}
