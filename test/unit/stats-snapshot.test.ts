import assert from 'node:assert/strict';
import { DEFAULT_AFFINITY, DEFAULT_HEALTH_CHECK, DEFAULT_HTTP_OPTIONS, DEFAULT_PASSIVE_EJECTION, DEFAULT_TIMEOUTS, type Backend, type Endpoint, type Frontend, type ProxyModel } from '../../speaker/proxy/model.js';
import { statsSnapshot, type MetricSample, type StatsInput, type StatsSnapshot } from '../../speaker/stats/snapshot.js';

// Builders with defaults: rows override only what differs.
const frontend = (name: string, over: Partial<Frontend> = {}): Frontend => ({
  name, listen: { address: '192.0.2.10', port: 80 }, protocol: 'tcp', routes: [{ match: { kind: 'any' }, backend: 'web' }],
  sourceRanges: [], acceptProxyProtocolFrom: [], timeouts: DEFAULT_TIMEOUTS, ...over,
});
const endpoint = (port: number, over: Partial<Endpoint> = {}): Endpoint => ({ address: '10.0.0.1', port, ready: true, serving: true, terminating: false, weight: 1, ...over });
const backend = (name: string, endpoints: Endpoint[], over: Partial<Backend> = {}): Backend => ({
  name, balance: 'roundrobin', proxyProtocol: 'none', affinity: DEFAULT_AFFINITY, passiveEjection: DEFAULT_PASSIVE_EJECTION, connectAttempts: 3, endpoints, ...over,
});
const model = (frontends: Frontend[], backends: Backend[]): ProxyModel => ({ workers: 1, frontends, backends });
const sample = (labels: Record<string, string>, value: number): MetricSample => ({ labels, value });
const metrics = (byName: Record<string, MetricSample[]>): Map<string, MetricSample[]> => new Map(Object.entries(byName));

const base = (over: Partial<StatsInput> = {}): StatsInput => ({
  program: 'proxy', nowMs: 10_000, startedMs: 1_000,
  model: model([frontend('web')], [backend('web', [endpoint(8080)])]),
  metrics: new Map(), ...over,
});

describe('statsSnapshot (the stats page model, pure)', () => {
  const rows: Array<{ name: string; input: StatsInput; check: (s: StatsSnapshot) => void }> = [
    {
      name: 'kernel-mode ports come from their gauges: endpoints with their slots and health, sorted; none without them',
      input: base({
        metrics: metrics({
          fulcrum_kernel_endpoint_slots: [sample({ port: 'shop/db:5432/TCP@192.0.2.20', endpoint: '203.0.113.2:5432' }, 0), sample({ port: 'shop/db:5432/TCP@192.0.2.20', endpoint: '203.0.113.1:5432' }, 509)],
          fulcrum_kernel_endpoint_up: [sample({ port: 'shop/db:5432/TCP@192.0.2.20', endpoint: '203.0.113.1:5432' }, 1), sample({ port: 'shop/db:5432/TCP@192.0.2.20', endpoint: '203.0.113.2:5432' }, 0)],
        }),
      }),
      check: (s) => {
        assert.deepEqual(s.kernel, [{ name: 'shop/db:5432/TCP@192.0.2.20', endpoints: [{ endpoint: '203.0.113.1:5432', up: true, slots: 509 }, { endpoint: '203.0.113.2:5432', up: false, slots: 0 }] }]);
        assert.deepEqual(statsSnapshot(base()).kernel, []);
      },
    },
    {
      name: 'a frontend reads its connections, bytes and rejections from its own series only',
      input: base({
        model: model([frontend('web'), frontend('other', { listen: { address: '192.0.2.11', port: 81 } })], [backend('web', [endpoint(8080)])]),
        metrics: metrics({
          fulcrum_proxy_frontend_connections_total: [sample({ frontend: 'web', protocol: 'tcp' }, 42), sample({ frontend: 'other', protocol: 'tcp' }, 7)],
          fulcrum_proxy_frontend_connections: [sample({ frontend: 'web', protocol: 'tcp' }, 3)],
          fulcrum_proxy_frontend_bytes_total: [sample({ frontend: 'web', direction: 'in' }, 100), sample({ frontend: 'web', direction: 'out' }, 2048)],
          fulcrum_proxy_frontend_rejected_total: [sample({ frontend: 'web', reason: 'sourceRange' }, 2), sample({ frontend: 'web', reason: 'maxconn' }, 1)],
        }),
      }),
      check: (s) => {
        const web = s.frontends.find((f) => f.name === 'web')!;
        assert.deepEqual(web.connections, { current: 3, total: 42 });
        assert.deepEqual(web.bytes, { in: 100, out: 2048 });
        assert.deepEqual(web.rejected, { total: 3, byReason: { sourceRange: 2, maxconn: 1 } });
        assert.equal(web.http, null);
        assert.deepEqual(s.frontends.map((f) => f.name), ['other', 'web'], 'sorted by name');
        assert.deepEqual(s.frontends[0]!.connections, { current: 0, total: 7 });
      },
    },
    {
      name: 'an http frontend has requests by class, and 5xx are its errors',
      input: base({
        model: model([frontend('site', { protocol: 'http', http: DEFAULT_HTTP_OPTIONS, routes: [{ match: { kind: 'http', hosts: ['shop.example'], pathPrefix: '/api' }, backend: 'web' }] })], [backend('web', [endpoint(8080)])]),
        metrics: metrics({ fulcrum_proxy_http_requests_total: [sample({ frontend: 'site', class: '2xx' }, 90), sample({ frontend: 'site', class: '5xx' }, 7), sample({ frontend: 'site', class: 'none' }, 3)] }),
      }),
      check: (s) => {
        assert.deepEqual(s.frontends[0]!.http, { total: 100, errors: 7, byClass: { '1xx': 0, '2xx': 90, '3xx': 0, '4xx': 0, '5xx': 7, none: 3 } });
        assert.deepEqual(s.frontends[0]!.routes, [{ hosts: ['shop.example'], pathPrefix: '/api', backend: 'web' }]);
        assert.equal(s.backends[0]!.protocol, 'http', 'a backend behind an http frontend speaks http');
        assert.notEqual(s.backends[0]!.http, null);
      },
    },
    {
      name: 'TLS shows where each certificate comes from, never its PEM',
      input: base({ model: model([frontend('web', { tls: { minVersion: 'TLSv1.3', certificates: [{ source: 'secret shop/web-tls', certPem: 'CERT PEM', keyPem: 'PRIVATE KEY PEM' }] } })], [backend('web', [])]) }),
      check: (s) => {
        assert.deepEqual(s.frontends[0]!.tls, { sources: ['secret shop/web-tls'], minVersion: 'TLSv1.3' });
        assert.doesNotMatch(JSON.stringify(s), /PEM/);
      },
    },
    {
      name: 'endpoints take their state from fulcrum_proxy_endpoint_up; one without a series is unknown',
      input: base({
        model: model([frontend('web')], [backend('web', [endpoint(1), endpoint(2), endpoint(3), endpoint(4, { terminating: true, ready: false })], { healthCheck: DEFAULT_HEALTH_CHECK })]),
        metrics: metrics({
          fulcrum_proxy_endpoint_up: [sample({ backend: 'web', endpoint: '10.0.0.1:1', state: 'up' }, 1), sample({ backend: 'web', endpoint: '10.0.0.1:2', state: 'down' }, 0), sample({ backend: 'web', endpoint: '10.0.0.1:3', state: 'ejected' }, 0)],
          fulcrum_proxy_endpoint_connections_total: [sample({ backend: 'web', endpoint: '10.0.0.1:1' }, 5)],
          fulcrum_proxy_endpoint_errors_total: [sample({ backend: 'web', endpoint: '10.0.0.1:3', reason: 'connectRefused' }, 4)],
        }),
      }),
      check: (s) => {
        const b = s.backends[0]!;
        assert.deepEqual(b.endpoints.map((e) => e.state), ['up', 'down', 'ejected', 'unknown']);
        assert.equal(b.up, 1);
        assert.equal(b.healthCheck, 'tcp every 2000ms');
        assert.deepEqual(b.endpoints[0]!.connections, { current: 0, total: 5 });
        assert.deepEqual(b.endpoints[2]!.errors, { total: 4, byReason: { connectRefused: 4 } });
        assert.deepEqual(b.endpoints[3]!.conditions, ['notReady', 'terminating']);
      },
    },
    {
      name: 'an IPv6 endpoint is matched by its bracketed label',
      input: base({
        model: model([frontend('web')], [backend('web', [endpoint(80, { address: 'fd00::5' })])]),
        metrics: metrics({ fulcrum_proxy_endpoint_up: [sample({ backend: 'web', endpoint: '[fd00::5]:80', state: 'up' }, 1)] }),
      }),
      check: (s) => assert.deepEqual(s.backends[0]!.endpoints.map((e) => [e.endpoint, e.state]), [['[fd00::5]:80', 'up']]),
    },
    {
      name: 'with bound ports known, the listen shows the real port and a frontend that did not bind says so',
      input: base({ model: model([frontend('a', { listen: { address: '127.0.0.1', port: 0 } }), frontend('b')], [backend('web', [])]), boundPorts: new Map([['a', 40123]]) }),
      check: (s) => assert.deepEqual(s.frontends.map((f) => [f.name, f.listen, f.state]), [['a', '127.0.0.1:40123', 'active'], ['b', '192.0.2.10:80', 'notBound']]),
    },
    {
      name: 'a frontend gone from the model but still in the series is draining',
      input: base({ metrics: metrics({ fulcrum_proxy_frontend_connections_total: [sample({ frontend: 'old', protocol: 'udp' }, 9)], fulcrum_proxy_frontend_connections: [sample({ frontend: 'old', protocol: 'udp' }, 2)] }) }),
      check: (s) => {
        const old = s.frontends.find((f) => f.name === 'old')!;
        assert.deepEqual([old.state, old.protocol, old.connections], ['draining', 'udp', { current: 2, total: 9 }]);
      },
    },
    {
      name: 'the standalone proxy has no ownership; a speaker lists its addresses sorted and its events as given',
      input: base({
        program: 'speaker', node: 'n1',
        ownership: {
          owned: [{ address: '192.0.2.20', sinceMs: 5_000, interfaces: ['eth0'], services: ['shop/web'] }, { address: '192.0.2.3', sinceMs: 6_000, interfaces: ['eth0'], services: [] }],
          events: [{ atMs: 6_000, kind: 'owned', address: '192.0.2.3', detail: 'x' }, { atMs: 5_500, kind: 'handoffStarted', address: '192.0.2.20', detail: 'y' }],
        },
      }),
      check: (s) => {
        assert.equal(s.node, 'n1');
        assert.deepEqual(s.ownership!.owned.map((o) => o.address), ['192.0.2.20', '192.0.2.3']);
        assert.deepEqual(s.ownership!.events.map((e) => e.kind), ['owned', 'handoffStarted']);
        assert.equal(statsSnapshot(base()).ownership, null);
      },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = structuredClone({ ...row.input, metrics: [...row.input.metrics], boundPorts: row.input.boundPorts && [...row.input.boundPorts] });
      const s = statsSnapshot(row.input);
      row.check(s);
      assert.deepEqual({ ...row.input, metrics: [...row.input.metrics], boundPorts: row.input.boundPorts && [...row.input.boundPorts] }, before, 'the input is not mutated');
      assert.deepEqual(JSON.parse(JSON.stringify(s)), s, 'the snapshot is plain JSON');
    });
  }
});
