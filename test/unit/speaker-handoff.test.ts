import assert from 'node:assert/strict';
import { componentLogger } from '../../src/log.js';
import { ConnectionHandoff, HANDOFF_TABLE, handoffCommands, handoffKeys, handoffRuleset } from '../../speaker/vip/handoff.js';

describe('connection handoff: the nft commands (pure)', () => {
  it('two tables (dup has no inet form): unknown connections of a mapped address go to its previous owner; SYNs stay', () => {
    const r = handoffRuleset();
    for (const f of ['ip', 'ip6']) {
      assert.ok(r.includes(`add map ${f} ${HANDOFF_TABLE} previous { type ${f === 'ip' ? 'ipv4_addr : ipv4_addr' : 'ipv6_addr : ipv6_addr'}; flags timeout; }`), r);
      assert.ok(r.includes(`add map ${f} ${HANDOFF_TABLE} previous_port { type ${f === 'ip' ? 'ipv4_addr . inet_service : ipv4_addr' : 'ipv6_addr . inet_service : ipv6_addr'}; flags timeout; }`), r);
      const rules = r.split('\n').filter((l) => l.startsWith(`add rule ${f} `));
      assert.deepEqual(rules, [
        `add rule ${f} ${HANDOFF_TABLE} prerouting tcp flags & syn == 0 ct state new goto unknown`,
        `add rule ${f} ${HANDOFF_TABLE} prerouting tcp flags & (fin | rst) != 0 ct state invalid goto unknown`,
        `add rule ${f} ${HANDOFF_TABLE} unknown dup to ${f} daddr map @previous drop`,
        `add rule ${f} ${HANDOFF_TABLE} unknown dup to ${f} daddr . tcp dport map @previous_port drop`,
      ], 'two rules on every packet; the address, then the address and port, only for a connection this node does not know');
    }
    assert.match(r, /hook prerouting priority -90;/, 'after conntrack (-200) and after dstnat (-100): a kernel-mode flow, DNATed, is kept here');
  });

  it('one transaction for every address, each family in its table, timeouts in whole seconds, present ones deleted first', () => {
    const cmds = handoffCommands([{ address: '192.0.2.64', to: '192.0.2.13' }, { address: '2001:db8::100', to: '2001:db8::13' }], 12_500, new Set(['2001:db8::100']));
    assert.deepEqual(cmds.split('\n'), [
      `add element ip ${HANDOFF_TABLE} previous { 192.0.2.64 timeout 13s : 192.0.2.13 }`,
      `delete element ip6 ${HANDOFF_TABLE} previous { 2001:db8::100 }`,
      `add element ip6 ${HANDOFF_TABLE} previous { 2001:db8::100 timeout 13s : 2001:db8::13 }`,
    ]);
  });

  it('an entry with ports (a crashed owner\'s Local kernel-mode ports) sets address . port elements, and only those', () => {
    const e = { address: '2001:db8::100', to: '2001:db8::13', ports: [80, 443] };
    assert.deepEqual(handoffKeys(e), ['2001:db8::100 . 80', '2001:db8::100 . 443']);
    assert.deepEqual(handoffCommands([e], 2_000, new Set(['2001:db8::100 . 443', '2001:db8::100'])).split('\n'), [
      `add element ip6 ${HANDOFF_TABLE} previous_port { 2001:db8::100 . 80 timeout 2s : 2001:db8::13 }`,
      `delete element ip6 ${HANDOFF_TABLE} previous_port { 2001:db8::100 . 443 }`,
      `add element ip6 ${HANDOFF_TABLE} previous_port { 2001:db8::100 . 443 timeout 2s : 2001:db8::13 }`,
    ]);
  });
});

describe('connection handoff: the adapter, with a recording command runner', () => {
  const logger = componentLogger('handoff-test');

  it('start replaces leftovers with empty tables; forward sets every address in one nft run', async () => {
    const calls: string[] = [];
    const h = new ConnectionHandoff({ logger, run: async (argv) => (calls.push(argv.join(' ')), '') });
    assert.equal(await h.start(), true);
    assert.deepEqual(calls.slice(0, 2), [`nft delete table ip ${HANDOFF_TABLE}`, `nft delete table ip6 ${HANDOFF_TABLE}`]);
    assert.equal(calls[2], `nft ${handoffRuleset()}`);
    calls.length = 0;
    await h.forward([{ address: '192.0.2.64', to: '192.0.2.13' }, { address: '192.0.2.65', to: '192.0.2.12' }], 2_000);
    assert.equal(calls.length, 1);
    await h.forward([{ address: '192.0.2.64', to: '192.0.2.11' }], 2_000);
    assert.match(calls[1]!, /^nft delete element ip \S+ previous \{ 192\.0\.2\.64 \}\nadd element ip \S+ previous \{ 192\.0\.2\.64 timeout 2s : 192\.0\.2\.11 \}$/, 'set again: the old element goes first');
    await h.close();
    assert.deepEqual(calls.slice(-2), [`nft delete table ip ${HANDOFF_TABLE}`, `nft delete table ip6 ${HANDOFF_TABLE}`]);
  });

  it('without nft it is off: start says false, forward runs nothing', async () => {
    const calls: string[] = [];
    const h = new ConnectionHandoff({
      logger,
      run: async (argv) => {
        calls.push(argv.join(' '));
        throw new Error('spawn nft ENOENT');
      },
    });
    assert.equal(await h.start(), false);
    const before = calls.length;
    await h.forward([{ address: '192.0.2.64', to: '192.0.2.13' }], 2_000);
    assert.equal(calls.length, before);
    assert.equal(h.enabled, false);
  });
});
