import assert from 'node:assert/strict';
import { DEFAULT_AFFINITY, DEFAULT_PASSIVE_EJECTION, DEFAULT_TIMEOUTS, type Backend, type Frontend, type ProxyModel } from '../../speaker/proxy/model.js';
import { planProxy, stableJson } from '../../speaker/proxy/plan.js';

function fe(name: string, over: Partial<Frontend> = {}): Frontend {
  return { name, listen: { address: '127.0.0.1', port: 8080 }, protocol: 'tcp', routes: [{ match: { kind: 'any' }, backend: 'b' }], sourceRanges: [], acceptProxyProtocolFrom: [], timeouts: DEFAULT_TIMEOUTS, ...over };
}
function be(name: string, over: Partial<Backend> = {}): Backend {
  return { name, balance: 'roundrobin', proxyProtocol: 'none', affinity: DEFAULT_AFFINITY, passiveEjection: DEFAULT_PASSIVE_EJECTION, connectAttempts: 3, endpoints: [{ address: '127.0.0.1', port: 9000, ready: true, serving: true, terminating: false, weight: 1 }], ...over };
}
const model = (frontends: Frontend[], backends: Backend[] = [be('b')]): ProxyModel => ({ workers: 1, frontends, backends });

describe('planProxy: what applying a model does to each frontend', () => {
  type Row = { name: string; current?: ProxyModel; desired: ProxyModel; want: { keep?: string[]; add?: string[]; update?: string[]; drain?: string[] } };
  const rows: Row[] = [
    { name: 'the first model adds every frontend', desired: model([fe('a'), fe('c', { listen: { address: '127.0.0.1', port: 8081 } })]), want: { add: ['a', 'c'] } },
    { name: 'the same model again keeps everything', current: model([fe('a')]), desired: model([fe('a')]), want: { keep: ['a'] } },
    { name: 'a changed algorithm updates the frontend in place', current: model([fe('a')]), desired: model([fe('a')], [be('b', { balance: 'leastconn' })]), want: { update: ['a'] } },
    { name: 'a changed endpoint list updates in place', current: model([fe('a')]), desired: model([fe('a')], [be('b', { endpoints: [] })]), want: { update: ['a'] } },
    { name: 'a changed timeout updates in place', current: model([fe('a')]), desired: model([fe('a', { timeouts: { connectMs: 1, idleMs: 2 } })]), want: { update: ['a'] } },
    { name: 'a changed source range updates in place', current: model([fe('a')]), desired: model([fe('a', { sourceRanges: ['192.0.2.0/24'] })]), want: { update: ['a'] } },
    { name: 'a changed port drains the old listener and adds the new one', current: model([fe('a')]), desired: model([fe('a', { listen: { address: '127.0.0.1', port: 9999 } })]), want: { drain: ['a'], add: ['a'] } },
    { name: 'a changed protocol drains and adds', current: model([fe('a')]), desired: model([fe('a', { protocol: 'udp' })]), want: { drain: ['a'], add: ['a'] } },
    { name: 'a removed frontend drains', current: model([fe('a'), fe('c')]), desired: model([fe('a')]), want: { keep: ['a'], drain: ['c'] } },
    { name: 'a change in a backend no frontend uses keeps every frontend', current: model([fe('a')], [be('b'), be('x')]), desired: model([fe('a')], [be('b'), be('x', { balance: 'nq' })]), want: { keep: ['a'] } },
    { name: 'key order inside objects does not count as a change', current: model([fe('a')]), desired: JSON.parse(stableJson(model([fe('a')]))) as ProxyModel, want: { keep: ['a'] } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify([row.current, row.desired]);
      const p = planProxy(row.current, row.desired);
      const got = { keep: [...p.keep], add: p.add.map((f) => f.name), update: p.update.map((f) => f.name), drain: [...p.drain] };
      assert.deepEqual(got, { keep: [], add: [], update: [], drain: [], ...row.want }, `planProxy(${row.name})`);
      assert.equal(JSON.stringify([row.current, row.desired]), before, 'inputs were not mutated');
    });
  }
});
