// Full-TLS-handshake load generator: `node tls-load.js HOST PORT SECONDS [CONCURRENCY] [SERVERNAME]`.
// CONCURRENCY loops, each: a new TCP connection, a full TLS handshake (no session is ever offered:
// `tls.connect` resumes only when given `session`, and there is no client cache), one
// `GET / HTTP/1.1` with `Connection: close`, the whole response read, then the client closes
// (so TIME_WAIT lands on the client's side, as in the L4 suite's new-connection workload).
// wrk cannot do this: it keeps one SSL object per connection and `SSL_clear` keeps its session,
// so every reconnect after the first resumes (haproxy's `show info`: SslFrontendSessionReuse_pct
// 100 over 4,300 connections of `wrk -H 'Connection: close' https://…`).
// Prints one JSON line: { handshakesPerSec, handshakes, resumed, errors, seconds, protocol,
// cipher, group, clientCpuSeconds } (handshakes: exchanges completed within SECONDS).
import { connect, createSecureContext, type TLSSocket } from 'node:tls';

const [host = '127.0.0.1', portText = '0', secondsText = '2', concurrencyText = '16', servername = 'bench.example.com'] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
const concurrency = Number(concurrencyText);
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
const HEAD_END = Buffer.from('\r\n\r\n');
/** After an error, a loop waits this long before its next connection (a server that is down is not spun on). */
const ERROR_PAUSE_MS = 20;
// One client context for every connection (building one per connection would cost the client,
// not the server). No chain verification, like wrk: the suite checks each proxy's certificate
// once before measuring; the handshake signature itself is always verified by TLS.
const secureContext = createSecureContext({});

let handshakes = 0;
let resumed = 0;
let errors = 0;
let running = true;
let firstInfo: { protocol: string; cipher: string; group: string } | null = null;

type Conn = TLSSocket & { head: Buffer | null; state: 'pending' | 'answered' | 'failed' };

function open(): void {
  if (!running) return;
  const socket = connect({ host, port, servername, secureContext, rejectUnauthorized: false }) as Conn;
  socket.head = null;
  socket.state = 'pending';
  socket.setNoDelay(true);
  socket.once('secureConnect', onSecure);
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
}

function onSecure(this: Conn): void {
  if (this.isSessionReused()) resumed++;
  if (firstInfo === null) {
    const key = this.getEphemeralKeyInfo() as { name?: string; type?: string } | null;
    firstInfo = { protocol: this.getProtocol() ?? '?', cipher: this.getCipher().name, group: key?.name ?? key?.type ?? '?' };
  }
  this.write(REQUEST);
}

/** A response is complete once its head and Content-Length bytes of body are in. */
function onData(this: Conn, chunk: Buffer): void {
  const buf = this.head === null ? chunk : Buffer.concat([this.head, chunk]);
  const end = buf.indexOf(HEAD_END);
  if (end < 0) {
    this.head = buf;
    return;
  }
  const head = buf.toString('latin1', 0, end);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length && buf.length - end - 4 < Number(length[1])) {
    this.head = buf;
    return;
  }
  const ok = head.startsWith('HTTP/1.1 200');
  this.state = ok ? 'answered' : 'failed';
  if (running) {
    if (ok) handshakes++;
    else errors++;
  }
  this.destroy();
}

/** An error, or a close before a whole response: counted once, then the loop goes on after a pause. */
function fail(c: Conn): void {
  if (c.state !== 'pending') return;
  c.state = 'failed';
  if (running) errors++;
}

function onError(this: Conn): void {
  fail(this);
}

function onClose(this: Conn): void {
  fail(this);
  if (this.state === 'failed') setTimeout(open, ERROR_PAUSE_MS);
  else open();
}

const cpuBefore = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < concurrency; i++) open();
setTimeout(() => {
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const info = firstInfo ?? { protocol: '?', cipher: '?', group: '?' };
  const out = { handshakesPerSec: handshakes / elapsed, handshakes, resumed, errors, seconds: elapsed, ...info, clientCpuSeconds: (cpu.user + cpu.system) / 1e6 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}, seconds * 1000);
