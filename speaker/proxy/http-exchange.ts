/**
 * One request and its response, between a client connection (http-connection.ts) and an
 * endpoint connection (http-upstream.ts). The heads go out edited (http/request-head.ts,
 * http/response-head.ts), bodies pass by their framing (re-chunked when chunked), each
 * direction with backpressure.
 * Failures before any byte of a response are the proxy's to answer (502/503/504) and, when it
 * is safe, retried on another endpoint: a connect that failed (nothing was sent), or a reused
 * idle connection that closed before answering an idempotent request (haproxy's
 * `http-reuse safe` + `retry-on conn-failure`). After the response started, a failure can only
 * cut the client connection.
 */
import { performance } from 'node:perf_hooks';
import { coarseNow } from './coarse-timer.js';
import type { BackendPool, EndpointRuntime } from './backend-pool.js';
import type { HttpConnection } from './http-connection.js';
import { HTTP_MAX_HEADER_BYTES } from './model.js';
import { forwardedRequestHead, type RequestFacts } from './http/request-head.js';
import { checkResponseHead, forwardedResponseHead, rejectResponseParseError, type ResponseBodyKind } from './http/response-head.js';
import type { HeadAnswer, HttpHead } from './http/parser.js';
import { UpstreamConn, type UpstreamUser } from './http-upstream.js';
import { corkUntilTick, stickyCookie, stickyCookieValue } from './http-wire.js';

export type ExchangeState = 'picking' | 'connecting' | 'waiting' | 'response' | 'tunnel' | 'done';

/** How the response body goes to the client. */
type Framing = ResponseBodyKind;

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

export class HttpExchange implements UpstreamUser {
  readonly conn: HttpConnection;
  readonly pool: BackendPool;
  readonly head: HttpHead;
  readonly facts: RequestFacts;
  readonly startedAt: number;
  state: ExchangeState = 'picking';
  endpoint: EndpointRuntime | null = null;
  upstream: UpstreamConn | null = null;
  /** Endpoints this request failed on; null until the first failure. */
  tried: EndpointRuntime[] | null = null;
  attempts = 0;
  /** The edited request head, and body pieces held until an endpoint connection is writable. */
  outbox: (string | Buffer)[] = [];
  /** Request body pieces already written: kept (copies) while a retry may need them. */
  sent: (string | Buffer)[] | null = null;
  requestStarted = false;
  requestDone = false;
  status = 0;
  /** A 1xx (100 Continue) response is being passed on; the final one follows. */
  interim = false;
  framing: Framing = 'none';
  clientKeepAlive = true;
  /** The sticky cookie to set on the response (the endpoint chosen was not the cookie's). */
  setCookie: string | null = null;
  /** The endpoint's response allows reusing its connection. */
  upstreamKeepAlive = false;
  /** Coarse time of the last byte from (or to) the endpoint: the server timeout runs from it. */
  lastUpstreamMs: number;

  constructor(conn: HttpConnection, pool: BackendPool, head: HttpHead, facts: RequestFacts) {
    this.conn = conn;
    this.pool = pool;
    this.head = head;
    this.facts = facts;
    this.startedAt = performance.now();
    this.lastUpstreamMs = coarseNow();
  }

  /** Picks an endpoint and sends the head (on a reused connection at once, else once connected). */
  begin(): void {
    const pool = this.pool;
    const e = this.#pick();
    if (e === undefined) {
      this.#fail(this.attempts === 0 ? 503 : 502, this.attempts === 0 ? 'noEndpoint' : 'endpointFailed');
      return;
    }
    this.attempts++;
    this.endpoint = e;
    e.activeConnections++;
    this.lastUpstreamMs = coarseNow();
    const pp = pool.spec.proxyProtocol;
    const reused = pp === 'none' ? (pool.upstreams.take(e) as UpstreamConn | undefined) : this.conn.takePrivateUpstream(e);
    const u = reused ?? new UpstreamConn(e, pool.upstreamTls, HTTP_MAX_HEADER_BYTES, pp === 'none' ? null : this.conn.proxyHeader(pp));
    this.upstream = u;
    u.attach(this);
    if (this.outbox.length === 0 || typeof this.outbox[0] !== 'string') {
      this.outbox.unshift(forwardedRequestHead(this.head, this.facts, {
        clientAddress: this.conn.clientAddress,
        trustForwardedFor: this.conn.trustForwardedFor,
        proto: this.conn.secure ? 'https' : 'http',
        port: this.conn.localPort,
        forwarded: this.conn.ctx.http!.forwardedHeader,
      }));
    }
    this.state = u.connected ? 'waiting' : 'connecting';
    if (u.connected) this.#flush();
  }

  #pick(): EndpointRuntime | undefined {
    const pool = this.pool;
    const cookie = pool.spec.stickyCookie;
    if (cookie !== undefined) {
      const id = stickyCookieValue(this.head.headers, cookie);
      const e = id === undefined ? undefined : pool.byCookie(id, this.tried);
      if (e !== undefined) return e;
    }
    const e = pool.pick(this.conn.clientAddress, this.tried, coarseNow());
    if (cookie !== undefined && e !== undefined) this.setCookie = stickyCookie(cookie, e.cookieId);
    return e;
  }

  // ---- the request side -------------------------------------------------------------------

  requestBody(chunk: Buffer): void {
    const piece = this.facts.bodyKind === 'chunked' ? [`${chunk.length.toString(16)}${CRLF}`, Buffer.from(chunk), CRLF] : [Buffer.from(chunk)];
    this.#send(piece);
  }

  requestComplete(): void {
    this.requestDone = true;
    if (this.facts.bodyKind === 'chunked') this.#send([LAST_CHUNK]);
  }

  #send(pieces: (string | Buffer)[]): void {
    if (this.state === 'done' || this.state === 'tunnel') return;
    if (this.state !== 'waiting' && this.state !== 'response') {
      this.outbox.push(...pieces);
      return;
    }
    this.#write(pieces);
  }

  #flush(): void {
    const pieces = this.outbox;
    this.outbox = [];
    this.#write(pieces);
  }

  #write(pieces: (string | Buffer)[]): void {
    const u = this.upstream!;
    this.requestStarted = true;
    // Kept while the response has not started: an idempotent request may be sent again.
    if (this.status === 0 && this.facts.idempotent) (this.sent ??= []).push(...pieces);
    corkUntilTick(u.socket);
    let ok = true;
    for (const p of pieces) ok = (typeof p === 'string' ? u.socket.write(p, 'latin1') : u.socket.write(p)) && ok;
    if (!ok) this.conn.client.pause(); // resumed on the endpoint socket's 'drain'
  }

  // ---- the endpoint connection ------------------------------------------------------------

  upstreamConnected(u: UpstreamConn): void {
    if (u !== this.upstream || this.state !== 'connecting') return;
    this.pool.onConnected(this.endpoint!);
    this.pool.connectHistogram.observe((performance.now() - u.connectStartedAt) / 1000);
    this.state = 'waiting';
    this.lastUpstreamMs = coarseNow();
    this.#flush();
  }

  upstreamDrained(): void {
    if (!this.conn.paused) this.conn.client.resume();
  }

  /** The client's socket flushed: read the endpoint again. */
  clientDrained(): void {
    if (this.upstream !== null && !this.upstream.closed) this.upstream.socket.resume();
  }

  onResponseHead(resp: HttpHead): HeadAnswer {
    this.lastUpstreamMs = coarseNow();
    const verdict = checkResponseHead(resp, this.facts);
    if (verdict.kind === 'reject') {
      this.upstream!.destroy();
      this.#fail(502, verdict.reason);
      return 'stop';
    }
    const f = verdict.facts;
    if (f.interim) {
      // 100 Continue and friends: passed on as they are (not to HTTP/1.0 clients); the final response follows.
      this.interim = true;
      if (!this.facts.http10) this.#toClient(forwardedResponseHead(resp, { close: false, framing: 'none', setCookie: null }));
      return 'body';
    }
    this.status = resp.statusCode;
    this.sent = null;
    this.state = 'response';
    if (f.upgrade) {
      this.#toClient(forwardedResponseHead(resp, { close: false, framing: 'none', setCookie: null }));
      this.state = 'tunnel';
      this.conn.startTunnel();
      return 'upgrade';
    }
    const http10 = this.facts.http10;
    this.clientKeepAlive = !this.conn.closing;
    // Chunked to an HTTP/1.1 client; an HTTP/1.0 one, or a body delimited by the endpoint's close, ends with the connection.
    if (f.bodyKind === 'chunked' || f.bodyKind === 'close') this.framing = http10 || (f.bodyKind === 'close' && !this.clientKeepAlive) ? 'close' : 'chunked';
    else this.framing = f.bodyKind;
    if (this.framing === 'close') this.clientKeepAlive = false;
    if (!this.clientKeepAlive) this.conn.closing = true;
    this.#toClient(forwardedResponseHead(resp, { close: !this.clientKeepAlive, framing: this.framing, setCookie: this.setCookie, http10KeepAlive: http10 && this.clientKeepAlive }));
    this.upstreamKeepAlive = f.keepAlive;
    return f.bodyKind === 'none' ? 'skipBody' : 'body';
  }

  onResponseBody(chunk: Buffer): void {
    this.lastUpstreamMs = coarseNow();
    if (this.framing === 'chunked') {
      this.#toClient(`${chunk.length.toString(16)}${CRLF}`);
      this.#toClient(chunk);
      this.#toClient(CRLF);
    } else {
      this.#toClient(chunk);
    }
  }

  onResponseComplete(): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    if (this.state !== 'response') return;
    if (this.framing === 'chunked') this.#toClient(LAST_CHUNK);
    this.#done(this.requestDone && this.upstreamKeepAlive && this.upstream !== null && !this.upstream.closed);
  }

  upstreamEnded(): void {
    // A close-delimited response was completed by finish(); in a tunnel, the endpoint is done sending.
    if (this.state === 'tunnel' && !this.conn.closed) this.conn.client.end();
  }

  upstreamFailed(u: UpstreamConn, err: NodeJS.ErrnoException | undefined): void {
    if (u !== this.upstream || this.state === 'done') return;
    const e = this.endpoint!;
    if (err !== undefined && typeof err.code === 'string' && err.code.includes('HPE_') && this.status === 0 && this.state !== 'tunnel') {
      // The endpoint answered something llhttp refuses: 502, as for any invalid response.
      u.destroy();
      this.#fail(502, rejectResponseParseError({ code: err.code, reason: err.message, bytesParsed: 0 }).reason);
      return;
    }
    if (this.state === 'tunnel') {
      this.#done(false);
      this.conn.abort();
      return;
    }
    if (this.status !== 0) {
      // The response started: nothing left to say to the client but a cut.
      e.errors.reset++;
      this.#done(false);
      this.conn.abort();
      return;
    }
    u.destroy();
    e.activeConnections--;
    this.upstream = null;
    if (!u.connected) {
      this.pool.onConnectError(e, err?.code, coarseNow()); // EMFILE and the like are not the endpoint's fault
      this.#retryOrFail(e, 502, 'endpointFailed');
      return;
    }
    e.errors.reset++;
    // A reused connection that closed under us: the endpoint timed it out; safe to send again
    // only an idempotent request whose body we still have (haproxy's http-reuse safe).
    if (u.uses > 1 && this.facts.idempotent && this.sent !== null) {
      this.outbox = this.sent;
      this.sent = null;
      this.requestStarted = false;
      this.state = 'picking';
      this.attempts--;
      this.begin();
      return;
    }
    this.#retryOrFail(e, 502, 'endpointFailed', this.facts.idempotent && this.sent !== null);
  }

  /** Another endpoint when nothing was sent, or the request may be sent again; else the error response. */
  #retryOrFail(e: EndpointRuntime, status: 502 | 503, reason: string, resendable = !this.requestStarted): void {
    (this.tried ??= []).push(e);
    if (resendable && this.attempts < Math.max(1, this.pool.spec.connectAttempts)) {
      if (this.requestStarted && this.sent !== null) this.outbox = this.sent;
      this.sent = null;
      this.requestStarted = false;
      this.state = 'picking';
      this.begin();
      return;
    }
    this.#fail(status, reason);
  }

  /** The proxy answers for the endpoint (nothing of a response was sent yet). */
  #fail(status: 502 | 503 | 504, reason: string): void {
    this.state = 'done';
    this.pool.http.count(status);
    this.#releaseUpstream(false);
    // Keep the client connection only if the rest of the request body cannot be mistaken for a request.
    this.conn.respondOwn(status, reason, this.requestDone || this.facts.bodyKind === 'none');
  }

  /** Server timeout (the frontend's sweep): 504 before the response started, else a cut. */
  timedOut(): void {
    if (this.state === 'done') return;
    if (this.endpoint !== null) this.endpoint.errors.connectTimeout += this.state === 'connecting' ? 1 : 0;
    if (this.status !== 0 || this.state === 'tunnel') {
      this.#done(false);
      this.conn.abort();
      return;
    }
    this.upstream?.destroy();
    if (this.state === 'connecting' && this.endpoint !== null) this.pool.onConnectFailed(this.endpoint, 'connectTimeout', coarseNow());
    this.#fail(504, this.state === 'connecting' ? 'connectTimeout' : 'serverTimeout');
  }

  #toClient(data: string | Buffer): void {
    const conn = this.conn;
    if (conn.closed) return;
    corkUntilTick(conn.client);
    conn.ctx.stats.bytesOut += data.length;
    const ok = typeof data === 'string' ? conn.client.write(data, 'latin1') : conn.client.write(data);
    if (!ok && this.upstream !== null && !this.upstream.closed) this.upstream.socket.pause();
  }

  #done(reusable: boolean): void {
    if (this.state === 'done' && this.endpoint === null) return;
    const wasTunnel = this.state === 'tunnel';
    this.state = 'done';
    const status = this.status;
    this.conn.ctx.stats.http!.count(status === 0 ? -1 : status);
    this.pool.http.count(status === 0 ? -1 : status);
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.pool.requestHistogram.observe(seconds);
    const log = this.conn.ctx.log;
    if (log.debug()) {
      // the access log: one structured line per request, at debug level
      log.debug({
        event: 'httpRequest', client: this.conn.clientAddress, method: this.head.method, host: this.facts.host, target: this.facts.target,
        status, backend: this.pool.name, endpoint: this.endpoint?.key, attempts: this.attempts, ms: Math.round(seconds * 1e4) / 10, tunnel: wasTunnel || undefined,
      });
    }
    this.#releaseUpstream(reusable && !wasTunnel);
    if (!wasTunnel) this.conn.exchangeDone(this, reusable || this.clientKeepAlive);
  }

  #releaseUpstream(reusable: boolean): void {
    const u = this.upstream;
    const e = this.endpoint;
    this.upstream = null;
    if (e !== null && u !== null) e.activeConnections--;
    if (u === null || e === null) return;
    u.detach();
    if (!reusable) u.destroy();
    else if (u.private) this.conn.keepPrivateUpstream(u);
    else this.pool.upstreams.give(e, u, coarseNow());
  }

  // ---- tunnel (after 101) and the end of the client --------------------------------------

  tunnelFromClient(chunk: Buffer): void {
    if (this.upstream === null || this.upstream.closed) return;
    if (!this.upstream.socket.write(chunk)) this.conn.client.pause();
  }

  tunnelFromUpstream(chunk: Buffer): void {
    this.#toClient(chunk);
  }

  tunnelClientEnded(): void {
    this.upstream?.socket.end();
  }

  clientGone(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    if (this.status === 0) this.pool.http.count(-1);
    const u = this.upstream;
    if (this.endpoint !== null && u !== null) this.endpoint.activeConnections--;
    this.upstream = null;
    u?.destroy();
  }

  abort(): void {
    this.clientGone();
  }

  /** Nothing of the request was sent (the endpoint connection is still opening): drop it without a trace at the endpoint. */
  withdraw(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    const u = this.upstream;
    if (this.endpoint !== null && u !== null) this.endpoint.activeConnections--;
    this.upstream = null;
    u?.destroy();
  }
}
