import { hkdfSync, timingSafeEqual } from 'node:crypto';
import { FulcrumError } from '../../src/errors.js';

/**
 * The membership keys, from the Secret `memberlist` in the speaker's namespace (MetalLB's name
 * and field): `secretkey` signs and is accepted, `secretkey-previous` (optional) is accepted
 * too, so a rotation moves the old key there and the new one into `secretkey` in one edit.
 * Pure: the caller hands in the Secret's `data` (base64 values, as the API returns them).
 *
 * A value's bytes are the key material whatever they are (`openssl rand -base64 32` gives 44
 * ASCII bytes, MetalLB's `-base64 128` 172): HKDF-SHA256 turns them into the 32-byte HMAC key
 * and, with another label, into a 4-byte key id that travels in every datagram so a receiver
 * knows which key to try and can tell "a key we do not have" from "a forged tag".
 */

export { MEMBERLIST_SECRET_NAME as MEMBERLIST_SECRET } from '../../src/memberlist-secret.js';
export type KeySlot = 'secretkey' | 'secretkey-previous';
/** Signing key first. */
export const KEY_SLOTS: readonly KeySlot[] = ['secretkey', 'secretkey-previous'];
/** 128 bits of material at least: fewer could be guessed offline from one captured datagram. */
export const MIN_KEY_BYTES = 16;

// HKDF labels: the same material gives unrelated keys for the two uses and for other versions.
const MAC_INFO = 'fulcrum-lb membership hmac-sha256 v2';
const ID_INFO = 'fulcrum-lb membership key id v2';
const SALT = Buffer.alloc(0);

export interface MembershipKey {
  readonly slot: KeySlot;
  /** u32 on the wire; not secret (a one-way function of the material). */
  readonly id: number;
  /** 32 bytes: the HMAC-SHA256 key. */
  readonly mac: Buffer;
}

/** `sign` is `accept[0]`; `accept` holds one or two keys. */
export interface KeyRing {
  readonly sign: MembershipKey;
  readonly accept: readonly MembershipKey[];
}

export type KeyRingResult = { readonly ok: true; readonly ring: KeyRing } | { readonly ok: false; readonly error: FulcrumError<'FUL_ERR_MEMBERSHIP_KEY'> };

export function deriveKey(slot: KeySlot, material: Uint8Array): MembershipKey {
  const mac = Buffer.from(hkdfSync('sha256', material, SALT, MAC_INFO, 32));
  const id = Buffer.from(hkdfSync('sha256', material, SALT, ID_INFO, 4)).readUInt32BE(0);
  return { slot, id, mac };
}

export function sameKey(a: MembershipKey, b: MembershipKey): boolean {
  return a.id === b.id && timingSafeEqual(a.mac, b.mac);
}

export function sameRing(a: KeyRing | undefined, b: KeyRing): boolean {
  return a !== undefined && a.accept.length === b.accept.length && a.accept.every((k, i) => k.slot === b.accept[i]!.slot && sameKey(k, b.accept[i]!));
}

/**
 * The keys of the memberlist Secret `secret` (`namespace/name`, for messages) whose `data` is
 * given, undefined when the Secret does not exist. Errors name the Secret, the field and the
 * length received (never the key).
 */
export function keyRingFromSecret(secret: string, data: Readonly<Record<string, string>> | undefined, exists: boolean): KeyRingResult {
  const fail = (field: KeySlot, reason: string): KeyRingResult => ({ ok: false, error: new FulcrumError('FUL_ERR_MEMBERSHIP_KEY', { secret, field, reason }) });
  if (!exists) return fail('secretkey', 'the Secret does not exist; create it with a random key (see the README)');
  const keys: MembershipKey[] = [];
  for (const slot of KEY_SLOTS) {
    const value = data?.[slot];
    if (value === undefined || value === '') {
      if (slot === 'secretkey') return fail(slot, 'missing or empty');
      continue;
    }
    const material = Buffer.from(value, 'base64');
    if (material.length < MIN_KEY_BYTES) return fail(slot, `${material.length} bytes, at least ${MIN_KEY_BYTES} are needed`);
    const key = deriveKey(slot, material);
    // The same key in both fields (a rotation not started yet): one key.
    if (!keys.some((k) => sameKey(k, key))) keys.push(key);
  }
  return { ok: true, ring: { sign: keys[0]!, accept: keys } };
}
