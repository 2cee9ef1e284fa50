import assert from 'node:assert/strict';
import { createBalancer, type BalancedEndpoint } from '../../speaker/proxy/balancers/index.js';
import { buildMaglevTable } from '../../speaker/proxy/balancers/source.js';
import type { BalanceAlgorithm } from '../../speaker/proxy/model.js';
import { seededRandom as seeded } from '../../src/random.js';

type E = BalancedEndpoint & { key: string; weight: number; available: boolean; activeConnections: number };
const ep = (key: string, over: Partial<E> = {}): E => ({ key, weight: 1, available: true, activeConnections: 0, balanceScore: 0, ...over });


describe('balancers: which endpoint a new connection gets', () => {
  type Row = { name: string; algorithm: BalanceAlgorithm; endpoints: E[]; picks: number; client?: (i: number) => string; exclude?: string[]; want: string };
  const rows: Row[] = [
    { name: 'roundrobin with weights 5,1,1 is smooth, not bursty', algorithm: 'roundrobin', endpoints: [ep('a', { weight: 5 }), ep('b'), ep('c')], picks: 7, want: 'a a b a c a a' },
    { name: 'roundrobin with equal weights takes turns', algorithm: 'roundrobin', endpoints: [ep('a'), ep('b'), ep('c')], picks: 6, want: 'a b c a b c' },
    { name: 'roundrobin skips unavailable and zero-weight endpoints', algorithm: 'roundrobin', endpoints: [ep('a', { available: false }), ep('b'), ep('c', { weight: 0 })], picks: 3, want: 'b b b' },
    { name: 'roundrobin skips endpoints this connection already tried', algorithm: 'roundrobin', endpoints: [ep('a'), ep('b')], picks: 2, exclude: ['a'], want: 'b b' },
    { name: 'leastconn takes the endpoint with fewest connections per weight', algorithm: 'leastconn', endpoints: [ep('a', { activeConnections: 4, weight: 2 }), ep('b', { activeConnections: 3 }), ep('c', { activeConnections: 1 })], picks: 1, want: 'c' },
    { name: 'leastconn rotates among equals', algorithm: 'leastconn', endpoints: [ep('a'), ep('b'), ep('c')], picks: 3, want: 'a b c' },
    { name: 'sed prefers a heavy idle endpoint over a light idle one', algorithm: 'sed', endpoints: [ep('a', { weight: 1 }), ep('b', { weight: 3 })], picks: 2, want: 'b b' },
    { name: 'sed weighs (active+1)/weight: 2 conns on weight 3 beat 0 on weight 1', algorithm: 'sed', endpoints: [ep('a', { weight: 1 }), ep('b', { weight: 3, activeConnections: 2 })], picks: 1, want: 'a' },
    { name: 'nq sends to any idle endpoint first, whatever the weights', algorithm: 'nq', endpoints: [ep('a', { weight: 10, activeConnections: 1 }), ep('b', { weight: 1 })], picks: 1, want: 'b' },
    { name: 'nq without an idle endpoint behaves as sed', algorithm: 'nq', endpoints: [ep('a', { weight: 10, activeConnections: 5 }), ep('b', { weight: 1, activeConnections: 1 })], picks: 1, want: 'a' },
    { name: 'random of two choices takes the less loaded of the two drawn', algorithm: 'random', endpoints: [ep('a', { activeConnections: 100 }), ep('b')], picks: 4, want: 'b b b b' },
    { name: 'source sends one client to the same endpoint every time', algorithm: 'source', endpoints: [ep('a'), ep('b'), ep('c')], picks: 5, client: () => '192.0.2.9', want: 'b b b b b' },
    { name: 'source gives a retry another endpoint', algorithm: 'source', endpoints: [ep('a'), ep('b'), ep('c')], picks: 1, client: () => '192.0.2.9', exclude: ['b'], want: 'c' },
    { name: 'no usable endpoint gives none', algorithm: 'source', endpoints: [ep('a', { available: false })], picks: 1, want: '-' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify(row.endpoints.map(({ balanceScore: _s, ...e }) => e));
      const b = createBalancer(row.algorithm, seeded(7));
      const exclude = row.exclude ? row.endpoints.filter((e) => row.exclude!.includes(e.key)) : null;
      const got: string[] = [];
      for (let i = 0; i < row.picks; i++) got.push(b.pick(row.endpoints, 1, row.client?.(i) ?? `198.51.100.${i}`, exclude)?.key ?? '-');
      assert.equal(got.join(' '), row.want, `${row.algorithm}.pick × ${row.picks}`);
      assert.equal(JSON.stringify(row.endpoints.map(({ balanceScore: _s, ...e }) => e)), before, 'endpoints were not mutated (besides the roundrobin score)');
    });
  }

  it('random spreads evenly over equal idle endpoints', () => {
    const b = createBalancer('random', seeded(1));
    const eps = [ep('a'), ep('b'), ep('c'), ep('d')];
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const e = b.pick(eps, 1, 'x', null)!;
      counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
    }
    for (const [k, n] of counts) assert.ok(n > 800 && n < 1200, `${k} got ${n} of 4000`);
  });
});

describe('Maglev table (source balancing)', () => {
  const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `198.51.100.${i + 1}:8080`);
  const share = (table: Int32Array, n: number): number[] => {
    const c = new Array<number>(n).fill(0);
    for (const i of table) c[i]!++;
    return c.map((x) => x / table.length);
  };

  it('fills every slot and gives each of 5 equal endpoints about a fifth', () => {
    const t = buildMaglevTable(keys(5), [1, 1, 1, 1, 1], 65537);
    assert.ok(!t.includes(-1));
    for (const s of share(t, 5)) assert.ok(Math.abs(s - 0.2) < 0.02, `share ${s}`);
  });

  it('weights 3:1 give about three quarters to the heavy endpoint', () => {
    const s = share(buildMaglevTable(keys(2), [3, 1], 65537), 2);
    assert.ok(Math.abs(s[0]! - 0.75) < 0.03, `share ${s[0]}`);
  });

  for (const n of [4, 10]) {
    it(`removing one of ${n} endpoints moves its own clients and few others`, () => {
      const all = keys(n);
      const before = buildMaglevTable(all, all.map(() => 1), 65537);
      const kept = all.slice(1);
      const after = buildMaglevTable(kept, kept.map(() => 1), 65537);
      let moved = 0;
      let movedOthers = 0;
      for (let i = 0; i < before.length; i++) {
        const was = all[before[i]!]!;
        const now = kept[after[i]!]!;
        if (was !== now) {
          moved++;
          if (was !== all[0]) movedOthers++;
        }
      }
      const frac = moved / before.length;
      assert.ok(frac < 1 / n + 0.06, `moved ${frac.toFixed(3)} of slots, ideal ${(1 / n).toFixed(3)}`);
      assert.ok(movedOthers / before.length < 0.06, `moved ${(movedOthers / before.length).toFixed(3)} of slots that were not on the removed endpoint`);
    });
  }
});
