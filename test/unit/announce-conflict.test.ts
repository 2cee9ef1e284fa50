import assert from 'node:assert/strict';
import { arpReplyFor, arpRequest, encodeArpFrame, gratuitousArp } from '../../speaker/announce/arp.js';
import {
  CONFLICT_QUIET_MS,
  CONFLICT_REANNOUNCE_MAX_MS,
  CONFLICT_REANNOUNCE_MIN_MS,
  type ArpConflict,
  type ConflictState,
  type OwnsAddress,
  PACKET_OUTGOING,
  arpConflict,
  reannounceAfterClaim,
} from '../../speaker/announce/decide.js';

const NODE = { name: 'eth0', mac: '02:00:00:00:00:11' };
const OTHER_MAC = '02:00:00:00:00:66';
const VIP4 = '192.0.2.100';
const owns: OwnsAddress = (ip, iface) => (ip === VIP4 && iface === 'eth0' ? { announce: true } : { announce: false, reason: 'notOwner' });

describe('arpConflict: another host claiming an address we answer for', () => {
  type Row = { name: string; frame: Buffer; pktType?: number; iface?: string; expect: ArpConflict };
  const rows: Row[] = [
    { name: "another host's gratuitous ARP for our address is a claim, with its MAC", frame: encodeArpFrame(gratuitousArp(VIP4, OTHER_MAC)), expect: { kind: 'conflict', ip: VIP4, claimedBy: OTHER_MAC } },
    {
      name: 'an unsolicited reply saying our address is at another MAC is a claim',
      frame: encodeArpFrame(arpReplyFor(arpRequest('192.0.2.2', '02:00:00:00:00:02', VIP4), OTHER_MAC)),
      expect: { kind: 'conflict', ip: VIP4, claimedBy: OTHER_MAC },
    },
    { name: 'our own gratuitous ARP is no claim', frame: encodeArpFrame(gratuitousArp(VIP4, NODE.mac)), expect: { kind: 'none' } },
    { name: 'a frame this host sent is no claim', frame: encodeArpFrame(gratuitousArp(VIP4, OTHER_MAC)), pktType: PACKET_OUTGOING, expect: { kind: 'none' } },
    { name: 'a gratuitous ARP for an address we do not own is no claim', frame: encodeArpFrame(gratuitousArp('192.0.2.101', OTHER_MAC)), expect: { kind: 'none' } },
    { name: 'a claim on an interface we do not announce the address on is no claim there', frame: encodeArpFrame(gratuitousArp(VIP4, OTHER_MAC)), iface: 'eth1', expect: { kind: 'none' } },
    { name: 'a client asking for our address is no claim', frame: encodeArpFrame(arpRequest('192.0.2.2', '02:00:00:00:00:02', VIP4)), expect: { kind: 'none' } },
    { name: 'an ARP probe (sender 0.0.0.0, RFC 5227) is no claim', frame: encodeArpFrame(arpRequest('0.0.0.0', OTHER_MAC, VIP4)), expect: { kind: 'none' } },
    { name: 'a truncated frame is no claim', frame: encodeArpFrame(gratuitousArp(VIP4, OTHER_MAC)).subarray(0, 30), expect: { kind: 'none' } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = Buffer.from(row.frame);
      const iface = { ...NODE, name: row.iface ?? NODE.name };
      assert.deepEqual(arpConflict(row.frame, row.pktType ?? 1, iface, owns), row.expect, `arpConflict(${row.frame.toString('hex')}, ${iface.name})`);
      assert.deepEqual(row.frame, before, 'the frame was not mutated');
    });
  }
});

describe('reannounceAfterClaim: answering claims with a doubling back-off', () => {
  const T = 1_000_000;
  type Row = { name: string; prev?: ConflictState; atMs: number; reannounce: boolean; intervalMs: number };
  const at = (lastReannounceMs: number, intervalMs: number, lastClaimMs = lastReannounceMs): ConflictState => ({ lastClaimMs, lastReannounceMs, intervalMs });
  const rows: Row[] = [
    { name: 'a first claim is answered at once', atMs: T, reannounce: true, intervalMs: CONFLICT_REANNOUNCE_MIN_MS },
    { name: 'a second claim within the interval is held', prev: at(T, 1_000), atMs: T + 999, reannounce: false, intervalMs: 1_000 },
    { name: 'a claim after the interval is answered, and the interval doubles', prev: at(T, 1_000), atMs: T + 1_000, reannounce: true, intervalMs: 2_000 },
    { name: 'the interval stops doubling at its ceiling', prev: at(T, CONFLICT_REANNOUNCE_MAX_MS), atMs: T + CONFLICT_REANNOUNCE_MAX_MS, reannounce: true, intervalMs: CONFLICT_REANNOUNCE_MAX_MS },
    { name: 'after CONFLICT_QUIET_MS without a claim the back-off starts again', prev: at(T, 32_000), atMs: T + CONFLICT_QUIET_MS, reannounce: true, intervalMs: CONFLICT_REANNOUNCE_MIN_MS },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const prev = row.prev && { ...row.prev };
      const got = reannounceAfterClaim(prev, row.atMs);
      assert.equal(got.reannounce, row.reannounce, `reannounceAfterClaim(${JSON.stringify(prev)}, ${row.atMs})`);
      assert.equal(got.next.intervalMs, row.intervalMs);
      assert.equal(got.next.lastClaimMs, row.atMs);
      assert.deepEqual(prev, row.prev, 'the state was not mutated');
    });
  }

  it('two owners answering each other for ten minutes send a handful of announcements each, not a flood', () => {
    // Each answer of ours is a claim for the other and the other way round; the worst case claims every 10 ms.
    let state: ConflictState | undefined;
    let sent = 0;
    for (let t = 0; t < 600_000; t += 10) {
      const r = reannounceAfterClaim(state, t);
      state = r.next;
      if (r.reannounce) sent++;
    }
    // At 0, 1, 3, 7, 15, 31 and 63 s, then one a minute (123 … 543 s): 7 + 8.
    assert.equal(sent, 15);
  });
});
