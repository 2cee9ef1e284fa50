import { FulcrumError } from '../../src/errors.js';
import type { MemberState, Packet, PacketType, Update } from './packet.js';

/**
 * The membership wire format: one packet per UDP datagram, big-endian. This is version 1, the
 * packet itself; the speaker sends it sealed in a version-2 datagram (auth.ts: key id, nonce,
 * HMAC tag) and refuses a bare version-1 packet as unauthenticated.
 *
 *   magic "FM" (2) | version (1) | type (1) | from (name) | incarnation (u32) | seq (u32)
 *   | target (name, may be empty) | update count (u8) | updates…
 *   update: name (name) | state (u8) | incarnation (u32) | by (name, may be empty)
 *   name: length (u8) then that many bytes of a Kubernetes node name (DNS subdomain, ASCII)
 *
 * A packet is at most MAX_PACKET_BYTES (under a 1,500-byte MTU with IPv6 and UDP headers);
 * encodePacket leaves out the piggybacked updates that do not fit and says how many.
 * decodePacket never throws: anything malformed is a `{ ok: false, reason }`, counted by the
 * transport, and never reaches the detector.
 */
export const WIRE_MAGIC = 0x464d; // "FM"
export const WIRE_VERSION = 1;
export const MAX_PACKET_BYTES = 1_400;
export const MAX_UPDATES = 64;

const TYPES: readonly PacketType[] = ['ping', 'ack', 'pingReq', 'nack', 'gossip'];
const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left'];
const TYPE_CODE = new Map(TYPES.map((t, i) => [t, i]));
const STATE_CODE = new Map(STATES.map((s, i) => [s, i]));
// RFC 1123 subdomain, as Kubernetes requires of node names.
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HEADER_BYTES = 2 + 1 + 1 + 4 + 4 + 1;

export type DecodeFailure = 'tooShort' | 'badMagic' | 'badVersion' | 'badType' | 'truncated' | 'badName' | 'badState' | 'tooManyUpdates' | 'trailingBytes';
export type DecodeResult = { readonly ok: true; readonly packet: Packet } | { readonly ok: false; readonly reason: DecodeFailure };

export function isNodeName(s: string): boolean {
  return s.length > 0 && s.length <= 253 && NODE_NAME.test(s);
}

function checkName(field: string, s: string, mayBeEmpty: boolean): void {
  if ((mayBeEmpty && s === '') || isNodeName(s)) return;
  throw new FulcrumError('FUL_ERR_MEMBERSHIP_ENCODE', { field: `packet ${field}`, value: JSON.stringify(s), reason: 'not a node name' });
}

function checkU32(field: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new FulcrumError('FUL_ERR_MEMBERSHIP_ENCODE', { field: `packet ${field}`, value: n, reason: 'not a 32-bit unsigned integer' });
}

const updateBytes = (u: Update): number => 1 + u.name.length + 1 + 4 + 1 + u.by.length;

/**
 * The bytes of `packet`, with as many of its updates as fit in `maxBytes` (the speaker passes
 * auth.ts's MAX_PAYLOAD_BYTES: the sealed datagram adds its header and tag); throws
 * FUL_ERR_MEMBERSHIP_ENCODE on a bad field.
 */
export function encodePacket(packet: Packet, maxBytes = MAX_PACKET_BYTES): { bytes: Buffer; updatesLeftOut: number } {
  const type = TYPE_CODE.get(packet.type);
  if (type === undefined) throw new FulcrumError('FUL_ERR_MEMBERSHIP_ENCODE', { field: 'packet type', value: JSON.stringify(packet.type), reason: 'unknown' });
  checkName('from', packet.from, false);
  checkName('target', packet.target, true);
  checkU32('incarnation', packet.incarnation);
  checkU32('seq', packet.seq);
  let size = HEADER_BYTES + 1 + packet.from.length + 1 + packet.target.length;
  let count = 0;
  for (const u of packet.updates) {
    checkName('update name', u.name, false);
    checkName('update by', u.by, true);
    checkU32('update incarnation', u.incarnation);
    if (STATE_CODE.get(u.state) === undefined) throw new FulcrumError('FUL_ERR_MEMBERSHIP_ENCODE', { field: 'update state', value: JSON.stringify(u.state), reason: 'unknown' });
    if (count === MAX_UPDATES || size + updateBytes(u) > maxBytes) break;
    size += updateBytes(u);
    count++;
  }
  const b = Buffer.allocUnsafe(size);
  let o = b.writeUInt16BE(WIRE_MAGIC, 0);
  o = b.writeUInt8(WIRE_VERSION, o);
  o = b.writeUInt8(type, o);
  o = writeName(b, o, packet.from);
  o = b.writeUInt32BE(packet.incarnation, o);
  o = b.writeUInt32BE(packet.seq, o);
  o = writeName(b, o, packet.target);
  o = b.writeUInt8(count, o);
  for (let k = 0; k < count; k++) {
    const u = packet.updates[k]!;
    o = writeName(b, o, u.name);
    o = b.writeUInt8(STATE_CODE.get(u.state)!, o);
    o = b.writeUInt32BE(u.incarnation, o);
    o = writeName(b, o, u.by);
  }
  if (o !== size) throw new Error(`incoherent membership encoder: wrote ${o} of ${size} bytes`);
  return { bytes: b, updatesLeftOut: packet.updates.length - count };
}

function writeName(b: Buffer, o: number, s: string): number {
  o = b.writeUInt8(s.length, o);
  return o + b.write(s, o, 'latin1');
}

/** Reads one datagram; never throws. */
export function decodePacket(buf: Uint8Array): DecodeResult {
  const r = new Reader(buf);
  if (buf.length < 4) return { ok: false, reason: 'tooShort' };
  if (r.u16() !== WIRE_MAGIC) return { ok: false, reason: 'badMagic' };
  if (r.u8() !== WIRE_VERSION) return { ok: false, reason: 'badVersion' };
  const type = TYPES[r.u8()];
  if (type === undefined) return { ok: false, reason: 'badType' };
  const from = r.name(false);
  const incarnation = r.u32();
  const seq = r.u32();
  const target = r.name(true);
  const count = r.u8();
  if (r.failure) return { ok: false, reason: r.failure };
  if (count > MAX_UPDATES) return { ok: false, reason: 'tooManyUpdates' };
  const updates: Update[] = [];
  for (let k = 0; k < count; k++) {
    const name = r.name(false);
    const state = STATES[r.u8()];
    const inc = r.u32();
    const by = r.name(true);
    if (r.failure) return { ok: false, reason: r.failure };
    if (state === undefined) return { ok: false, reason: 'badState' };
    updates.push({ name, state, incarnation: inc, by });
  }
  if (r.offset !== buf.length) return { ok: false, reason: 'trailingBytes' };
  return { ok: true, packet: { type, from, incarnation, seq, target, updates } };
}

/** Bounds-checked reads: past the end, values are 0/'' and `failure` says why. */
class Reader {
  readonly #b: Uint8Array;
  offset = 0;
  failure: DecodeFailure | undefined;
  constructor(b: Uint8Array) {
    this.#b = b;
  }
  #take(n: number): number {
    if (this.failure || this.offset + n > this.#b.length) {
      this.failure ??= 'truncated';
      return -1;
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }
  u8(): number {
    const at = this.#take(1);
    return at < 0 ? 0 : this.#b[at]!;
  }
  u16(): number {
    const at = this.#take(2);
    return at < 0 ? 0 : (this.#b[at]! << 8) | this.#b[at + 1]!;
  }
  u32(): number {
    const at = this.#take(4);
    return at < 0 ? 0 : ((this.#b[at]! << 24) >>> 0) + ((this.#b[at + 1]! << 16) | (this.#b[at + 2]! << 8) | this.#b[at + 3]!);
  }
  name(mayBeEmpty: boolean): string {
    const len = this.u8();
    const at = this.#take(len);
    if (at < 0) return '';
    let s = '';
    for (let k = at; k < at + len; k++) s += String.fromCharCode(this.#b[k]!);
    if (!(mayBeEmpty && s === '') && !isNodeName(s)) this.failure ??= 'badName';
    return s;
  }
}
