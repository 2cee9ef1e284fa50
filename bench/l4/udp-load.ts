// UDP request/response load generator: `node udp-load.js HOST PORT SECONDS [SOCKETS] [WINDOW]`.
// SOCKETS connected sockets (one flow each), each keeping WINDOW requests in flight: every
// reply sends the next request. A 100 ms tick refills the window of a flow that lost packets.
// Prints one JSON line: { packetsPerSec, sent, received, seconds } (replies counted after a
// 0.3 s warm-up so that flow set-up in the proxy is not measured).
import { createSocket, type Socket } from 'node:dgram';

const [host = '127.0.0.1', portText = '0', secondsText = '2', socketsText = '8', windowText = '16'] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
const socketCount = Number(socketsText);
const window = Number(windowText);
const WARMUP_MS = 300;
const payload = Buffer.alloc(64, 0x61); // 64-byte requests: small packets measure per-packet cost

let sent = 0;
let received = 0;
let counting = false;
let counted = 0;
let running = true;
const repliesSinceTick = new Array<number>(socketCount).fill(0);
const sockets: Socket[] = [];

function sendOne(this: Socket): void {
  if (!running) return;
  sent++;
  this.send(payload);
}

function onMessage(this: Socket & { index: number }): void {
  received++;
  if (counting) counted++;
  repliesSinceTick[this.index]!++;
  sendOne.call(this);
}

let connected = 0;
for (let i = 0; i < socketCount; i++) {
  const s = createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 }) as Socket & { index: number };
  s.index = i;
  s.on('message', onMessage);
  s.on('error', () => undefined); // ICMP port unreachable while a path is down: counted as loss
  sockets.push(s);
  s.connect(port, host, () => {
    for (let k = 0; k < window; k++) sendOne.call(s);
    if (++connected === socketCount) startClock();
  });
}

function startClock(): void {
  const refill = setInterval(() => {
    for (let i = 0; i < socketCount; i++) {
      if (repliesSinceTick[i] === 0) for (let k = 0; k < window; k++) sendOne.call(sockets[i]!);
      repliesSinceTick[i] = 0;
    }
  }, 100);
  let startedAt = 0;
  setTimeout(() => {
    counting = true;
    startedAt = performance.now();
  }, WARMUP_MS);
  setTimeout(() => {
    counting = false;
    running = false;
    const elapsed = (performance.now() - startedAt) / 1000;
    clearInterval(refill);
    for (const s of sockets) s.close();
    process.stdout.write(JSON.stringify({ packetsPerSec: counted / elapsed, sent, received, seconds: elapsed }) + '\n');
  }, WARMUP_MS + seconds * 1000);
}
