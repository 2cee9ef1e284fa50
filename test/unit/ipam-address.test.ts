import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buggyCount, formatAddress, isBuggy, parseAddress, parseRange } from '../../src/address.js';
import { UsedRuns } from '../../src/ipam/used-runs.js';

describe('address ranges', () => {
  const good: Array<{ name: string; text: string; family: string; size: bigint; network?: string }> = [
    { name: 'an IPv4 CIDR', text: '192.0.2.0/24', family: 'IPv4', size: 256n },
    { name: 'a /8 is two numbers, not 16 million', text: '10.0.0.0/8', family: 'IPv4', size: 1n << 24n },
    { name: 'an IPv4 start-end range', text: '192.0.2.10-192.0.2.20', family: 'IPv4', size: 11n },
    { name: 'a start-end range with spaces around the dash', text: '192.0.2.10 - 192.0.2.20', family: 'IPv4', size: 11n },
    { name: 'an IPv6 /64', text: '2001:db8::/64', family: 'IPv6', size: 1n << 64n },
    { name: 'the whole IPv6 documentation range', text: '2001:db8::/32', family: 'IPv6', size: 1n << 96n },
    { name: 'an IPv6 start-end range', text: '2001:db8::1-2001:db8::ff', family: 'IPv6', size: 255n },
    { name: 'a CIDR with host bits names its network', text: '192.0.2.5/24', family: 'IPv4', size: 256n, network: '192.0.2.0/24' },
  ];
  for (const row of good) {
    it(`parses ${row.name}`, () => {
      const r = parseRange(row.text);
      assert.ok(r.ok, `parseRange("${row.text}")`);
      assert.equal(r.range.family, row.family);
      assert.equal(r.range.last - r.range.first + 1n, row.size);
      assert.equal(r.network, row.network);
    });
  }
  const bad = ['192.0.2.300/32', '192.0.2.0/33', '2001:db8::/129', '192.0.2.1', '192.0.2.9-192.0.2.1', '192.0.2.1-2001:db8::1', 'fe80::1%eth0/128', '', ' 192.0.2.0/24', '192.0.2.0/24/1', '1-2-3', '010.0.0.0/8'];
  for (const text of bad) it(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseRange(text).ok, false));

  it('formats addresses canonically (RFC 5952 for IPv6)', () => {
    for (const [text, canonical] of [['192.0.2.1', '192.0.2.1'], ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'], ['2001:db8:0:1:0:0:0:0', '2001:db8:0:1::']] as const) {
      const p = parseAddress(text);
      assert.ok(p.ok);
      assert.equal(formatAddress(p.address), canonical);
    }
  });

  it('counts .0 and .255 of any range like enumeration would (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff - 2000 }), fc.integer({ min: 0, max: 2000 }), (start, length) => {
        const first = BigInt(start);
        const last = first + BigInt(length);
        let expected = 0n;
        for (let v = first; v <= last; v++) if (isBuggy({ family: 'IPv4', value: v })) expected++;
        assert.equal(buggyCount({ family: 'IPv4', first, last }), expected, `buggyCount(${first}-${last})`);
      }),
    );
  });
});

describe('UsedRuns behaves like a set of numbers (property)', () => {
  it('add, delete, has, size and lowestFree agree with a brute-force model', () => {
    const op = fc.record({ add: fc.boolean(), value: fc.integer({ min: 0, max: 40 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), (ops, a, b) => {
        const runs = new UsedRuns();
        const model = new Set<number>();
        for (const { add, value } of ops) {
          const had = model.has(value);
          if (add) {
            assert.equal(runs.add(BigInt(value)), !had);
            model.add(value);
          } else {
            assert.equal(runs.delete(BigInt(value)), had);
            model.delete(value);
          }
        }
        assert.equal(runs.size, model.size);
        for (let v = 0; v <= 40; v++) assert.equal(runs.has(BigInt(v)), model.has(v), `has(${v})`);
        const list = runs.runs();
        for (let i = 1; i < list.length; i++) assert.ok(list[i]![0] > list[i - 1]![1] + 1n, 'runs are sorted, disjoint and not adjacent');
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const skip = (v: bigint) => v % 7n === 0n; // stands in for avoid-buggy-ips
        let expected: bigint | undefined;
        for (let v = lo; v <= hi; v++) {
          if (!model.has(v) && !skip(BigInt(v))) {
            expected = BigInt(v);
            break;
          }
        }
        assert.equal(runs.lowestFree(BigInt(lo), BigInt(hi), skip), expected, `lowestFree(${lo}, ${hi})`);
      }),
    );
  });
});
