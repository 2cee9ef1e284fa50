import assert from 'node:assert/strict';
import { HttpParser, type HeadAnswer, type HttpHead, type HttpMessageKind, type HttpParserOwner } from '../../speaker/proxy/http/parser.js';

/** What an owner saw, in order; consecutive body chunks are merged, so any chunking gives the same list. */
type Event =
  | { e: 'head'; line: string; headers: readonly string[]; upgrade: boolean; keepAlive: boolean; framing: string; contentLength: number }
  | { e: 'body'; text: string }
  | { e: 'trailers'; trailers: readonly string[] }
  | { e: 'complete' };

class Recorder implements HttpParserOwner {
  readonly events: Event[] = [];
  readonly heads: HttpHead[] = [];
  answer: (head: HttpHead) => HeadAnswer = () => 'body';
  onHead(head: HttpHead): HeadAnswer {
    this.heads.push(head);
    const line = head.method !== '' ? `${head.method} ${head.target} ${head.versionMajor}.${head.versionMinor}` : `${head.versionMajor}.${head.versionMinor} ${head.statusCode} ${head.reason}`;
    this.events.push({ e: 'head', line, headers: head.headers, upgrade: head.upgrade, keepAlive: head.keepAlive, framing: head.framing, contentLength: head.contentLength });
    return this.answer(head);
  }
  onBody(chunk: Buffer): void {
    const last = this.events[this.events.length - 1];
    if (last?.e === 'body') last.text += chunk.toString('latin1');
    else this.events.push({ e: 'body', text: chunk.toString('latin1') });
  }
  onTrailers(trailers: string[]): void {
    this.events.push({ e: 'trailers', trailers });
  }
  onMessageComplete(): void {
    this.events.push({ e: 'complete' });
  }
}

type Stop = { kind: 'end' } | { kind: 'upgraded'; offset: number } | { kind: 'error'; code: string };
interface Outcome { events: Event[]; stop: Stop; finish: string | undefined }

/** Feeds `input` whole or one byte at a time, stopping at an error or an upgrade; then finish() if it ended. */
function run(kind: HttpMessageKind, input: string, chunking: 'whole' | 'bytes', answer?: (h: HttpHead) => HeadAnswer, maxHeaderBytes = 16384): Outcome {
  const owner = new Recorder();
  if (answer !== undefined) owner.answer = answer;
  const parser = new HttpParser(kind, owner, { maxHeaderBytes });
  const bytes = Buffer.from(input, 'latin1');
  const before = Buffer.from(bytes);
  const size = chunking === 'whole' ? bytes.length : 1;
  let stop: Stop = { kind: 'end' };
  for (let at = 0; at < bytes.length && stop.kind === 'end'; at += size) {
    const chunk = bytes.subarray(at, at + size);
    const r = parser.feed(chunk);
    if (typeof r !== 'number') stop = { kind: 'error', code: r.code };
    else if (r < chunk.length || parser.upgraded) stop = { kind: 'upgraded', offset: at + r };
  }
  const finish = stop.kind === 'end' ? parser.finish()?.code : undefined;
  parser.close();
  assert.ok(bytes.equals(before), 'the fed bytes were not mutated');
  return { events: owner.events, stop, finish };
}

const endOfHead = (text: string): number => Buffer.byteLength(text, 'latin1');
const head = (line: string, headers: string[], o: { upgrade?: boolean; keepAlive?: boolean; framing?: string; contentLength?: number } = {}): Event => ({
  e: 'head', line, headers, upgrade: o.upgrade ?? false, keepAlive: o.keepAlive ?? true, framing: o.framing ?? 'none', contentLength: o.contentLength ?? -1,
});
const body = (text: string): Event => ({ e: 'body', text });
const complete: Event = { e: 'complete' };

const forty: string[] = [];
for (let i = 0; i < 40; i++) forty.push(`X-${i}`, `${i}`);
const fortyLines = forty.reduce((s, v, i) => (i % 2 === 0 ? `${s}${v}: ` : `${s}${v}\r\n`), '');

interface Row {
  name: string;
  kind?: HttpMessageKind;
  input: string;
  answer?: (h: HttpHead) => HeadAnswer;
  maxHeaderBytes?: number;
  events: Event[];
  stop?: Stop;
  finish?: string;
}

const rows: Row[] = [
  { name: 'a GET gives one head with its headers in order and completes', input: 'GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n', events: [head('GET /a?b=c 1.1', ['Host', 'x', 'Accept', '*/*']), complete] },
  { name: 'a POST with Content-Length gives its body', input: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello', events: [head('POST / 1.1', ['Host', 'x', 'Content-Length', '5'], { framing: 'length', contentLength: 5 }), body('hello'), complete] },
  {
    name: 'pipelined requests give their heads in order',
    input: 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET /3 HTTP/1.0\r\n\r\n',
    events: [head('GET /1 1.1', ['Host', 'x']), complete, head('POST /2 1.1', ['Host', 'x', 'Content-Length', '2'], { framing: 'length', contentLength: 2 }), body('ok'), complete, head('GET /3 1.0', [], { keepAlive: false }), complete],
  },
  {
    name: 'a chunked body arrives de-chunked, extensions dropped, trailers before the end',
    input: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Sum: 9\r\n\r\n',
    events: [head('POST / 1.1', ['Host', 'x', 'Transfer-Encoding', 'chunked'], { framing: 'chunked' }), body('abc0123456789'), { e: 'trailers', trailers: ['X-Sum', '9'] }, complete],
  },
  {
    name: 'a HEAD response answered skipBody has no body and the next response follows',
    kind: 'response',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    answer: (h) => (h.statusCode === 200 ? 'skipBody' : 'body'),
    events: [head('1.1 200 OK', ['Content-Length', '5'], { framing: 'length', contentLength: 5 }), complete, head('1.1 204 No Content', []), complete],
  },
  {
    name: 'a 304 with Content-Length has no body',
    kind: 'response',
    input: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz',
    events: [head('1.1 304 Not Modified', ['Content-Length', '5']), complete, head('1.1 200 OK', ['Content-Length', '1'], { framing: 'length', contentLength: 1 }), body('z'), complete],
  },
  {
    name: 'a 100 Continue is a message of its own before the final response',
    kind: 'response',
    input: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
    events: [head('1.1 100 Continue', []), complete, head('1.1 200 OK', ['Transfer-Encoding', 'chunked'], { framing: 'chunked' }), body('hi'), complete],
  },
  {
    name: 'an upgrade request stops the parser after its head; the rest is the new protocol',
    input: 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello',
    events: [head('GET /ws 1.1', ['Host', 'x', 'Connection', 'Upgrade', 'Upgrade', 'websocket'], { upgrade: true }), complete],
    stop: { kind: 'upgraded', offset: endOfHead('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n') },
  },
  { name: 'CONNECT stops the parser after its head', input: 'CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n\x16\x03', events: [head('CONNECT x:443 1.1', ['Host', 'x:443'], { upgrade: true }), complete], stop: { kind: 'upgraded', offset: endOfHead('CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n') } },
  {
    name: 'a 101 response stops the parser after its head',
    kind: 'response',
    input: 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00',
    events: [head('1.1 101 Switching Protocols', ['Connection', 'upgrade', 'Upgrade', 'websocket'], { upgrade: true }), complete],
    stop: { kind: 'upgraded', offset: endOfHead('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n') },
  },
  {
    name: 'the owner may call a response an upgrade: it stops after the head',
    kind: 'response',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc',
    answer: () => 'upgrade',
    events: [head('1.1 200 OK', ['Content-Length', '3'], { framing: 'length', contentLength: 3 }), complete],
    stop: { kind: 'upgraded', offset: endOfHead('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n') },
  },
  {
    name: 'forty headers (beyond llhttp\'s 32) arrive whole and in order, on this message and the next',
    input: `GET /a HTTP/1.1\r\nHost: x\r\n${fortyLines}\r\nGET /b HTTP/1.1\r\nHost: y\r\n\r\n`,
    events: [head('GET /a 1.1', ['Host', 'x', ...forty]), complete, head('GET /b 1.1', ['Host', 'y']), complete],
  },
  { name: 'headers over the byte limit are HPE_HEADER_OVERFLOW', input: `GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(300)}\r\n\r\n`, maxHeaderBytes: 256, events: [], stop: { kind: 'error', code: 'HPE_HEADER_OVERFLOW' } },
  {
    name: 'a close-delimited response ends at finish()',
    kind: 'response',
    input: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end',
    events: [head('1.1 200 OK', ['Content-Type', 'text/plain'], { keepAlive: false, framing: 'close' }), body('until the end'), complete],
  },
  {
    name: 'a response with an unknown transfer coding is close-delimited',
    kind: 'response',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b',
    events: [head('1.1 200 OK', ['Transfer-Encoding', 'gzip'], { keepAlive: false, framing: 'close' }), body('\x1f\x8b'), complete],
  },
  { name: 'a response cut short of its Content-Length is an error at finish()', kind: 'response', input: 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello', events: [head('1.1 200 OK', ['Content-Length', '9'], { framing: 'length', contentLength: 9 }), body('hello')], finish: 'HPE_INVALID_EOF_STATE' },
  { name: 'a request cut in its head is an error at finish()', input: 'GET / HTTP/1.1\r\nHo', events: [], finish: 'HPE_INVALID_EOF_STATE' },
  { name: 'Transfer-Encoding with Content-Length is refused by llhttp', input: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', events: [], stop: { kind: 'error', code: 'HPE_INVALID_CONTENT_LENGTH' } },
  { name: 'Content-Length then Transfer-Encoding is refused by llhttp too', input: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', events: [], stop: { kind: 'error', code: 'HPE_INVALID_TRANSFER_ENCODING' } },
  {
    name: 'a head the owner refuses stops the parser before its body',
    input: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n',
    answer: () => 'stop',
    events: [head('POST / 1.1', ['Host', 'x', 'Content-Length', '3'], { framing: 'length', contentLength: 3 })],
    stop: { kind: 'error', code: 'FUL_HPE_STOPPED_BY_OWNER' },
  },
  {
    name: 'a bad chunk after an upgrade-flagged head is an error, not a silent stop',
    input: 'POST / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    events: [head('POST / 1.1', ['Host', 'x', 'Connection', 'upgrade', 'Upgrade', 'x', 'Transfer-Encoding', 'chunked'], { upgrade: true, framing: 'chunked' })],
    stop: { kind: 'error', code: 'FUL_HPE_STOPPED' },
  },
  { name: 'the QUERY method is named (llhttp numbers it 46)', input: 'QUERY /q HTTP/1.1\r\nHost: x\r\n\r\n', events: [head('QUERY /q 1.1', ['Host', 'x']), complete] },
];

describe('HttpParser (llhttp through Node\'s binding)', () => {
  for (const row of rows) {
    it(row.name, () => {
      const kind = row.kind ?? 'request';
      const shown = `feed(${JSON.stringify(row.input.slice(0, 60))}…)`;
      const whole = run(kind, row.input, 'whole', row.answer, row.maxHeaderBytes);
      assert.deepEqual(whole.events, row.events, `${shown} whole: events`);
      assert.deepEqual(whole.stop, row.stop ?? { kind: 'end' }, `${shown} whole: stop`);
      assert.equal(whole.finish, row.finish, `${shown} whole: finish()`);
      const bytes = run(kind, row.input, 'bytes', row.answer, row.maxHeaderBytes);
      assert.deepEqual(bytes, whole, `${shown}: byte by byte gives the same events as whole`);
    });
  }

  it('an upgrade the endpoint declined: feeding the rest parses it as the next request', () => {
    const owner = new Recorder();
    const parser = new HttpParser('request', owner);
    const input = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');
    const n = parser.feed(input);
    const headLength = input.indexOf('\r\n\r\n') + 4;
    assert.equal(n, headLength, 'feed stops after the upgrade head');
    assert.equal(parser.upgraded, true);
    assert.equal(parser.feed(input.subarray(headLength)), input.length - headLength, 'feed(rest) parses the rest');
    assert.equal(parser.upgraded, false);
    assert.deepEqual(owner.heads.map((h) => h.target), ['/', '/next']);
    parser.close();
  });

  it('bytes that are not HTTP after a declined upgrade are an error, not swallowed', () => {
    const parser = new HttpParser('request', new Recorder());
    parser.feed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n'));
    const r = parser.feed(Buffer.from('\x81\x05hello'));
    assert.equal(typeof r === 'number' ? r : r.code, 'FUL_HPE_STOPPED');
    parser.close();
  });

  it('an error sticks until reset(), which makes the parser usable again', () => {
    const owner = new Recorder();
    const parser = new HttpParser('request', owner);
    const first = parser.feed(Buffer.from('GET / HTTP/1.1\r\nBad Name: x\r\n\r\n'));
    assert.equal(typeof first === 'number' ? first : first.code, 'HPE_INVALID_HEADER_TOKEN');
    assert.deepEqual(parser.feed(Buffer.from('GET / HTTP/1.1\r\n\r\n')), first, 'the same error again');
    assert.equal(parser.idle, false);
    parser.reset();
    assert.equal(parser.idle, true);
    assert.equal(parser.feed(Buffer.from('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')), 29);
    assert.deepEqual(owner.heads.map((h) => h.target), ['/ok']);
    parser.close();
  });

  it('reset(owner) hands the next messages to another owner (a kept endpoint connection)', () => {
    const a = new Recorder(), b = new Recorder();
    const parser = new HttpParser('response', a);
    parser.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    parser.reset(b);
    parser.feed(Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
    assert.deepEqual([a.heads.map((h) => h.statusCode), b.heads.map((h) => h.statusCode)], [[200], [404]]);
    parser.close();
  });

  it('idle is true between messages only', () => {
    const parser = new HttpParser('request', new Recorder());
    assert.equal(parser.idle, true, 'new');
    parser.feed(Buffer.from('GET / HT'));
    assert.equal(parser.idle, false, 'a request line started');
    parser.feed(Buffer.from('TP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(parser.idle, true, 'the request completed');
    parser.close();
  });

  it('heads are separate objects, so a kept head does not change under the next message', () => {
    const owner = new Recorder();
    const parser = new HttpParser('request', owner);
    parser.feed(Buffer.from('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: y\r\n\r\n'));
    assert.deepEqual(owner.heads.map((h) => [h.method, h.target, h.headers[1]]), [['GET', '/1', 'x'], ['HEAD', '/2', 'y']]);
    parser.close();
  });

  it('an owner that throws: the exception leaves feed, then FUL_HPE_OWNER_THREW until reset()', () => {
    const owner = new Recorder();
    owner.answer = () => { throw new Error('owner bug'); };
    const parser = new HttpParser('request', owner);
    assert.throws(() => parser.feed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), /owner bug/);
    const again = parser.feed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(typeof again === 'number' ? again : again.code, 'FUL_HPE_OWNER_THREW');
    owner.answer = () => 'body';
    parser.reset();
    assert.equal(parser.feed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), 27);
    parser.close();
  });

  it('close() from inside a callback is deferred, and a closed parser refuses to feed', async () => {
    const owner = new Recorder();
    const parser = new HttpParser('request', owner);
    owner.answer = () => { parser.close(); return 'body'; };
    assert.equal(parser.feed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), 27);
    await new Promise((resolve) => setImmediate(resolve));
    assert.throws(() => parser.feed(Buffer.from('GET')), /after close\(\)/);
    parser.close(); // twice is fine
  });

  it('feeding from inside a callback is a bug, not a re-entrant parse', () => {
    const owner = new Recorder();
    const parser = new HttpParser('request', owner);
    owner.answer = () => { parser.feed(Buffer.from('GET')); return 'body'; };
    assert.throws(() => parser.feed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), /from inside an owner callback/);
    parser.close();
  });

  it('limits are validated', () => {
    assert.throws(() => new HttpParser('request', new Recorder(), { maxHeaderBytes: 10 }), /maxHeaderBytes 10/);
  });
});
