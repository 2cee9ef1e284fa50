import assert from 'node:assert/strict';
import { canonicalIp, formatIpv6, ipv6ToBytes } from '../../speaker/announce/addr.js';
import { type ArpFrame, arpReplyFor, arpRequest, decodeArpFrame, encodeArpFrame, gratuitousArp } from '../../speaker/announce/arp.js';
import {
  decodeNeighborAdvertisement,
  decodeNeighborSolicitation,
  encodeNeighborAdvertisement,
  encodeNeighborSolicitation,
  icmpv6Checksum,
  solicitedAdvertisement,
  solicitedNodeMulticast,
  unsolicitedAdvertisement,
} from '../../speaker/announce/ndp.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const NODE_MAC = '02:00:00:00:00:11';
const CLIENT_MAC = '02:00:00:00:00:02';
const PAD = '00'.repeat(18); // 42-byte ARP frame padded to the 60-byte Ethernet minimum

describe('ARP frames (Ethernet + ARP, byte-exact)', () => {
  const rows: Array<{ name: string; frame: ArpFrame; bytes: string }> = [
    {
      name: 'a gratuitous ARP is a broadcast request with sender = target = the VIP and a zero target MAC',
      frame: gratuitousArp('192.0.2.100', NODE_MAC),
      bytes: `ffffffffffff 020000000011 0806 0001 0800 06 04 0001 020000000011 c0000264 000000000000 c0000264 ${PAD}`,
    },
    {
      name: 'a reply goes back to the asker and says the VIP is at our MAC',
      frame: arpReplyFor(arpRequest('192.0.2.2', CLIENT_MAC, '192.0.2.100'), NODE_MAC),
      bytes: `020000000002 020000000011 0806 0001 0800 06 04 0002 020000000011 c0000264 020000000002 c0000202 ${PAD}`,
    },
    {
      name: "a who-has request looks like the kernel's: broadcast, zero target MAC",
      frame: arpRequest('192.0.2.2', CLIENT_MAC, '192.0.2.100'),
      bytes: `ffffffffffff 020000000002 0806 0001 0800 06 04 0001 020000000002 c0000202 000000000000 c0000264 ${PAD}`,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const input = structuredClone(row.frame);
      assert.deepEqual(encodeArpFrame(row.frame), hex(row.bytes), `encodeArpFrame(${JSON.stringify(row.frame)})`);
      assert.deepEqual(row.frame, input, 'the frame was not mutated');
      const decoded = decodeArpFrame(hex(row.bytes));
      assert.deepEqual(decoded, { ok: true, frame: row.frame }, `decodeArpFrame(${row.bytes})`);
    });
  }

  const bad: Array<{ name: string; bytes: string; reason: string }> = [
    { name: 'a frame shorter than 42 bytes is tooShort', bytes: 'ffffffffffff0200000000020806', reason: 'tooShort' },
    { name: 'an IPv4 frame is notArp', bytes: `ffffffffffff 020000000002 0800 ${'00'.repeat(46)}`, reason: 'notArp' },
    { name: 'ARP for another protocol than IPv4 is notEthernetIpv4', bytes: `ffffffffffff 020000000002 0806 0001 86dd 06 10 0001 ${'00'.repeat(22)}`, reason: 'notEthernetIpv4' },
    { name: 'RARP-style operation 3 is unknownOperation', bytes: `ffffffffffff 020000000002 0806 0001 0800 06 04 0003 ${'00'.repeat(20)}`, reason: 'unknownOperation' },
  ];
  for (const row of bad) {
    it(row.name, () => assert.deepEqual(decodeArpFrame(hex(row.bytes)), { ok: false, reason: row.reason }));
  }
});

// Captured with tcpdump from Linux 6.18 kernels in two namespaces (ping -6 2001:db8::100).
const KERNEL_NS = '8700 1a29 00000000 20010db8000000000000000000000100 0101 020000000002';
const KERNEL_NA = '8800 8865 60000000 20010db8000000000000000000000100 0201 020000000011';
const KERNEL_DAD_NS = '8700 6c56 00000000 fe80000000000000000000fffe000011 0e01 6f9ba530edd9';

describe('NDP messages (ICMPv6, byte-exact)', () => {
  it("a solicited advertisement is the kernel's own answer with the checksum left to the kernel", () => {
    const expected = hex(KERNEL_NA);
    expected.writeUInt16BE(0, 2);
    assert.deepEqual(encodeNeighborAdvertisement(solicitedAdvertisement('2001:db8::100', NODE_MAC)), expected);
  });

  it('an unsolicited advertisement sets only the override flag', () => {
    const bytes = encodeNeighborAdvertisement(unsolicitedAdvertisement('2001:db8::100', NODE_MAC));
    assert.deepEqual(bytes, hex('8800 0000 20000000 20010db8000000000000000000000100 0201 020000000011'));
    assert.deepEqual(decodeNeighborAdvertisement(bytes), {
      ok: true,
      message: { target: '2001:db8::100', router: false, solicited: false, override: true, targetLinkAddr: NODE_MAC },
    });
  });

  it("a solicitation encodes as the kernel's, and the kernel's decodes to target and source MAC", () => {
    const expected = hex(KERNEL_NS);
    expected.writeUInt16BE(0, 2);
    assert.deepEqual(encodeNeighborSolicitation({ target: '2001:db8::100', sourceLinkAddr: CLIENT_MAC }), expected);
    assert.deepEqual(decodeNeighborSolicitation(hex(KERNEL_NS)), { ok: true, message: { target: '2001:db8::100', sourceLinkAddr: CLIENT_MAC } });
  });

  it('a DAD solicitation with only a nonce option decodes with no source MAC', () => {
    assert.deepEqual(decodeNeighborSolicitation(hex(KERNEL_DAD_NS)), { ok: true, message: { target: 'fe80::ff:fe00:11', sourceLinkAddr: undefined } });
  });

  const checksums: Array<{ name: string; source: string; destination: string; icmp: string }> = [
    { name: "the kernel's solicitation to the solicited-node group", source: '2001:db8::2', destination: 'ff02::1:ff00:100', icmp: KERNEL_NS },
    { name: "the kernel's advertisement back to the asker", source: '2001:db8::100', destination: '2001:db8::2', icmp: KERNEL_NA },
    { name: "the kernel's DAD probe from the unspecified address", source: '::', destination: 'ff02::1:ff00:11', icmp: KERNEL_DAD_NS },
  ];
  for (const row of checksums) {
    it(`icmpv6Checksum reproduces the checksum of ${row.name}`, () => {
      const bytes = hex(row.icmp);
      assert.equal(icmpv6Checksum(row.source, row.destination, bytes), bytes.readUInt16BE(2));
    });
  }

  const bad: Array<{ name: string; icmp: string; reason: string }> = [
    { name: 'an echo request is notSolicitation', icmp: '8000 0000 00000000 '.padEnd(60, '0'), reason: 'notSolicitation' },
    { name: 'a solicitation cut before the target is tooShort', icmp: '8700 0000 00000000 20010db8', reason: 'tooShort' },
    { name: 'a solicitation with code 1 is badCode', icmp: '8701 0000 00000000 20010db8000000000000000000000100', reason: 'badCode' },
    { name: 'a solicitation for a multicast target is multicastTarget', icmp: '8700 0000 00000000 ff020000000000000000000000000001', reason: 'multicastTarget' },
    { name: 'an option of length 0 is badOption', icmp: '8700 0000 00000000 20010db8000000000000000000000100 0100 020000000002', reason: 'badOption' },
    { name: 'an option running past the end is badOption', icmp: '8700 0000 00000000 20010db8000000000000000000000100 0102 020000000002', reason: 'badOption' },
  ];
  for (const row of bad) {
    it(row.name, () => assert.deepEqual(decodeNeighborSolicitation(hex(row.icmp)), { ok: false, reason: row.reason }));
  }

  const groups: Array<[string, string]> = [
    ['2001:db8::100', 'ff02::1:ff00:100'],
    ['2001:db8::abcd:1234', 'ff02::1:ffcd:1234'],
    ['fe80::ff:fe00:11', 'ff02::1:ff00:11'],
  ];
  for (const [ip, group] of groups) {
    it(`the solicited-node group of ${ip} is ${group}`, () => assert.equal(solicitedNodeMulticast(ip), group));
  }
});

describe('address forms', () => {
  const rows: Array<[string, string]> = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0100', '2001:db8::100'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8::', '2001:db8::'],
    ['::', '::'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:db8::100%eth0', '2001:db8::100'],
    ['192.0.2.100', '192.0.2.100'],
  ];
  for (const [input, canonical] of rows) {
    it(`${input} is spelled ${canonical} (RFC 5952)`, () => {
      assert.equal(canonicalIp(input), canonical);
      if (canonical.includes(':')) assert.equal(formatIpv6(ipv6ToBytes(input)), canonical, `formatIpv6(ipv6ToBytes(${input}))`);
    });
  }
  it('a bad address is a FulcrumError naming it', () => {
    assert.throws(() => canonicalIp('2001:db8::g'), { code: 'FUL_ERR_ANNOUNCE_ADDRESS', message: /"2001:db8::g"/ });
  });
});
