import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_PACKET_BYTES, WIRE_MAGIC, WIRE_VERSION } from './codec.js';
import { sameKey, type KeyRing, type KeySlot, type MembershipKey } from './keys.js';
import { ReplayGuard, type ReplayVerdict } from './replay.js';

/**
 * Authenticated membership datagrams (wire version 2), pure: time and the epoch come in as
 * arguments. A sealed datagram wraps one packet exactly as codec.ts writes it (version 1):
 *
 *   magic "FM" (2) | version 2 (1) | key id (u32) | epoch (8) | counter (u32) | sent at (u64, ms)
 *   | payload (a version-1 packet) | tag (16)
 *
 * tag = HMAC-SHA256(key, addressee | every byte before the tag), truncated to 128 bits (RFC
 * 2104 §5; a forger gets one try per datagram), where addressee is the name of the node it is
 * sent to (a length byte and the name), not carried: a datagram captured on its way to one node
 * and sent to another (or back to its sender, whose own window never saw it) fails the tag.
 * The header is covered, so the nonce (epoch, counter) and the time cannot be changed either. A receiver checks, in this order: the layout, a key with
 * that id among those it accepts, the tag (constant time), the freshness (sent at within
 * FRESHNESS_MS of its own wall clock), then, once the payload is decoded and the sender known,
 * the replay window (replay.ts). A version-1 packet is `unauthenticated`: dropped and counted.
 */

export const SEALED_VERSION = 2;
const HEADER_BYTES = 2 + 1 + 4 + 8 + 4 + 8;
export const TAG_BYTES = 16;
export const EPOCH_BYTES = 8;
export const SEAL_OVERHEAD_BYTES = HEADER_BYTES + TAG_BYTES;
/** What codec.ts may fill so that the sealed datagram stays within MAX_PACKET_BYTES. */
export const MAX_PAYLOAD_BYTES = MAX_PACKET_BYTES - SEAL_OVERHEAD_BYTES;
/**
 * A datagram sent longer ago than this (by its sender's wall clock against ours) is refused:
 * the bound on a replay that no window remembers. Well above the skew of NTP-synchronised nodes
 * (milliseconds; the Lease rule already assumes 2 s), so a node is refused only with a clock
 * badly wrong, which the `stale`/`future` drops and their log (with the skew) say.
 */
export const FRESHNESS_MS = 10_000;
/**
 * After the signing key changes (a rotation), keep signing with the old one this long while
 * accepting both: every speaker learns the new key from its own watch, within about a second of
 * the others, and must accept it before anyone signs with it.
 */
export const ROTATION_GRACE_MS = 5_000;

export type OpenFailure = 'tooShort' | 'badMagic' | 'badVersion' | 'unauthenticated' | 'unknownKey' | 'badTag' | 'stale' | 'future';

export interface Nonce {
  /** The sender's life, hex. */
  readonly epoch: string;
  readonly counter: number;
  readonly sentAtMs: number;
}

export type Opened =
  | { readonly ok: true; readonly payload: Buffer; readonly slot: KeySlot; readonly nonce: Nonce }
  | { readonly ok: false; readonly reason: OpenFailure; /** stale/future: sent at minus now */ readonly skewMs?: number };

const U32 = 0x1_0000_0000;

function tagOf(key: MembershipKey, to: string, signed: Uint8Array): Buffer {
  const addressee = Buffer.alloc(1 + to.length);
  addressee.writeUInt8(to.length, 0);
  addressee.write(to, 1, 'latin1');
  return createHmac('sha256', key.mac).update(addressee).update(signed).digest().subarray(0, TAG_BYTES);
}

/** The sealed datagram of `payload` (a version-1 packet of at most MAX_PAYLOAD_BYTES) for the node `to`. */
export function sealDatagram(payload: Uint8Array, key: MembershipKey, to: string, epoch: Uint8Array, counter: number, sentAtMs: number): Buffer {
  if (epoch.length !== EPOCH_BYTES) throw new Error(`incoherent membership seal: epoch of ${epoch.length} bytes`);
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length + TAG_BYTES);
  let o = out.writeUInt16BE(WIRE_MAGIC, 0);
  o = out.writeUInt8(SEALED_VERSION, o);
  o = out.writeUInt32BE(key.id, o);
  o += Buffer.from(epoch).copy(out, o);
  o = out.writeUInt32BE(counter, o);
  o = out.writeUInt32BE(Math.floor(sentAtMs / U32), o);
  o = out.writeUInt32BE(sentAtMs % U32 >>> 0, o);
  o += Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).copy(out, o);
  tagOf(key, to, out.subarray(0, o)).copy(out, o);
  return out;
}

/** Checks layout, key, tag (as addressed to `me`) and freshness of one datagram; never throws. */
export function openDatagram(datagram: Uint8Array, ring: KeyRing, me: string, nowMs: number): Opened {
  const b = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  if (b.length < 3) return { ok: false, reason: 'tooShort' };
  if (b.readUInt16BE(0) !== WIRE_MAGIC) return { ok: false, reason: 'badMagic' };
  const version = b[2];
  if (version === WIRE_VERSION) return { ok: false, reason: 'unauthenticated' };
  if (version !== SEALED_VERSION) return { ok: false, reason: 'badVersion' };
  if (b.length < SEAL_OVERHEAD_BYTES) return { ok: false, reason: 'tooShort' };
  const id = b.readUInt32BE(3);
  const signed = b.subarray(0, b.length - TAG_BYTES);
  const tag = b.subarray(b.length - TAG_BYTES);
  let slot: KeySlot | undefined;
  let known = false;
  // At most two keys; both are tried when their ids collide (1 in 2^32).
  for (const key of ring.accept) {
    if (key.id !== id) continue;
    known = true;
    if (timingSafeEqual(tagOf(key, me, signed), tag)) {
      slot = key.slot;
      break;
    }
  }
  if (!slot) return { ok: false, reason: known ? 'badTag' : 'unknownKey' };
  const epoch = b.toString('hex', 7, 7 + EPOCH_BYTES);
  const counter = b.readUInt32BE(15);
  const sentAtMs = b.readUInt32BE(19) * U32 + b.readUInt32BE(23);
  const skewMs = sentAtMs - nowMs;
  if (skewMs < -FRESHNESS_MS) return { ok: false, reason: 'stale', skewMs };
  if (skewMs > FRESHNESS_MS) return { ok: false, reason: 'future', skewMs };
  return { ok: true, payload: Buffer.from(b.subarray(HEADER_BYTES, b.length - TAG_BYTES)), slot, nonce: { epoch, counter, sentAtMs } };
}

/**
 * One speaker's side of it: its keys (with the rotation grace), its life's epoch and counter,
 * and the replay windows of its peers. `nowMs` is the wall clock (Date.now()): freshness is
 * judged between nodes.
 */
export class MembershipAuth {
  #ring: KeyRing;
  #signing: MembershipKey;
  /** The key to sign with once the rotation grace is over. */
  #next: { key: MembershipKey; atMs: number } | undefined;
  readonly #epoch: Buffer;
  readonly #me: string;
  #counter = 0;
  readonly #replay = new ReplayGuard(2 * FRESHNESS_MS);

  /** `me`: this node's name (datagrams are addressed to it); `epoch`: EPOCH_BYTES random bytes, drawn once per process. */
  constructor(ring: KeyRing, me: string, epoch: Uint8Array) {
    this.#me = me;
    this.#ring = ring;
    this.#signing = ring.sign;
    this.#epoch = Buffer.from(epoch);
  }

  /** New keys from the Secret. A new signing key is used at once only if the old one is no longer accepted. */
  setKeys(ring: KeyRing, nowMs: number): void {
    this.#ring = ring;
    if (sameKey(ring.sign, this.#signing)) {
      this.#signing = ring.sign;
      this.#next = undefined;
    } else if (ring.accept.some((k) => sameKey(k, this.#signing))) {
      // The same key, now under its new field (secretkey-previous).
      this.#signing = ring.accept.find((k) => sameKey(k, this.#signing))!;
      if (!this.#next || !sameKey(this.#next.key, ring.sign)) this.#next = { key: ring.sign, atMs: nowMs + ROTATION_GRACE_MS };
    } else {
      this.#signing = ring.sign;
      this.#next = undefined;
    }
  }

  /** The field of the key datagrams are signed with now. */
  signingSlot(nowMs: number): KeySlot {
    return this.#signingKey(nowMs).slot;
  }

  seal(payload: Uint8Array, to: string, nowMs: number): Buffer {
    const counter = this.#counter;
    if (counter === 0xffffffff) {
      // 2^32 datagrams (years): a new life rather than a counter that wraps into its own window.
      this.#epoch.writeUInt32BE((this.#epoch.readUInt32BE(4) + 1) >>> 0, 4);
      this.#counter = 0;
    } else this.#counter++;
    return sealDatagram(payload, this.#signingKey(nowMs), to, this.#epoch, counter, nowMs);
  }

  open(datagram: Uint8Array, nowMs: number): Opened {
    return openDatagram(datagram, this.#ring, this.#me, nowMs);
  }

  /** The replay window, once the payload names its sender. */
  admit(sender: string, nonce: Nonce, nowMs: number): ReplayVerdict {
    return this.#replay.admit(sender, nonce.epoch, nonce.counter, nowMs);
  }

  #signingKey(nowMs: number): MembershipKey {
    if (this.#next && nowMs >= this.#next.atMs) {
      this.#signing = this.#next.key;
      this.#next = undefined;
    }
    return this.#signing;
  }
}
