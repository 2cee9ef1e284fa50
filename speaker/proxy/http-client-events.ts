/**
 * The client socket's events for an HTTP connection (http-connection.ts): module-level
 * listeners that find their connection through a symbol on the socket (no closures per
 * connection), on the fast read path (read-buffers.ts) for plain sockets, the 'data' path for
 * TLS ones. Bytes go to the parser, to the tunnel after an upgrade, or are held while an upgrade
 * waits for the endpoint's answer.
 */
import type net from 'node:net';
import { coarseNow } from './coarse-timer.js';
import type { HttpConnection } from './http-connection.js';
import { giveReadBuffer, takeReadBuffer, useReadBuffer } from './read-buffers.js';

const kConnection = Symbol('fulcrum.httpConnection');
type ClientSocket = net.Socket & { [kConnection]: HttpConnection };

/** Listens to `client` for `c`; returns the read buffer of the fast path, or null (the 'data' path). */
export function listenToClient(c: HttpConnection, client: net.Socket, fastPath: boolean): Buffer | null {
  (client as ClientSocket)[kConnection] = c;
  let readBuffer: Buffer | null = null;
  if (fastPath) {
    readBuffer = takeReadBuffer() ?? null;
    if (readBuffer !== null && !useReadBuffer(client, readBuffer, onClientRead)) {
      giveReadBuffer(readBuffer);
      readBuffer = null;
    }
  }
  if (readBuffer === null) client.on('data', onClientData);
  client.on('drain', onClientDrain);
  client.on('end', onClientEnd);
  client.on('error', onClientError);
  client.on('close', onClientClose);
  return readBuffer;
}

function onClientData(this: ClientSocket, chunk: Buffer): void {
  onChunk(this[kConnection], chunk, false);
}

/** The fast path: `buf` is read into again once this returns true. */
function onClientRead(this: ClientSocket, nread: number, buf: Buffer): boolean {
  const c = this[kConnection];
  onChunk(c, nread === buf.length ? buf : buf.subarray(0, nread), true);
  return !c.paused && !c.closed;
}

/** `reused`: the chunk is a view of the read buffer, to copy where it is kept past this call. */
function onChunk(c: HttpConnection, chunk: Buffer, reused: boolean): void {
  c.lastActiveMs = coarseNow();
  c.ctx.stats.bytesIn += chunk.length;
  if (c.state === 'tunnel') {
    c.exchange?.tunnelFromClient(reused ? Buffer.from(chunk) : chunk);
    return;
  }
  if (c.afterUpgrade !== null) {
    c.afterUpgrade.push(Buffer.from(chunk)); // read before the pause took effect: held until the endpoint answers
    return;
  }
  c.feed(chunk);
}

function onClientDrain(this: ClientSocket): void {
  this[kConnection].clientFlushed();
}

function onClientEnd(this: ClientSocket): void {
  const c = this[kConnection];
  if (c.state === 'tunnel') {
    c.exchange?.tunnelClientEnded();
    return;
  }
  // A client that half-closes after its request still reads the response; then we close.
  c.closing = true;
  if (c.exchange === null) c.finish();
}

function onClientError(this: ClientSocket): void {
  // 'close' follows
}

function onClientClose(this: ClientSocket): void {
  this[kConnection].released();
}
