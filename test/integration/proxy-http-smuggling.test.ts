// The request-smuggling corpus (test/fixtures/http-smuggling.ts) sent as raw bytes through the
// real proxy to a node:http backend that counts the requests it reads: what the unit test
// decides from the parser and the head checks must hold on the wire too.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { DEFAULT_HTTP_OPTIONS } from '../../speaker/proxy/model.js';
import { SMUGGLING_ROWS, type SmugglingRow } from '../fixtures/http-smuggling.js';
import { checkRequestHead } from '../../speaker/proxy/http/request-head.js';
import { HttpParser, type HeadAnswer, type HttpHead, type HttpParserOwner } from '../../speaker/proxy/http/parser.js';
import { waitFor } from '../helpers/wait.js';
import { backend, endpoint, model, Resources } from './proxy-harness.js';
import { httpFrontend, rawExchange, statuses } from './proxy-http-harness.js';

interface Counting {
  port: number;
  /** Request heads the backend read (requests, and upgrades). */
  heads: () => number;
  /** Bytes node:http could not parse: what the proxy sent must always be valid HTTP/1.1. */
  clientErrors: string[];
  /** Resolves once every connection the backend accepted has closed. */
  allClosed: () => Promise<void>;
}

async function countingBackend(res: Resources): Promise<Counting> {
  let heads = 0;
  const clientErrors: string[] = [];
  const sockets = new Set<net.Socket>();
  let onEmpty: (() => void) | null = null;
  const server = http.createServer((req, resp) => {
    heads++;
    req.resume();
    req.on('end', () => resp.end('ok'));
  });
  server.on('upgrade', (_req, socket: net.Socket) => {
    heads++;
    socket.resume(); // read the tunnel to its end, so the socket closes once both sides are done
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n');
  });
  server.on('clientError', (err: Error & { code?: string }, socket: net.Socket) => {
    // a connection the proxy cut mid-body (a refusal after the head was forwarded) is not a parse error
    if (err.code !== 'ECONNRESET' && err.code !== 'HPE_INVALID_EOF_STATE') clientErrors.push(`${err.code}: ${err.message}`);
    socket.destroy();
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
      if (sockets.size === 0) onEmpty?.();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  res.add(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    heads: () => heads,
    clientErrors,
    allClosed: () => (sockets.size === 0 ? Promise.resolve() : new Promise<void>((r) => (onEmpty = r))),
  };
}

/**
 * The requests of `raw` that are complete before anything is refused (they must reach the
 * endpoint). The head of a message whose body then breaks may reach it or not: that depends on
 * whether the endpoint connection was open before the bad bytes arrived.
 */
function completeBeforeRefusal(raw: string): number {
  let complete = 0;
  let closing = false;
  let keepAlive = true;
  let stopped = false;
  const owner: HttpParserOwner = {
    onHead(head: HttpHead): HeadAnswer {
      const v = closing ? null : checkRequestHead(head);
      if (v === null || v.kind === 'reject') {
        stopped = true;
        return 'stop';
      }
      keepAlive = v.facts.keepAlive;
      return v.facts.upgrade !== null ? 'upgrade' : 'body';
    },
    onBody(): void {},
    onTrailers(): void {},
    onMessageComplete(): void {
      complete++;
      if (!keepAlive) closing = true;
    },
  };
  const parser = new HttpParser('request', owner);
  let chunk = Buffer.from(raw, 'latin1');
  for (let i = 0; i < 64 && !stopped; i++) {
    const r = parser.feed(chunk);
    if (typeof r !== 'number' || !parser.upgraded || r === chunk.length) break;
    chunk = chunk.subarray(r);
  }
  parser.close();
  return complete;
}

function forwardedOf(row: SmugglingRow): number {
  return row.forwarded ?? (row.expect === 'forward' ? 1 : 0);
}

describe('the request-smuggling corpus through the running proxy (raw bytes, counting backend)', function () {
  this.timeout(20_000);

  for (const row of SMUGGLING_ROWS) {
    it(row.name, async () => {
      const res = new Resources();
      try {
        const b = await countingBackend(res);
        const engine = res.engine();
        await engine.apply(model([httpFrontend('web', { http: { timeouts: { ...DEFAULT_HTTP_OPTIONS.timeouts, httpRequestMs: 2000 } } })], [backend('web', [endpoint(b.port)])]));
        const port = engine.frontendPort('web')!;
        const want = forwardedOf(row);
        const shown = `${JSON.stringify(row.raw.length > 120 ? `${row.raw.slice(0, 120)}…` : row.raw)} [${row.source}]`;
        // A forwarded row that keeps the connection open is over once its answers came, one whose
        // bytes end inside a message once its heads reached the backend; the others close.
        const heads = row.incomplete ? waitFor(`${want} request(s) at the backend for ${shown}`, () => b.heads() >= want, { timeoutMs: 3000 }) : undefined;
        const answer = await rawExchange(port, row.raw, {
          untilMs: 4000,
          until: heads,
          doneWhen: row.expect === 'forward' && !row.incomplete ? (text) => statuses(text).filter((s) => s >= 200).length >= want : undefined,
        });
        await heads;
        // Everything the proxy will ever send has left once it stopped and the backend saw its connections close.
        await engine.stop({ drainTimeoutMs: 0 });
        await b.allClosed();
        const got = statuses(answer.text);
        if (row.expect === 'forward') {
          assert.equal(b.heads(), want, `requests the backend read for ${shown}`);
          assert.ok((row.incomplete || got.length >= want) && got.every((s) => s < 300), `answers ${got.join(',')} to ${shown}`);
        } else {
          const lower = Math.min(want, completeBeforeRefusal(row.raw));
          assert.ok(b.heads() >= lower && b.heads() <= want, `${b.heads()} requests at the backend for ${shown}; between ${lower} and ${want} expected`);
          assert.ok(answer.closed, `the connection is closed after a refusal: ${shown}`);
          if (row.status !== undefined) assert.deepEqual(got, [row.status], `the client's answer to ${shown}`);
          else assert.ok(got.every((s) => s < 300 || s === 400), `answers ${got.join(',')} to ${shown}`);
        }
        assert.deepEqual(b.clientErrors, [], `the backend could parse everything forwarded (${shown})`);
      } finally {
        await res.closeAll();
      }
    });
  }
});
