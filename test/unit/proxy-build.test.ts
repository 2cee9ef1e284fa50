import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Endpoints, V1Service } from '@kubernetes/client-node';
import { endpointsOf, indexEndpoints } from '../../src/service/endpoints.js';
import { buildProxyModel, type BuildWarning } from '../../speaker/plan/service-proxy.js';
import type { Endpoint } from '../../speaker/proxy/model.js';

type Ep = { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean };

function slice(eps: Ep[], ports: { name?: string; port: number; protocol?: string }[] = [{ name: 'http', port: 8080 }], family = 'IPv4'): V1EndpointSlice {
  return {
    addressType: family,
    metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    ports: ports.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      ...(e.node !== undefined ? { nodeName: e.node } : {}),
      conditions: { ...(e.ready !== undefined ? { ready: e.ready } : {}), ...(e.serving !== undefined ? { serving: e.serving } : {}), ...(e.terminating !== undefined ? { terminating: e.terminating } : {}) },
    })),
  };
}

function service(over: { spec?: Partial<NonNullable<V1Service['spec']>>; annotations?: Record<string, string> } = {}): V1Service {
  return {
    metadata: { name: 'web', namespace: 'default', annotations: over.annotations ?? {} },
    spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' as never, protocol: 'TCP' }], ...over.spec },
  };
}

const addrs = (eps: readonly Endpoint[]): string[] => eps.map((e) => `${e.address}:${e.port}`);

describe('buildProxyModel: which endpoints a Service port uses', () => {
  type Row = { name: string; svc?: V1Service; slices: V1EndpointSlice[]; node?: string; legacy?: V1Endpoints; want: string[] };
  const three = slice([
    { ip: '198.51.100.1', node: 'n1' },
    { ip: '198.51.100.2', node: 'n2' },
    { ip: '198.51.100.3', node: 'n1', ready: false },
  ]);
  const rows: Row[] = [
    { name: 'Cluster policy keeps every ready endpoint of every node', slices: [three], want: ['198.51.100.1:8080', '198.51.100.2:8080'] },
    { name: 'Local policy keeps only the ready endpoints on this node', svc: service({ spec: { externalTrafficPolicy: 'Local' } }), slices: [three], want: ['198.51.100.1:8080'] },
    { name: 'Local policy on a node without endpoints leaves the backend empty', svc: service({ spec: { externalTrafficPolicy: 'Local' } }), slices: [three], node: 'n9', want: [] },
    {
      name: 'with no ready endpoint the serving and terminating ones are used',
      slices: [slice([{ ip: '198.51.100.1', ready: false, serving: true, terminating: true }, { ip: '198.51.100.2', ready: false, serving: false, terminating: true }])],
      want: ['198.51.100.1:8080'],
    },
    {
      name: 'a ready endpoint wins over serving and terminating ones',
      slices: [slice([{ ip: '198.51.100.1', ready: false, serving: true, terminating: true }, { ip: '198.51.100.2' }])],
      want: ['198.51.100.2:8080'],
    },
    { name: 'an endpoint without conditions counts as ready', slices: [slice([{ ip: '198.51.100.4' }])], want: ['198.51.100.4:8080'] },
    {
      name: 'a named targetPort resolves through the slice port of the same name, per slice',
      slices: [slice([{ ip: '198.51.100.1' }], [{ name: 'http', port: 8080 }]), slice([{ ip: '198.51.100.2' }], [{ name: 'http', port: 9090 }])],
      want: ['198.51.100.1:8080', '198.51.100.2:9090'],
    },
    { name: 'a slice without the port name contributes nothing', slices: [slice([{ ip: '198.51.100.1' }], [{ name: 'metrics', port: 9100 }])], want: [] },
    {
      name: 'the same address in two slices is used once',
      slices: [slice([{ ip: '198.51.100.1' }]), slice([{ ip: '198.51.100.1' }])],
      want: ['198.51.100.1:8080'],
    },
    {
      name: 'a selector-less Service uses its hand-made Endpoints',
      svc: service({ spec: { selector: undefined } }),
      slices: [],
      legacy: { metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '192.0.2.50' }], notReadyAddresses: [{ ip: '192.0.2.51' }], ports: [{ name: 'http', port: 5432 }] }] },
      want: ['192.0.2.50:5432'],
    },
    {
      name: 'IPv4 and IPv6 slices both feed the one backend',
      slices: [slice([{ ip: '198.51.100.1' }]), slice([{ ip: '2001:db8::1' }], [{ name: 'http', port: 8080 }], 'IPv6')],
      want: ['198.51.100.1:8080', '2001:db8::1:8080'],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const svc = row.svc ?? service();
      const before = JSON.stringify([svc, row.slices, row.legacy]);
      const m = buildProxyModel(svc, endpointsOf(svc, indexEndpoints(row.slices, row.legacy ? [row.legacy] : [])), row.node ?? 'n1', ['192.0.2.100']);
      assert.equal(m.backends.length, 1, 'one backend per Service port');
      assert.deepEqual(addrs(m.backends[0]!.endpoints), row.want, `buildProxyModel(${row.name})`);
      assert.equal(JSON.stringify([svc, row.slices, row.legacy]), before, 'inputs were not mutated');
    });
  }
});

describe('buildProxyModel: annotations and spec fields', () => {
  type Row = { name: string; svc: V1Service; check: (m: ReturnType<typeof buildProxyModel>) => void; warnings?: BuildWarning['kind'][] };
  const rows: Row[] = [
    { name: 'defaults are roundrobin, no PROXY header, no affinity, no health check', svc: service(), check: (m) => {
      const b = m.backends[0]!;
      assert.deepEqual([b.balance, b.proxyProtocol, b.affinity.clientIP, b.healthCheck], ['roundrobin', 'none', false, undefined]);
    } },
    { name: 'the balance annotation picks the algorithm', svc: service({ annotations: { 'fulcrum-lb.io/balance': 'source' } }), check: (m) => assert.equal(m.backends[0]!.balance, 'source') },
    { name: 'an unknown algorithm is a warning and roundrobin', svc: service({ annotations: { 'fulcrum-lb.io/balance': 'fastest' } }), check: (m) => assert.equal(m.backends[0]!.balance, 'roundrobin'), warnings: ['badAnnotation'] },
    { name: 'proxy-protocol v2 goes to the backend', svc: service({ annotations: { 'fulcrum-lb.io/proxy-protocol': 'v2' } }), check: (m) => assert.equal(m.backends[0]!.proxyProtocol, 'v2') },
    {
      name: 'health-check tcp with interval, rise and fall annotations',
      svc: service({ annotations: { 'fulcrum-lb.io/health-check': 'tcp', 'fulcrum-lb.io/health-check-interval': '500ms', 'fulcrum-lb.io/health-check-rise': '1', 'fulcrum-lb.io/health-check-fall': '4' } }),
      check: (m) => assert.deepEqual(m.backends[0]!.healthCheck, { type: 'tcp', intervalMs: 500, rise: 1, fall: 4, timeoutMs: 500 }),
    },
    { name: 'an http health check is not supported yet and is a warning', svc: service({ annotations: { 'fulcrum-lb.io/health-check': 'http:/healthz' } }), check: (m) => assert.equal(m.backends[0]!.healthCheck, undefined), warnings: ['badAnnotation'] },
    { name: 'a bad interval keeps the default and warns', svc: service({ annotations: { 'fulcrum-lb.io/health-check': 'tcp', 'fulcrum-lb.io/health-check-interval': 'soon' } }), check: (m) => assert.equal(m.backends[0]!.healthCheck?.intervalMs, 2000), warnings: ['badAnnotation'] },
    {
      name: 'sessionAffinity ClientIP takes its timeout from sessionAffinityConfig',
      svc: service({ spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } }),
      check: (m) => assert.deepEqual(m.backends[0]!.affinity, { clientIP: true, timeoutSeconds: 60 }),
    },
    { name: 'sessionAffinity ClientIP without a timeout uses 10800 s', svc: service({ spec: { sessionAffinity: 'ClientIP' } }), check: (m) => assert.equal(m.backends[0]!.affinity.timeoutSeconds, 10800) },
    { name: 'loadBalancerSourceRanges become every frontend ACL', svc: service({ spec: { loadBalancerSourceRanges: ['192.0.2.0/24', '2001:db8::/32'] } }), check: (m) => assert.deepEqual(m.frontends[0]!.sourceRanges, ['192.0.2.0/24', '2001:db8::/32']) },
    {
      name: 'the Kubernetes source-ranges annotation is used when the spec field is empty',
      svc: service({ annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '192.0.2.0/25, 192.0.2.128/25' } }),
      check: (m) => assert.deepEqual(m.frontends[0]!.sourceRanges, ['192.0.2.0/25', '192.0.2.128/25']),
    },
    { name: 'only invalid source ranges build no frontend rather than one open to all', svc: service({ spec: { loadBalancerSourceRanges: ['nonsense'] } }), check: (m) => assert.equal(m.frontends.length, 0), warnings: ['badSourceRange'] },
    {
      name: 'one frontend per VIP and port; UDP ports get UDP frontends without PROXY headers',
      svc: service({ annotations: { 'fulcrum-lb.io/proxy-protocol': 'v1' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] } }),
      check: (m) => {
        assert.deepEqual(m.frontends.map((f) => `${f.name} ${f.protocol} ${f.listen.address}:${f.listen.port}`), [
          'default/web:80/TCP@192.0.2.100 tcp 192.0.2.100:80',
          'default/web:80/TCP@2001:db8::100 tcp 2001:db8::100:80',
          'default/web:53/UDP@192.0.2.100 udp 192.0.2.100:53',
          'default/web:53/UDP@2001:db8::100 udp 2001:db8::100:53',
        ]);
        assert.deepEqual(m.backends.map((b) => `${b.name} ${b.proxyProtocol}`), ['default/web:80/TCP v1', 'default/web:53/UDP none']);
      },
      warnings: ['proxyProtocolOnUdp'],
    },
    { name: 'an SCTP port is skipped with a warning', svc: service({ spec: { ports: [{ name: 'x', port: 9, protocol: 'SCTP' }] } }), check: (m) => assert.equal(m.backends.length, 0), warnings: ['unsupportedProtocol'] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify(row.svc);
      const vips = row.svc.spec?.ports?.length === 2 ? ['192.0.2.100', '2001:db8::100'] : ['192.0.2.100'];
      const slices = [slice([{ ip: '198.51.100.1' }], [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }])];
      const m = buildProxyModel(row.svc, endpointsOf(row.svc, indexEndpoints(slices, [])), 'n1', vips);
      row.check(m);
      assert.deepEqual(m.warnings.map((w) => w.kind), row.warnings ?? [], 'warnings');
      assert.equal(JSON.stringify(row.svc), before, 'inputs were not mutated');
    });
  }
});
