import assert from 'node:assert/strict';
import { VIP_MARK_METRIC, addVipArgs, announcingSysctls, markedVips, planVips, removeVipArgs } from '../../speaker/vip/plan.js';

describe('planVips: which service addresses go on lo and which come off', () => {
  type Row = { name: string; present?: string[]; desired?: string[]; expect: { add?: string[]; remove?: string[]; keep?: string[] } };
  const rows: Row[] = [
    { name: 'a first owned address is added', desired: ['192.0.2.100'], expect: { add: ['192.0.2.100'] } },
    { name: 'applying the same set twice changes nothing', present: ['192.0.2.100', '2001:db8::100'], desired: ['2001:db8::100', '192.0.2.100'], expect: { keep: ['192.0.2.100', '2001:db8::100'] } },
    { name: 'an address no longer owned is removed and the others kept', present: ['192.0.2.100', '192.0.2.101'], desired: ['192.0.2.101'], expect: { remove: ['192.0.2.100'], keep: ['192.0.2.101'] } },
    { name: 'owning nothing removes every leftover (startup cleanup)', present: ['192.0.2.100', '2001:db8::100'], expect: { remove: ['192.0.2.100', '2001:db8::100'] } },
    { name: 'two spellings of one IPv6 address are one address', present: ['2001:db8::100'], desired: ['2001:0db8:0:0:0:0:0:100'], expect: { keep: ['2001:db8::100'] } },
    { name: 'a duplicate in the desired set is added once', desired: ['192.0.2.100', '192.0.2.100'], expect: { add: ['192.0.2.100'] } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const present = row.present ?? [];
      const desired = row.desired ?? [];
      const [p0, d0] = [[...present], [...desired]];
      assert.deepEqual(planVips(present, desired), { add: [], remove: [], keep: [], ...row.expect }, `planVips(${JSON.stringify(present)}, ${JSON.stringify(desired)})`);
      assert.deepEqual([present, desired], [p0, d0], 'inputs were not mutated');
    });
  }
});

describe('VIP commands and marks', () => {
  it('an IPv4 VIP is a /32 on lo with the label and the mark', () => {
    assert.deepEqual(addVipArgs('192.0.2.100'), ['addr', 'replace', '192.0.2.100/32', 'dev', 'lo', 'label', 'lo:fulcrum', 'metric', String(VIP_MARK_METRIC)]);
  });
  it('an IPv6 VIP is a /128 on lo without DAD, with the mark', () => {
    assert.deepEqual(addVipArgs('2001:0db8::0100'), ['addr', 'replace', '2001:db8::100/128', 'dev', 'lo', 'nodad', 'metric', String(VIP_MARK_METRIC)]);
  });
  it('removal names the same prefix length', () => {
    assert.deepEqual(removeVipArgs('2001:db8::100'), ['addr', 'del', '2001:db8::100/128', 'dev', 'lo']);
    assert.deepEqual(removeVipArgs('192.0.2.100'), ['addr', 'del', '192.0.2.100/32', 'dev', 'lo']);
  });
  it('only marked addresses are ours in `ip -j addr show dev lo`', () => {
    const json = [
      {
        ifname: 'lo',
        addr_info: [
          { family: 'inet', local: '127.0.0.1', prefixlen: 8 },
          { family: 'inet', local: '192.0.2.100', prefixlen: 32, metric: VIP_MARK_METRIC, label: 'lo:fulcrum' },
          { family: 'inet', local: '192.0.2.50', prefixlen: 32 },
          { family: 'inet6', local: '2001:db8::100', prefixlen: 128, metric: VIP_MARK_METRIC },
          { family: 'inet6', local: '2001:db8::50', prefixlen: 128, metric: 1024 },
        ],
      },
    ];
    assert.deepEqual(markedVips(json), ['192.0.2.100', '2001:db8::100']);
    assert.deepEqual(markedVips('garbage'), []);
  });
  it('announcing interfaces ignore ARP for addresses of other interfaces and never announce them', () => {
    assert.deepEqual(announcingSysctls('eth0.100'), [
      { key: 'net/ipv4/conf/eth0.100/arp_ignore', value: '1' },
      { key: 'net/ipv4/conf/eth0.100/arp_announce', value: '2' },
    ]);
  });
});
