/**
 * A TCP frontend (stream-frontend.ts has the listener, TLS and the lifecycle): the sessions it
 * accepted, the PROXY header of trusted peers, and the connect, idle and drain timeouts. Sessions
 * run on while draining until they end or the deadline.
 */
import type net from 'node:net';
import type { FrontendContext } from './context.js';
import { unmapIPv4 } from './proxy-protocol.js';
import { StreamFrontend } from './stream-frontend.js';
import { KEEPALIVE_DELAY_MS, TcpSession, type SessionOwner } from './tcp-session.js';

/** The part of Node's listening TCP handle used here (`server._handle`; not a public API). */
interface ListenHandle {
  setNoDelay?: (on: boolean) => number;
  setKeepAlive?: (on: boolean, delaySeconds: number) => number;
}

export class TcpFrontend extends StreamFrontend implements SessionOwner {
  readonly sessions = new Set<TcpSession>();
  #listenerOptionsSet = false;
  #perSocketOptions = false;

  constructor(ctx: FrontendContext) {
    // TCP_NODELAY and keepalive are set once on the listening socket (see onListening):
    // Linux copies them to every accepted socket, which saves 5 setsockopt calls per connection.
    super(ctx, { allowHalfOpen: true, pauseOnConnect: true });
  }

  protected get openCount(): number {
    return this.sessions.size;
  }

  /** Sessions run on until they end or the deadline. */
  protected beginDrain(): void {}

  sessionClosed(s: TcpSession): void {
    this.sessions.delete(s);
    s.ctx.stats.connectionsCurrent--;
    this.checkDrained();
  }

  /** Coarse tick: connect and PROXY-header timeouts, idle timeouts, the drain deadline. */
  sweep(nowMs: number): void {
    const draining = this.drainDeadlineReached(nowMs);
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

  /**
   * Sets TCP_NODELAY and keepalive on the listening socket, once. Accepted sockets inherit
   * both from it (Linux copies the listener's options to the child socket), so they need no
   * setsockopt of their own. Where the listening handle does not offer these calls, every
   * accepted socket gets them instead (#perSocketOptions).
   */
  protected override onListening(): void {
    if (this.#listenerOptionsSet) return;
    const handle = (this.server as unknown as { _handle?: ListenHandle | null })._handle;
    if (handle === undefined || handle === null) return;
    this.#listenerOptionsSet = true;
    if (typeof handle.setNoDelay !== 'function' || typeof handle.setKeepAlive !== 'function') {
      this.#perSocketOptions = true;
      return;
    }
    handle.setNoDelay(true);
    handle.setKeepAlive(true, KEEPALIVE_DELAY_MS / 1000);
  }

  protected onConnection(client: net.Socket): void {
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
      // A PROXY header precedes TLS on the wire; on a TLS frontend it is not read (README: Known limits).
      trusted = this.tls === null && !ctx.trustedProxies.matchesAll && ctx.trustedProxies.contains(remote);
      if (!trusted && !ctx.acl.allows(remote)) {
        stats.rejected.sourceRange++;
        client.resetAndDestroy();
        return;
      }
      peer = unmapIPv4(remote);
    }
    stats.connectionsCurrent++;
    const s = this.tls === null ? new TcpSession(this, ctx, client, peer) : new TcpSession(this, ctx, this.tls.wrap(client), peer, true);
    this.sessions.add(s);
    if (trusted) s.readHeader();
    else s.connect();
  }
}
