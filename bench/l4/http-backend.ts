// A minimal HTTP/1.1 responder for the TCP-mode workloads: `node http-backend.js HOST PORT`.
// Answers every request (counted by its blank line; no bodies expected) with a fixed 2-byte
// response. The response says `Connection: close` when the request did, but the server never
// closes first: the client does, so TIME_WAIT lands on the client's side, where Linux reuses
// loopback ports (tcp_tw_reuse=2), instead of on the server's, where a new SYN from a reused
// port is refused by PAWS and waits a 1 s SYN retransmission.
import { createServer, type Socket } from 'node:net';

const [host = '127.0.0.1', portText = '0'] = process.argv.slice(2);
const KEEP = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
const CLOSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
const END = Buffer.from('\r\n\r\n');
const CLOSE_HEADER = /\r\nconnection:\s*close\r\n/i;

type Conn = Socket & { tail: number };

function onData(this: Conn, chunk: Buffer): void {
  // Count request ends; a request end split across chunks is caught by the carried tail length.
  let count = 0;
  let at = chunk.indexOf(END);
  if (at < 0 && this.tail > 0) at = findSplitEnd(chunk, this.tail);
  while (at >= 0) {
    count++;
    at = chunk.indexOf(END, at + 1);
  }
  this.tail = trailingMatch(chunk);
  if (count === 0) return;
  const reply = CLOSE_HEADER.test(chunk.toString('latin1', 0, Math.min(chunk.length, 512))) ? CLOSE : KEEP;
  if (count === 1) this.write(reply);
  else this.write(Buffer.concat(new Array<Buffer>(count).fill(reply)));
}

/** How many bytes at the end of `chunk` are a prefix of "\r\n\r\n". */
function trailingMatch(chunk: Buffer): number {
  for (let n = Math.min(3, chunk.length); n > 0; n--) {
    if (chunk.subarray(chunk.length - n).equals(END.subarray(0, n))) return n;
  }
  return 0;
}

function findSplitEnd(chunk: Buffer, tail: number): number {
  const rest = END.subarray(tail);
  return chunk.subarray(0, rest.length).equals(rest) ? 0 : -1;
}

function onError(): void {
  // a client reset: nothing to do, the socket is destroyed
}

const server = createServer({ noDelay: true }, (socket) => {
  const conn = socket as Conn;
  conn.tail = 0;
  conn.on('data', onData);
  conn.on('error', onError);
});
server.listen({ host, port: Number(portText), backlog: 4096 }, () => {
  const addr = server.address();
  process.stdout.write(`ready ${typeof addr === 'object' && addr ? addr.port : portText}\n`);
});
process.on('SIGTERM', () => process.exit(0));
