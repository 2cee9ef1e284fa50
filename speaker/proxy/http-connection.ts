/**
 * One client connection of an HTTP frontend (plain or TLS): requests are parsed by llhttp
 * (http/parser.ts), checked (http/request-head.ts), routed (http-routes.ts) and forwarded one at a
 * time, each as an exchange (http-exchange.ts) on a connection to an endpoint taken from the
 * backend's idle pool or opened. Requests pipelined behind one in flight wait, parsed, in a short
 * queue (the socket stops reading meanwhile). Keep-alive to the client, `Upgrade` turning the
 * connection into a tunnel, and the request-header, keep-alive and tunnel timeouts (checked by
 * the frontend's sweep on the shared coarse timer) live here.
 */
import type net from 'node:net';
import { coarseNow } from './coarse-timer.js';
import type { FrontendContext } from './context.js';
import { HttpExchange } from './http-exchange.js';
import { errorResponse, redirectResponse, type ErrorStatus } from './http/own-responses.js';
import { checkRequestHead, rejectParseError, type RequestVerdict } from './http/request-head.js';
import { HttpParser, type HeadAnswer, type HttpHead, type HttpParserOwner } from './http/parser.js';
import type { EndpointRuntime } from './backend-pool.js';
import type { UpstreamConn } from './http-upstream.js';
import { encodeProxyV1, encodeProxyV2, unmapIPv4 } from './proxy-protocol.js';
import { listenToClient } from './http-client-events.js';
import { giveReadBuffer } from './read-buffers.js';
import { HTTP_MAX_HEADER_BYTES, HTTP_MAX_HEADER_COUNT } from './model.js';


export type ConnectionState = 'idle' | 'head' | 'exchange' | 'tunnel' | 'closed';

/** A request parsed while another is in flight (pipelining): its head and body, kept until its turn. */
interface Queued {
  readonly head: HttpHead;
  readonly verdict: RequestVerdict;
  readonly body: Buffer[];
  complete: boolean;
}

/** Bytes of pipelined requests held before the client socket stops being read. */
const MAX_QUEUED_BYTES = 65536;
const REQUEST_LIMITS = { maxHeaderCount: HTTP_MAX_HEADER_COUNT };

export interface ConnectionOwner {
  connectionClosed(c: HttpConnection): void;
}

export class HttpConnection implements HttpParserOwner {
  readonly owner: ConnectionOwner;
  /** The context that accepted the connection; its requests keep it (a reload does not change them). */
  readonly ctx: FrontendContext;
  readonly client: net.Socket;
  readonly secure: boolean;
  readonly clientAddress: string;
  /** The frontend's port as the client reached it (X-Forwarded-Port; the model may say 0). */
  readonly localPort: number;
  /** The client may speak for others: its X-Forwarded-For is kept and appended to. */
  readonly trustForwardedFor: boolean;
  readonly parser: HttpParser;
  state: ConnectionState = 'idle';
  /** Coarse time the current phase started (idle, head, tunnel activity). */
  lastActiveMs: number;
  exchange: HttpExchange | null = null;
  /** Requests waiting behind the one in flight. */
  readonly queue: Queued[] = [];
  queuedBytes = 0;
  /**
   * A request was refused or asked to close: requests the client pipelined after it are not
   * read (the parser is stopped at the next head) and the connection ends after its answer.
   */
  noMore = false;
  /** The last head read is an upgrade the proxy forwards (its body, if any, is not read). */
  #upgradeHead = false;
  /** Between a head and the end of its message (a parse error then belongs to that message). */
  #messageOpen = false;
  /** A parse error in a request behind others: answered once those are (pipelining keeps the order). */
  #deferredError: { status: ErrorStatus; reason: string } | null = null;
  /**
   * The endpoint connection of a PROXY-protocol backend, kept for this client's next request:
   * its header named this client, so it serves no other (haproxy's private connections).
   */
  #privateUpstream: UpstreamConn | null = null;
  /** After an upgrade request, until the endpoint answers: the bytes that followed its head (the start of the tunnel, or the next request). */
  afterUpgrade: Buffer[] | null = null;
  paused = false;
  /** The client will get no more responses after the current one (it said close, or we must close). */
  closing = false;
  requests = 0;
  closed = false;
  /** The fast read path's buffer (read-buffers.ts); null: the 'data' path (TLS, or over the budget). llhttp copies what it hands out, so reads may reuse it at once. */
  readBuffer: Buffer | null = null;

  constructor(owner: ConnectionOwner, ctx: FrontendContext, client: net.Socket, clientAddress: string, secure: boolean) {
    this.owner = owner;
    this.ctx = ctx;
    this.client = client;
    this.secure = secure;
    this.clientAddress = clientAddress;
    this.localPort = client.localPort ?? ctx.spec.listen.port;
    this.trustForwardedFor = ctx.trustedForwarders!.contains(clientAddress);
    this.lastActiveMs = coarseNow();
    this.parser = new HttpParser('request', this, { maxHeaderBytes: HTTP_MAX_HEADER_BYTES });
    this.readBuffer = listenToClient(this, client, !secure);
  }

  // ---- parser events (requests) ----------------------------------------------------------

  onHead(head: HttpHead): HeadAnswer {
    if (this.noMore) return 'stop';
    const verdict = checkRequestHead(head, REQUEST_LIMITS);
    // Only an upgrade the proxy forwards stops the parser after the head; llhttp's own flag
    // (any `Connection: upgrade` with an `Upgrade`) would let a POST's body be read as a request.
    const upgrade = verdict.kind === 'forward' && verdict.facts.upgrade !== null;
    this.#upgradeHead = upgrade;
    this.#messageOpen = true;
    if (verdict.kind === 'reject' || !verdict.facts.keepAlive) this.noMore = true;
    if (this.exchange !== null || this.queue.length > 0) {
      // Pipelined: keep it for later; stop reading more until its turn.
      this.queue.push({ head, verdict, body: [], complete: false });
      this.#pauseClient();
    } else {
      this.#start(head, verdict, null);
    }
    // A refused head: nothing after it is read (its body neither), the refusal closes the connection.
    if (verdict.kind === 'reject') return 'stop';
    return upgrade ? 'upgrade' : 'body';
  }

  onBody(chunk: Buffer): void {
    const q = this.queue[this.queue.length - 1];
    if (q !== undefined && !q.complete) {
      q.body.push(Buffer.from(chunk)); // the parser's view is only valid during this call
      this.queuedBytes += chunk.length;
      return;
    }
    this.exchange?.requestBody(chunk);
  }

  onTrailers(): void {
    // trailers of a chunked request are not passed on (the endpoint gets a plain last chunk)
  }

  onMessageComplete(): void {
    this.#messageOpen = false;
    const q = this.queue[this.queue.length - 1];
    if (q !== undefined && !q.complete) {
      q.complete = true;
      return;
    }
    this.exchange?.requestComplete();
  }

  // ---- exchanges -------------------------------------------------------------------------

  /** Checks, routes and forwards one request (its body follows through onBody, or from `queued`). */
  #start(head: HttpHead, verdict: RequestVerdict, queued: Queued | null): void {
    const ctx = this.ctx;
    this.requests++;
    this.state = 'exchange';
    this.lastActiveMs = coarseNow();
    if (verdict.kind === 'reject') {
      this.respondOwn(verdict.status, verdict.reason, false);
      return;
    }
    const facts = verdict.facts;
    if (!facts.keepAlive) this.closing = true;
    if (ctx.http!.redirectToHttps) {
      this.#own(308, 'redirect', redirectResponse(`https://${facts.host}${facts.target}`, !this.closing));
      // the body of a redirected request is not read: without one, go on; else close
      if (facts.bodyKind !== 'none') {
        this.closing = true;
        this.finish();
        return;
      }
      this.#next();
      return;
    }
    const pool = ctx.routes!.match(facts.host, facts.path);
    if (pool === undefined) {
      this.respondOwn(404, 'noRoute', facts.bodyKind === 'none');
      return;
    }
    const ex = new HttpExchange(this, pool, head, facts);
    this.exchange = ex;
    if (queued !== null) {
      for (const b of queued.body) ex.requestBody(b);
      if (queued.complete) ex.requestComplete();
    }
    ex.begin();
  }

  /**
   * Writes a response of the proxy's own (400, 404, 503…) and goes on with the next request,
   * or closes when the request's body cannot be skipped safely or the client asked to close.
   */
  respondOwn(status: ErrorStatus, reason: string, keepAlivePossible: boolean): void {
    const keep = keepAlivePossible && !this.closing;
    this.#own(status, reason, errorResponse(status, keep));
    if (!keep) {
      this.closing = true;
      this.finish();
      return;
    }
    this.#next();
  }

  #own(status: number, reason: string, text: string): void {
    const stats = this.ctx.stats.http!;
    stats.count(status);
    stats.countOwn(status, reason);
    if (this.ctx.log.debug()) this.ctx.log.debug({ event: 'httpRequest', client: this.clientAddress, status, reason, own: true });
    this.ctx.stats.bytesOut += text.length;
    if (!this.closed) this.client.write(text, 'latin1');
  }

  /** The exchange is over (response complete, or given up): the next request, or close. */
  exchangeDone(ex: HttpExchange, clean: boolean): void {
    if (this.exchange === ex) this.exchange = null;
    if (!clean || this.closing) {
      this.finish();
      return;
    }
    this.#next();
  }

  #next(): void {
    this.exchange = null;
    this.state = 'idle';
    this.lastActiveMs = coarseNow();
    const q = this.queue.shift();
    if (q !== undefined) {
      this.queuedBytes -= q.body.reduce((n, b) => n + b.length, 0);
      this.#start(q.head, q.verdict, q);
      return;
    }
    if (this.#deferredError !== null) {
      const { status, reason } = this.#deferredError;
      this.#deferredError = null;
      this.closing = true;
      this.respondOwn(status, reason, false);
      return;
    }
    if (this.afterUpgrade !== null) {
      // an upgrade refused (by the endpoint, or by us): what followed its head is the next request
      const rest = this.afterUpgrade;
      this.afterUpgrade = null;
      this.parser.reset();
      for (const b of rest) this.feed(b);
    }
    this.#resumeClient();
  }

  /** Ends the connection after what was written (FIN); the frontend forgets it on 'close'. */
  finish(): void {
    if (this.closed) return;
    this.state = 'closed';
    this.client.end();
  }

  /** Closes at once (RST when possible): a broken exchange, a timeout, the drain deadline. */
  abort(): void {
    if (this.closed) return;
    this.state = 'closed';
    this.exchange?.abort();
    this.client.destroy();
  }

  // ---- reading the client -----------------------------------------------------------------

  feed(chunk: Buffer): void {
    if (this.state === 'idle') this.state = 'head';
    const r = this.parser.feed(chunk);
    if (typeof r !== 'number') {
      if (this.noMore) {
        // the parser stopped at a head after the last request: those bytes are not read
        if (!this.paused) {
          this.paused = true;
          this.client.pause();
        }
        return;
      }
      this.#parseError(r.code, r.reason);
      return;
    }
    if (!this.parser.upgraded) return;
    const rest = r < chunk.length ? Buffer.from(chunk.subarray(r)) : null;
    if (!this.#upgradeHead) {
      // llhttp took a request we do not upgrade for an upgrade: its body was read; what follows is a request
      this.parser.reset();
      if (rest !== null) this.feed(rest);
      return;
    }
    // The head of an upgrade request was consumed: what follows waits for the endpoint's answer
    // (101: the tunnel; anything else: the next request). Already answered by us: go on now.
    if (this.exchange === null && this.queue.length === 0) {
      this.parser.reset();
      if (rest !== null) this.feed(rest);
      return;
    }
    this.afterUpgrade = rest === null ? [] : [rest];
    this.#pauseClient();
  }

  #parseError(code: string, reason: string): void {
    const verdict = rejectParseError({ code, reason, bytesParsed: 0 });
    this.noMore = true;
    const broken = this.queue[this.queue.length - 1];
    if (this.#messageOpen && broken !== undefined && !broken.complete) {
      // a queued request broke: it is dropped, and refused in its turn
      this.queue.pop();
      this.queuedBytes -= broken.body.reduce((n, b) => n + b.length, 0);
    }
    const ex = this.exchange;
    if (ex !== null && this.#messageOpen && this.queue.length === 0 && !ex.requestDone) {
      // The request in flight broke.
      if (ex.requestStarted) {
        // Its head was forwarded: nothing to say, cut both sides.
        this.abort();
        return;
      }
      // Still connecting: the head never leaves, the client gets the 400.
      ex.withdraw();
      this.exchange = null;
    }
    if (this.exchange !== null || this.queue.length > 0) {
      // Complete requests go first; the refusal follows them.
      this.#deferredError = { status: verdict.status, reason: verdict.reason };
      this.paused = true;
      this.client.pause();
      return;
    }
    this.closing = true;
    this.respondOwn(verdict.status, verdict.reason, false);
  }

  #pauseClient(): void {
    if (this.paused || (this.queuedBytes < MAX_QUEUED_BYTES && this.afterUpgrade === null && this.queue.length < 2)) return;
    this.paused = true;
    this.client.pause();
  }

  #resumeClient(): void {
    if (!this.paused) return;
    this.paused = false;
    this.client.resume();
  }

  /** The endpoint's side is flushed to the client: read the endpoint again. */
  clientFlushed(): void {
    this.exchange?.clientDrained();
  }

  /** A tunnel (upgrade accepted): from now on bytes go both ways as they are. */
  startTunnel(): void {
    this.state = 'tunnel';
    this.lastActiveMs = coarseNow();
    const rest = this.afterUpgrade;
    this.afterUpgrade = null;
    if (rest !== null) for (const b of rest) this.exchange?.tunnelFromClient(b);
    this.paused = false;
    this.client.resume();
  }

  /** The PROXY header for a new endpoint connection made for this client. */
  proxyHeader(version: 'v1' | 'v2'): Buffer {
    const source = { address: this.clientAddress, port: this.client.remotePort ?? 0 };
    const destination = { address: unmapIPv4(this.client.localAddress ?? ''), port: this.localPort };
    return version === 'v1' ? encodeProxyV1(source, destination) : encodeProxyV2(source, destination);
  }

  /** This client's kept PROXY-protocol connection, when it goes to `e` and is still open. */
  takePrivateUpstream(e: EndpointRuntime): UpstreamConn | undefined {
    const u = this.#privateUpstream;
    if (u === null) return undefined;
    this.#privateUpstream = null;
    if (u.endpoint === e && !u.closed) return u;
    u.destroy();
    return undefined;
  }

  keepPrivateUpstream(u: UpstreamConn): void {
    if (this.closed) {
      u.destroy();
      return;
    }
    this.#privateUpstream?.destroy();
    this.#privateUpstream = u;
  }

  released(): void {
    if (this.closed) return;
    this.closed = true;
    this.#privateUpstream?.destroy();
    this.#privateUpstream = null;
    if (this.readBuffer !== null) giveReadBuffer(this.readBuffer);
    this.readBuffer = null;
    this.state = 'closed';
    this.parser.close();
    this.exchange?.clientGone();
    this.owner.connectionClosed(this);
  }
}
