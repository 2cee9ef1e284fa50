import assert from 'node:assert/strict';
import { arpReplyFor, arpRequest, encodeArpFrame, gratuitousArp } from '../../speaker/announce/arp.js';
import { type NdpVerdict, type Ownership, type OwnsAddress, PACKET_OUTGOING, answerArp, answerSolicitation } from '../../speaker/announce/decide.js';
import { encodeNeighborAdvertisement, encodeNeighborSolicitation, solicitedAdvertisement, unsolicitedAdvertisement } from '../../speaker/announce/ndp.js';

const NODE = { name: 'eth0', mac: '02:00:00:00:00:11' };
const CLIENT_MAC = '02:00:00:00:00:02';
const VIP4 = '192.0.2.100';
const VIP6 = '2001:db8::100';

/** Owns VIP4 and VIP6 on eth0 only; records every question. */
function owner(): { owns: OwnsAddress; asked: Array<[string, string]> } {
  const asked: Array<[string, string]> = [];
  const owns: OwnsAddress = (ip, iface): Ownership => {
    asked.push([ip, iface]);
    if (ip !== VIP4 && ip !== VIP6) return { announce: false, reason: 'notOwner' };
    return iface === 'eth0' ? { announce: true } : { announce: false, reason: 'notThisInterface' };
  };
  return { owns, asked };
}

describe('answerArp: the responder reads, filters and replies, and never decides ownership', () => {
  const who = arpRequest('192.0.2.2', CLIENT_MAC, VIP4);
  type Row = { name: string; frame?: Buffer; pktType?: number; iface?: string; expect: ReturnType<typeof answerArp>; asks?: boolean };
  const rows: Row[] = [
    { name: 'a request for an owned address on its interface gets a reply to the asker', expect: { kind: 'reply', frame: arpReplyFor(who, NODE.mac) }, asks: true },
    {
      name: 'a request for an address we do not own is dropped as notOwner',
      frame: encodeArpFrame(arpRequest('192.0.2.2', CLIENT_MAC, '192.0.2.101')),
      expect: { kind: 'drop', reason: 'notOwner' },
      asks: true,
    },
    { name: 'a request on an interface the owner does not announce on is dropped as notThisInterface', iface: 'eth1', expect: { kind: 'drop', reason: 'notThisInterface' }, asks: true },
    { name: 'a reply nobody asked for is dropped as arpReply without asking', frame: encodeArpFrame(arpReplyFor(who, '02:00:00:00:00:99')), expect: { kind: 'drop', reason: 'arpReply' } },
    { name: "another node's gratuitous ARP for our address is not answered", frame: encodeArpFrame(gratuitousArp(VIP4, '02:00:00:00:00:12')), expect: { kind: 'drop', reason: 'gratuitous' } },
    { name: 'a frame this host sent is dropped as outgoing', pktType: PACKET_OUTGOING, expect: { kind: 'drop', reason: 'outgoing' } },
    { name: 'a truncated frame is dropped as malformed', frame: encodeArpFrame(who).subarray(0, 30), expect: { kind: 'drop', reason: 'malformed' } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const { owns, asked } = owner();
      const frame = row.frame ?? encodeArpFrame(who);
      const before = Buffer.from(frame);
      const iface = { ...NODE, name: row.iface ?? NODE.name };
      const got = answerArp(frame, row.pktType ?? 1, iface, owns);
      assert.deepEqual(got, row.expect, `answerArp(${frame.toString('hex')}, ${row.pktType ?? 1}, ${iface.name})`);
      assert.deepEqual(frame, before, 'the frame was not mutated');
      assert.equal(asked.length, row.asks ? 1 : 0, 'ownsAddress asked only when the packet is a real question');
    });
  }
});

describe('answerSolicitation: neighbour solicitations', () => {
  const ns = encodeNeighborSolicitation({ target: VIP6, sourceLinkAddr: CLIENT_MAC });
  type Row = { name: string; icmp?: Buffer; source?: string; iface?: string; expect: NdpVerdict };
  const rows: Row[] = [
    {
      name: 'a solicitation for an owned address is answered to its source with S and O set',
      expect: { kind: 'reply', destination: '2001:db8::2', advertisement: solicitedAdvertisement(VIP6, NODE.mac) },
    },
    {
      name: 'a target spelled differently is still matched in canonical form',
      icmp: encodeNeighborSolicitation({ target: '2001:0db8:0:0::0100', sourceLinkAddr: CLIENT_MAC }),
      expect: { kind: 'reply', destination: '2001:db8::2', advertisement: solicitedAdvertisement(VIP6, NODE.mac) },
    },
    {
      name: 'a DAD probe for an owned address is answered to all-nodes with S clear',
      icmp: encodeNeighborSolicitation({ target: VIP6, sourceLinkAddr: undefined }),
      source: '::',
      expect: { kind: 'reply', destination: 'ff02::1', advertisement: unsolicitedAdvertisement(VIP6, NODE.mac) },
    },
    { name: 'a DAD probe carrying a source MAC is malformed (RFC 4861 §7.1.1)', source: '::', expect: { kind: 'drop', reason: 'malformed' } },
    { name: 'a solicitation for an address we do not own is dropped as notOwner', icmp: encodeNeighborSolicitation({ target: '2001:db8::101', sourceLinkAddr: CLIENT_MAC }), expect: { kind: 'drop', reason: 'notOwner' } },
    { name: 'a solicitation on another interface is dropped as notThisInterface', iface: 'eth1', expect: { kind: 'drop', reason: 'notThisInterface' } },
    { name: 'an advertisement nobody asked for is dropped as advertisement', icmp: encodeNeighborAdvertisement(unsolicitedAdvertisement(VIP6, '02:00:00:00:00:12')), expect: { kind: 'drop', reason: 'advertisement' } },
    { name: 'a truncated solicitation is dropped as malformed', icmp: ns.subarray(0, 12), expect: { kind: 'drop', reason: 'malformed' } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const icmp = row.icmp ?? ns;
      const before = Buffer.from(icmp);
      const got = answerSolicitation(icmp, row.source ?? '2001:db8::2', { ...NODE, name: row.iface ?? NODE.name }, owner().owns);
      assert.deepEqual(got, row.expect, `answerSolicitation(${icmp.toString('hex')}, ${row.source ?? '2001:db8::2'})`);
      assert.deepEqual(icmp, before, 'the message was not mutated');
    });
  }
});
