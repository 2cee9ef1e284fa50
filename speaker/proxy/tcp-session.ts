/**
 * One proxied TCP connection: client socket ↔ upstream socket. The hot path (STYLE §2, house
 * rule 9): socket listeners are module-level functions that find their session through a
 * symbol on the socket, never closures; every field is set in the constructor; the idle clock
 * is the shared coarse timer; no logging or string building unless the level is enabled.
 *
 * Piping is by hand, for backpressure and half-close: a chunk is written to the peer and, when
 * the peer's buffer is full, the source pauses until the peer drains. A FIN on one side ends
 * the other side's write half only (`allowHalfOpen`), so each direction closes on its own.
 *
 * Two read paths, same behaviour: the fast one (read-buffers.ts) reads each socket into a buffer
 * of the session's and calls onClientRead/onUpstreamRead; the ordinary one gets `'data'` events
 * (PROXY header sessions, TLS sockets, and sessions over the fast path's memory budget).
 *
 * TLS: a frontend with `tls` hands the session a TLSSocket (tls.ts terminated it); a `tls`
 * backend is reached with tls.connect and the backend's client options (backend-pool.ts). Both
 * take the 'data' path, and a reset is passed on as a plain close (a TLS socket has no RST).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { EndpointRuntime } from './backend-pool.js';
import { coarseNow } from './coarse-timer.js';
import type { FrontendContext } from './context.js';
import { localResourceError, type LocalResourceError } from './limits.js';
import { countResourceError, type EndpointError, type RejectReason } from './metrics.js';
import { encodeProxyV1, encodeProxyV2, parseProxyHeader } from './proxy-protocol.js';
import { giveReadBuffer, takeReadBuffer, useReadBuffer } from './read-buffers.js';

export const kSession = Symbol('fulcrum.session');
type SessionSocket = net.Socket & { [kSession]: TcpSession };

/** A PROXY header from a trusted peer longer than this is refused (v2 allows 64 KiB of TLVs). */
const MAX_PROXY_HEADER_BYTES = 4096;
/** Keepalive probes after 60 s of silence detect dead peers long before the idle timeout. */
export const KEEPALIVE_DELAY_MS = 60_000;

export type SessionState = 'header' | 'connecting' | 'established' | 'closed';

/** What the owning frontend provides: where to report a finished session. */
export interface SessionOwner {
  sessionClosed(s: TcpSession): void;
}

export class TcpSession {
  readonly owner: SessionOwner;
  readonly ctx: FrontendContext;
  readonly client: net.Socket;
  upstream: net.Socket | null = null;
  endpoint: EndpointRuntime | null = null;
  /** Endpoints this connection failed to reach; null until the first failure. */
  tried: EndpointRuntime[] | null = null;
  attempts = 0;
  state: SessionState = 'connecting';
  /** Coarse time of the current phase's start (connect attempt) or of the last byte. */
  lastActiveMs: number;
  connectStartedAt = 0;
  clientAddress: string;
  clientPort: number;
  localAddress: string;
  localPort: number;
  /** Bytes read while parsing a PROXY header, and what follows it (sent once connected). */
  pending: Buffer | null = null;
  clientClosed = false;
  /** The client's FIN came before the upstream was connected: pass it on once it is. */
  clientEnded = false;
  upstreamClosed = true;
  finished = false;
  /** The client is paused until the upstream drains (backpressure). */
  clientPaused = false;
  /** The upstream is paused until the client drains. */
  upstreamPaused = false;
  /** The client starts with a PROXY header (read on the 'data' path). */
  readsHeader = false;
  /** Fast path: the buffers the client and the upstream read into (null: the 'data' path). */
  clientBuffer: Buffer | null = null;
  upstreamBuffer: Buffer | null = null;
  /** Resumes a source once the peer flushed, when no 'drain' is due; bound on first need. */
  upstreamFlushed: (() => void) | null = null;
  clientFlushed: (() => void) | null = null;

  /** The client socket is a TLSSocket (no fast read path, no RST). */
  readonly secureClient: boolean;

  constructor(owner: SessionOwner, ctx: FrontendContext, client: net.Socket, clientAddress: string, secureClient = false) {
    this.owner = owner;
    this.secureClient = secureClient;
    this.ctx = ctx;
    this.client = client;
    this.lastActiveMs = coarseNow();
    this.clientAddress = clientAddress;
    // Only read (syscalls) when something uses them; see FrontendContext.needsAddresses.
    this.clientPort = ctx.needsAddresses ? (client.remotePort ?? 0) : 0;
    this.localAddress = ctx.needsAddresses ? (client.localAddress ?? '') : '';
    this.localPort = ctx.needsAddresses ? (client.localPort ?? 0) : 0;
    (client as SessionSocket)[kSession] = this;
    client.on('error', onSocketError);
    client.on('end', onClientEnd);
    client.on('close', onClientClose);
  }

  /** Reads a PROXY header first (trusted peer), then connects. */
  readHeader(): void {
    this.state = 'header';
    this.readsHeader = true;
    this.client.on('data', onHeaderData);
    this.client.resume();
  }

  /** Picks an endpoint (not one already tried) and connects; refuses the client when none is left. */
  connect(): void {
    const pool = this.ctx.pool;
    const e = pool.pick(this.clientAddress, this.tried, coarseNow());
    if (e === undefined) {
      this.reject(this.attempts === 0 ? 'noEndpoint' : 'connectFailed');
      return;
    }
    this.attempts++;
    this.endpoint = e;
    e.activeConnections++;
    this.state = 'connecting';
    this.lastActiveMs = coarseNow();
    this.connectStartedAt = performance.now();
    // One buffer for every attempt: an abandoned attempt never read anything and never will.
    if (this.attempts === 1 && pool.upstreamTls === null) this.upstreamBuffer = takeReadBuffer() ?? null;
    const opts: net.NetConnectOpts = { host: e.address, port: e.port, allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS };
    const secure = pool.upstreamTls;
    let up: SessionSocket;
    if (secure === null) {
      if (this.upstreamBuffer !== null) opts.onread = { buffer: this.upstreamBuffer, callback: onUpstreamRead as OnReadCallback };
      up = net.connect(opts) as SessionSocket;
      up.on('connect', onUpstreamConnect);
    } else if (pool.spec.proxyProtocol === 'none') {
      up = tls.connect({ ...secure, ...opts }) as unknown as SessionSocket;
      up.on('secureConnect', onUpstreamConnect);
    } else {
      // the PROXY header goes first, in clear, then the TLS handshake on the same connection
      const raw = net.connect(opts);
      raw.write(proxyHeaderOf(this));
      up = tls.connect({ ...secure, socket: raw }) as unknown as SessionSocket;
      up.on('secureConnect', onUpstreamConnect);
    }
    up[kSession] = this;
    this.upstream = up;
    this.upstreamClosed = false;
    up.on('error', onSocketError);
    up.on('close', onUpstreamClose);
  }

  /** The current attempt failed (refused, error, timeout): count it, then retry or refuse. */
  connectFailed(reason: EndpointError): void {
    const e = this.dropAttempt();
    this.ctx.pool.onConnectFailed(e, reason, coarseNow());
    if (this.ctx.log.debug()) this.ctx.log.debug({ event: 'connectFailed', endpoint: e.key, reason, attempt: this.attempts });
    if (this.clientClosed) return this.finish();
    (this.tried ??= []).push(e);
    if (this.attempts >= this.ctx.pool.spec.connectAttempts) {
      this.reject('connectFailed');
      return;
    }
    this.connect();
  }

  /** Ends the current connect attempt; returns its endpoint. */
  dropAttempt(): EndpointRuntime {
    const [e, up] = [this.endpoint!, this.upstream!];
    [this.upstream, this.endpoint, this.upstreamClosed] = [null, null, true];
    e.activeConnections--;
    up.destroy();
    return e;
  }

  /** Out of descriptors, memory or local ports: the proxy's trouble, never held against the endpoint, not retried (another would fail alike). */
  localFailure(code: LocalResourceError): void {
    this.dropAttempt();
    countResourceError('connect', code);
    if (this.clientClosed) return this.finish();
    this.reject('localResources');
  }

  reject(reason: RejectReason): void {
    this.ctx.stats.rejected[reason]++;
    if (this.ctx.log.debug()) this.ctx.log.debug({ event: 'connectionRejected', reason, client: this.clientAddress });
    this.state = 'closed';
    // A reset, not a FIN: the client learns at once that there is nothing behind the address.
    if (!this.client.destroyed) resetSocket(this.client);
    if (this.clientClosed) this.finish();
  }

  /** Closes both sides now (idle timeout, drain deadline, stop). */
  abort(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** Both sockets are closed: release the endpoint and tell the frontend. Runs once. */
  finish(): void {
    if (this.finished || !this.clientClosed || !this.upstreamClosed) return;
    this.finished = true;
    if (this.endpoint !== null) {
      this.endpoint.activeConnections--;
      this.endpoint = null;
    }
    this.state = 'closed';
    this.pending = null;
    // Both sockets are closed: nothing reads into these or writes from them any more.
    if (this.clientBuffer !== null) giveReadBuffer(this.clientBuffer);
    if (this.upstreamBuffer !== null) giveReadBuffer(this.upstreamBuffer);
    this.clientBuffer = null;
    this.upstreamBuffer = null;
    this.owner.sessionClosed(this);
  }
}

function onHeaderData(this: SessionSocket, chunk: Buffer): void {
  const s = this[kSession];
  const buf = s.pending === null ? chunk : Buffer.concat([s.pending, chunk]);
  const parsed = parseProxyHeader(buf);
  if (parsed.kind === 'incomplete') {
    if (buf.length > MAX_PROXY_HEADER_BYTES) return s.reject('proxyHeaderInvalid');
    s.pending = buf;
    return;
  }
  if (parsed.kind === 'none' || parsed.kind === 'invalid') return s.reject('proxyHeaderInvalid');
  this.removeListener('data', onHeaderData);
  this.pause();
  s.pending = buf.length > parsed.length ? buf.subarray(parsed.length) : null;
  if (parsed.kind === 'proxy') {
    s.clientAddress = parsed.source.address;
    s.clientPort = parsed.source.port;
    s.localAddress = parsed.destination.address;
    s.localPort = parsed.destination.port;
    if (!s.ctx.acl.allows(s.clientAddress)) return s.reject('sourceRange');
  }
  s.connect();
}

function onUpstreamConnect(this: SessionSocket): void {
  const s = this[kSession];
  if (s.upstream !== this) return;
  const e = s.endpoint!;
  s.ctx.pool.connectHistogram.observe((performance.now() - s.connectStartedAt) / 1000);
  s.ctx.pool.onConnected(e);
  s.state = 'established';
  s.lastActiveMs = coarseNow();
  if (s.ctx.pool.spec.proxyProtocol !== 'none' && !(this instanceof tls.TLSSocket)) this.write(proxyHeaderOf(s));
  if (s.pending !== null) {
    s.ctx.stats.bytesIn += s.pending.length;
    this.write(s.pending);
    s.pending = null;
  }
  if (s.clientEnded) this.end();
  const client = s.client;
  // A client that sent a PROXY header has been read the stream way: it stays on that path, as TLS does.
  if (!s.readsHeader && !s.secureClient) {
    s.clientBuffer = takeReadBuffer() ?? null;
    if (s.clientBuffer !== null && !useReadBuffer(client, s.clientBuffer, onClientRead)) {
      giveReadBuffer(s.clientBuffer);
      s.clientBuffer = null;
    }
  }
  if (s.clientBuffer === null) client.on('data', onClientData);
  client.on('drain', onClientDrain);
  if (s.upstreamBuffer === null || this instanceof tls.TLSSocket) this.on('data', onUpstreamData);
  this.on('end', onUpstreamEnd);
  this.on('drain', onUpstreamDrain);
  client.resume();
}

/*
 * Backpressure: the source pauses when `write` says the peer is over its high-water mark AND
 * something is still queued in user space. A 64 KiB read written to a socket whose mark is
 * 16 KiB always gets `false`, even when the kernel took all of it at once (writableLength is
 * then 0); pausing there would pause and resume the source once per chunk for nothing. When
 * data is queued, the peer's 'drain' (due, since `write` returned false) resumes the source.
 */
function onClientData(this: SessionSocket, chunk: Buffer): void {
  const s = this[kSession];
  s.ctx.stats.bytesIn += chunk.length;
  s.lastActiveMs = coarseNow();
  const up = s.upstream!;
  if (!up.write(chunk) && up.writableLength > 0) {
    s.clientPaused = true;
    this.pause();
  }
}

function onUpstreamData(this: SessionSocket, chunk: Buffer): void {
  const s = this[kSession];
  s.ctx.stats.bytesOut += chunk.length;
  s.lastActiveMs = coarseNow();
  const client = s.client;
  if (!client.write(chunk) && client.writableLength > 0) {
    s.upstreamPaused = true;
    this.pause();
  }
}

/*
 * The fast path: `buf` is read into again as soon as this returns true, so the chunk must have
 * left it. It has when the peer's queue is empty after the write (the kernel took it whole).
 * Otherwise the queue still points into `buf`: return false (the socket stops reading) until
 * the peer has flushed, signalled by its 'drain' if one is due, else by a write callback.
 */
type OnReadCallback = (nread: number, buf: Uint8Array) => boolean;

function onClientRead(this: SessionSocket, nread: number, buf: Buffer): boolean {
  const s = this[kSession];
  s.ctx.stats.bytesIn += nread;
  s.lastActiveMs = coarseNow();
  const up = s.upstream!;
  up.write(nread === buf.length ? buf : buf.subarray(0, nread));
  if (up.writableLength === 0) return true;
  s.clientPaused = true;
  if (!up.writableNeedDrain) up.write(EMPTY, (s.clientFlushed ??= onUpstreamDrain.bind(up as SessionSocket)));
  return false;
}

function onUpstreamRead(this: SessionSocket, nread: number, buf: Buffer): boolean {
  const s = this[kSession];
  s.ctx.stats.bytesOut += nread;
  s.lastActiveMs = coarseNow();
  const client = s.client;
  client.write(nread === buf.length ? buf : buf.subarray(0, nread));
  if (client.writableLength === 0) return true;
  s.upstreamPaused = true;
  if (!client.writableNeedDrain) client.write(EMPTY, (s.upstreamFlushed ??= onClientDrain.bind(client as SessionSocket)));
  return false;
}

const EMPTY = Buffer.alloc(0);

/** The client drained: the upstream may read again (if it was paused for it). */
function onClientDrain(this: SessionSocket): void {
  const s = this[kSession];
  if (!s.upstreamPaused) return;
  s.upstreamPaused = false;
  s.upstream?.resume();
}

function onUpstreamDrain(this: SessionSocket): void {
  const s = this[kSession];
  if (!s.clientPaused) return;
  s.clientPaused = false;
  s.client.resume();
}

/** Half-close: the client sent FIN, so the backend gets FIN after what was written. */
function onClientEnd(this: SessionSocket): void {
  const s = this[kSession];
  s.clientEnded = true;
  if (s.state === 'established') s.upstream!.end();
}

function onUpstreamEnd(this: SessionSocket): void {
  this[kSession].client.end();
}

function onSocketError(this: SessionSocket, err: NodeJS.ErrnoException): void {
  const s = this[kSession];
  if (this !== s.client && this !== s.upstream) return; // an abandoned connect attempt
  if (this === s.upstream && s.state === 'connecting') {
    const local = localResourceError(err.code);
    return local !== undefined ? s.localFailure(local) : s.connectFailed(err.code === 'ECONNREFUSED' ? 'connectRefused' : 'connectError');
  }
  if (this === s.upstream && s.endpoint !== null) s.endpoint.errors.reset++;
  // A reset on one side is passed on as a reset to the other ('close' follows this event).
  const peer = this === s.client ? s.upstream : s.client;
  if (peer !== null && !peer.destroyed) resetSocket(peer);
}

function onClientClose(this: SessionSocket): void {
  const s = this[kSession];
  s.clientClosed = true;
  // The client is gone: nothing more can be delivered to it, so the upstream goes too.
  if (s.upstream !== null && !s.upstream.destroyed) s.upstream.destroy();
  s.finish();
}

function onUpstreamClose(this: SessionSocket, hadError: boolean): void {
  const s = this[kSession];
  if (s.upstream !== this) return; // an abandoned connect attempt
  s.upstreamClosed = true;
  // A clean close means both FINs were exchanged and the client's `end()` flushes the rest.
  if (hadError && !s.client.destroyed) s.client.destroy();
  s.finish();
}

/** A reset (RST) where the socket is plain TCP; a TLS socket cannot send one and is closed. */
export function resetSocket(socket: net.Socket): void {
  if (socket instanceof tls.TLSSocket) socket.destroy();
  else socket.resetAndDestroy();
}

/** The PROXY header naming the session's client and the address it reached. */
function proxyHeaderOf(s: TcpSession): Buffer {
  const source = { address: s.clientAddress, port: s.clientPort };
  const destination = { address: s.localAddress, port: s.localPort };
  return s.ctx.pool.spec.proxyProtocol === 'v1' ? encodeProxyV1(source, destination) : encodeProxyV2(source, destination);
}
