/**
 * Session-ticket keys of one TLS frontend (I/O: node:tls contexts, random bytes): the current key
 * encrypts new tickets, the current and the previous one decrypt, and a ticket under the previous
 * key is accepted and renewed under the current one. `TlsTermination` rotates them.
 *
 * How, with Node's API. Node keeps one 48-byte ticket key per SecureContext (16 bytes of name, 16
 * of HMAC secret, 16 of AES key: the `ticketKeys` option of `tls.createSecureContext`,
 * `server.setTicketKeys`), and its built-in ticket callback drops a ticket whose key name differs,
 * so with that alone a rotation throws away every ticket issued before it. To keep the previous
 * key, `installTicketKeys` puts Node's own ticket-key callback on the context's native handle
 * (`context.enableTicketKeyCallback()` and `context.onticketkeycallback`), which OpenSSL calls for
 * every ticket it writes or reads. That hook is not documented (Node keeps it for its test
 * test-https-resume-after-renew.js), so `ticketKeyMode()` probes for it once; without it
 * (`single`), the caller passes `current.bytes48` as `ticketKeys` and rebuilds its contexts on
 * rotation, and tickets older than a rotation cost a full handshake.
 *
 * Every context of a frontend must hold the same keys: OpenSSL decrypts a ticket with the context
 * the socket was made with (before the SNI callback switches it) and encrypts new ones with the
 * context SNI chose.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import tls from 'node:tls';

export type TicketKeyMode = 'callback' | 'single';

let detectedMode: TicketKeyMode | undefined;
/** Whether this Node has the ticket-key hook that keeps the previous key. */
export function ticketKeyMode(): TicketKeyMode {
  if (detectedMode === undefined) {
    const probe = (tls.createSecureContext() as unknown as { context?: { enableTicketKeyCallback?: unknown } }).context;
    detectedMode = typeof probe?.enableTicketKeyCallback === 'function' ? 'callback' : 'single';
  }
  return detectedMode;
}

/** One key, with the arrays the callback answers made once (Node copies out of them at once). */
interface TicketKey {
  readonly name: Buffer;
  /** name, HMAC secret, AES key: the `ticketKeys` option of `single` mode. */
  readonly bytes48: Buffer;
  readonly encrypt: unknown[];
  readonly decrypt: unknown[];
  readonly renew: unknown[];
  readonly reject: unknown[];
}

/** The keys one frontend's contexts share. */
export class TicketKeys {
  /** The IV of the ticket being encrypted, refilled on every call. */
  readonly iv = Buffer.alloc(16);
  current: TicketKey;
  previous: TicketKey | null = null;

  constructor() {
    this.current = this.#make();
  }

  /** A new current key; the current one decrypts only; the previous one is gone. */
  rotate(): void {
    this.previous = this.current;
    this.current = this.#make();
  }

  #make(): TicketKey {
    const bytes48 = randomBytes(48);
    const name = bytes48.subarray(0, 16);
    const hmac = bytes48.subarray(16, 32);
    const aes = bytes48.subarray(32, 48);
    // [result, HMAC key, AES key, key name, IV]: 1 ok, 2 ok and issue a new ticket, 0 not ours (a
    // full handshake; Node still wants 16-byte keys there, or it fails the handshake).
    return { name, bytes48, encrypt: [1, hmac, aes, name, this.iv], decrypt: [1, hmac, aes], renew: [2, hmac, aes], reject: [0, hmac, aes] };
  }
}

const kTicketKeys = Symbol('fulcrum.ticketKeys');
type NativeContext = { enableTicketKeyCallback(): void; onticketkeycallback: unknown; [kTicketKeys]: TicketKeys };

/** Node's ticket-key callback, shared by every context; `this` is the native context of the socket's current SecureContext. */
function onTicketKey(this: NativeContext, name: Buffer, _iv: Buffer, encrypt: boolean): unknown[] {
  const keys = this[kTicketKeys];
  if (encrypt) {
    randomFillSync(keys.iv);
    return keys.current.encrypt;
  }
  if (name.equals(keys.current.name)) return keys.current.decrypt;
  if (keys.previous !== null && name.equals(keys.previous.name)) return keys.previous.renew;
  return keys.current.reject;
}

/** `callback` mode: tickets of this context are written and read with `keys`. */
export function installTicketKeys(ctx: tls.SecureContext, keys: TicketKeys): void {
  const native = (ctx as unknown as { context: NativeContext }).context;
  native[kTicketKeys] = keys;
  native.onticketkeycallback = onTicketKey;
  native.enableTicketKeyCallback();
}
