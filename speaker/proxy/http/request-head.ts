/**
 * The proxy's rules on an HTTP/1 request head, on top of llhttp's strict parsing (parser.ts), and
 * the head sent on to the endpoint. Pure: no sockets, timers or logger. A head is forwarded only
 * when every reading of it is the same for the proxy and for any backend: ambiguous framing,
 * hosts or targets are refused with a status and a stable `reason` (metrics count reasons;
 * `detail` is for logs). What llhttp already refuses is checked again here, so a head from
 * elsewhere (tests, a future parser) gets the same verdict; only the character scan of names and
 * values is skipped on heads llhttp checked (`charactersChecked`). Responses are in
 * response-head.ts, the proxy's own answers in own-responses.ts; the rules, their statuses and
 * the corpus are in README.md.
 */
import net from 'node:net';
import type { HttpHead, HttpParseError } from './parser.js';

export interface RequestLimits {
  /** More header fields than this: 431 (haproxy's tune.http.maxhdr is 101). */
  readonly maxHeaderCount: number;
}
export const DEFAULT_REQUEST_LIMITS: RequestLimits = { maxHeaderCount: 100 };

export type RequestBodyKind = 'none' | 'length' | 'chunked';

export interface RequestFacts {
  readonly method: string;
  /** From the absolute-form target if any, else Host: lower case, no port, IPv6 in brackets; '' for an HTTP/1.0 request without one. */
  readonly host: string;
  /** host[:port] as the client named it, lower case: the Host sent on when the request had none, and Forwarded's host=. */
  readonly authority: string;
  /** The origin-form target sent on: path and query (`*` for OPTIONS *). */
  readonly target: string;
  /** The path without the query, for routing. */
  readonly path: string;
  readonly bodyKind: RequestBodyKind;
  /** The Content-Length sent (0 included; forwarded in canonical form), else -1. */
  readonly contentLength: number;
  /** The client connection stays open after this exchange (HTTP/1.0: `Connection: keep-alive`; 1.1: no `close`). */
  readonly keepAlive: boolean;
  /** An upgrade to forward (a GET over HTTP/1.1 with `Connection: upgrade`): the Upgrade value; null otherwise (h2c is never forwarded). */
  readonly upgrade: string | null;
  /** `Expect: 100-continue` on HTTP/1.1 (HTTP/1.0 expectations are ignored, RFC 9110 §10.1.1). */
  readonly expectContinue: boolean;
  /** GET HEAD PUT DELETE OPTIONS TRACE: may be sent again on another endpoint connection. */
  readonly idempotent: boolean;
  readonly http10: boolean;
  /** Extra hop-by-hop header names the client's Connection listed (lower case), removed when forwarding. */
  readonly hopByHop: readonly string[];
}

export type RequestRejectReason =
  | 'versionNotSupported' | 'http2Preface' | 'connectNotSupported' | 'methodInvalid' | 'protocolNotHttp' | 'targetInvalid'
  | 'tooManyHeaders' | 'headerTooLarge' | 'headerNameInvalid' | 'headerNameSuspicious' | 'headerValueInvalid' | 'headerInvalid'
  | 'hostMissing' | 'hostDuplicate' | 'hostInvalid' | 'hostMismatch'
  | 'contentLengthDuplicate' | 'contentLengthInvalid' | 'contentLengthWithTransferEncoding'
  | 'transferEncodingInvalid' | 'transferCodingUnsupported' | 'transferEncodingHttp10' | 'bodyInGetOrHead'
  | 'chunkInvalid' | 'dataAfterClose' | 'truncated' | 'malformedRequest';

export type RejectStatus = 400 | 431 | 501 | 505;
export type RequestVerdict =
  | { readonly kind: 'forward'; readonly facts: RequestFacts }
  | { readonly kind: 'reject'; readonly status: RejectStatus; readonly reason: RequestRejectReason; readonly detail: string };

/** A token (RFC 9110 §5.6.2): header names, methods, codings. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters other than HTAB (obs-text, 0x80-0xFF, is allowed). */
export const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** host[:port]: a strict reg-name (letters, digits, - . _), an IPv4 address or a bracketed IPv6 one. */
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]*))(?::([0-9]{0,5}))?$/;
const ABSOLUTE_FORM = /^(https?):\/\/([^/?#]*)(.*)$/i;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);
/** llhttp takes these only on an RTSP/1.0 request line, which the head cannot show otherwise (it reads as 1.0). */
const RTSP_ONLY = new Set(['DESCRIBE', 'ANNOUNCE', 'SETUP', 'PLAY', 'PAUSE', 'TEARDOWN', 'GET_PARAMETER', 'SET_PARAMETER', 'REDIRECT', 'RECORD', 'FLUSH']);
/** The empty list, shared: no allocation for the heads that have nothing to list. */
export const NONE: readonly string[] = Object.freeze([]);
/** Names that framing or the proxy's own headers depend on: another spelling of them (`Content_Length`, `Transfer--Encoding`) is refused, since CGI-style backends fold `_` into `-`. */
const GUARDED_NAMES = new Set(['content-length', 'transfer-encoding', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-host']);

/** Strips OWS (SP, HTAB) only: String.prototype.trim also strips NBSP (0xA0) and would read `\xa0chunked` as chunked. */
export function trimOws(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

function reject(status: RejectStatus, reason: RequestRejectReason, detail: string): RequestVerdict {
  return { kind: 'reject', status, reason, detail };
}

/** Checks a request head; the facts tell the runtime how to route, frame and forward it. */
export function checkRequestHead(head: HttpHead, limits: RequestLimits = DEFAULT_REQUEST_LIMITS): RequestVerdict {
  if (head.versionMajor !== 1 || (head.versionMinor !== 0 && head.versionMinor !== 1)) {
    return reject(505, 'versionNotSupported', `HTTP/${head.versionMajor}.${head.versionMinor}`);
  }
  const http10 = head.versionMinor === 0;
  const method = head.method;
  if (method === 'CONNECT') return reject(501, 'connectNotSupported', 'CONNECT: a reverse proxy does not open tunnels');
  if (!TOKEN.test(method)) return reject(400, 'methodInvalid', `method ${JSON.stringify(method)}`);
  if (RTSP_ONLY.has(method)) return reject(400, 'protocolNotHttp', `${method} is an RTSP method`);
  const h = head.headers;
  if (h.length / 2 > limits.maxHeaderCount) return reject(431, 'tooManyHeaders', `${h.length / 2} header fields, at most ${limits.maxHeaderCount}`);

  let hostCount = 0, hostValue = '', clCount = 0, clValue = '', teCount = 0, teValue = '';
  let connection = '', upgradeValue = '', expect = '';
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!, value = h[i + 1]!;
    if (!head.charactersChecked) {
      if (!TOKEN.test(name)) return reject(400, 'headerNameInvalid', `header name ${JSON.stringify(name)}`);
      if (CTL.test(value)) return reject(400, 'headerValueInvalid', `header ${name}: a control character in the value`);
    }
    // 14: the shortest guarded name; another spelling of one is at least as long
    if (name.length >= 14 && (name.includes('_') || name.includes('--')) && GUARDED_NAMES.has(name.toLowerCase().replace(/[-_]+/g, '-'))) {
      return reject(400, 'headerNameSuspicious', `header name ${JSON.stringify(name)} reads as another`);
    }
    switch (name.length) { // lower-case only the names that can matter
      case 4: if (name.toLowerCase() === 'host') { hostCount++; hostValue = value; } break;
      case 6: if (name.toLowerCase() === 'expect') expect = value; break;
      case 7: if (name.toLowerCase() === 'upgrade') upgradeValue = upgradeValue === '' ? value : `${upgradeValue}, ${value}`; break;
      case 10: if (name.toLowerCase() === 'connection') connection = connection === '' ? value : `${connection},${value}`; break;
      case 14: if (name.toLowerCase() === 'content-length') { clCount++; clValue = value; } break;
      case 17: if (name.toLowerCase() === 'transfer-encoding') { teCount++; teValue = value; } break;
    }
  }

  // Target and host (RFC 9112 §3.2): the absolute-form authority wins over Host, which must agree.
  if (hostCount > 1) return reject(400, 'hostDuplicate', `${hostCount} Host headers`);
  let target = head.target;
  let absolute: HostPort | null = null;
  if (target.includes('#') || target.includes(' ') || CTL.test(target)) return reject(400, 'targetInvalid', `target ${JSON.stringify(target)}: a fragment, space or control character`);
  if (target === '*') {
    if (method !== 'OPTIONS') return reject(400, 'targetInvalid', `${method} *: only OPTIONS takes the asterisk form`);
  } else if (target.charCodeAt(0) !== 0x2f /* / */) {
    const m = ABSOLUTE_FORM.exec(target);
    if (m === null) return reject(400, 'targetInvalid', `target ${JSON.stringify(target)}: not origin or absolute form`);
    absolute = parseHostPort(m[2]!, m[1]!.toLowerCase() === 'https' ? 443 : 80);
    if (absolute === null || absolute.host === '') return reject(400, 'targetInvalid', `target ${JSON.stringify(target)}: authority is not host[:port]`);
    const rest = m[3]!;
    target = rest === '' ? '/' : rest.charCodeAt(0) === 0x3f /* ? */ ? `/${rest}` : rest;
  }
  let authority: HostPort | null = null;
  if (hostCount === 1) {
    authority = parseHostPort(hostValue, absolute?.defaultPort ?? 80);
    if (authority === null) return reject(400, 'hostInvalid', `Host ${JSON.stringify(hostValue)}`);
    if (absolute !== null && (authority.host !== absolute.host || authority.port !== absolute.port)) {
      return reject(400, 'hostMismatch', `Host ${JSON.stringify(hostValue)} is not the target's authority`);
    }
  } else if (!http10) {
    return reject(400, 'hostMissing', 'HTTP/1.1 without Host');
  }
  const named = absolute ?? authority;

  // Body framing (RFC 9112 §6): one way to read it, or no way at all.
  let bodyKind: RequestBodyKind = 'none';
  let contentLength = -1;
  if (teCount > 0) {
    if (clCount > 0) return reject(400, 'contentLengthWithTransferEncoding', 'Content-Length and Transfer-Encoding');
    if (http10) return reject(400, 'transferEncodingHttp10', 'Transfer-Encoding in an HTTP/1.0 request');
    if (teCount > 1) return reject(400, 'transferEncodingInvalid', `${teCount} Transfer-Encoding headers`);
    if (teValue.length !== 7 || teValue.toLowerCase() !== 'chunked') {
      const codings = teValue.split(',').map(trimOws);
      const wellFormed = codings.every((c) => TOKEN.test(c)) && codings.filter((c) => c.toLowerCase() === 'chunked').length === 1;
      if (wellFormed && codings[codings.length - 1]!.toLowerCase() === 'chunked') {
        return reject(501, 'transferCodingUnsupported', `Transfer-Encoding ${JSON.stringify(teValue)}: only chunked is decoded`);
      }
      return reject(400, 'transferEncodingInvalid', `Transfer-Encoding ${JSON.stringify(teValue)}`);
    }
    bodyKind = 'chunked';
  } else if (clCount > 0) {
    if (clCount > 1) return reject(400, 'contentLengthDuplicate', `${clCount} Content-Length headers`);
    // 15 digits: below 2^53, so the number is exact; a larger body is no request we forward
    if (!/^[0-9]{1,15}$/.test(clValue)) return reject(400, 'contentLengthInvalid', `Content-Length ${JSON.stringify(clValue)}`);
    contentLength = Number(clValue);
    if (contentLength > 0) bodyKind = 'length';
  }
  // A body on GET or HEAD has no defined meaning, and some servers ignore it (then it is the next request).
  if (bodyKind !== 'none' && (method === 'GET' || method === 'HEAD')) return reject(400, 'bodyInGetOrHead', `${method} with a body`);

  let close = false, keepAliveToken = false, upgradeToken = false;
  let hopByHop = NONE;
  const connectionLower = connection.toLowerCase();
  if (connectionLower === 'keep-alive') keepAliveToken = true; // the common cases, without a split
  else if (connectionLower === 'close') close = true;
  else if (connection !== '') {
    for (const raw of connection.split(',')) {
      const token = trimOws(raw).toLowerCase();
      if (token === '') continue;
      if (token === 'close') close = true;
      else if (token === 'keep-alive') keepAliveToken = true;
      else if (token === 'upgrade') upgradeToken = true;
      else if (TOKEN.test(token) && token !== 'host' && token !== 'content-length') {
        if (hopByHop === NONE) hopByHop = [];
        (hopByHop as string[]).push(token); // framing and routing headers are never dropped for a client's say-so
      }
    }
  }
  let upgrade: string | null = null;
  if (upgradeToken && !http10 && method === 'GET' && upgradeValue !== '') {
    const protocols = upgradeValue.split(',').map(trimOws);
    if (protocols.every((p) => UPGRADE_PROTOCOL.test(p) && !/^h2c(?:\/|$)/i.test(p))) upgrade = protocols.join(', ');
  }
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  return {
    kind: 'forward',
    facts: {
      method,
      host: named?.host ?? '',
      authority: named?.text ?? '',
      target,
      path,
      bodyKind,
      contentLength,
      keepAlive: http10 ? keepAliveToken && !close : !close,
      upgrade,
      expectContinue: !http10 && expect.toLowerCase() === '100-continue',
      idempotent: IDEMPOTENT.has(method),
      http10,
      hopByHop,
    },
  };
}

const UPGRADE_PROTOCOL = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?$/;

interface HostPort {
  /** Lower case, no port; IPv6 keeps its brackets. */
  readonly host: string;
  readonly port: number;
  readonly defaultPort: number;
  /** host[:port] as given, lower case. */
  readonly text: string;
}

function parseHostPort(value: string, defaultPort: number): HostPort | null {
  const m = HOST_PORT.exec(value);
  if (m === null) return null;
  const v6 = m[1];
  if (v6 !== undefined && net.isIPv6(v6) === false) return null;
  const host = (v6 !== undefined ? `[${v6}]` : m[2]!).toLowerCase();
  const portText = m[3];
  if (host === '' && portText !== undefined) return null;
  const port = portText === undefined || portText === '' ? defaultPort : Number(portText);
  if (port > 65535) return null;
  return { host, port, defaultPort, text: value.toLowerCase() };
}

/** A parse error of a request as a reject: llhttp's code (and, where one code covers several rules, its reason text) to ours. */
export function rejectParseError(error: HttpParseError): RequestVerdict & { readonly kind: 'reject' } {
  const detail = `${error.code}: ${error.reason}`;
  const r = (status: RejectStatus, reason: RequestRejectReason) => ({ kind: 'reject' as const, status, reason, detail });
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW': return r(431, 'headerTooLarge');
    case 'HPE_PAUSED_H2_UPGRADE': return r(505, 'http2Preface');
    case 'HPE_INVALID_VERSION': return /^Invalid (?:HTTP|major|minor) version/.test(error.reason) ? r(505, 'versionNotSupported') : r(400, 'malformedRequest');
    case 'HPE_INVALID_METHOD': return r(400, 'methodInvalid');
    case 'HPE_INVALID_URL': return r(400, 'targetInvalid');
    case 'HPE_INVALID_HEADER_TOKEN': return r(400, 'headerInvalid');
    case 'HPE_UNEXPECTED_CONTENT_LENGTH': return r(400, 'contentLengthDuplicate');
    case 'HPE_INVALID_CONTENT_LENGTH':
      return /Transfer-Encoding/.test(error.reason) ? r(400, 'contentLengthWithTransferEncoding') : r(400, 'contentLengthInvalid');
    case 'HPE_INVALID_TRANSFER_ENCODING': return r(400, 'transferEncodingInvalid');
    case 'HPE_INVALID_CHUNK_SIZE': case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': return r(400, 'chunkInvalid');
    case 'HPE_CLOSED_CONNECTION': return r(400, 'dataAfterClose');
    case 'HPE_INVALID_EOF_STATE': return r(400, 'truncated');
    default: return r(400, 'malformedRequest');
  }
}

// ---- forwarding ---------------------------------------------------------------------------

export interface RequestEdits {
  readonly clientAddress: string;
  /** The peer may speak for others: its X-Forwarded-For and Forwarded are kept and appended to; anyone else's are replaced. */
  readonly trustForwardedFor: boolean;
  readonly proto: 'http' | 'https';
  /** The frontend's port (X-Forwarded-Port). */
  readonly port: number;
  /** Add an RFC 7239 Forwarded element. */
  readonly forwarded: boolean;
}

/** Always removed (RFC 9110 §7.6.1), besides what Connection lists; HTTP2-Settings only ever comes with an h2c upgrade, which is not forwarded. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);
/** Set by the proxy itself, never passed on as received. */
const SET_BY_PROXY = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded', 'content-length', 'host']);
/** The lengths of those names: any other name is passed on without lower-casing it (no string made per header). */
export const SPECIAL_LENGTHS: ReadonlySet<number> = new Set([...HOP_BY_HOP, ...SET_BY_PROXY].map((n) => n.length));

/**
 * The request head sent to the endpoint, as latin1 text from the request line to the empty line:
 * origin-form, HTTP/1.1; hop-by-hop headers removed; Content-Length in canonical form; every
 * other header kept in order with its name's case. A chunked body gets `Transfer-Encoding:
 * chunked` written here: the runtime re-chunks what the parser de-chunked (so it also drops
 * chunk extensions and trailers). An upgrade gets `Connection: upgrade` and its `Upgrade`.
 */
export function forwardedRequestHead(head: HttpHead, facts: RequestFacts, edits: RequestEdits): string {
  let out = `${head.method} ${facts.target} HTTP/1.1\r\n`;
  let xff = '', forwarded = '', hasHost = false;
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!, value = h[i + 1]!;
    if (facts.hopByHop.length === 0 && !SPECIAL_LENGTHS.has(name.length)) {
      out += `${name}: ${value}\r\n`;
      continue;
    }
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || facts.hopByHop.includes(lower)) continue;
    if (!SET_BY_PROXY.has(lower)) out += `${name}: ${value}\r\n`;
    else if (lower === 'host') { out += `${name}: ${value}\r\n`; hasHost = true; }
    else if (lower === 'content-length') out += `${name}: ${facts.contentLength}\r\n`;
    else if (lower === 'x-forwarded-for') xff = xff === '' ? value : `${xff}, ${value}`;
    else if (lower === 'forwarded') forwarded = forwarded === '' ? value : `${forwarded}, ${value}`;
  }
  if (!hasHost) out += `Host: ${facts.authority}\r\n`;
  if (facts.bodyKind === 'chunked') out += 'Transfer-Encoding: chunked\r\n';
  const client = edits.clientAddress;
  out += `X-Forwarded-For: ${edits.trustForwardedFor && xff !== '' ? `${xff}, ${client}` : client}\r\n`;
  out += `X-Forwarded-Proto: ${edits.proto}\r\nX-Forwarded-Port: ${edits.port}\r\n`;
  if (edits.forwarded) {
    let element = `for=${forwardedNode(client)};proto=${edits.proto}`;
    if (facts.authority !== '') element += `;host=${forwardedValue(facts.authority)}`;
    out += `Forwarded: ${edits.trustForwardedFor && forwarded !== '' ? `${forwarded}, ${element}` : element}\r\n`;
  } else if (edits.trustForwardedFor && forwarded !== '') {
    out += `Forwarded: ${forwarded}\r\n`;
  }
  if (facts.upgrade !== null) out += `Connection: upgrade\r\nUpgrade: ${facts.upgrade}\r\n`;
  return `${out}\r\n`;
}

/** RFC 7239 §6: an IPv6 node is bracketed and quoted; an address we do not know is "unknown". */
function forwardedNode(address: string): string {
  const family = net.isIP(address);
  if (family === 6) return `"[${address}]"`;
  return family === 4 ? address : 'unknown';
}

function forwardedValue(value: string): string {
  return TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}
