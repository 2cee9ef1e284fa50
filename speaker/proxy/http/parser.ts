/**
 * One llhttp parser for one connection, through Node's own binding (`_http_common`'s
 * HTTPParser: what node:http uses, strict unless told otherwise). It turns bytes into three
 * events for an owner: a head, body chunks, the end of a message. Policy (what to refuse, what
 * to forward) is not here: `request-head.ts` and `response-head.ts` decide on the heads this
 * hands out.
 *
 * Hot path (house rule 9): the llhttp callbacks are static methods set once in the constructor
 * and find this wrapper through a symbol on the native parser, so there is no closure per
 * connection or message; no logging. One object per message beyond what llhttp hands out (its
 * header array and strings): the head, because exchanges and pipelining queues keep heads while
 * the parser reads the next one, and a reused object would change under them.
 *
 * llhttp's behaviour through Node (20.19, 22, 24), which this wrapper evens out:
 * - `execute(buf)` returns the bytes consumed, or an Error with `code`, `reason`, `bytesParsed`.
 *   After an error the native parser is unusable: every later `feed` returns the same error
 *   until `reset()`.
 * - Up to 31 header pairs arrive with the head; beyond that they are flushed through kOnHeaders
 *   first (and, once a connection has flushed, every later head on it arrives that way too).
 *   Trailers of a chunked body arrive through kOnHeaders after the body.
 * - Upgrade and CONNECT: llhttp stops after the message (`execute` returns fewer bytes than it
 *   was given, no error); the rest belongs to the new protocol. While its upgrade flag is set,
 *   Node reports no errors at all, only a short count: a short count that is not such a stop is
 *   turned into the error `FUL_HPE_STOPPED` here.
 * - A thrown owner callback propagates out of `execute` and leaves the native parser broken: the
 *   wrapper then reports `FUL_HPE_OWNER_THREW` until `reset()`.
 * - Body chunks are copies in Node 20-24 (`Buffer::Copy`), but Node may hand out views of the
 *   fed buffer (its kOnStreamAlloc path): owners must use or copy a chunk before `feed` returns.
 */
import { createRequire } from 'node:module';

/** The native parser (node/src/node_http_parser.cc), as far as this wrapper uses it. */
interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  execute(chunk: Buffer): number | NativeParseError | undefined;
  finish(): NativeParseError | undefined;
  close(): void;
  [index: number]: unknown;
  [kWrapper]: HttpParser | null;
}
interface NativeParserClass {
  new (): NativeParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone: number;
}
interface NativeParseError extends Error {
  readonly code: string;
  readonly reason: string;
  readonly bytesParsed: number;
}

const { HTTPParser: Native } = createRequire(import.meta.url)('_http_common') as { HTTPParser: NativeParserClass };
const kWrapper = Symbol('fulcrum.httpParser');

/** llhttp's `llhttp_method` enum (HTTP_ALL_METHOD_MAP): the head gives the number. Node's exported `methods` lacks the RTSP gap, so QUERY (46) would be misnamed with it. */
const METHODS: readonly string[] = [
  'DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'OPTIONS', 'TRACE', 'COPY', 'LOCK', 'MKCOL', 'MOVE',
  'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'REPORT', 'MKACTIVITY',
  'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PATCH', 'PURGE', 'MKCALENDAR',
  'LINK', 'UNLINK', 'SOURCE', 'PRI', 'DESCRIBE', 'ANNOUNCE', 'SETUP', 'PLAY', 'PAUSE', 'TEARDOWN',
  'GET_PARAMETER', 'SET_PARAMETER', 'REDIRECT', 'RECORD', 'FLUSH', 'QUERY',
];

/** haproxy's tune.bufsize is 16 KiB, and so is Node's default --max-http-header-size. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

export type HttpMessageKind = 'request' | 'response';

/**
 * How llhttp will delimit the body, from the headers as it reads them: `length` (Content-Length,
 * even 0), `chunked` (Transfer-Encoding whose last coding is chunked), `close` (a response read
 * until EOF), `none` (a request without either; a 1xx, 204 or 304 response). A HEAD response is
 * whatever its headers say until the owner answers `skipBody`.
 */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close';

/** One message's head, as llhttp read it (one object per message; safe to keep). */
export interface HttpHead {
  /** Request method (upper case; llhttp knows a fixed list and refuses others); '' for a response. */
  readonly method: string;
  /** Request target as received; '' for a response. */
  readonly target: string;
  /** Response status; 0 for a request. */
  readonly statusCode: number;
  /** Response reason phrase; '' for a request. */
  readonly reason: string;
  readonly versionMajor: number;
  readonly versionMinor: number;
  /** `[name, value, name, value, …]` in received order; names as sent, values without surrounding OWS (llhttp trims them). */
  readonly headers: readonly string[];
  /** llhttp's flag: Upgrade + `Connection: upgrade` on a request (any method; with a body llhttp reads it and stops after it), CONNECT, or a 101 response. */
  readonly upgrade: boolean;
  /** llhttp's `should_keep_alive` for this message. */
  readonly keepAlive: boolean;
  readonly framing: BodyFraming;
  /** The Content-Length when `framing` is `length`, else -1. */
  readonly contentLength: number;
  /**
   * llhttp (strict) has checked every name is a token and no value holds a control character
   * but HTAB: request-head.ts then skips that scan (about half its cost). False on heads built
   * elsewhere.
   */
  readonly charactersChecked: boolean;
}

/**
 * What the owner answers to a head: read its body; skip it (a response to HEAD, a 204 or 304);
 * `upgrade`: no body, stop after the head (only for an upgrade the proxy forwards: it makes
 * llhttp skip a body the headers announce, so answering it for llhttp's `upgrade` flag alone
 * would let a POST's body be read as the next request); or stop parsing (the head is refused;
 * `feed` returns `FUL_HPE_STOPPED_BY_OWNER`).
 */
export type HeadAnswer = 'body' | 'skipBody' | 'upgrade' | 'stop';

/** Events of one connection's messages, in order: onHead, onBody*, onTrailers?, onMessageComplete. */
export interface HttpParserOwner {
  onHead(head: HttpHead): HeadAnswer;
  /** A piece of the body (de-chunked). Use or copy it before `feed` returns. */
  onBody(chunk: Buffer): void;
  /** Trailer fields of a chunked body, `[name, value, …]`; only when there are some. */
  onTrailers(trailers: string[]): void;
  onMessageComplete(): void;
}

/** llhttp's error (`HPE_*`), or one of the wrapper's: `FUL_HPE_STOPPED`, `FUL_HPE_STOPPED_BY_OWNER`, `FUL_HPE_OWNER_THREW`. */
export interface HttpParseError {
  readonly code: string;
  readonly reason: string;
  /** Bytes of the last fed chunk that were parsed before the error (0 when unknown). */
  readonly bytesParsed: number;
}

export interface HttpParserLimits {
  /** Bytes of request target or status, header names and values llhttp may read per head (trailers included): HPE_HEADER_OVERFLOW beyond. */
  readonly maxHeaderBytes: number;
}

export const DEFAULT_HTTP_PARSER_LIMITS: HttpParserLimits = { maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES };

/** The answers as llhttp's on_headers_complete return codes: 0 read the body, 1 skip it, 2 upgrade, -1 error. */
const ANSWER_CODES: Readonly<Record<HeadAnswer, number>> = { body: 0, skipBody: 1, upgrade: 2, stop: -1 };

export class HttpParser {
  readonly kind: HttpMessageKind;
  #owner: HttpParserOwner;
  readonly #maxHeaderBytes: number;
  #native: NativeParser | null;
  /** Header pairs flushed before the head (or trailers); a fresh array per message, only on that slow path. */
  #spilled: string[] | null;
  #spilledTarget: string;
  /** From a message's first byte to its end. */
  #inMessage: boolean;
  /** Between onHead and onMessageComplete: kOnHeaders then carries trailers. */
  #inBody: boolean;
  /** The current message is an upgrade by llhttp's flag or the owner's answer. */
  #upgradeMessage: boolean;
  /** The last feed stopped after an upgrade message: the rest of the chunk is not HTTP. */
  #upgraded: boolean;
  #ownerStopped: boolean;
  #error: HttpParseError | null;
  #executing: boolean;

  constructor(kind: HttpMessageKind, owner: HttpParserOwner, limits: HttpParserLimits = DEFAULT_HTTP_PARSER_LIMITS) {
    if (!Number.isInteger(limits.maxHeaderBytes) || limits.maxHeaderBytes < 64) {
      throw new Error(`HttpParser: maxHeaderBytes ${limits.maxHeaderBytes} is not an integer of at least 64`);
    }
    this.kind = kind;
    this.#owner = owner;
    this.#maxHeaderBytes = limits.maxHeaderBytes;
    this.#spilled = null;
    this.#spilledTarget = '';
    this.#inMessage = false;
    this.#inBody = false;
    this.#upgradeMessage = false;
    this.#upgraded = false;
    this.#ownerStopped = false;
    this.#error = null;
    this.#executing = false;
    const native = new Native();
    native[kWrapper] = this;
    native[Native.kOnMessageBegin] = HttpParser.#onMessageBegin;
    native[Native.kOnHeaders] = HttpParser.#onHeaders;
    native[Native.kOnHeadersComplete] = HttpParser.#onHeadersComplete;
    native[Native.kOnBody] = HttpParser.#onBody;
    native[Native.kOnMessageComplete] = HttpParser.#onMessageComplete;
    this.#native = native;
    this.#initialize(native);
  }

  /** The last `feed` stopped after an upgrade or CONNECT message: the bytes after its count belong to the new protocol. Feeding again resumes HTTP parsing (the upgrade was declined). */
  get upgraded(): boolean {
    return this.#upgraded;
  }

  /** True between messages: no byte of a new message has been parsed since the last one completed (an idle keep-alive connection closes silently; a started request gets a 408). */
  get idle(): boolean {
    return !this.#inMessage && this.#error === null;
  }

  /** Parses `chunk`; returns the bytes consumed (all of them, unless an upgrade stopped the parser) or the parse error. */
  feed(chunk: Buffer): number | HttpParseError {
    const native = this.#live('feed');
    if (this.#error !== null) return this.#error;
    this.#upgraded = false;
    let result: number | NativeParseError | undefined;
    this.#executing = true;
    try {
      result = native.execute(chunk);
    } catch (err) {
      this.#error = { code: 'FUL_HPE_OWNER_THREW', reason: 'an owner callback threw', bytesParsed: 0 };
      throw err;
    } finally {
      this.#executing = false;
    }
    if (typeof result === 'number') {
      if (result === chunk.length || this.#upgraded) return result;
      return this.#fail('FUL_HPE_STOPPED', 'llhttp stopped without an error (bytes after a message it read as an upgrade)', result);
    }
    if (result === undefined) return this.#fail('FUL_HPE_OWNER_THREW', 'an owner callback failed', 0);
    if (this.#ownerStopped) return this.#fail('FUL_HPE_STOPPED_BY_OWNER', 'the owner refused the head', result.bytesParsed);
    return this.#fail(result.code, result.reason, result.bytesParsed);
  }

  /**
   * The peer closed its side. A message delimited by the close (a response without length)
   * completes here; `undefined` when that or nothing was pending, an error when a message was
   * cut short (HPE_INVALID_EOF_STATE).
   */
  finish(): HttpParseError | undefined {
    const native = this.#live('finish');
    if (this.#error !== null) return this.#error;
    if (this.#upgraded) return undefined;
    this.#executing = true;
    let result: NativeParseError | undefined;
    try {
      result = native.finish();
    } finally {
      this.#executing = false;
    }
    if (result === undefined) return undefined;
    return this.#fail(result.code, result.reason, 0);
  }

  /**
   * Ready for a new connection, or for the next exchange on a kept endpoint connection (with
   * that exchange as `owner`), or after an error: llhttp is initialised afresh. Not from inside
   * an owner callback.
   */
  reset(owner: HttpParserOwner = this.#owner): void {
    const native = this.#live('reset');
    this.#owner = owner;
    this.#initialize(native);
  }

  /** Frees the native parser; the wrapper is unusable afterwards. From inside a callback it is deferred until the stack unwinds (as Node's freeParser does). */
  close(): void {
    const native = this.#native;
    if (native === null) return;
    this.#native = null;
    native[kWrapper] = null;
    if (this.#executing) setImmediate(closeNative, native);
    else native.close();
  }

  #live(op: string): NativeParser {
    if (this.#native === null) throw new Error(`incoherent use of HttpParser: ${op}() after close()`);
    if (this.#executing) throw new Error(`incoherent use of HttpParser: ${op}() from inside an owner callback`);
    return this.#native;
  }

  #initialize(native: NativeParser): void {
    native.initialize(this.kind === 'request' ? Native.REQUEST : Native.RESPONSE, this, this.#maxHeaderBytes, Native.kLenientNone);
    this.#spilled = null;
    this.#spilledTarget = '';
    this.#inMessage = false;
    this.#inBody = false;
    this.#upgradeMessage = false;
    this.#upgraded = false;
    this.#ownerStopped = false;
    this.#error = null;
  }

  #fail(code: string, reason: string, bytesParsed: number): HttpParseError {
    this.#error = { code, reason, bytesParsed: bytesParsed > 0 ? bytesParsed : 0 };
    return this.#error;
  }

  static #onMessageBegin(this: NativeParser): void {
    const self = this[kWrapper];
    if (self !== null) self.#inMessage = true;
  }

  static #onHeaders(this: NativeParser, headers: string[], target: string): void {
    const self = this[kWrapper];
    if (self === null) return;
    if (self.#spilled === null) self.#spilled = headers;
    else for (let i = 0; i < headers.length; i++) self.#spilled.push(headers[i]!);
    if (!self.#inBody) self.#spilledTarget += target; // after the head, llhttp passes a stale target with trailers
  }

  static #onHeadersComplete(
    this: NativeParser,
    versionMajor: number,
    versionMinor: number,
    headers: string[] | undefined,
    method: number | undefined,
    target: string | undefined,
    statusCode: number | undefined,
    reason: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    const self = this[kWrapper];
    if (self === null) return -1;
    const list = headers ?? self.#spilled ?? [];
    const status = statusCode ?? 0;
    const framing = framingOf(self.kind, status, list);
    const head: HttpHead = {
      method: method === undefined ? '' : (METHODS[method] ?? ''),
      target: target ?? self.#spilledTarget,
      statusCode: status,
      reason: reason ?? '',
      versionMajor,
      versionMinor,
      headers: list,
      upgrade,
      keepAlive,
      framing,
      contentLength: framing === 'length' ? contentLengthOf(list) : -1,
      charactersChecked: true,
    };
    self.#spilled = null;
    self.#spilledTarget = '';
    self.#inBody = true;
    const answer = self.#owner.onHead(head);
    if (answer === 'stop') self.#ownerStopped = true;
    self.#upgradeMessage = upgrade || answer === 'upgrade';
    return ANSWER_CODES[answer];
  }

  static #onBody(this: NativeParser, chunk: Buffer): void {
    const self = this[kWrapper];
    if (self !== null) self.#owner.onBody(chunk);
  }

  static #onMessageComplete(this: NativeParser): void {
    const self = this[kWrapper];
    if (self === null) return;
    const trailers = self.#spilled;
    self.#spilled = null;
    self.#inMessage = false;
    self.#inBody = false;
    if (self.#upgradeMessage) {
      self.#upgradeMessage = false;
      self.#upgraded = true;
    }
    if (trailers !== null && trailers.length > 0) self.#owner.onTrailers(trailers);
    self.#owner.onMessageComplete();
  }
}

function closeNative(native: NativeParser): void {
  native.close();
}

/** How llhttp delimits the body (it does not expose it): from the status and the framing headers it accepted. */
function framingOf(kind: HttpMessageKind, status: number, headers: readonly string[]): BodyFraming {
  if (kind === 'response' && (status < 200 || status === 204 || status === 304)) return 'none';
  let lastCoding: string | null = null;
  let length = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') lastCoding = headers[i + 1]!;
    else if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
  }
  // llhttp refuses a request whose last coding is not chunked, and Content-Length with Transfer-Encoding
  if (lastCoding !== null) return kind === 'request' || LAST_CODING_CHUNKED.test(lastCoding) ? 'chunked' : 'close';
  if (length) return 'length';
  return kind === 'request' ? 'none' : 'close';
}

const LAST_CODING_CHUNKED = /(?:^|[\t ,])chunked$/i;

/** llhttp accepted the one Content-Length (digits only, no overflow of 64 bits); above 2^53 it is not exact here. */
function contentLengthOf(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') return Number(headers[i + 1]);
  }
  return -1;
}
