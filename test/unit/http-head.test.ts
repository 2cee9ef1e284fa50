import assert from 'node:assert/strict';
import { errorResponse, redirectResponse, type ErrorStatus } from '../../speaker/proxy/http/own-responses.js';
import { checkRequestHead, forwardedRequestHead, rejectParseError, type RequestEdits, type RequestFacts } from '../../speaker/proxy/http/request-head.js';
import { checkResponseHead, forwardedResponseHead, rejectResponseParseError, type ResponseEdits } from '../../speaker/proxy/http/response-head.js';
import type { HttpHead } from '../../speaker/proxy/http/parser.js';

/** A request head as llhttp hands it out; rows override what differs. Frozen, so a mutation throws. */
function req(o: Partial<HttpHead> = {}): HttpHead {
  const head = { method: 'GET', target: '/', statusCode: 0, reason: '', versionMajor: 1, versionMinor: 1, headers: ['Host', 'example.com'], upgrade: false, keepAlive: true, framing: 'none', contentLength: -1, charactersChecked: false, ...o } as const;
  return Object.freeze({ ...head, headers: Object.freeze([...head.headers]) });
}
function resp(o: Partial<HttpHead> = {}): HttpHead {
  return req({ method: '', target: '', statusCode: 200, reason: 'OK', headers: ['Content-Length', '2'], ...o });
}
const shown = (head: HttpHead): string => JSON.stringify([head.method || head.statusCode, head.target, `${head.versionMajor}.${head.versionMinor}`, head.headers]);

/** The facts of `req(o)` (it must be forwarded). */
function factsOf(o: Partial<HttpHead> = {}): RequestFacts {
  const v = checkRequestHead(req(o));
  assert.equal(v.kind, 'forward', `checkRequestHead(${shown(req(o))}) should forward`);
  return (v as { facts: RequestFacts }).facts;
}

describe('checkRequestHead: what is forwarded, and the facts it gives', () => {
  const rows: { name: string; head: Partial<HttpHead>; want: Partial<RequestFacts> }[] = [
    { name: 'a plain GET gives host, path, keep-alive and idempotent', head: {}, want: { method: 'GET', host: 'example.com', authority: 'example.com', target: '/', path: '/', bodyKind: 'none', contentLength: -1, keepAlive: true, upgrade: null, expectContinue: false, idempotent: true, http10: false, hopByHop: [] } },
    { name: 'the Host is lower-cased and its port stripped (kept in the authority)', head: { headers: ['host', 'WWW.Example.COM:8080'] }, want: { host: 'www.example.com', authority: 'www.example.com:8080' } },
    { name: 'the query is not part of the routing path', head: { target: '/api/v1?x=/y' }, want: { target: '/api/v1?x=/y', path: '/api/v1' } },
    { name: 'an absolute-form target names the host and is sent on in origin form', head: { target: 'http://Example.com/a?b', headers: ['Host', 'example.com'] }, want: { host: 'example.com', target: '/a?b', path: '/a' } },
    { name: 'an absolute-form target with only a query gets the root path', head: { target: 'https://example.com?q=1', headers: ['Host', 'example.com:443'] }, want: { target: '/?q=1', path: '/' } },
    { name: 'Host and absolute form agree when only the default port differs', head: { target: 'http://example.com:80/', headers: ['Host', 'example.com'] }, want: { host: 'example.com' } },
    { name: 'an HTTP/1.0 request may name no host and closes by default', head: { versionMinor: 0, headers: [] }, want: { host: '', authority: '', keepAlive: false, http10: true } },
    { name: 'an HTTP/1.0 request stays open with Connection: keep-alive', head: { versionMinor: 0, headers: ['Connection', 'Keep-Alive'] }, want: { keepAlive: true } },
    { name: 'an HTTP/1.1 request with Connection: close closes', head: { headers: ['Host', 'a', 'Connection', 'foo, close'] }, want: { keepAlive: false, hopByHop: ['foo'] } },
    { name: 'an empty Host is allowed (RFC 9112 §3.2) and routes as no host', head: { headers: ['Host', ''] }, want: { host: '', authority: '' } },
    { name: 'an IPv6 Host keeps its brackets and loses its port', head: { headers: ['Host', '[2001:DB8::1]:8080'] }, want: { host: '[2001:db8::1]' } },
    { name: 'a Content-Length body has its length', head: { method: 'POST', headers: ['Host', 'a', 'Content-Length', '5'] }, want: { bodyKind: 'length', contentLength: 5, idempotent: false } },
    { name: 'a Content-Length with leading zeros is read as decimal', head: { method: 'PUT', headers: ['Host', 'a', 'Content-Length', '007'] }, want: { bodyKind: 'length', contentLength: 7, idempotent: true } },
    { name: 'Content-Length: 0 on a GET is no body and is forwarded', head: { headers: ['Host', 'a', 'Content-Length', '0'] }, want: { bodyKind: 'none', contentLength: 0 } },
    { name: 'Transfer-Encoding: chunked (any case) is a chunked body', head: { method: 'POST', headers: ['Host', 'a', 'Transfer-Encoding', 'Chunked'] }, want: { bodyKind: 'chunked' } },
    { name: 'a WebSocket GET is an upgrade with its protocol', head: { headers: ['Host', 'a', 'Connection', 'keep-alive, Upgrade', 'Upgrade', 'websocket'], upgrade: true }, want: { upgrade: 'websocket' } },
    { name: 'an upgrade asked by a POST is not forwarded', head: { method: 'POST', headers: ['Host', 'a', 'Connection', 'upgrade', 'Upgrade', 'websocket'], upgrade: true }, want: { upgrade: null } },
    { name: 'an h2c upgrade is never forwarded (h2c smuggling)', head: { headers: ['Host', 'a', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c', 'HTTP2-Settings', 'AAMAAABkAAQCAAAAAAIAAAAA'], upgrade: true }, want: { upgrade: null, hopByHop: ['http2-settings'] } },
    { name: 'an upgrade in HTTP/1.0 is ignored', head: { versionMinor: 0, headers: ['Connection', 'upgrade', 'Upgrade', 'websocket'] }, want: { upgrade: null } },
    { name: 'Expect: 100-continue on HTTP/1.1 is noted', head: { method: 'POST', headers: ['Host', 'a', 'Expect', '100-Continue', 'Content-Length', '3'] }, want: { expectContinue: true } },
    { name: 'Expect: 100-continue on HTTP/1.0 is ignored', head: { method: 'POST', versionMinor: 0, headers: ['Expect', '100-continue'] }, want: { expectContinue: false } },
    { name: 'OPTIONS * keeps the asterisk form', head: { method: 'OPTIONS', target: '*' }, want: { target: '*', path: '*' } },
    { name: 'Connection cannot make framing or routing headers hop-by-hop', head: { method: 'POST', headers: ['Host', 'a', 'Connection', 'Content-Length, Host, X-Secret', 'Content-Length', '1'] }, want: { hopByHop: ['x-secret'], bodyKind: 'length' } },
    { name: 'an underscore in another header name is fine', head: { headers: ['Host', 'a', 'My_Custom_Header', 'v'] }, want: { host: 'a' } },
    { name: 'Connection tokens are split on OWS only, so NBSP stays part of a token', head: { headers: ['Host', 'a', 'Connection', '\xa0close'] }, want: { keepAlive: true, hopByHop: [] } },
    { name: 'obs-text and HTAB in a value are allowed', head: { headers: ['Host', 'a', 'X-Name', 'caf\xe9\there'] }, want: { host: 'a' } },
    { name: 'exactly the header limit is allowed', head: { headers: ['Host', 'a', ...Array.from({ length: 99 }, (_, i) => [`X-${i}`, 'v']).flat()] }, want: { host: 'a' } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const facts = factsOf(row.head);
      for (const [key, value] of Object.entries(row.want)) assert.deepEqual(facts[key as keyof RequestFacts], value, `checkRequestHead(${shown(req(row.head))}).facts.${key}`);
    });
  }
});

describe('checkRequestHead: what is refused, with which status and reason', () => {
  const many = Array.from({ length: 100 }, (_, i) => [`X-${i}`, 'v']).flat();
  const rows: { name: string; head: Partial<HttpHead>; status: number; reason: string }[] = [
    { name: 'HTTP/2.0 in a request line', head: { versionMajor: 2, versionMinor: 0 }, status: 505, reason: 'versionNotSupported' },
    { name: 'HTTP/0.9', head: { versionMajor: 0, versionMinor: 9, headers: [] }, status: 505, reason: 'versionNotSupported' },
    { name: 'HTTP/1.2', head: { versionMinor: 2 }, status: 505, reason: 'versionNotSupported' },
    { name: 'CONNECT: a reverse proxy opens no tunnels', head: { method: 'CONNECT', target: 'example.com:443', upgrade: true }, status: 501, reason: 'connectNotSupported' },
    { name: 'a method that is not a token', head: { method: 'G T' }, status: 400, reason: 'methodInvalid' },
    { name: 'an RTSP-only method (llhttp read an RTSP/1.0 request line as 1.0)', head: { method: 'ANNOUNCE', versionMinor: 0 }, status: 400, reason: 'protocolNotHttp' },
    { name: 'more header fields than the limit', head: { headers: ['Host', 'a', ...many] }, status: 431, reason: 'tooManyHeaders' },
    { name: 'a header name with a space', head: { headers: ['Host', 'a', 'Transfer-Encoding ', 'chunked'] }, status: 400, reason: 'headerNameInvalid' },
    { name: 'a header name with a control character', head: { headers: ['Host', 'a', '\x01Content-Length', '1'] }, status: 400, reason: 'headerNameInvalid' },
    { name: 'an empty header name', head: { headers: ['Host', 'a', '', 'x'] }, status: 400, reason: 'headerNameInvalid' },
    { name: 'Content_Length: an underscore spelling of a framing header', head: { method: 'POST', headers: ['Host', 'a', 'Content_Length', '5'] }, status: 400, reason: 'headerNameSuspicious' },
    { name: 'Transfer---Encoding: a framing header with its hyphens doubled', head: { method: 'POST', headers: ['Host', 'a', 'Transfer---Encoding', 'chunked'] }, status: 400, reason: 'headerNameSuspicious' },
    { name: 'X_Forwarded_For: a spelling that would slip past the proxy\'s own header', head: { headers: ['Host', 'a', 'X_Forwarded_For', '10.0.0.1'] }, status: 400, reason: 'headerNameSuspicious' },
    { name: 'a bare LF in a value (a folded or smuggled line)', head: { headers: ['Host', 'a', 'X', 'a\n Transfer-Encoding: chunked'] }, status: 400, reason: 'headerValueInvalid' },
    { name: 'a bare CR in a value', head: { headers: ['Host', 'a', 'X', 'a\rb'] }, status: 400, reason: 'headerValueInvalid' },
    { name: 'a NUL in a value', head: { headers: ['Host', 'a', 'X', 'a\x00b'] }, status: 400, reason: 'headerValueInvalid' },
    { name: 'DEL in a value', head: { headers: ['Host', 'a', 'X', 'a\x7f'] }, status: 400, reason: 'headerValueInvalid' },
    { name: 'HTTP/1.1 without Host', head: { headers: [] }, status: 400, reason: 'hostMissing' },
    { name: 'HTTP/1.1 with an absolute-form target but no Host', head: { target: 'http://a/', headers: [] }, status: 400, reason: 'hostMissing' },
    { name: 'two Host headers, even equal', head: { headers: ['Host', 'a', 'host', 'a'] }, status: 400, reason: 'hostDuplicate' },
    { name: 'a Host with a space', head: { headers: ['Host', 'a b'] }, status: 400, reason: 'hostInvalid' },
    { name: 'a Host with userinfo', head: { headers: ['Host', 'user@a'] }, status: 400, reason: 'hostInvalid' },
    { name: 'a Host with a port above 65535', head: { headers: ['Host', 'a:65536'] }, status: 400, reason: 'hostInvalid' },
    { name: 'a Host with a port that is not digits', head: { headers: ['Host', 'a:x'] }, status: 400, reason: 'hostInvalid' },
    { name: 'a Host that is only a port', head: { headers: ['Host', ':80'] }, status: 400, reason: 'hostInvalid' },
    { name: 'a bracketed Host that is not IPv6', head: { headers: ['Host', '[a.b]'] }, status: 400, reason: 'hostInvalid' },
    { name: 'a Host with a comma (two hosts in one)', head: { headers: ['Host', 'a,b'] }, status: 400, reason: 'hostInvalid' },
    { name: 'a Host that is not the absolute-form authority', head: { target: 'http://a/', headers: ['Host', 'b'] }, status: 400, reason: 'hostMismatch' },
    { name: 'a Host whose port is not the absolute-form port', head: { target: 'http://a:8080/', headers: ['Host', 'a'] }, status: 400, reason: 'hostMismatch' },
    { name: 'an absolute-form target with userinfo', head: { target: 'http://user@a/', headers: ['Host', 'a'] }, status: 400, reason: 'targetInvalid' },
    { name: 'an absolute-form target with an empty host', head: { target: 'http:///x', headers: ['Host', 'a'] }, status: 400, reason: 'targetInvalid' },
    { name: 'a target with a fragment', head: { target: '/a#b' }, status: 400, reason: 'targetInvalid' },
    { name: 'the asterisk form on a GET', head: { target: '*' }, status: 400, reason: 'targetInvalid' },
    { name: 'a target in no form', head: { target: 'a/b' }, status: 400, reason: 'targetInvalid' },
    { name: 'an ftp: absolute form', head: { target: 'ftp://a/', headers: ['Host', 'a'] }, status: 400, reason: 'targetInvalid' },
    { name: 'two Content-Length headers, even equal (haproxy merges them; we refuse)', head: { method: 'POST', headers: ['Host', 'a', 'Content-Length', '1', 'Content-Length', '1'] }, status: 400, reason: 'contentLengthDuplicate' },
    ...['1,1', '+1', '-1', '1e3', '0x10', '', '1 1', '1234567890123456'].map((v) => ({ name: `Content-Length ${JSON.stringify(v)}`, head: { method: 'POST', headers: ['Host', 'a', 'Content-Length', v] }, status: 400, reason: 'contentLengthInvalid' })),
    { name: 'Content-Length with Transfer-Encoding', head: { method: 'POST', headers: ['Host', 'a', 'Content-Length', '3', 'Transfer-Encoding', 'chunked'] }, status: 400, reason: 'contentLengthWithTransferEncoding' },
    { name: 'Transfer-Encoding in HTTP/1.0', head: { method: 'POST', versionMinor: 0, headers: ['Transfer-Encoding', 'chunked'] }, status: 400, reason: 'transferEncodingHttp10' },
    { name: 'two Transfer-Encoding headers', head: { method: 'POST', headers: ['Host', 'a', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'] }, status: 400, reason: 'transferEncodingInvalid' },
    { name: 'a well-formed coding list ending in chunked is not implemented', head: { method: 'POST', headers: ['Host', 'a', 'Transfer-Encoding', 'gzip, chunked'] }, status: 501, reason: 'transferCodingUnsupported' },
    ...['chunked, gzip', ',chunked', 'chunked, chunked', 'xchunked', 'chunked;a=b', 'identity', '\xa0chunked', 'gzip, \xa0chunked', 'chunked\x0b'].map((v) => ({ name: `Transfer-Encoding ${JSON.stringify(v)}`, head: { method: 'POST', headers: ['Host', 'a', 'Transfer-Encoding', v] }, status: 400, reason: v.includes('\x0b') ? 'headerValueInvalid' : 'transferEncodingInvalid' })),
    { name: 'a GET with a body', head: { headers: ['Host', 'a', 'Content-Length', '5'] }, status: 400, reason: 'bodyInGetOrHead' },
    { name: 'a HEAD with a chunked body', head: { method: 'HEAD', headers: ['Host', 'a', 'Transfer-Encoding', 'chunked'] }, status: 400, reason: 'bodyInGetOrHead' },
  ];
  for (const row of rows) {
    it(`${row.name}: ${row.status} ${row.reason}`, () => {
      const head = req(row.head);
      const v = checkRequestHead(head);
      assert.equal(v.kind, 'reject', `checkRequestHead(${shown(head)})`);
      if (v.kind !== 'reject') return;
      assert.deepEqual([v.status, v.reason], [row.status, row.reason], `checkRequestHead(${shown(head)}): ${v.detail}`);
      assert.ok(v.detail.length > 0, 'a detail for the log');
    });
  }

  it('the header limit is the caller\'s', () => {
    const v = checkRequestHead(req({ headers: ['Host', 'a', 'X', '1', 'Y', '2'] }), { maxHeaderCount: 2 });
    assert.deepEqual(v.kind === 'reject' && [v.status, v.reason], [431, 'tooManyHeaders']);
  });
});

describe('rejectParseError: llhttp\'s errors as statuses and reasons', () => {
  const rows: [string, string, number, string][] = [
    ['HPE_HEADER_OVERFLOW', 'Header overflow', 431, 'headerTooLarge'],
    ['HPE_PAUSED_H2_UPGRADE', 'Pause on PRI/Upgrade', 505, 'http2Preface'],
    ['HPE_INVALID_VERSION', 'Invalid HTTP version', 505, 'versionNotSupported'],
    ['HPE_INVALID_VERSION', 'Expected CRLF after version', 400, 'malformedRequest'],
    ['HPE_INVALID_METHOD', 'Invalid method encountered', 400, 'methodInvalid'],
    ['HPE_INVALID_URL', 'Invalid char in url path', 400, 'targetInvalid'],
    ['HPE_INVALID_HEADER_TOKEN', 'Invalid header value char', 400, 'headerInvalid'],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length', 400, 'contentLengthDuplicate'],
    ['HPE_INVALID_CONTENT_LENGTH', "Content-Length can't be present with Transfer-Encoding", 400, 'contentLengthWithTransferEncoding'],
    ['HPE_INVALID_CONTENT_LENGTH', 'Invalid character in Content-Length', 400, 'contentLengthInvalid'],
    ['HPE_INVALID_TRANSFER_ENCODING', 'Request has invalid `Transfer-Encoding`', 400, 'transferEncodingInvalid'],
    ['HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size', 400, 'chunkInvalid'],
    ['HPE_CLOSED_CONNECTION', 'Data after `Connection: close`', 400, 'dataAfterClose'],
    ['HPE_INVALID_EOF_STATE', 'Invalid EOF state', 400, 'truncated'],
    ['FUL_HPE_STOPPED', 'llhttp stopped', 400, 'malformedRequest'],
    ['HPE_LF_EXPECTED', 'Missing expected LF after header value', 400, 'malformedRequest'],
  ];
  for (const [code, reason, status, ours] of rows) {
    it(`${code} (${reason}) is ${status} ${ours}`, () => {
      const error = Object.freeze({ code, reason, bytesParsed: 3 });
      const v = rejectParseError(error);
      assert.deepEqual([v.status, v.reason], [status, ours], `rejectParseError(${JSON.stringify(error)})`);
      assert.match(v.detail, new RegExp(code));
    });
  }
  it('a response parse error is a 502', () => {
    assert.deepEqual([rejectResponseParseError({ code: 'HPE_HEADER_OVERFLOW', reason: '', bytesParsed: 0 }).reason, rejectResponseParseError({ code: 'HPE_INVALID_EOF_STATE', reason: '', bytesParsed: 0 }).reason, rejectResponseParseError({ code: 'HPE_INVALID_CONSTANT', reason: '', bytesParsed: 0 }).status], ['responseHeaderTooLarge', 'responseTruncated', 502]);
  });
});

describe('checkResponseHead: what an endpoint may answer', () => {
  const get = factsOf();
  const head = factsOf({ method: 'HEAD' });
  const ws = factsOf({ headers: ['Host', 'a', 'Connection', 'upgrade', 'Upgrade', 'websocket'] });
  const rows: { name: string; head: Partial<HttpHead>; request?: RequestFacts; want: Record<string, unknown> | string }[] = [
    { name: 'a 200 with Content-Length has a length body and a reusable connection', head: {}, want: { interim: false, upgrade: false, bodyKind: 'length', contentLength: 2, keepAlive: true } },
    { name: 'a chunked 200 is chunked', head: { headers: ['Transfer-Encoding', 'chunked'] }, want: { bodyKind: 'chunked', contentLength: -1 } },
    { name: 'a 200 without framing is read until close and the connection is not reused', head: { headers: [], keepAlive: false }, want: { bodyKind: 'close', keepAlive: false } },
    { name: 'a response to HEAD has no body whatever its headers say', head: {}, request: head, want: { bodyKind: 'none', contentLength: -1 } },
    { name: 'a 204 has no body', head: { statusCode: 204, reason: 'No Content', headers: [] }, want: { bodyKind: 'none' } },
    { name: 'a 304 with Content-Length has no body', head: { statusCode: 304, reason: 'Not Modified' }, want: { bodyKind: 'none' } },
    { name: 'a 100 Continue is interim', head: { statusCode: 100, reason: 'Continue', headers: [] }, want: { interim: true, bodyKind: 'none' } },
    { name: 'a 103 Early Hints is interim', head: { statusCode: 103, reason: 'Early Hints', headers: ['Link', '</a.css>; rel=preload'] }, want: { interim: true } },
    { name: 'a 101 to an upgrade request switches', head: { statusCode: 101, reason: 'Switching Protocols', headers: ['Connection', 'upgrade', 'Upgrade', 'websocket'], upgrade: true }, request: ws, want: { upgrade: true, keepAlive: false } },
    { name: 'an HTTP/1.0 response without keep-alive is not reused', head: { versionMinor: 0, keepAlive: false }, want: { bodyKind: 'length', keepAlive: false } },
    { name: 'a 101 nobody asked for', head: { statusCode: 101, reason: 'Switching Protocols', headers: ['Connection', 'upgrade', 'Upgrade', 'websocket'], upgrade: true }, want: 'responseUnexpectedUpgrade' },
    { name: 'a 101 without Upgrade', head: { statusCode: 101, reason: 'Switching Protocols', headers: [] }, request: ws, want: 'responseUnexpectedUpgrade' },
    { name: 'two Content-Length headers, even equal', head: { headers: ['Content-Length', '2', 'Content-Length', '2'] }, want: 'responseContentLengthInvalid' },
    { name: 'a Content-Length that is not digits', head: { headers: ['Content-Length', '2, 3'] }, want: 'responseContentLengthInvalid' },
    { name: 'Content-Length with Transfer-Encoding', head: { headers: ['Content-Length', '2', 'Transfer-Encoding', 'chunked'] }, want: 'responseFramingAmbiguous' },
    { name: 'Transfer-Encoding in an HTTP/1.0 response', head: { versionMinor: 0, headers: ['Transfer-Encoding', 'chunked'] }, want: 'responseFramingAmbiguous' },
    { name: 'a transfer coding we do not decode', head: { headers: ['Transfer-Encoding', 'gzip, chunked'] }, want: 'responseTransferEncodingUnsupported' },
    { name: 'an HTTP/2.0 status line', head: { versionMajor: 2, versionMinor: 0 }, want: 'responseVersionInvalid' },
    { name: 'a status below 100', head: { statusCode: 99 }, want: 'responseStatusInvalid' },
    { name: 'a control character in a value', head: { headers: ['Content-Length', '2', 'X', 'a\rb'] }, want: 'responseHeaderInvalid' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const h = resp(row.head);
      const request = row.request ?? get;
      const before = JSON.stringify(request);
      const v = checkResponseHead(h, request);
      const call = `checkResponseHead(${shown(h)}, ${request.method})`;
      if (typeof row.want === 'string') {
        assert.deepEqual(v.kind === 'reject' && [v.status, v.reason], [502, row.want], call);
      } else {
        assert.equal(v.kind, 'forward', call);
        if (v.kind === 'forward') for (const [key, value] of Object.entries(row.want)) assert.deepEqual(v.facts[key as keyof typeof v.facts], value, `${call}.facts.${key}`);
      }
      assert.equal(JSON.stringify(request), before, 'the request facts were not mutated');
    });
  }
});

describe('forwardedRequestHead: the head an endpoint receives', () => {
  const edits: RequestEdits = { clientAddress: '198.51.100.7', trustForwardedFor: false, proto: 'http', port: 80, forwarded: false };
  const xf = 'X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 80\r\n';
  const rows: { name: string; head: Partial<HttpHead>; edits?: Partial<RequestEdits>; want: string }[] = [
    { name: 'a plain GET keeps its headers and gains X-Forwarded-*', head: { headers: ['Host', 'a', 'Accept', '*/*'] }, want: `GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n${xf}\r\n` },
    { name: 'names keep their case and order, duplicates stay', head: { headers: ['host', 'a', 'COOKIE', 'x=1', 'X-b', '2', 'Cookie', 'y=2'] }, want: `GET / HTTP/1.1\r\nhost: a\r\nCOOKIE: x=1\r\nX-b: 2\r\nCookie: y=2\r\n${xf}\r\n` },
    {
      name: 'hop-by-hop headers and those Connection lists are removed',
      head: { method: 'POST', headers: ['Host', 'a', 'Connection', 'keep-alive, X-Hop', 'Keep-Alive', 'timeout=5', 'Proxy-Connection', 'keep-alive', 'TE', 'trailers', 'Trailer', 'X-Sum', 'X-Hop', 'secret', 'Upgrade', 'websocket', 'Content-Length', '0'] },
      want: `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n${xf}\r\n`,
    },
    { name: 'an HTTP/1.0 request goes on as HTTP/1.1, with a Host when it had none', head: { versionMinor: 0, headers: ['Accept', '*/*'] }, want: `GET / HTTP/1.1\r\nAccept: */*\r\nHost: \r\n${xf}\r\n` },
    { name: 'an absolute-form target goes on in origin form', head: { target: 'http://a:8080/p?q', headers: ['Host', 'a:8080'] }, want: `GET /p?q HTTP/1.1\r\nHost: a:8080\r\n${xf}\r\n` },
    { name: 'an HTTP/1.0 absolute-form request without Host gets the authority as Host', head: { versionMinor: 0, target: 'http://A.example/', headers: [] }, want: `GET / HTTP/1.1\r\nHost: a.example\r\n${xf}\r\n` },
    { name: 'a chunked body: Transfer-Encoding is written by the proxy, once', head: { method: 'POST', headers: ['Host', 'a', 'transfer-encoding', 'CHUNKED', 'X-After', '1'] }, want: `POST / HTTP/1.1\r\nHost: a\r\nX-After: 1\r\nTransfer-Encoding: chunked\r\n${xf}\r\n` },
    { name: 'Content-Length goes on in canonical form, in its place', head: { method: 'POST', headers: ['Host', 'a', 'content-length', '007', 'X', 'y'] }, want: `POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 7\r\nX: y\r\n${xf}\r\n` },
    { name: 'an untrusted client\'s X-Forwarded-* and Forwarded are replaced or dropped', head: { headers: ['Host', 'a', 'X-Forwarded-For', '10.0.0.1', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Port', '443', 'Forwarded', 'for=10.0.0.1'] }, want: `GET / HTTP/1.1\r\nHost: a\r\n${xf}\r\n` },
    {
      name: 'a trusted peer\'s X-Forwarded-For lines are joined and appended to; its Forwarded is kept',
      head: { headers: ['Host', 'a', 'X-Forwarded-For', '203.0.113.1', 'x-forwarded-for', '203.0.113.2, 10.1.1.1', 'Forwarded', 'for=203.0.113.1'] },
      edits: { trustForwardedFor: true },
      want: 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1, 203.0.113.2, 10.1.1.1, 198.51.100.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 80\r\nForwarded: for=203.0.113.1\r\n\r\n',
    },
    {
      name: 'Forwarded, when asked: an IPv6 client is bracketed and quoted, a host with a port quoted',
      head: { headers: ['Host', 'a:8443'] },
      edits: { clientAddress: '2001:db8::7', proto: 'https', port: 8443, forwarded: true },
      want: 'GET / HTTP/1.1\r\nHost: a:8443\r\nX-Forwarded-For: 2001:db8::7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 8443\r\nForwarded: for="[2001:db8::7]";proto=https;host="a:8443"\r\n\r\n',
    },
    {
      name: 'Forwarded from a trusted peer is appended to',
      head: { headers: ['Host', 'a', 'Forwarded', 'for=203.0.113.1;proto=https'] },
      edits: { trustForwardedFor: true, forwarded: true },
      want: `GET / HTTP/1.1\r\nHost: a\r\n${xf}Forwarded: for=203.0.113.1;proto=https, for=198.51.100.7;proto=http;host=a\r\n\r\n`,
    },
    {
      name: 'an upgrade keeps its headers and gets Connection: upgrade and Upgrade',
      head: { headers: ['Host', 'a', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], upgrade: true },
      want: `GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${xf}Connection: upgrade\r\nUpgrade: websocket\r\n\r\n`,
    },
    { name: 'an h2c upgrade goes on as a plain request', head: { headers: ['Host', 'a', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c', 'HTTP2-Settings', 'AAMAAABk'], upgrade: true }, want: `GET / HTTP/1.1\r\nHost: a\r\n${xf}\r\n` },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const head = req(row.head);
      const facts = factsOf(row.head);
      const e = Object.freeze({ ...edits, ...row.edits });
      const factsBefore = JSON.stringify(facts);
      assert.equal(forwardedRequestHead(head, facts, e), row.want, `forwardedRequestHead(${shown(head)})`);
      assert.equal(JSON.stringify(facts), factsBefore, 'the facts were not mutated');
    });
  }
});

describe('forwardedResponseHead: the head a client receives', () => {
  const edits: ResponseEdits = { close: false, framing: 'length', setCookie: null };
  const rows: { name: string; head: Partial<HttpHead>; edits?: Partial<ResponseEdits>; want: string }[] = [
    { name: 'a length response keeps its headers on an HTTP/1.1 status line', head: { versionMinor: 0, headers: ['Content-Type', 'text/plain', 'Content-Length', '2'] }, want: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n' },
    { name: 'a chunked response is re-chunked by the proxy: one Transfer-Encoding', head: { headers: ['Transfer-Encoding', 'chunked', 'X', '1'] }, edits: { framing: 'chunked' }, want: 'HTTP/1.1 200 OK\r\nX: 1\r\nTransfer-Encoding: chunked\r\n\r\n' },
    { name: 'a close-delimited response sent chunked to a keep-alive client', head: { headers: ['Content-Type', 'text/html'] }, edits: { framing: 'chunked' }, want: 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n' },
    { name: 'a closing client gets Connection: close; the endpoint\'s Connection and Keep-Alive go', head: { headers: ['Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Content-Length', '2'] }, edits: { close: true }, want: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n' },
    { name: 'a response body until close drops Content-Length', head: { headers: ['Content-Length', '2'] }, edits: { framing: 'close', close: true }, want: 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n' },
    { name: 'headers Connection lists are removed', head: { headers: ['Connection', 'X-Internal', 'X-Internal', 'secret', 'Content-Length', '2'] }, want: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n' },
    { name: 'the sticky cookie is added after the endpoint\'s own', head: { headers: ['Set-Cookie', 'a=1', 'Content-Length', '2'] }, edits: { setCookie: 'srv=e1; Path=/; HttpOnly' }, want: 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 2\r\nSet-Cookie: srv=e1; Path=/; HttpOnly\r\n\r\n' },
    { name: 'a HEAD or 304 response keeps its Content-Length', head: { statusCode: 304, reason: 'Not Modified', headers: ['ETag', '"x"', 'Content-Length', '512'] }, edits: { framing: 'none' }, want: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 512\r\n\r\n' },
    { name: 'a 101 keeps Upgrade and says Connection: upgrade', head: { statusCode: 101, reason: 'Switching Protocols', headers: ['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Accept', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='] }, edits: { framing: 'none' }, want: 'HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n' },
    { name: 'an HTTP/1.0 client that stays open is told keep-alive', head: {}, edits: { http10KeepAlive: true }, want: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n' },
    { name: 'an empty reason phrase keeps its space', head: { reason: '' }, want: 'HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\n' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const head = resp(row.head);
      assert.equal(forwardedResponseHead(head, Object.freeze({ ...edits, ...row.edits })), row.want, `forwardedResponseHead(${shown(head)})`);
    });
  }
});

describe('the proxy\'s own responses', () => {
  const statuses: ErrorStatus[] = [400, 404, 408, 413, 431, 501, 502, 503, 504, 505];
  for (const status of statuses) {
    it(`${status}: a status line, a short text body with its length, Connection: close unless kept alive`, () => {
      for (const keepAlive of [true, false]) {
        const text = errorResponse(status, keepAlive);
        const [head, body] = text.split('\r\n\r\n') as [string, string];
        assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} [A-Z]`), `errorResponse(${status}, ${keepAlive})`);
        assert.match(head, new RegExp(`\r\nContent-Length: ${Buffer.byteLength(body)}(\r\n|$)`), `errorResponse(${status}, ${keepAlive}): Content-Length`);
        assert.equal(head.includes('\r\nConnection: close'), !keepAlive, `errorResponse(${status}, ${keepAlive}): Connection`);
        assert.ok(body.length > 10 && !/[\r]/.test(body));
      }
    });
  }
  it('a 308 redirect keeps or closes the connection', () => {
    assert.equal(redirectResponse('https://a.example/p?q'), 'HTTP/1.1 308 Permanent Redirect\r\nLocation: https://a.example/p?q\r\nContent-Length: 0\r\n\r\n');
    assert.equal(redirectResponse('https://a.example/', false), 'HTTP/1.1 308 Permanent Redirect\r\nLocation: https://a.example/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  it('a redirect location with CR, LF or a space is a bug, not a header', () => {
    assert.throws(() => redirectResponse('https://a/\r\nSet-Cookie: x=1'), /incoherent redirect location/);
    assert.throws(() => redirectResponse('https://a/ b'), /incoherent redirect location/);
  });
});
