import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Endpoints, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { endpointsOf, indexEndpoints } from '../../src/service/endpoints.js';
import { buildProxyModel, type BuildOptions, type BuildWarning, type ServiceProxyModel } from '../../speaker/plan/service-proxy.js';
import { DEFAULT_HTTP_OPTIONS, type Endpoint, type TlsCertificate } from '../../speaker/proxy/model.js';

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
    { name: 'an unknown health check type is a warning and no check', svc: service({ annotations: { 'fulcrum-lb.io/health-check': 'udp' } }), check: (m) => assert.equal(m.backends[0]!.healthCheck, undefined), warnings: ['badAnnotation'] },
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

describe('buildProxyModel: HTTP and TLS from annotations and appProtocol', () => {
  const VIP = '192.0.2.100';
  const cert = (name: string): TlsCertificate => ({ source: `secret default/${name}`, certPem: `CERT ${name}`, keyPem: `KEY ${name}` });
  /** A lookup that knows the Secrets named here; any other name is missing. */
  const secrets = (...known: string[]): BuildOptions['tls'] => (names) => ({
    certificates: names.filter((n) => known.includes(n)).map(cert),
    problems: names.filter((n) => !known.includes(n)).map((secret) => ({ secret, reason: 'is not found in namespace "default"' })),
  });
  const web = (annotations: Record<string, string>, ports: V1ServicePort[] = [{ name: 'http', port: 80, protocol: 'TCP' }], spec: Partial<NonNullable<V1Service['spec']>> = {}) =>
    service({ annotations, spec: { ports, ...spec } });
  const HTTPS_PORTS: V1ServicePort[] = [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'https', port: 443, protocol: 'TCP' }];
  const fe = (m: ServiceProxyModel, port: number) => m.frontends.find((f) => f.listen.port === port);
  const be = (m: ServiceProxyModel, port: number) => m.backends.find((b) => b.name === `default/web:${port}/TCP`)!;

  type Row = { name: string; svc: V1Service; opts?: BuildOptions; check: (m: ServiceProxyModel) => void; warnings?: BuildWarning['kind'][] };
  const rows: Row[] = [
    {
      name: 'every TCP port is plain TCP by default: no http options, no TLS, no backend protocol',
      svc: web({}),
      check: (m) => {
        const f = fe(m, 80)!;
        assert.deepEqual([f.name, f.protocol, f.http, f.tls, f.routes], [`default/web:80/TCP@${VIP}`, 'tcp', undefined, undefined, [{ match: { kind: 'any' }, backend: 'default/web:80/TCP' }]]);
        assert.equal(be(m, 80).protocol, undefined);
      },
    },
    {
      name: "protocol http makes a TCP port an HTTP frontend named after its address, with haproxy's default timeouts",
      svc: web({ 'fulcrum-lb.io/protocol': 'http' }),
      check: (m) => {
        const f = fe(m, 80)!;
        assert.deepEqual([f.name, f.protocol], [`http@${VIP}:80`, 'http']);
        assert.deepEqual(f.http, { ...DEFAULT_HTTP_OPTIONS, redirectToHttps: false });
        assert.deepEqual(f.routes, [{ match: { kind: 'http', hosts: [], pathPrefix: '/' }, backend: 'default/web:80/TCP' }]);
        assert.equal(be(m, 80).protocol, 'http');
      },
    },
    { name: 'appProtocol http makes the port HTTP whatever the annotation says', svc: web({ 'fulcrum-lb.io/protocol': 'tcp' }, [{ name: 'http', port: 80, protocol: 'TCP', appProtocol: 'HTTP' }]), check: (m) => assert.equal(fe(m, 80)!.protocol, 'http') },
    { name: 'appProtocol kubernetes.io/ws is HTTP (WebSocket upgrades pass as tunnels)', svc: web({}, [{ name: 'http', port: 80, protocol: 'TCP', appProtocol: 'kubernetes.io/ws' }]), check: (m) => assert.equal(fe(m, 80)!.protocol, 'http') },
    { name: 'appProtocol kubernetes.io/h2c stays TCP even under protocol http (HTTP/2 is passed through)', svc: web({ 'fulcrum-lb.io/protocol': 'http' }, [{ name: 'http', port: 80, protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' }]), check: (m) => assert.equal(fe(m, 80)!.protocol, 'tcp') },
    { name: 'an unknown protocol value is a warning and the port stays TCP', svc: web({ 'fulcrum-lb.io/protocol': 'quic' }), check: (m) => assert.equal(fe(m, 80)!.protocol, 'tcp'), warnings: ['badAnnotation'] },
    {
      name: 'tls-secret terminates TLS on 443 and the ports named https, with the certificates in the order of the names',
      svc: web({ 'fulcrum-lb.io/tls-secret': 'a-tls, b-tls' }, [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'web', port: 443, protocol: 'TCP' }, { name: 'https', port: 8443, protocol: 'TCP' }, { name: 'admin', port: 9443, protocol: 'TCP' }]),
      opts: { tls: secrets('a-tls', 'b-tls') },
      check: (m) => {
        const both = ['secret default/a-tls', 'secret default/b-tls'];
        assert.deepEqual(m.frontends.map((f) => [f.listen.port, f.tls?.certificates.map((c) => c.source) ?? null]), [[80, null], [443, both], [8443, both], [9443, null]]);
        assert.equal(fe(m, 443)!.tls!.minVersion, 'TLSv1.2');
      },
    },
    {
      name: 'tls-ports chooses the TLS ports by number or by name',
      svc: web({ 'fulcrum-lb.io/tls-secret': 'a-tls', 'fulcrum-lb.io/tls-ports': '8443,admin' }, [...HTTPS_PORTS, { name: 'alt', port: 8443, protocol: 'TCP' }, { name: 'admin', port: 9443, protocol: 'TCP' }]),
      opts: { tls: secrets('a-tls') },
      check: (m) => assert.deepEqual(m.frontends.filter((f) => f.tls).map((f) => f.listen.port), [8443, 9443]),
    },
    {
      name: 'behind TLS an http port speaks HTTP and a tcp one stays TCP',
      svc: web({ 'fulcrum-lb.io/tls-secret': 'a-tls', 'fulcrum-lb.io/tls-ports': '443,5432' }, [{ name: 'https', port: 443, protocol: 'TCP', appProtocol: 'http' }, { name: 'db', port: 5432, protocol: 'TCP' }]),
      opts: { tls: secrets('a-tls') },
      check: (m) => assert.deepEqual(m.frontends.map((f) => [f.listen.port, f.protocol, f.tls !== undefined]), [[443, 'http', true], [5432, 'tcp', true]]),
    },
    {
      name: 'one missing Secret of two is a warning and the other certificate is still served',
      svc: web({ 'fulcrum-lb.io/tls-secret': 'gone-tls,a-tls' }, HTTPS_PORTS),
      opts: { tls: secrets('a-tls') },
      check: (m) => assert.deepEqual(fe(m, 443)!.tls!.certificates.map((c) => c.source), ['secret default/a-tls']),
      warnings: ['tlsSecretProblem'],
    },
    {
      name: 'a TLS port with no usable certificate is not served at all, never in plain text',
      svc: web({ 'fulcrum-lb.io/tls-secret': 'gone-tls' }, HTTPS_PORTS),
      opts: { tls: secrets() },
      check: (m) => {
        assert.deepEqual(m.frontends.map((f) => f.listen.port), [80]);
        assert.equal(m.backends.length, 2, 'the backend is kept');
      },
      warnings: ['tlsSecretProblem', 'tlsUnavailable'],
    },
    { name: 'tls-ports without tls-secret leaves those ports unserved', svc: web({ 'fulcrum-lb.io/tls-ports': '443' }, HTTPS_PORTS), opts: { tls: secrets('a-tls') }, check: (m) => assert.deepEqual(m.frontends.map((f) => f.listen.port), [80]), warnings: ['tlsUnavailable'] },
    { name: 'without a Secret lookup the TLS ports are not served', svc: web({ 'fulcrum-lb.io/tls-secret': 'a-tls' }, HTTPS_PORTS), check: (m) => assert.deepEqual(m.frontends.map((f) => f.listen.port), [80]), warnings: ['tlsUnavailable'] },
    { name: 'a tls-ports entry that names no port is a warning', svc: web({ 'fulcrum-lb.io/tls-secret': 'a-tls', 'fulcrum-lb.io/tls-ports': '443,444' }, HTTPS_PORTS), opts: { tls: secrets('a-tls') }, check: (m) => assert.ok(fe(m, 443)!.tls), warnings: ['badAnnotation'] },
    {
      name: 'backend-protocol https re-encrypts towards the pods, unverified without a CA',
      svc: web({ 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/backend-protocol': 'https' }),
      check: (m) => assert.deepEqual([be(m, 80).protocol, be(m, 80).tls], ['https', {}]),
    },
    {
      name: 'backend-protocol tls on a tcp port re-encrypts as TLS, verified with the ca.crt of backend-ca-secret',
      svc: web({ 'fulcrum-lb.io/backend-protocol': 'tls', 'fulcrum-lb.io/backend-ca-secret': 'pods-ca' }),
      opts: { backendCa: (name) => (name === 'pods-ca' ? { kind: 'ok', caPem: 'CA PEM' } : { kind: 'unavailable', reason: 'is not found' }) },
      check: (m) => assert.deepEqual([be(m, 80).protocol, be(m, 80).tls], ['tls', { caPem: 'CA PEM' }]),
    },
    {
      name: 'a backend-ca-secret that cannot be read leaves the re-encrypting ports unserved rather than unverified',
      svc: web({ 'fulcrum-lb.io/backend-protocol': 'https', 'fulcrum-lb.io/backend-ca-secret': 'gone-ca' }),
      opts: { backendCa: () => ({ kind: 'unavailable', reason: 'is not found in namespace "default"' }) },
      check: (m) => assert.equal(m.frontends.length, 0),
      warnings: ['backendCaUnavailable'],
    },
    { name: 'backend-ca-secret without re-encryption is a warning', svc: web({ 'fulcrum-lb.io/backend-ca-secret': 'pods-ca' }), check: (m) => assert.equal(be(m, 80).tls, undefined), warnings: ['badAnnotation'] },
    {
      name: 'appProtocol https on a TLS port is HTTP behind TLS and re-encrypts by default',
      svc: web({ 'fulcrum-lb.io/tls-secret': 'a-tls' }, [{ name: 'https', port: 443, protocol: 'TCP', appProtocol: 'https' }]),
      opts: { tls: secrets('a-tls') },
      check: (m) => assert.deepEqual([fe(m, 443)!.protocol, be(m, 443).protocol], ['http', 'https']),
    },
    {
      name: 'appProtocol https on a port that does not terminate TLS is passed through as TCP',
      svc: web({ 'fulcrum-lb.io/protocol': 'http' }, [{ name: 'https', port: 8443, protocol: 'TCP', appProtocol: 'https' }]),
      check: (m) => assert.deepEqual([fe(m, 8443)!.protocol, be(m, 8443).protocol, fe(m, 8443)!.tls], ['tcp', undefined, undefined]),
    },
    {
      name: 'redirect-http-to-https makes port 80 an HTTP frontend that answers 308, and leaves 443 alone',
      svc: web({ 'fulcrum-lb.io/tls-secret': 'a-tls', 'fulcrum-lb.io/redirect-http-to-https': 'true' }, HTTPS_PORTS),
      opts: { tls: secrets('a-tls') },
      check: (m) => assert.deepEqual(m.frontends.map((f) => [f.listen.port, f.protocol, f.http?.redirectToHttps ?? null]), [[80, 'http', true], [443, 'tcp', null]]),
    },
    { name: 'redirect-http-to-https on a Service without port 80 is a warning', svc: web({ 'fulcrum-lb.io/redirect-http-to-https': 'true' }, [{ name: 'x', port: 8080, protocol: 'TCP' }]), check: (m) => assert.equal(m.frontends[0]!.protocol, 'tcp'), warnings: ['badAnnotation'] },
    {
      name: 'http-hosts and http-path-prefix become the route match, lower case and without a trailing slash',
      svc: web({ 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-hosts': 'A.example.com, *.b.example.com', 'fulcrum-lb.io/http-path-prefix': '/api/' }),
      check: (m) => assert.deepEqual(fe(m, 80)!.routes[0]!.match, { kind: 'http', hosts: ['a.example.com', '*.b.example.com'], pathPrefix: '/api' }),
    },
    {
      name: 'an invalid host is dropped with a warning, the valid ones stay',
      svc: web({ 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-hosts': 'a.example.com,b*.example.com,c.example.com:8080' }),
      check: (m) => assert.deepEqual(fe(m, 80)!.routes[0]!.match, { kind: 'http', hosts: ['a.example.com'], pathPrefix: '/' }),
      warnings: ['badAnnotation', 'badAnnotation'],
    },
    { name: 'a path prefix without a leading slash is a warning and "/" is used', svc: web({ 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-path-prefix': 'api' }), check: (m) => assert.deepEqual(fe(m, 80)!.routes[0]!.match, { kind: 'http', hosts: [], pathPrefix: '/' }), warnings: ['badAnnotation'] },
    { name: 'http-hosts on a Service without an HTTP port is a warning', svc: web({ 'fulcrum-lb.io/http-hosts': 'a.example.com' }), check: (m) => assert.equal(fe(m, 80)!.protocol, 'tcp'), warnings: ['badAnnotation'] },
    { name: 'HTTP timeouts on a Service without an HTTP port are warnings', svc: web({ 'fulcrum-lb.io/timeout-server': '5m', 'fulcrum-lb.io/forwarded-header': 'true' }), check: (m) => assert.equal(fe(m, 80)!.http, undefined), warnings: ['badAnnotation', 'badAnnotation'] },
    {
      name: 'health-check http:/healthz with health-check-status checks that path for those statuses',
      svc: web({ 'fulcrum-lb.io/health-check': 'http:/healthz', 'fulcrum-lb.io/health-check-status': '200-204' }),
      check: (m) => assert.deepEqual(be(m, 80).healthCheck, { type: 'http', path: '/healthz', expectStatus: { min: 200, max: 204 }, intervalMs: 2000, rise: 2, fall: 3, timeoutMs: 2000 }),
    },
    { name: 'health-check http alone checks "/" for 200-399', svc: web({ 'fulcrum-lb.io/health-check': 'http' }), check: (m) => assert.deepEqual([be(m, 80).healthCheck?.path, be(m, 80).healthCheck?.expectStatus], ['/', { min: 200, max: 399 }]) },
    { name: 'a bad health-check-status is a warning and 200-399 is kept', svc: web({ 'fulcrum-lb.io/health-check': 'http:/', 'fulcrum-lb.io/health-check-status': '2xx' }), check: (m) => assert.deepEqual(be(m, 80).healthCheck?.expectStatus, { min: 200, max: 399 }), warnings: ['badAnnotation'] },
    {
      name: 'sticky-cookie goes to the backends of the HTTP ports only, and ClientIP affinity stays on',
      svc: web({ 'fulcrum-lb.io/sticky-cookie': 'SERVERID' }, [{ name: 'http', port: 80, protocol: 'TCP', appProtocol: 'http' }, { name: 'db', port: 5432, protocol: 'TCP' }], { sessionAffinity: 'ClientIP' }),
      check: (m) => {
        assert.deepEqual([be(m, 80).stickyCookie, be(m, 5432).stickyCookie], ['SERVERID', undefined]);
        assert.equal(be(m, 80).affinity.clientIP, true);
      },
    },
    { name: 'a sticky-cookie that is not a cookie name is a warning', svc: web({ 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/sticky-cookie': 'my cookie' }), check: (m) => assert.equal(be(m, 80).stickyCookie, undefined), warnings: ['badAnnotation'] },
    {
      name: 'the HTTP timeouts come from their annotations; a bad one keeps its default',
      svc: web({ 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-request-timeout': '10s', 'fulcrum-lb.io/http-keepalive-timeout': '2m', 'fulcrum-lb.io/timeout-server': 'soon', 'fulcrum-lb.io/timeout-tunnel': '2h' }),
      check: (m) => assert.deepEqual(fe(m, 80)!.http!.timeouts, { httpRequestMs: 10_000, httpKeepAliveMs: 120_000, serverMs: 50_000, tunnelMs: 7_200_000 }),
      warnings: ['badAnnotation'],
    },
    {
      name: 'forwarded-header and trust-forwarded-from set the forwarding options; a bad CIDR is dropped',
      svc: web({ 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/forwarded-header': 'true', 'fulcrum-lb.io/trust-forwarded-from': '192.0.2.0/24, nonsense' }),
      check: (m) => assert.deepEqual([fe(m, 80)!.http!.forwardedHeader, fe(m, 80)!.http!.trustForwardedFrom], [true, ['192.0.2.0/24']]),
      warnings: ['badAnnotation'],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify(row.svc);
      const slices = [slice([{ ip: '198.51.100.1' }], (row.svc.spec?.ports ?? []).map((p) => ({ name: p.name!, port: 8000 + (p.port % 1000) })))];
      const m = buildProxyModel(row.svc, endpointsOf(row.svc, indexEndpoints(slices, [])), 'n1', [VIP], row.opts);
      row.check(m);
      assert.deepEqual(m.warnings.map((w) => w.kind), row.warnings ?? [], `warnings: ${JSON.stringify(m.warnings)}`);
      assert.equal(JSON.stringify(row.svc), before, 'inputs were not mutated');
    });
  }
});
