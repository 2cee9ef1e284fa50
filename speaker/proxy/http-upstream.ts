/**
 * One connection to an endpoint of an HTTP backend (plain, or TLS for `https`), with its
 * response parser. It serves one exchange at a time; after a clean exchange it goes back to its
 * backend's idle pool (upstream-pool.ts) and is taken again for a later request. Socket
 * listeners are module-level functions that find the connection through a symbol on the socket.
 */
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { EndpointRuntime } from './backend-pool.js';
import { HttpParser, type HeadAnswer, type HttpHead, type HttpParserOwner } from './http/parser.js';
import { KEEPALIVE_DELAY_MS } from './tcp-session.js';

export const kUpstream = Symbol('fulcrum.upstream');
type UpstreamSocket = net.Socket & { [kUpstream]: UpstreamConn };

/** What an upstream connection reports to the exchange it serves (the response's parser events included). */
export interface UpstreamUser {
  onResponseHead(head: HttpHead): HeadAnswer;
  onResponseBody(chunk: Buffer): void;
  onResponseComplete(): void;
  /** Bytes after a 101's head: the start of the tunnel. */
  tunnelFromUpstream(chunk: Buffer): void;
  upstreamConnected(u: UpstreamConn): void;
  upstreamDrained(u: UpstreamConn): void;
  upstreamEnded(u: UpstreamConn): void;
  upstreamFailed(u: UpstreamConn, err: NodeJS.ErrnoException | undefined): void;
}

export class UpstreamConn implements HttpParserOwner {
  readonly endpoint: EndpointRuntime;
  readonly socket: net.Socket;
  readonly parser: HttpParser;
  readonly connectStartedAt: number;
  connected = false;
  /** Exchanges this connection carried (> 0: it was reused). */
  uses = 0;
  user: UpstreamUser | null = null;
  closed = false;
  /** After a 101: bytes go to the user as they are. */
  tunnel = false;
  /** Began with a PROXY header: it carries one client's requests only (never pooled). */
  readonly private: boolean;

  /**
   * `secure`: the backend's TLS client options (backend-pool.ts), null for plain HTTP.
   * `preamble`: a PROXY protocol header, the first bytes on the wire (before TLS too); such a
   * connection speaks for one client and is never pooled.
   */
  constructor(endpoint: EndpointRuntime, secure: tls.ConnectionOptions | null, maxHeaderBytes: number, preamble: Buffer | null = null) {
    this.endpoint = endpoint;
    this.connectStartedAt = performance.now();
    this.private = preamble !== null;
    const base = { host: endpoint.address, port: endpoint.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS };
    let socket: UpstreamSocket;
    if (secure === null) {
      socket = net.connect(base) as UpstreamSocket;
      if (preamble !== null) socket.write(preamble);
    } else if (preamble === null) {
      socket = tls.connect({ ...secure, ...base }) as unknown as UpstreamSocket;
    } else {
      const raw = net.connect(base);
      raw.write(preamble);
      socket = tls.connect({ ...secure, socket: raw }) as unknown as UpstreamSocket;
    }
    socket[kUpstream] = this;
    socket.on(secure !== null ? 'secureConnect' : 'connect', onUpstreamConnect);
    socket.on('data', onUpstreamData);
    socket.on('drain', onUpstreamDrain);
    socket.on('end', onUpstreamEnd);
    socket.on('error', onUpstreamError);
    socket.on('close', onUpstreamClose);
    this.socket = socket;
    this.parser = new HttpParser('response', this, { maxHeaderBytes });
  }

  onHead(head: HttpHead): HeadAnswer {
    return this.user === null ? 'stop' : this.user.onResponseHead(head);
  }

  onBody(chunk: Buffer): void {
    this.user?.onResponseBody(chunk);
  }

  onTrailers(): void {
    // trailers of a chunked response are not passed on (the client gets a plain last chunk)
  }

  onMessageComplete(): void {
    this.user?.onResponseComplete();
  }

  /** Attaches the exchange this connection now serves (the parser's events go to it). */
  attach(user: UpstreamUser): void {
    this.user = user;
    this.uses++;
  }

  /** Parks it: no exchange uses it until it is taken again. */
  detach(): void {
    this.user = null;
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.parser.close();
  }
}

function onUpstreamConnect(this: UpstreamSocket): void {
  const u = this[kUpstream];
  u.connected = true;
  u.user?.upstreamConnected(u);
}

function onUpstreamData(this: UpstreamSocket, chunk: Buffer): void {
  const u = this[kUpstream];
  if (u.user === null) {
    this.destroy(); // nothing may arrive while parked or between exchanges
    return;
  }
  if (u.tunnel) {
    u.user.tunnelFromUpstream(chunk);
    return;
  }
  const r = u.parser.feed(chunk);
  if (typeof r !== 'number') {
    u.user?.upstreamFailed(u, parseFailure(r.code, r.reason));
    return;
  }
  if (u.parser.upgraded) {
    u.tunnel = true;
    if (r < chunk.length) u.user?.tunnelFromUpstream(chunk.subarray(r));
  }
}

function parseFailure(code: string, reason: string): NodeJS.ErrnoException {
  return Object.assign(new Error(reason), { code });
}

function onUpstreamDrain(this: UpstreamSocket): void {
  const u = this[kUpstream];
  u.user?.upstreamDrained(u);
}

function onUpstreamEnd(this: UpstreamSocket): void {
  const u = this[kUpstream];
  // A close-delimited response ends here; anything else cut short is an error (finish says which).
  if (u.tunnel) {
    u.user?.upstreamEnded(u);
    return;
  }
  const err = u.parser.finish();
  if (err !== undefined) u.user?.upstreamFailed(u, parseFailure(err.code, err.reason));
  else u.user?.upstreamEnded(u);
  this.end();
}

function onUpstreamError(this: UpstreamSocket, err: NodeJS.ErrnoException): void {
  const u = this[kUpstream];
  u.user?.upstreamFailed(u, err);
}

function onUpstreamClose(this: UpstreamSocket): void {
  const u = this[kUpstream];
  const user = u.user;
  u.closed = true;
  u.parser.close();
  if (user !== null) user.upstreamFailed(u, undefined);
}
