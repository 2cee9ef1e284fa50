import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { buildProxyModel } from '../../speaker/plan/service-proxy.js';
import { parseProxyFile } from '../../speaker/proxy/file.js';
import {
  admitFlow,
  defaultFlowsPerSource,
  defaultProcessLimits,
  evictability,
  localResourceError,
  LogThrottle,
  parseConnectionRate,
  parseOpenFilesLimit,
  SourceRateLimiter,
  type FlowActivity,
  type FlowCounts,
} from '../../speaker/proxy/limits.js';
import { FlowTable, MAX_EVICTION_SCAN, oldestEvictable, type FlowEntry } from '../../speaker/proxy/udp-flow-table.js';

describe('proxy limits: process defaults from RLIMIT_NOFILE', () => {
  const rows: { name: string; openFiles: number | undefined; want: { maxconn: number; udpFlowSockets: number } }[] = [
    // 1024: reserve 64, 960 usable, 240 UDP sockets, (960-240)/2 connections
    { name: 'a shell default of 1024 keeps 64 descriptors and splits the rest', openFiles: 1024, want: { maxconn: 360, udpFlowSockets: 240 } },
    // 20000: reserve 1250, 18750 usable, 4687 UDP, (18750-4687)/2
    { name: 'a container limit of 20000 keeps 1/16', openFiles: 20000, want: { maxconn: 7031, udpFlowSockets: 4687 } },
    // 1048576: reserve 65536, 983040 usable, UDP capped at 65536
    { name: 'a million descriptors caps UDP sockets at 65536 and gives the rest to TCP', openFiles: 1_048_576, want: { maxconn: 458_752, udpFlowSockets: 65_536 } },
    { name: 'an unreadable limit uses the 4096 fallback', openFiles: undefined, want: defaultProcessLimits(4096) },
    { name: 'more than a million is treated as a million', openFiles: 50_000_000, want: defaultProcessLimits(1_048_576) },
    { name: 'a tiny limit still allows one of each', openFiles: 10, want: { maxconn: 1, udpFlowSockets: 1 } },
  ];
  for (const r of rows) {
    it(r.name, () => assert.deepEqual(defaultProcessLimits(r.openFiles), r.want, `defaultProcessLimits(${r.openFiles})`));
  }
  it('connections at 2 descriptors each, UDP sockets and the reserve never exceed the limit', () => {
    for (const n of [64, 100, 1024, 4096, 20000, 65536, 1_048_576]) {
      const l = defaultProcessLimits(n);
      assert.ok(2 * l.maxconn + l.udpFlowSockets + Math.max(64, Math.floor(n / 16)) <= Math.max(n, 64 + 3), `defaultProcessLimits(${n}) = ${JSON.stringify(l)}`);
    }
  });
});

describe('proxy limits: parseOpenFilesLimit (/proc/self/limits)', () => {
  const head = 'Limit                     Soft Limit           Hard Limit           Units     \n';
  const rows: { name: string; text: string; want: number | undefined }[] = [
    { name: 'the soft limit is read', text: `${head}Max open files            20000                1048576              files     \n`, want: 20000 },
    { name: 'unlimited reads as a million', text: `${head}Max open files            unlimited            unlimited            files     \n`, want: 1_048_576 },
    { name: 'no such line is unknown', text: `${head}Max processes             63414                63414                processes \n`, want: undefined },
    { name: 'garbage is unknown', text: `${head}Max open files            lots                 lots                 files     \n`, want: undefined },
  ];
  for (const r of rows) it(r.name, () => assert.equal(parseOpenFilesLimit(r.text), r.want));
});

describe('proxy limits: parseConnectionRate', () => {
  const rows: { text: string; want: { count: number; perMs: number } | undefined }[] = [
    { text: '20/s', want: { count: 20, perMs: 1000 } },
    { text: ' 600 / m ', want: { count: 600, perMs: 60_000 } },
    { text: '5/10s', want: { count: 5, perMs: 10_000 } },
    { text: '1/h', want: { count: 1, perMs: 3_600_000 } },
    { text: '0/s', want: undefined },
    { text: '20', want: undefined },
    { text: '20/ms', want: undefined },
    { text: '2/2h', want: undefined },
    { text: '-1/s', want: undefined },
  ];
  for (const r of rows) it(`"${r.text}" → ${JSON.stringify(r.want)}`, () => assert.deepEqual(parseConnectionRate(r.text), r.want));
});

describe('proxy limits: SourceRateLimiter (token bucket per client address)', () => {
  it('a source gets its burst, is refused after it, and is refilled over time; other sources are apart', () => {
    const l = new SourceRateLimiter({ count: 3, perMs: 1000 });
    const got = [0, 0, 0, 0].map(() => l.allow('192.0.2.1', 0));
    assert.deepEqual(got, [true, true, true, false], 'burst of 3 at t=0');
    assert.equal(l.allow('192.0.2.2', 0), true, 'another source has its own bucket');
    assert.equal(l.allow('192.0.2.1', 250), false, '0.75 token after 250 ms');
    assert.equal(l.allow('192.0.2.1', 340), true, 'a whole token after 340 ms');
    assert.equal(l.allow('192.0.2.1', 340), false);
    assert.deepEqual([0, 0, 0, 0].map(() => l.allow('192.0.2.1', 10_000)), [true, true, true, false], 'refills to the burst, never beyond');
  });

  it('the table is bounded: full sources are pruned, and when all are limited a new source goes untracked', () => {
    const l = new SourceRateLimiter({ count: 1, perMs: 1000 }, 2);
    assert.equal(l.allow('192.0.2.1', 0), true);
    assert.equal(l.allow('192.0.2.2', 0), true);
    assert.equal(l.allow('192.0.2.3', 0), true, 'untracked: nothing to prune');
    assert.equal(l.size, 2);
    assert.equal(l.allow('192.0.2.3', 0), true, 'still untracked, still allowed');
    assert.equal(l.allow('192.0.2.1', 0), false, 'the tracked ones stay limited');
    assert.equal(l.allow('192.0.2.4', 1000), true, 'a second later the full buckets are pruned and the new source is tracked');
    assert.equal(l.size, 1);
    assert.equal(l.allow('192.0.2.4', 1000), false);
  });
});

describe('proxy limits: admitFlow (UDP)', () => {
  const base: FlowCounts = { sourceFlows: 0, maxPerSource: 16, frontendFlows: 0, maxFlows: 1024, processSockets: 0, maxProcessSockets: 4096 };
  const rows: { name: string; over: Partial<FlowCounts>; want: ReturnType<typeof admitFlow> }[] = [
    { name: 'room everywhere: admitted', over: {}, want: { kind: 'admit' } },
    { name: 'a source at its share competes with itself first', over: { sourceFlows: 16, frontendFlows: 1024, processSockets: 4096 }, want: { kind: 'full', scope: 'source' } },
    { name: 'a share as large as the table is the table', over: { sourceFlows: 4, maxPerSource: 4, frontendFlows: 4, maxFlows: 4 }, want: { kind: 'full', scope: 'frontend' } },
    { name: 'a full frontend before a full process', over: { frontendFlows: 1024, processSockets: 4096 }, want: { kind: 'full', scope: 'frontend' } },
    { name: 'the process bound across frontends', over: { frontendFlows: 10, processSockets: 4096 }, want: { kind: 'full', scope: 'process' } },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const input = { ...base, ...r.over };
      const copy = { ...input };
      assert.deepEqual(admitFlow(input), r.want, `admitFlow(${JSON.stringify(input)})`);
      assert.deepEqual(input, copy, 'input not mutated');
    });
  }
  it('the default share is 1/64 of the table, at least 16, at most the table', () => {
    assert.deepEqual([16384, 1024, 100, 4].map(defaultFlowsPerSource), [256, 16, 16, 4]);
  });
});

describe('proxy limits: evictability of a UDP flow', () => {
  const now = 100_000;
  const rows: { name: string; f: FlowActivity; want: ReturnType<typeof evictability> }[] = [
    { name: 'a flow active in the last 500 ms is never evicted (its answer may be on the way)', f: { assured: false, lastActiveMs: now - 250, lastReplyMs: 0 }, want: undefined },
    { name: 'an unanswered flow idle for 500 ms is evictable', f: { assured: false, lastActiveMs: now - 500, lastReplyMs: 0 }, want: 'unassured' },
    { name: 'a one-shot query already answered is evictable', f: { assured: false, lastActiveMs: now - 1000, lastReplyMs: now - 1000 }, want: 'unassured' },
    { name: 'an established flow (assured, answered 5 s ago) is never evicted', f: { assured: true, lastActiveMs: now - 5000, lastReplyMs: now - 5000 }, want: undefined },
    { name: 'an assured flow without a reply for 10 s is stale', f: { assured: true, lastActiveMs: now - 600, lastReplyMs: now - 10_000 }, want: 'stale' },
  ];
  for (const r of rows) it(r.name, () => assert.equal(evictability(r.f, now), r.want));
});

describe('proxy limits: FlowTable eviction order', () => {
  const flow = (clientAddress: string, clientPort: number, over: Partial<FlowActivity> = {}): FlowEntry => ({ clientAddress, clientPort, assured: false, lastActiveMs: 0, lastReplyMs: 0, ...over });
  const now = 10_000;

  it('the oldest evictable unassured flow goes first; assured flows are not in the order', () => {
    const t = new FlowTable();
    const a = flow('192.0.2.1', 1);
    const b = flow('192.0.2.2', 2);
    const c = flow('192.0.2.3', 3, { assured: true, lastReplyMs: now });
    for (const f of [a, b, c]) t.add(f);
    assert.deepEqual([...t.unassured], [a, b]);
    assert.equal(oldestEvictable(t.unassured, now), a);
    t.assured(a);
    assert.equal(oldestEvictable(t.unassured, now), b);
    t.delete(b);
    assert.equal(oldestEvictable(t.unassured, now), undefined, 'only an established flow is left');
  });

  it('flows active just now are passed over and moved back, and a search looks at most at 64', () => {
    const t = new FlowTable();
    const busy = Array.from({ length: MAX_EVICTION_SCAN }, (_, i) => flow('192.0.2.1', i, { lastActiveMs: now }));
    const idle = flow('192.0.2.2', 1);
    for (const f of [...busy, idle]) t.add(f);
    assert.equal(oldestEvictable(t.unassured, now), undefined, 'the idle one is the 65th');
    assert.equal([...t.unassured][0], idle, 'the busy ones went to the back');
    assert.equal(oldestEvictable(t.unassured, now), idle);
  });

  it('a source evicts its own oldest unassured flow, else its stale one, never another source\'s', () => {
    const t = new FlowTable();
    const other = flow('192.0.2.9', 1);
    const established = flow('192.0.2.1', 1, { assured: true, lastReplyMs: now - 100, lastActiveMs: now - 1000 });
    const stale = flow('192.0.2.1', 2, { assured: true, lastReplyMs: now - 10_000, lastActiveMs: now - 1000 });
    const unanswered = flow('192.0.2.1', 3);
    for (const f of [other, established, stale, unanswered]) t.add(f);
    assert.equal(t.sourceCount('192.0.2.1'), 3);
    assert.equal(t.evictableOf('192.0.2.1', now), unanswered);
    t.delete(unanswered);
    assert.equal(t.evictableOf('192.0.2.1', now), stale);
    t.delete(stale);
    assert.equal(t.evictableOf('192.0.2.1', now), undefined);
  });
});

describe('proxy limits: errors that are the proxy\'s own', () => {
  const rows: [string | undefined, string | undefined][] = [
    ['EMFILE', 'EMFILE'],
    ['ENFILE', 'ENFILE'],
    ['ENOBUFS', 'ENOBUFS'],
    ['ENOMEM', 'ENOMEM'],
    ['EADDRNOTAVAIL', 'EADDRNOTAVAIL'],
    ['ECONNREFUSED', undefined],
    ['ETIMEDOUT', undefined],
    [undefined, undefined],
  ];
  for (const [code, want] of rows) it(`${code} → ${want}`, () => assert.equal(localResourceError(code), want));

  it('LogThrottle: one log per interval, counting the quiet ones', () => {
    const t = new LogThrottle(10_000);
    assert.deepEqual([0, 1, 2, 9_999, 10_000, 10_001, 25_000].map((ms) => t.due(ms)), [1, 0, 0, 0, 4, 0, 2]);
  });
});

describe('proxy limits: configuration (file keys and Service annotations)', () => {
  const file = (extra: string, frontendExtra = ''): string => `${extra}
frontends:
  - name: web
    listen: 127.0.0.1:0
    backend: web${frontendExtra}
backends:
  - name: web
    endpoints: [{ address: 127.0.0.1, port: 8080 }]
`;

  it('maxconn (top level and per frontend) and maxConnectionRatePerSource are read', () => {
    const r = parseProxyFile(file('maxconn: 5000', '\n    maxconn: 100\n    maxConnectionRatePerSource: 20/s'));
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.equal(r.model.maxconn, 5000);
    assert.equal(r.model.frontends[0]!.maxconn, 100);
    assert.deepEqual(r.model.frontends[0]!.maxConnectionRatePerSource, { count: 20, perMs: 1000 });
  });

  it('absent keys leave the model without them (same hash as before the keys existed)', () => {
    const r = parseProxyFile(file(''));
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.equal('maxconn' in r.model, false);
    assert.equal('maxconn' in r.model.frontends[0]!, false);
  });

  it('bad values are reported with the field and the value, all of them', () => {
    const r = parseProxyFile(file('maxconn: 0', '\n    maxconn: lots\n    maxConnectionRatePerSource: fast'));
    assert.equal(r.kind, 'invalid');
    const problems = r.kind === 'invalid' ? r.problems.join('\n') : '';
    assert.match(problems, /^maxconn: 0 is not a whole number/m);
    assert.match(problems, /frontends\[0\]\.maxconn: "lots" is not a whole number/);
    assert.match(problems, /frontends\[0\]\.maxConnectionRatePerSource: "fast" is not a rate/);
  });

  const svc = (annotations: Record<string, string>, protocol = 'TCP'): V1Service => ({
    metadata: { name: 'web', namespace: 'default', annotations },
    spec: { type: 'LoadBalancer', ports: [{ name: 'p', port: 53, protocol }] },
  });

  it('fulcrum-lb.io/maxconn and max-connection-rate-per-source reach the frontends', () => {
    const m = buildProxyModel(svc({ 'fulcrum-lb.io/maxconn': '200', 'fulcrum-lb.io/max-connection-rate-per-source': '5/10s' }), [], 'n1', ['192.0.2.10', '192.0.2.11']);
    assert.deepEqual(m.warnings, []);
    assert.deepEqual(m.frontends.map((f) => [f.maxconn, f.maxConnectionRatePerSource]), [[200, { count: 5, perMs: 10_000 }], [200, { count: 5, perMs: 10_000 }]]);
  });

  it('on a UDP port maxconn bounds the flows and a rate is a warning', () => {
    const m = buildProxyModel(svc({ 'fulcrum-lb.io/maxconn': '64', 'fulcrum-lb.io/max-connection-rate-per-source': '20/s' }, 'UDP'), [], 'n1', ['192.0.2.10']);
    assert.equal(m.frontends[0]!.maxconn, 64);
    assert.equal(m.frontends[0]!.maxConnectionRatePerSource, undefined);
    assert.deepEqual(m.warnings.map((w) => w.kind === 'badAnnotation' && [w.annotation, w.value, w.effect]), [['fulcrum-lb.io/max-connection-rate-per-source', '20/s', 'ignored']]);
  });

  it('bad annotation values are warnings naming the annotation and the value, and no limit is set', () => {
    const m = buildProxyModel(svc({ 'fulcrum-lb.io/maxconn': '-3', 'fulcrum-lb.io/max-connection-rate-per-source': '20 per second' }), [], 'n1', ['192.0.2.10']);
    assert.deepEqual(m.frontends.map((f) => [f.maxconn, f.maxConnectionRatePerSource]), [[undefined, undefined]]);
    assert.deepEqual(m.warnings.map((w) => w.kind === 'badAnnotation' && [w.annotation, w.value]), [['fulcrum-lb.io/maxconn', '-3'], ['fulcrum-lb.io/max-connection-rate-per-source', '20 per second']]);
  });
});
