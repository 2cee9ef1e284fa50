import assert from 'node:assert/strict';
import { SMUGGLING_ROWS, type SmugglingRow } from '../fixtures/http-smuggling.js';
import { checkRequestHead, rejectParseError, type RequestFacts } from '../../speaker/proxy/http/request-head.js';
import { HttpParser, type HeadAnswer, type HttpHead, type HttpParserOwner } from '../../speaker/proxy/http/parser.js';

interface Outcome {
  /** Heads checkRequestHead let through. */
  forwarded: number;
  /** The first refusal: a head's, the parser's, or bytes after a request that closes the connection. */
  refused: { status: number; reason: string } | null;
  /** The bytes ended inside a message. */
  incomplete: boolean;
}

/**
 * What the runtime does with a client's bytes, without sockets: every head goes through
 * checkRequestHead (a refusal stops the parser); a parse error refuses; after a request that
 * closes the connection nothing more is read (llhttp says so itself only when it recognised the
 * close); an upgrade the proxy forwards turns the rest into a tunnel, one it does not (llhttp
 * stopped anyway) goes on as HTTP.
 */
class Judge implements HttpParserOwner {
  readonly outcome: Outcome = { forwarded: 0, refused: null, incomplete: false };
  facts: RequestFacts | null = null;
  closing = false;
  onHead(head: HttpHead): HeadAnswer {
    if (this.closing) {
      this.outcome.refused = { status: 400, reason: 'dataAfterClose' };
      return 'stop';
    }
    const v = checkRequestHead(head);
    if (v.kind === 'reject') {
      this.outcome.refused = { status: v.status, reason: v.reason };
      return 'stop';
    }
    this.outcome.forwarded++;
    this.facts = v.facts;
    return 'body';
  }
  onBody(): void {}
  onTrailers(): void {}
  onMessageComplete(): void {
    if (this.facts !== null && !this.facts.keepAlive) this.closing = true;
  }
}

function judge(raw: string, chunkSize: number): Outcome {
  const judge = new Judge();
  const parser = new HttpParser('request', judge);
  const bytes = Buffer.from(raw, 'latin1');
  const before = Buffer.from(bytes);
  let tunnel = false;
  feeding: for (let at = 0; at < bytes.length; at += chunkSize) {
    let chunk = bytes.subarray(at, at + chunkSize);
    for (;;) {
      const r = parser.feed(chunk);
      if (typeof r !== 'number') {
        if (judge.outcome.refused === null) {
          const v = rejectParseError(r);
          judge.outcome.refused = { status: v.status, reason: v.reason };
        }
        break feeding;
      }
      if (!parser.upgraded) break;
      if (judge.facts?.upgrade != null) {
        tunnel = true;
        break feeding;
      }
      if (r === chunk.length) break;
      chunk = chunk.subarray(r); // llhttp stopped for an upgrade the proxy does not forward: the rest is HTTP
    }
  }
  if (judge.outcome.refused === null && judge.closing && !parser.idle) judge.outcome.refused = { status: 400, reason: 'dataAfterClose' };
  judge.outcome.incomplete = judge.outcome.refused === null && !tunnel && !parser.idle;
  parser.close();
  assert.ok(bytes.equals(before), 'the fed bytes were not mutated');
  return judge.outcome;
}

function expected(row: SmugglingRow): { forwarded: number; refused: boolean; incomplete: boolean } {
  return { forwarded: row.forwarded ?? (row.expect === 'forward' ? 1 : 0), refused: row.expect === 'reject', incomplete: row.incomplete ?? false };
}

describe('the request-smuggling corpus through HttpParser and checkRequestHead', () => {
  it('has at least 150 rows, and each source gives both verdicts', () => {
    assert.ok(SMUGGLING_ROWS.length >= 150, `${SMUGGLING_ROWS.length} rows`);
    for (const source of ['nodejs/llhttp', 'aws/http-desync-guardian', 'narfindustries/http-garden']) {
      const rows = SMUGGLING_ROWS.filter((r) => r.source.startsWith(source));
      assert.ok(rows.some((r) => r.expect === 'reject') && rows.some((r) => r.expect === 'forward'), `${source}: both verdicts`);
    }
    assert.equal(new Set(SMUGGLING_ROWS.map((r) => r.name)).size, SMUGGLING_ROWS.length, 'row names are unique');
  });

  for (const row of SMUGGLING_ROWS) {
    it(row.name, () => {
      const shown = `judge(${JSON.stringify(row.raw.length > 120 ? `${row.raw.slice(0, 120)}…` : row.raw)}) [${row.source}]`;
      const whole = judge(row.raw, row.raw.length || 1);
      const want = expected(row);
      assert.deepEqual(
        { forwarded: whole.forwarded, refused: whole.refused !== null, incomplete: whole.incomplete },
        want,
        `${shown}: ${whole.refused === null ? 'nothing refused' : `refused ${whole.refused.status} ${whole.refused.reason}`}`,
      );
      if (row.status !== undefined) assert.equal(whole.refused?.status, row.status, `${shown}: status`);
      // Byte by byte only where it stays quick (the corpus has a few 22 KB bodies).
      if (row.raw.length <= 4096) assert.deepEqual(judge(row.raw, 1), whole, `${shown}: byte by byte gives the same verdict`);
    });
  }
});
