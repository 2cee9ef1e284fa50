import assert from 'node:assert/strict';
import { diffSlots, kernelSlots, seedOf, tableSizeFor, type SlotEndpoint } from '../../speaker/kernel/slots.js';
import { kernelTableOf } from '../../speaker/kernel/table.js';
import { buildMaglevTable } from '../../src/maglev.js';
import { buildMaglevTable as fromProxy } from '../../speaker/proxy/balancers/source.js';

const ep = (key: string, over: Partial<SlotEndpoint> = {}): SlotEndpoint => ({ key, weight: 1, healthy: true, ...over });
const keys = (n: number): SlotEndpoint[] => Array.from({ length: n }, (_, i) => ep(`203.0.113.${i + 1}:8080`));

describe('kernel mode: table size', () => {
  const rows: { name: string; endpoints: number; want: number | 'tooMany' }[] = [
    { name: 'no endpoint still gets the smallest table, 1021', endpoints: 0, want: 1021 },
    { name: 'two endpoints get 1021, not 251: the size does not change from 2 to 3 pods', endpoints: 2, want: 1021 },
    { name: 'three endpoints: 1021', endpoints: 3, want: 1021 },
    { name: 'ten endpoints still fit 1021', endpoints: 10, want: 1021 },
    { name: 'eleven endpoints need 1100 slots: 2039', endpoints: 11, want: 2039 },
    { name: '655 endpoints take 65521', endpoints: 655, want: 65521 },
    { name: '1310 endpoints take the largest, 131071', endpoints: 1310, want: 131071 },
    { name: '1311 endpoints are too many', endpoints: 1311, want: 'tooMany' },
  ];
  for (const row of rows)
    it(row.name, () => {
      const got = tableSizeFor(row.endpoints);
      assert.deepEqual(got, row.want === 'tooMany' ? { kind: 'tooManyEndpoints', endpoints: row.endpoints, max: 1310 } : { kind: 'ok', size: row.want }, `tableSizeFor(${row.endpoints})`);
    });
});

describe('kernel mode: seed', () => {
  it('is the same for the same Service port, whoever computes it, and never 0', () => {
    assert.equal(seedOf('shop/web', 80, 'tcp'), seedOf('shop/web', 80, 'tcp'));
    assert.notEqual(seedOf('shop/web', 80, 'tcp'), seedOf('shop/web', 80, 'udp'));
    assert.notEqual(seedOf('shop/web', 80, 'tcp'), seedOf('shop/api', 80, 'tcp'));
    for (let p = 1; p < 2000; p++) assert.notEqual(seedOf('a/b', p, 'tcp'), 0);
  });
});

describe('kernel mode: slots', () => {
  it('the Maglev builder is one module: the proxy re-exports the shared one', () => {
    assert.equal(fromProxy, buildMaglevTable);
  });

  it('all healthy: exactly the Maglev table, every endpoint near its share', () => {
    const e = keys(5);
    const t = kernelSlots(e, 509);
    assert.deepEqual([...t], [...buildMaglevTable(e.map((x) => x.key), e.map(() => 1), 509)]);
    const counts = e.map((_, i) => t.filter((s) => s === i).length);
    for (const c of counts) assert.ok(c >= 95 && c <= 110, `share ${c} of 509 for 5 endpoints`);
  });

  it('an unhealthy endpoint: only its slots move, to healthy endpoints, spread over all of them', () => {
    const e = keys(4);
    const before = kernelSlots(e, 509);
    const input = e.map((x, i) => (i === 2 ? { ...x, healthy: false } : x));
    const copy = structuredClone(input);
    const after = kernelSlots(input, 509);
    assert.deepEqual(input, copy, 'input not mutated');
    const moved = new Map<number, number>();
    for (let s = 0; s < 509; s++) {
      if (before[s] !== 2) assert.equal(after[s], before[s], `slot ${s} kept its endpoint`);
      else {
        assert.notEqual(after[s], 2, `slot ${s} left the unhealthy endpoint`);
        moved.set(after[s]!, (moved.get(after[s]!) ?? 0) + 1);
      }
    }
    assert.equal(moved.size, 3, `the moved slots went to every healthy endpoint: ${[...moved]}`);
  });

  it('no healthy endpoint: every slot empty', () => {
    assert.ok([...kernelSlots(keys(2).map((x) => ({ ...x, healthy: false })), 251)].every((s) => s === -1));
  });

  it('weights: an endpoint of weight 3 gets about three times the slots', () => {
    const t = kernelSlots([ep('a', { weight: 3 }), ep('b')], 509);
    const a = t.filter((s) => s === 0).length;
    assert.ok(a > 360 && a < 400, `weight 3 of 4 got ${a} of 509`);
  });

  it('diffSlots lists only the changed slots, and refuses tables of another size', () => {
    assert.deepEqual(diffSlots(['a', 'b', undefined, 'c'], ['a', 'x', 'y', undefined]), [{ slot: 1, value: 'x' }, { slot: 2, value: 'y' }, { slot: 3, value: undefined }]);
    assert.deepEqual(diffSlots(['a'], ['a']), []);
    assert.throws(() => diffSlots(['a'], ['a', 'b']), /applied has 1 slots and desired 2/);
  });

  it('kernelTableOf writes each slot as nft does and refuses too many endpoints', () => {
    const port = { name: 'p', address: '192.0.2.10', port: 80, protocol: 'tcp' as const, seed: 7, hashOn: 'flow' as const, snat: true, sourceRanges: [], denyAll: false };
    const endpoints = [{ key: '203.0.113.1:8080', address: '203.0.113.1', port: 8080, weight: 1 }];
    const ok = kernelTableOf({ ...port, endpoints });
    assert.ok(ok.kind === 'ok' && ok.table.slots.length === 1021 && ok.table.slots.every((v) => v === '203.0.113.1 . 8080'));
    const many = Array.from({ length: 1400 }, (_, i) => ({ key: `k${i}`, address: '203.0.113.1', port: 1000 + i, weight: 1 }));
    assert.deepEqual(kernelTableOf({ ...port, endpoints: many }), { kind: 'tooManyEndpoints', port: 'p', endpoints: 1400, max: 1310 });
  });
});
