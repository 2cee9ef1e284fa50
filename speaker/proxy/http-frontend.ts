/**
 * An HTTP frontend (stream-frontend.ts has the listener, TLS and the lifecycle): the client
 * connections it accepted (http-connection.ts). Draining closes idle keep-alive connections at
 * once and busy ones after their response. The sweep, on the shared coarse timer, enforces the
 * request-header, keep-alive, server and tunnel timeouts and the drain deadline.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import type { FrontendContext } from './context.js';
import { HttpConnection, type ConnectionOwner } from './http-connection.js';
import { unmapIPv4 } from './proxy-protocol.js';
import { StreamFrontend } from './stream-frontend.js';
import { KEEPALIVE_DELAY_MS } from './tcp-session.js';

export class HttpFrontend extends StreamFrontend implements ConnectionOwner {
  readonly connections = new Set<HttpConnection>();

  constructor(ctx: FrontendContext) {
    super(ctx, { allowHalfOpen: true, pauseOnConnect: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS });
  }

  protected get openCount(): number {
    return this.connections.size;
  }

  /** Idle keep-alive connections close now, busy ones after their response (or at the deadline). */
  protected beginDrain(): void {
    for (const c of this.connections) {
      c.closing = true;
      if (c.exchange === null && c.state !== 'tunnel') c.finish();
    }
  }

  connectionClosed(c: HttpConnection): void {
    this.connections.delete(c);
    c.ctx.stats.connectionsCurrent--;
    this.checkDrained();
  }

  sweep(nowMs: number): void {
    const deadline = this.drainDeadlineReached(nowMs);
    for (const c of this.connections) {
      if (deadline) {
        c.abort();
        continue;
      }
      const t = c.ctx.http!.timeouts;
      switch (c.state) {
        case 'idle':
          if (nowMs - c.lastActiveMs >= (c.requests === 0 ? t.httpRequestMs : t.httpKeepAliveMs)) c.finish();
          break;
        case 'head':
          // The request's headers did not arrive in time: 408, as haproxy answers.
          if (nowMs - c.lastActiveMs >= t.httpRequestMs) c.respondOwn(408, 'requestTimeout', false);
          break;
        case 'exchange': {
          const ex = c.exchange;
          if (ex !== null && (ex.state === 'connecting' ? nowMs - ex.lastUpstreamMs >= c.ctx.connectMs : nowMs - ex.lastUpstreamMs >= t.serverMs)) ex.timedOut();
          break;
        }
        case 'tunnel':
          if (nowMs - c.lastActiveMs >= t.tunnelMs && (c.exchange === null || nowMs - c.exchange.lastUpstreamMs >= t.tunnelMs)) c.abort();
          break;
        case 'closed':
          break;
      }
    }
  }

  protected onConnection(socket: net.Socket): void {
    const ctx = this.ctx;
    const stats = ctx.stats;
    stats.connectionsTotal++;
    const remote = socket.remoteAddress;
    if (remote === undefined) {
      socket.destroy();
      return;
    }
    if (!ctx.acl.allows(remote)) {
      stats.rejected.sourceRange++;
      socket.resetAndDestroy();
      return;
    }
    stats.connectionsCurrent++;
    let client: net.Socket | tls.TLSSocket = socket;
    if (this.tls !== null) client = this.tls.wrap(socket);
    const c = new HttpConnection(this, ctx, client, unmapIPv4(remote), this.tls !== null);
    this.connections.add(c);
    client.resume(); // paused on connect, so the fast read path could be set first
  }
}
