/**
 * The proxy's rules on what an endpoint answers (HTTP/1 response heads, parsed by parser.ts), and
 * the response head sent on to the client. Pure: no sockets, timers or logger. Anything
 * ambiguous is a 502 with a stable `reason` (metrics count reasons; `detail` is for logs). The
 * token grammar and the hop-by-hop names are request-head.ts's; README.md has the rules.
 */
import type { HttpHead, HttpParseError } from './parser.js';
import { CTL, HOP_BY_HOP, NONE, SPECIAL_LENGTHS, TOKEN, trimOws, type RequestFacts } from './request-head.js';

export type ResponseBodyKind = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseFacts {
  /** A 1xx other than 101: passed on (unless the client speaks HTTP/1.0) while the final response is awaited. */
  readonly interim: boolean;
  /** A 101 to an upgrade the client asked for: the connection becomes a tunnel. */
  readonly upgrade: boolean;
  /** How the endpoint delimits the body: none for HEAD, 1xx, 204 and 304 (the runtime answers skipBody). */
  readonly bodyKind: ResponseBodyKind;
  /** When `bodyKind` is `length`, else -1. */
  readonly contentLength: number;
  /** The endpoint connection may carry another exchange once this one completed cleanly. */
  readonly keepAlive: boolean;
}

export type ResponseRejectReason =
  | 'responseVersionInvalid' | 'responseStatusInvalid' | 'responseHeaderInvalid' | 'responseContentLengthInvalid'
  | 'responseFramingAmbiguous' | 'responseTransferEncodingUnsupported' | 'responseUnexpectedUpgrade'
  | 'responseHeaderTooLarge' | 'responseMalformed' | 'responseTruncated';

export type ResponseVerdict =
  | { readonly kind: 'forward'; readonly facts: ResponseFacts }
  | { readonly kind: 'reject'; readonly status: 502; readonly reason: ResponseRejectReason; readonly detail: string };

function bad(reason: ResponseRejectReason, detail: string): ResponseVerdict {
  return { kind: 'reject', status: 502, reason, detail };
}

/** Checks what an endpoint answered to `request`: anything ambiguous is a 502 (and the endpoint connection is closed). */
export function checkResponseHead(head: HttpHead, request: RequestFacts): ResponseVerdict {
  if (head.versionMajor !== 1 || (head.versionMinor !== 0 && head.versionMinor !== 1)) {
    return bad('responseVersionInvalid', `HTTP/${head.versionMajor}.${head.versionMinor}`);
  }
  const status = head.statusCode;
  if (status < 100 || status > 599) return bad('responseStatusInvalid', `status ${status}`);
  const h = head.headers;
  let clCount = 0, clValue = '', teCount = 0, teValue = '', upgradeValue = '';
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!, value = h[i + 1]!;
    if (!TOKEN.test(name) || CTL.test(value)) return bad('responseHeaderInvalid', `header ${JSON.stringify(name)}`);
    switch (name.length) {
      case 7: if (name.toLowerCase() === 'upgrade') upgradeValue = value; break;
      case 14: if (name.toLowerCase() === 'content-length') { clCount++; clValue = value; } break;
      case 17: if (name.toLowerCase() === 'transfer-encoding') { teCount++; teValue = value; } break;
    }
  }
  if (clCount > 1) return bad('responseContentLengthInvalid', `${clCount} Content-Length headers`);
  if (clCount === 1 && !/^[0-9]{1,15}$/.test(clValue)) return bad('responseContentLengthInvalid', `Content-Length ${JSON.stringify(clValue)}`);
  if (teCount > 0 && (clCount > 0 || head.versionMinor === 0)) return bad('responseFramingAmbiguous', 'Transfer-Encoding with Content-Length, or in HTTP/1.0');
  if (teCount > 1 || (teCount === 1 && (teValue.length !== 7 || teValue.toLowerCase() !== 'chunked'))) {
    return bad('responseTransferEncodingUnsupported', `Transfer-Encoding ${JSON.stringify(teValue)}`);
  }
  if (status === 101) {
    if (request.upgrade === null || upgradeValue === '') return bad('responseUnexpectedUpgrade', '101 to a request that asked for no upgrade');
    return { kind: 'forward', facts: { interim: false, upgrade: true, bodyKind: 'none', contentLength: -1, keepAlive: false } };
  }
  if (status < 200) return { kind: 'forward', facts: { interim: true, upgrade: false, bodyKind: 'none', contentLength: -1, keepAlive: true } };
  let bodyKind: ResponseBodyKind = 'close';
  let contentLength = -1;
  if (request.method === 'HEAD' || status === 204 || status === 304) bodyKind = 'none';
  else if (teCount === 1) bodyKind = 'chunked';
  else if (clCount === 1) {
    contentLength = Number(clValue);
    bodyKind = 'length';
  }
  return { kind: 'forward', facts: { interim: false, upgrade: false, bodyKind, contentLength, keepAlive: head.keepAlive && bodyKind !== 'close' } };
}

/** A parse error of a response as a reject (always 502; the endpoint connection is closed). */
export function rejectResponseParseError(error: HttpParseError): ResponseVerdict & { readonly kind: 'reject' } {
  const reason: ResponseRejectReason = error.code === 'HPE_HEADER_OVERFLOW' ? 'responseHeaderTooLarge' : error.code === 'HPE_INVALID_EOF_STATE' ? 'responseTruncated' : 'responseMalformed';
  return { kind: 'reject', status: 502, reason, detail: `${error.code}: ${error.reason}` };
}

export interface ResponseEdits {
  /** The client connection closes after this response: `Connection: close`. */
  readonly close: boolean;
  /** How the runtime writes the body to the client: `length` and `none` keep Content-Length, `chunked` writes `Transfer-Encoding: chunked` instead, `close` neither. */
  readonly framing: ResponseBodyKind;
  /** A `Set-Cookie` value to add (the sticky cookie), or null. */
  readonly setCookie: string | null;
  /** The client speaks HTTP/1.0 and stays open: `Connection: keep-alive`. */
  readonly http10KeepAlive?: boolean;
}

/** The response head sent to the client: HTTP/1.1 status line, hop-by-hop headers removed, the framing the runtime writes. */
export function forwardedResponseHead(head: HttpHead, edits: ResponseEdits): string {
  let out = `HTTP/1.1 ${head.statusCode} ${head.reason}\r\n`;
  const h = head.headers;
  let listed: readonly string[] = NONE;
  let upgradeValue = '';
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of h[i + 1]!.toLowerCase().split(',')) {
        const t = trimOws(token);
        if (t !== 'close' && t !== 'keep-alive' && t !== 'upgrade' && t !== 'content-length') listed = listed === NONE ? [t] : [...listed, t];
      }
    } else if (name.length === 7 && name.toLowerCase() === 'upgrade') upgradeValue = h[i + 1]!;
  }
  const keepLength = edits.framing === 'length' || edits.framing === 'none';
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (listed.length > 0 || SPECIAL_LENGTHS.has(name.length)) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || listed.includes(lower)) continue;
      if (lower === 'content-length' && !keepLength) continue;
    }
    out += `${name}: ${h[i + 1]!}\r\n`;
  }
  if (edits.setCookie !== null) out += `Set-Cookie: ${edits.setCookie}\r\n`;
  if (edits.framing === 'chunked') out += 'Transfer-Encoding: chunked\r\n';
  if (head.statusCode === 101) out += `Connection: upgrade\r\nUpgrade: ${upgradeValue}\r\n`;
  else if (edits.close) out += 'Connection: close\r\n';
  else if (edits.http10KeepAlive === true) out += 'Connection: keep-alive\r\n';
  return `${out}\r\n`;
}
