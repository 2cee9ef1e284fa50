import assert from 'node:assert/strict';
import { applyJsonPatch, applyMergePatch, applyStrategicPatch } from '../../lab/apiserver/patch.js';
import { findResource } from '../../lab/apiserver/resources.js';
import { fieldsMatch, labelsMatch, parseFieldSelector, parseLabelSelector } from '../../lab/apiserver/selectors.js';
import { parseMicroTime } from '../../lab/apiserver/kinds/common.js';
import { IpRange, PortRange } from '../../lab/apiserver/kinds/service-ranges.js';
import { Store } from '../../lab/apiserver/store.js';
import { ApiStatusError } from '../../lab/apiserver/status.js';
import type { Json } from '../helpers/apiserver.js';

// The emulator's pure pieces, table-driven, without HTTP.
describe('apiserver emulator core: selectors', () => {
  const labels = { app: 'web', tier: 'front' };
  const rows: [string, string, boolean][] = [
    ['an equality matches', 'app=web', true],
    ['a double equals matches', 'app==web', true],
    ['an inequality on a present value fails', 'app!=web', false],
    ['an inequality on a missing key matches', 'zone!=a', true],
    ['in matches one of the values', 'tier in (back,front)', true],
    ['notin excludes the values', 'tier notin (front)', false],
    ['notin matches a missing key', 'zone notin (a)', true],
    ['exists matches a present key', 'app', true],
    ['not-exists fails on a present key', '!app', false],
    ['commas are AND', 'app=web,tier=back', false],
    ['an empty selector matches everything', '', true],
  ];
  for (const [name, sel, want] of rows) {
    it(`label selector: ${name} ("${sel}")`, () => assert.equal(labelsMatch(parseLabelSelector(sel), labels), want));
  }
  for (const bad of ['app in (a', 'a=b=c', '=x', 'app,', 'in (a)']) {
    it(`label selector "${bad}" is a 400`, () => {
      assert.throws(() => parseLabelSelector(bad), (e: unknown) => e instanceof ApiStatusError && e.httpCode === 400 && /^unable to parse requirement/.test(e.message));
    });
  }
  it('field selectors know the extra fields of their resource only', () => {
    const pods = findResource('v1', 'pods')!;
    const pod = { metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
    assert.equal(fieldsMatch(parseFieldSelector('spec.nodeName=n1,status.phase!=Failed', pods), pod), true);
    assert.equal(fieldsMatch(parseFieldSelector('metadata.namespace==kube-system', pods), pod), false);
    assert.throws(() => parseFieldSelector('spec.nodeName=n1', findResource('v1', 'services')!), /"spec.nodeName" is not a known field selector/);
  });
});

describe('apiserver emulator core: patches', () => {
  const svcKeys = findResource('v1', 'services')!.mergeKeys;
  const nodeKeys = findResource('v1', 'nodes')!.mergeKeys;
  const rows: { name: string; target: Json; patch: unknown; kind: 'json' | 'merge' | 'strategic'; keys?: Readonly<Record<string, string>>; want: Json }[] = [
    { name: 'JSON patch adds, replaces and removes', kind: 'json', target: { a: { b: 1 }, l: [1, 2] }, patch: [{ op: 'add', path: '/a/c', value: 2 }, { op: 'replace', path: '/a/b', value: 3 }, { op: 'remove', path: '/l/0' }, { op: 'add', path: '/l/-', value: 9 }], want: { a: { b: 3, c: 2 }, l: [2, 9] } },
    { name: 'JSON patch escapes ~1 in label keys', kind: 'json', target: { metadata: { labels: {} } }, patch: [{ op: 'add', path: '/metadata/labels/fulcrum-lb.io~1pool', value: 'a' }], want: { metadata: { labels: { 'fulcrum-lb.io/pool': 'a' } } } },
    { name: 'JSON patch moves and copies', kind: 'json', target: { a: 1 }, patch: [{ op: 'copy', from: '/a', path: '/b' }, { op: 'move', from: '/a', path: '/c' }], want: { b: 1, c: 1 } },
    { name: 'merge patch deletes with null and replaces lists', kind: 'merge', target: { a: 1, b: { c: 1, d: 2 }, l: [1, 2] }, patch: { a: null, b: { d: null, e: 3 }, l: [3] }, want: { b: { c: 1, e: 3 }, l: [3] } },
    { name: 'strategic merge merges Service ports by port', kind: 'strategic', keys: svcKeys, target: { spec: { ports: [{ port: 80, name: 'a' }, { port: 443, name: 'b' }] } }, patch: { spec: { ports: [{ port: 443, name: 'c' }, { port: 8080, name: 'd' }] } }, want: { spec: { ports: [{ port: 80, name: 'a' }, { port: 443, name: 'c' }, { port: 8080, name: 'd' }] } } },
    { name: 'strategic merge deletes a port with $patch: delete', kind: 'strategic', keys: svcKeys, target: { spec: { ports: [{ port: 80 }, { port: 443 }] } }, patch: { spec: { ports: [{ port: 80, $patch: 'delete' }] } }, want: { spec: { ports: [{ port: 443 }] } } },
    { name: 'strategic merge replaces ingress whole', kind: 'strategic', keys: svcKeys, target: { status: { loadBalancer: { ingress: [{ ip: 'a' }, { ip: 'b' }] } } }, patch: { status: { loadBalancer: { ingress: [{ ip: 'c' }] } } }, want: { status: { loadBalancer: { ingress: [{ ip: 'c' }] } } } },
    { name: 'strategic merge treats finalizers as a set', kind: 'strategic', keys: svcKeys, target: { metadata: { finalizers: ['a'] } }, patch: { metadata: { finalizers: ['a', 'b'] } }, want: { metadata: { finalizers: ['a', 'b'] } } },
    { name: 'strategic merge removes from a primitive list by directive', kind: 'strategic', keys: svcKeys, target: { metadata: { finalizers: ['a', 'b'] } }, patch: { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }, want: { metadata: { finalizers: ['b'] } } },
    { name: 'strategic merge merges node conditions by type', kind: 'strategic', keys: nodeKeys, target: { status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'DiskPressure', status: 'False' }] } }, patch: { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, want: { status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'DiskPressure', status: 'False' }] } } },
    { name: 'strategic merge ignores $setElementOrder and honours $retainKeys', kind: 'strategic', keys: svcKeys, target: { spec: { a: 1, b: 2 } }, patch: { spec: { $retainKeys: ['a', 'c'], c: 3, '$setElementOrder/ports': [] } }, want: { spec: { a: 1, c: 3 } } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify(row.target);
      const out = row.kind === 'json' ? applyJsonPatch(row.target, row.patch) : row.kind === 'merge' ? applyMergePatch(row.target, row.patch) : applyStrategicPatch(row.target, row.patch, row.keys ?? {});
      assert.deepEqual(out, row.want);
      assert.equal(JSON.stringify(row.target), before, 'the target is not mutated');
    });
  }
  it('a failed JSON patch test or a missing path is a 422', () => {
    for (const ops of [[{ op: 'test', path: '/a', value: 2 }], [{ op: 'replace', path: '/nope/x', value: 1 }], [{ op: 'remove', path: '/nope' }]]) {
      assert.throws(() => applyJsonPatch({ a: 1 }, ops), (e: unknown) => e instanceof ApiStatusError && e.httpCode === 422, JSON.stringify(ops));
    }
  });
});

describe('apiserver emulator core: MicroTime, ranges and the store', () => {
  const micro: [string, unknown, string | null | 'error'][] = [
    ['six digits in Z are kept', '2026-01-01T00:00:00.123456Z', '2026-01-01T00:00:00.123456Z'],
    ['an offset is normalised to Z', '2026-01-01T02:00:00.000001+02:00', '2026-01-01T00:00:00.000001Z'],
    ['null stays null', null, null],
    ['three digits are refused', '2026-01-01T00:00:00.123Z', 'error'],
    ['no fraction is refused', '2026-01-01T00:00:00Z', 'error'],
    ['a number is refused', 5, 'error'],
  ];
  for (const [name, v, want] of micro) {
    it(`MicroTime: ${name}`, () => {
      if (want === 'error') assert.throws(() => parseMicroTime('Lease', v), (e: unknown) => e instanceof ApiStatusError && e.httpCode === 400);
      else assert.equal(parseMicroTime('Lease', v), want);
    });
  }

  it('an IPv4 range hands out every usable address once, then reports full', () => {
    const r = new IpRange('192.0.2.0/30');
    assert.deepEqual([r.allocate(), r.allocate(), r.allocate()], ['192.0.2.1', '192.0.2.2', undefined]);
    r.release('192.0.2.1');
    assert.equal(r.allocate(), '192.0.2.1');
    assert.equal(r.take('192.0.2.3'), false, 'broadcast is not usable');
  });

  it('an IPv6 range prints addresses as Go does', () => {
    const r = new IpRange('2001:db8:ff::/112');
    assert.equal(r.allocate(), '2001:db8:ff::1');
    assert.equal(r.contains('2001:db8:ff::ffff'), false);
    assert.equal(r.take('2001:db8:ff::abcd'), true);
    assert.equal(r.isUsed('2001:db8:ff:0::abcd'), true);
  });

  it('the port range never gives a port twice', () => {
    const p = new PortRange(30000, 30002);
    const got = [p.allocate(), p.allocate(), p.allocate(), p.allocate()];
    assert.deepEqual(got, [30000, 30001, 30002, undefined]);
  });

  it('the store keeps a bounded window and reports expiry for a span that left it', () => {
    const s = new Store(3);
    for (let i = 0; i < 5; i++) s.put('configmaps', { metadata: { name: `c${i}`, namespace: 'd' } });
    assert.equal(s.resourceVersion, 5);
    assert.deepEqual(s.changesSince('configmaps', 1), { kind: 'expired', oldestRv: 3 });
    const ok = s.changesSince('configmaps', 2);
    assert.equal(ok.kind, 'ok');
    assert.deepEqual(ok.kind === 'ok' ? ok.changes.map((c) => c.rv) : [], [3, 4, 5]);
    s.compact();
    assert.equal(s.changesSince('configmaps', 4).kind, 'expired');
    assert.deepEqual(s.changesSince('configmaps', 5), { kind: 'ok', changes: [] });
  });
});
