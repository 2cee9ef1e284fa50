import assert from 'node:assert/strict';
import { FRESHNESS_MS, MAX_PAYLOAD_BYTES, MembershipAuth, type OpenFailure, ROTATION_GRACE_MS, SEALED_VERSION, TAG_BYTES, openDatagram, sealDatagram } from '../../speaker/membership/auth.js';
import { MAX_PACKET_BYTES, decodePacket, encodePacket } from '../../speaker/membership/codec.js';
import { deriveKey, type KeyRing, keyRingFromSecret } from '../../speaker/membership/keys.js';
import type { Packet } from '../../speaker/membership/packet.js';
import { REPLAY_WINDOW } from '../../speaker/membership/replay.js';

// Fixed keys and epochs: every row is reproducible byte for byte.
const KEY_A = deriveKey('secretkey', Buffer.from('key-a: 0123456789abcdef0123456789abcdef'));
const KEY_B = deriveKey('secretkey', Buffer.from('key-b: fedcba9876543210fedcba9876543210'));
const RING_A: KeyRing = { sign: KEY_A, accept: [KEY_A] };
const RING_B: KeyRing = { sign: KEY_B, accept: [KEY_B] };
/** B signs, A is still accepted: a receiver in the middle of the rotation from A to B. */
const RING_B_AFTER_A: KeyRing = { sign: KEY_B, accept: [KEY_B, { ...KEY_A, slot: 'secretkey-previous' }] };
const EPOCH_1 = Buffer.from('0102030405060708', 'hex');
const EPOCH_2 = Buffer.from('1112131415161718', 'hex');
const T0 = 1_700_000_000_000;
/** "n2 is dead", from n1: what a forger would like the cluster to believe. */
const DEAD_N2: Packet = { type: 'gossip', from: 'n1', incarnation: 0, seq: 0, target: '', updates: [{ name: 'n2', state: 'dead', incarnation: 0, by: 'n1' }] };

const payload = (p: Packet = DEAD_N2): Buffer => encodePacket(p, MAX_PAYLOAD_BYTES).bytes;

/** What one sender produces; `life` 2 is the same node restarted. */
function sender(life: 1 | 2 = 1, ring: KeyRing = RING_A): MembershipAuth {
  return new MembershipAuth(ring, 'n1', life === 1 ? EPOCH_1 : EPOCH_2);
}

type Outcome = 'ok' | OpenFailure | 'replayed' | 'tooOld';

/** The receiver's whole path: open, decode, replay window. */
function receive(r: MembershipAuth, datagram: Uint8Array, nowMs: number): Outcome {
  const before = Buffer.from(datagram);
  const opened = r.open(datagram, nowMs);
  assert.deepEqual(Buffer.from(datagram), before, 'the datagram was not mutated');
  if (!opened.ok) return opened.reason;
  const decoded = decodePacket(opened.payload);
  assert.ok(decoded.ok, 'an authenticated payload decodes');
  const v = r.admit(decoded.packet.from, opened.nonce, nowMs);
  return v.ok ? 'ok' : v.reason;
}

interface Row {
  readonly name: string;
  /** The receiver's keys (default RING_A). */
  readonly ring?: KeyRing;
  /** When the receiver reads them (default T0). */
  readonly atMs?: number;
  readonly datagrams: () => Uint8Array[];
  readonly expect: readonly Outcome[];
}

function flip(b: Buffer, at: number): Buffer {
  const out = Buffer.from(b);
  out[at]! ^= 0x01;
  return out;
}

describe('membership auth: sealed datagrams, keys and the replay window', () => {
  const rows: Row[] = [
    { name: 'a datagram sealed with the shared key is taken', datagrams: () => [sender().seal(payload(), 'n2', T0)], expect: ['ok'] },
    { name: 'a datagram sealed with a key the receiver does not have is refused as unknownKey', datagrams: () => [sender(1, RING_B).seal(payload(), 'n2', T0)], expect: ['unknownKey'] },
    { name: 'a forged tag under the right key id is refused as badTag', datagrams: () => { const d = sender().seal(payload(), 'n2', T0); return [flip(d, d.length - 1)]; }, expect: ['badTag'] },
    { name: 'a payload byte changed after sealing ("dead" made of "alive") is refused as badTag', datagrams: () => [flip(sender().seal(payload(), 'n2', T0), 40)], expect: ['badTag'] },
    { name: 'a header byte changed (the counter) is refused as badTag', datagrams: () => [flip(sender().seal(payload(), 'n2', T0), 18)], expect: ['badTag'] },
    { name: 'a datagram cut short by one byte is refused as badTag', datagrams: () => [sender().seal(payload(), 'n2', T0).subarray(0, -1)], expect: ['badTag'] },
    { name: 'a datagram shorter than the header and tag is refused as tooShort', datagrams: () => [sender().seal(payload(), 'n2', T0).subarray(0, 20)], expect: ['tooShort'] },
    { name: 'a datagram sealed for another node (captured and redirected) is refused as badTag', datagrams: () => [sender().seal(payload(), 'n3', T0)], expect: ['badTag'] },
    { name: 'a datagram sent back to its own sender (reflected) is refused as badTag', datagrams: () => [new MembershipAuth(RING_A, 'n2', EPOCH_1).seal(payload(), 'n1', T0)], expect: ['badTag'] },
    { name: 'a bare version-1 packet (no seal) is refused as unauthenticated', datagrams: () => [payload()], expect: ['unauthenticated'] },
    { name: 'an unknown version is refused as badVersion', datagrams: () => [Buffer.from([0x46, 0x4d, 9, 0, 0, 0])], expect: ['badVersion'] },
    { name: 'something else on the port is refused as badMagic', datagrams: () => [Buffer.from('GET / HTTP/1.1\r\n')], expect: ['badMagic'] },
    {
      name: 'the same datagram twice: the second is replayed',
      datagrams: () => {
        const d = sender().seal(payload(), 'n2', T0);
        return [d, d];
      },
      expect: ['ok', 'replayed'],
    },
    {
      name: 'datagrams reordered within the window are all taken, once each',
      datagrams: () => {
        const s = sender();
        const d = [0, 1, 2, 3, 4].map(() => s.seal(payload(), 'n2', T0));
        return [d[4]!, d[1]!, d[0]!, d[3]!, d[2]!, d[1]!];
      },
      expect: ['ok', 'ok', 'ok', 'ok', 'ok', 'replayed'],
    },
    {
      name: `a datagram more than ${REPLAY_WINDOW} counters below the highest seen is refused as tooOld`,
      datagrams: () => {
        const s = sender();
        const first = s.seal(payload(), 'n2', T0);
        for (let i = 0; i < REPLAY_WINDOW; i++) s.seal(payload(), 'n2', T0);
        return [s.seal(payload(), 'n2', T0), first];
      },
      expect: ['ok', 'tooOld'],
    },
    {
      name: `a datagram ${REPLAY_WINDOW} counters below the highest is still within the window`,
      datagrams: () => {
        const s = sender();
        s.seal(payload(), 'n2', T0);
        const second = s.seal(payload(), 'n2', T0);
        for (let i = 0; i < REPLAY_WINDOW - 2; i++) s.seal(payload(), 'n2', T0);
        return [s.seal(payload(), 'n2', T0), second];
      },
      expect: ['ok', 'ok'],
    },
    { name: 'a datagram sent more than FRESHNESS_MS ago (a recording) is refused as stale', atMs: T0 + FRESHNESS_MS + 1, datagrams: () => [sender().seal(payload(), 'n2', T0)], expect: ['stale'] },
    { name: 'a datagram FRESHNESS_MS old is taken', atMs: T0 + FRESHNESS_MS, datagrams: () => [sender().seal(payload(), 'n2', T0)], expect: ['ok'] },
    { name: 'a sender whose clock is ahead by more than FRESHNESS_MS is refused as future', atMs: T0 - FRESHNESS_MS - 1, datagrams: () => [sender().seal(payload(), 'n2', T0)], expect: ['future'] },
    {
      name: 'during a rotation the receiver takes both the new key and the previous one',
      ring: RING_B_AFTER_A,
      datagrams: () => [sender(1, RING_A).seal(payload(), 'n2', T0), sender(2, RING_B).seal(payload(), 'n2', T0)],
      expect: ['ok', 'ok'],
    },
    { name: 'after the rotation (previous key removed) the old key is refused as unknownKey', ring: RING_B, datagrams: () => [sender(1, RING_A).seal(payload(), 'n2', T0)], expect: ['unknownKey'] },
    {
      name: 'a restarted sender (new epoch, its counter from 0 again) is taken after its previous life',
      datagrams: () => {
        const before = sender(1);
        const d = [before.seal(payload(), 'n2', T0), before.seal(payload(), 'n2', T0), before.seal(payload(), 'n2', T0)];
        return [...d, sender(2).seal(payload(), 'n2', T0 + 1)];
      },
      expect: ['ok', 'ok', 'ok', 'ok'],
    },
    {
      name: "the previous life's datagrams played again after the restart are still refused as replayed",
      datagrams: () => {
        const old = sender(1).seal(payload(), 'n2', T0);
        return [old, sender(2).seal(payload(), 'n2', T0 + 1), old];
      },
      expect: ['ok', 'ok', 'replayed'],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const r = new MembershipAuth(row.ring ?? RING_A, 'n2', Buffer.alloc(8));
      const got = row.datagrams().map((d) => receive(r, d, row.atMs ?? T0));
      assert.deepEqual(got, row.expect, `receive(…) at ${row.atMs ?? T0} with ${(row.ring ?? RING_A).accept.map((k) => k.slot).join('+')}`);
    });
  }

  it('the layout: magic, version 2, key id, epoch, counter, time, the version-1 packet, a 16-byte tag; at most MAX_PACKET_BYTES', () => {
    const p = payload();
    const d = sealDatagram(p, KEY_A, 'n2', EPOCH_1, 7, T0);
    assert.equal(d.toString('latin1', 0, 2), 'FM');
    assert.equal(d[2], SEALED_VERSION);
    assert.equal(d.readUInt32BE(3), KEY_A.id);
    assert.deepEqual(d.subarray(7, 15), EPOCH_1);
    assert.equal(d.readUInt32BE(15), 7);
    assert.equal(d.readUInt32BE(19) * 2 ** 32 + d.readUInt32BE(23), T0);
    assert.deepEqual(d.subarray(27, d.length - TAG_BYTES), p);
    assert.equal(d.length, 27 + p.length + TAG_BYTES);
    const big: Packet = { ...DEAD_N2, updates: Array.from({ length: 64 }, (_, i) => ({ name: `node-${i}.rack-${i}.example.org`, state: 'alive' as const, incarnation: i, by: '' })) };
    const full = encodePacket(big, MAX_PAYLOAD_BYTES);
    assert.ok(full.updatesLeftOut > 0, 'the updates did not all fit');
    assert.ok(sealDatagram(full.bytes, KEY_A, 'n2', EPOCH_1, 0, T0).length <= MAX_PACKET_BYTES);
    const opened = openDatagram(d, RING_A, 'n2', T0);
    assert.ok(opened.ok && opened.nonce.counter === 7 && opened.slot === 'secretkey');
  });

  it('a rotation: the new key is accepted at once and signs only after ROTATION_GRACE_MS; a removed key is replaced at once', () => {
    const s = new MembershipAuth(RING_A, 'n1', EPOCH_1);
    s.setKeys(RING_B_AFTER_A, T0);
    assert.equal(s.signingSlot(T0 + ROTATION_GRACE_MS - 1), 'secretkey-previous', 'still signing with the old key during the grace');
    assert.equal(openDatagram(s.seal(payload(), 'n2', T0 + 1), RING_A, 'n2', T0 + 1).ok, true, 'a peer that has not seen the new key yet takes it');
    assert.equal(s.signingSlot(T0 + ROTATION_GRACE_MS), 'secretkey', 'the new key signs after the grace');
    assert.equal(openDatagram(s.seal(payload(), 'n2', T0 + ROTATION_GRACE_MS), RING_B, 'n2', T0 + ROTATION_GRACE_MS).ok, true);
    const t = new MembershipAuth(RING_A, 'n1', EPOCH_1);
    t.setKeys(RING_B, T0);
    assert.equal(openDatagram(t.seal(payload(), 'n2', T0), RING_B, 'n2', T0).ok, true, 'the old key is gone from the Secret: the new one signs at once');
  });
});

describe('keyRingFromSecret: the memberlist Secret', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const KEY = 'bXlrZXktMDEyMzQ1Njc4OWFiY2RlZg=='; // 32 ASCII bytes, as `openssl rand -base64` prints
  type Row = { name: string; data?: Record<string, string>; exists?: boolean; slots?: string[]; error?: RegExp };
  const rows: Row[] = [
    { name: 'secretkey alone: one key, signing', data: { secretkey: b64(KEY) }, slots: ['secretkey'] },
    { name: 'secretkey and secretkey-previous: both accepted, the first signs', data: { secretkey: b64(KEY), 'secretkey-previous': b64(`${KEY}-old`) }, slots: ['secretkey', 'secretkey-previous'] },
    { name: 'the same key in both fields is one key', data: { secretkey: b64(KEY), 'secretkey-previous': b64(KEY) }, slots: ['secretkey'] },
    { name: 'no Secret: an error naming it and secretkey', exists: false, error: /^membership key: Secret fulcrum-system\/memberlist data "secretkey": the Secret does not exist/ },
    { name: 'no secretkey field: an error naming the field', data: { other: b64(KEY) }, error: /data "secretkey": missing or empty/ },
    { name: 'a short key: an error with its length, never its value', data: { secretkey: b64('short') }, error: /data "secretkey": 5 bytes, at least 16/ },
    { name: 'a short previous key: an error naming that field', data: { secretkey: b64(KEY), 'secretkey-previous': b64('old') }, error: /data "secretkey-previous": 3 bytes/ },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const data = row.data && { ...row.data };
      const r = keyRingFromSecret('fulcrum-system/memberlist', data, row.exists ?? true);
      assert.deepEqual(data, row.data, 'the data was not mutated');
      if (row.error) {
        assert.ok(!r.ok, 'refused');
        assert.match(r.error.message, row.error);
        assert.equal(r.error.code, 'FUL_ERR_MEMBERSHIP_KEY');
        for (const v of Object.values(row.data ?? {})) assert.ok(!r.error.message.includes(Buffer.from(v, 'base64').toString()) && !r.error.message.includes(v), 'no key in the message');
        return;
      }
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.deepEqual(r.ring.accept.map((k) => k.slot), row.slots);
      assert.equal(r.ring.sign, r.ring.accept[0]);
    });
  }

  it('derives the same key on every node, and unrelated keys from different material', () => {
    const a = deriveKey('secretkey', Buffer.from('0123456789abcdef0123'));
    assert.deepEqual(deriveKey('secretkey', Buffer.from('0123456789abcdef0123')), a);
    const b = deriveKey('secretkey', Buffer.from('0123456789abcdef0124'));
    assert.notEqual(a.id, b.id);
    assert.notDeepEqual(a.mac, b.mac);
  });
});
