/**
 * Read buffers for the TCP fast path. A socket created with Node's `onread` option reads into a
 * buffer it owns and hands each read to a callback, with no Readable stream in between: no
 * buffer allocated per read, no `push`/`'data'` event per chunk. For a proxy that writes every
 * chunk on at once this is the whole read path. Against the stream path, side by side: −20 %
 * proxy CPU per keep-alive request, −52 % per GB in bulk (speaker/proxy/README.md, Performance).
 *
 * A socket's buffer is reused by its next read, so a chunk must be consumed before the socket
 * reads again: tcp-session.ts stops reading (the callback returns false) whenever the peer did
 * not take a chunk whole, and starts again once the peer has flushed it.
 *
 * Each session takes two 64 KiB buffers (client and upstream side) and gives them back when both
 * sockets are closed. Buffers are kept for reuse, within a budget per process; a session that
 * finds the budget spent uses Node's ordinary stream path instead (same behaviour, more CPU).
 */
import net from 'node:net';

/** Node reads 64 KiB at a time by default; 16 KiB cost 60 % more CPU per GB in bulk. */
export const READ_BUFFER_BYTES = 65536;
/** 64 MiB: 512 sessions at a time on the fast path; more use the ordinary path. */
export const READ_BUFFER_BUDGET_BYTES = 64 * 1024 * 1024;
const MAX_BUFFERS = Math.floor(READ_BUFFER_BUDGET_BYTES / READ_BUFFER_BYTES);

const free: Buffer[] = [];
/** Buffers allocated and not dropped: in use by sessions, or in `free`. */
let allocated = 0;

/** A buffer for one socket's reads, or undefined when the budget is spent. */
export function takeReadBuffer(): Buffer | undefined {
  const b = free.pop();
  if (b !== undefined) return b;
  if (allocated >= MAX_BUFFERS) return undefined;
  allocated++;
  return Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
}

/** Returns a buffer no socket reads into or writes from any more (both sockets closed). */
export function giveReadBuffer(b: Buffer): void {
  free.push(b);
}

/** Buffers allocated (in use or free), for tests. */
export function readBuffersAllocated(): number {
  return allocated;
}

/** The callback of a socket's `onread`: `this` is the socket; returning false stops reading. */
export type OnRead = (this: never, nread: number, buf: Buffer) => boolean;

/**
 * Node's private keys under which a socket keeps its `onread` buffer and callback. `onread` is
 * public for `net.connect`, but `net.Server` has no such option for the sockets it accepts; the
 * keys, found once on a probe socket, let an accepted socket be switched before it first reads.
 * Undefined if this Node keeps them differently: accepted sockets then use the stream path.
 */
const onreadKeys = findOnreadKeys();

function findOnreadKeys(): { kBuffer: symbol; kBufferCb: symbol } | undefined {
  const buffer = Buffer.alloc(1);
  const callback = (): boolean => true;
  const probe = new net.Socket({ onread: { buffer, callback } } as net.SocketConstructorOpts);
  let kBuffer: symbol | undefined;
  let kBufferCb: symbol | undefined;
  for (const sym of Object.getOwnPropertySymbols(probe)) {
    const v = (probe as unknown as Record<symbol, unknown>)[sym];
    if (v === buffer) kBuffer = sym;
    else if (v === callback) kBufferCb = sym;
  }
  probe.destroy();
  return kBuffer !== undefined && kBufferCb !== undefined ? { kBuffer, kBufferCb } : undefined;
}

type AcceptedSocket = net.Socket & Record<symbol, unknown> & { _handle?: { reading?: boolean; useUserBuffer?: (b: Buffer) => void } | null };

/**
 * Makes an accepted socket that has not started reading (`pauseOnConnect`) read into `buf` and
 * call `onRead`, as `onread` would have. Returns false, changing nothing, when that cannot be done.
 */
export function useReadBuffer(socket: net.Socket, buf: Buffer, onRead: OnRead): boolean {
  const s = socket as AcceptedSocket;
  const handle = s._handle;
  if (onreadKeys === undefined || handle === undefined || handle === null || handle.reading === true || typeof handle.useUserBuffer !== 'function') return false;
  if (s.readableLength > 0) return false; // bytes already read the stream way must come first
  s[onreadKeys.kBuffer] = buf;
  s[onreadKeys.kBufferCb] = onRead;
  handle.useUserBuffer(buf);
  return true;
}
