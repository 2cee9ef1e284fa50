import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePacket, encodePacket, MAX_PACKET_BYTES, MAX_UPDATES, WIRE_VERSION, type DecodeFailure } from '../../speaker/membership/codec.js';
import type { MemberState, Packet, PacketType } from '../../speaker/membership/packet.js';

const PING: Packet = { type: 'ping', from: 'node-a', incarnation: 3, seq: 42, target: 'node-b', updates: [] };
const GOSSIP: Packet = {
  type: 'gossip',
  from: 'worker-1.example.org',
  incarnation: 0xffffffff,
  seq: 0,
  target: '',
  updates: [
    { name: 'node-b', state: 'suspect', incarnation: 7, by: 'node-a' },
    { name: 'node-c', state: 'dead', incarnation: 0, by: '' },
    { name: 'node-d', state: 'left', incarnation: 1, by: '' },
    { name: 'node-e', state: 'alive', incarnation: 2, by: '' },
  ],
};

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/);
const nodeName = fc.array(label, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('.'));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const packetArb: fc.Arbitrary<Packet> = fc.record({
  type: fc.constantFrom<PacketType>('ping', 'ack', 'pingReq', 'nack', 'gossip'),
  from: nodeName,
  incarnation: u32,
  seq: u32,
  target: fc.oneof(fc.constant(''), nodeName),
  updates: fc.array(
    fc.record({ name: nodeName, state: fc.constantFrom<MemberState>('alive', 'suspect', 'dead', 'left'), incarnation: u32, by: fc.oneof(fc.constant(''), nodeName) }).map((u) => ({ ...u })),
    { maxLength: 8 },
  ),
}).map((p) => ({ ...p }));

function decoded(bytes: Uint8Array): Packet {
  const r = decodePacket(bytes);
  if (!r.ok) assert.fail(`decodePacket: ${r.reason}`);
  return r.packet;
}

describe('membership codec: round trip', () => {
  for (const [name, p] of [['a ping with a target', PING], ['gossip with every member state, the largest incarnation, empty target and accuser', GOSSIP]] as const) {
    it(name, () => {
      const before = structuredClone(p);
      const { bytes, updatesLeftOut } = encodePacket(p);
      assert.equal(updatesLeftOut, 0);
      assert.deepEqual(decoded(bytes), p);
      assert.deepEqual(p, before, 'input not mutated');
    });
  }

  it('starts with the magic "FM" and the version byte', () => {
    const { bytes } = encodePacket(PING);
    assert.equal(bytes.subarray(0, 2).toString('latin1'), 'FM');
    assert.equal(bytes[2], WIRE_VERSION);
  });

  it('any packet of node names round-trips (property)', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const { bytes, updatesLeftOut } = encodePacket(p);
        assert.equal(updatesLeftOut, 0, 'eight short-named updates always fit');
        assert.ok(bytes.length <= MAX_PACKET_BYTES);
        assert.deepEqual(decoded(bytes), p);
      }),
      { numRuns: 300 },
    );
  });

  it('updates that do not fit in one datagram are left out and counted, the rest decodes', () => {
    const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}`; // 243 characters
    const p: Packet = { ...PING, updates: Array.from({ length: 8 }, (_, i) => ({ name: `${long}${i}`, state: 'alive' as const, incarnation: i, by: long })) };
    const { bytes, updatesLeftOut } = encodePacket(p);
    assert.ok(bytes.length <= MAX_PACKET_BYTES, `${bytes.length} bytes`);
    assert.ok(updatesLeftOut > 0);
    const back = decoded(bytes);
    assert.deepEqual(back.updates, p.updates.slice(0, p.updates.length - updatesLeftOut));
  });
});

describe('membership codec: encode refuses bad fields', () => {
  const rows: Array<{ name: string; packet: Packet; mentions: string }> = [
    { name: 'an empty sender', packet: { ...PING, from: '' }, mentions: 'from ""' },
    { name: 'an upper-case node name', packet: { ...PING, target: 'Node-B' }, mentions: 'target "Node-B"' },
    { name: 'a negative incarnation', packet: { ...PING, incarnation: -1 }, mentions: 'incarnation -1' },
    { name: 'a sequence beyond 32 bits', packet: { ...PING, seq: 2 ** 32 }, mentions: 'seq 4294967296' },
    { name: 'an update about nobody', packet: { ...PING, updates: [{ name: '', state: 'alive', incarnation: 0, by: '' }] }, mentions: 'update name ""' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.throws(() => encodePacket(row.packet), (err: Error & { code?: string }) => err.code === 'FUL_ERR_MEMBERSHIP_ENCODE' && err.message.includes(row.mentions));
    });
  }
});

describe('membership codec: decode rejects garbage with a reason, never throws', () => {
  const good = encodePacket(GOSSIP).bytes;
  const patched = (at: number, value: number): Buffer => {
    const b = Buffer.from(good);
    b[at] = value;
    return b;
  };
  const fromAt = 4; // length byte of `from`
  const firstUpdate = 4 + 1 + GOSSIP.from.length + 4 + 4 + 1 + 0 + 1; // after the update count
  const rows: Array<{ name: string; bytes: Uint8Array; reason: DecodeFailure }> = [
    { name: 'an empty datagram', bytes: new Uint8Array(0), reason: 'tooShort' },
    { name: 'an old heartbeat ("FUL1 alive n1")', bytes: Buffer.from('FUL1 alive n1'), reason: 'badMagic' },
    { name: 'another version', bytes: patched(2, WIRE_VERSION + 1), reason: 'badVersion' },
    { name: 'an unknown type', bytes: patched(3, 9), reason: 'badType' },
    { name: 'a name longer than the datagram', bytes: patched(fromAt, 250), reason: 'truncated' },
    { name: 'a cut-off datagram', bytes: good.subarray(0, good.length - 3), reason: 'truncated' },
    { name: 'a name with a byte no node name has', bytes: patched(fromAt + 1, 0x41), reason: 'badName' },
    { name: 'an unknown member state', bytes: patched(firstUpdate + 1 + 'node-b'.length, 7), reason: 'badState' },
    { name: 'bytes after the last update', bytes: Buffer.concat([good, Buffer.from([0])]), reason: 'trailingBytes' },
    { name: 'more updates than any sender writes', bytes: patched(firstUpdate - 1, MAX_UPDATES + 1), reason: 'tooManyUpdates' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.deepEqual(decodePacket(row.bytes), { ok: false, reason: row.reason });
    });
  }

  it('random bytes never throw and never decode to a packet with a bad name (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = decodePacket(bytes);
        if (r.ok) assert.ok(/^[a-z0-9.-]+$/.test(r.packet.from));
      }),
      { numRuns: 500 },
    );
  });

  it('every prefix and every single-byte change of a valid packet is handled without throwing (property)', () => {
    fc.assert(
      fc.property(packetArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (p, at, value) => {
        const bytes = encodePacket(p).bytes;
        const cut = bytes.subarray(0, at % bytes.length);
        assert.equal(decodePacket(cut).ok, false, 'a strict prefix is never a packet');
        const changed = Buffer.from(bytes);
        changed[at % bytes.length] = value;
        decodePacket(changed);
      }),
      { numRuns: 300 },
    );
  });
});
