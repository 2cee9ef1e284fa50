import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Endpoints, V1Service } from '@kubernetes/client-node';
import { indexEndpoints } from '../../src/service/endpoints.js';
import { buildNodeProxyModel, type NodeProxyInput } from '../../speaker/plan/proxy-model.js';
import type { BuildWarning } from '../../speaker/plan/service-proxy.js';
import type { ProxyModel } from '../../speaker/proxy/model.js';

const VIP = '192.0.2.70';

function svc(name: string, o: { local?: boolean; selector?: boolean; ips?: string[] } = {}): V1Service {
  return {
    metadata: { namespace: 'default', name },
    spec: { type: 'LoadBalancer', selector: o.selector === false ? undefined : { app: name }, externalTrafficPolicy: o.local ? 'Local' : 'Cluster', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    status: { loadBalancer: { ingress: (o.ips ?? [VIP]).map((ip) => ({ ip })) } },
  };
}

function slice(service: string, nodes: string[]): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: { namespace: 'default', name: `${service}-a`, labels: { 'kubernetes.io/service-name': service } },
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: nodes.map((n, i) => ({ addresses: [`198.51.100.${10 + i}`], nodeName: n, conditions: { ready: true } })),
  };
}

interface Row {
  name: string;
  services: V1Service[];
  slices?: V1EndpointSlice[];
  manual?: V1Endpoints[];
  owned?: string[];
  down?: string[];
  /** frontend name → endpoint node names of its backend */
  expect: Record<string, string[]>;
}

const rows: Row[] = [
  { name: 'a Cluster Service gets a frontend on the owned address and every ready endpoint', services: [svc('a')], slices: [slice('a', ['n1', 'n2'])], expect: { [`default/a:80/TCP@${VIP}`]: ['n1', 'n2'] } },
  { name: 'endpoints on a node the membership says is down are skipped', services: [svc('a')], slices: [slice('a', ['n1', 'n2'])], down: ['n2'], expect: { [`default/a:80/TCP@${VIP}`]: ['n1'] } },
  { name: 'a Local Service keeps only this node', services: [svc('a', { local: true })], slices: [slice('a', ['n1', 'n2'])], expect: { [`default/a:80/TCP@${VIP}`]: ['n1'] } },
  { name: 'an address this node does not own gets no frontend', services: [svc('a')], slices: [slice('a', ['n1'])], owned: [], expect: {} },
  { name: 'only the owned address of a dual-stack Service gets frontends', services: [svc('a', { ips: [VIP, '2001:db8::100'] })], slices: [slice('a', ['n1'])], owned: ['2001:db8::100'], expect: { 'default/a:80/TCP@2001:db8::100': ['n1'] } },
  {
    name: 'a selector-less Service uses its hand-made Endpoints, down nodes skipped',
    services: [svc('m', { selector: false })],
    manual: [{ metadata: { namespace: 'default', name: 'm' }, subsets: [{ addresses: [{ ip: '198.51.100.20', nodeName: 'n1' }, { ip: '198.51.100.21', nodeName: 'n2' }], ports: [{ name: 'http', port: 8080 }] }] }],
    down: ['n2'],
    expect: { [`default/m:80/TCP@${VIP}`]: ['n1'] },
  },
];

describe('buildNodeProxyModel: the proxy model of the addresses this node owns', () => {
  for (const row of rows) {
    it(row.name, () => {
      const endpoints = indexEndpoints(row.slices ?? [], row.manual ?? []);
      const frozen = JSON.stringify(row.slices ?? []);
      const { model } = buildNodeProxyModel({ me: 'n1', owned: new Set(row.owned ?? [VIP]), services: row.services, endpoints, down: new Set(row.down ?? []) });
      const got: Record<string, string[]> = {};
      for (const f of model.frontends) {
        const backend = model.backends.find((b) => b.name === f.routes[0]!.backend)!;
        got[f.name] = backend.endpoints.map((e) => e.nodeName ?? '?').sort();
      }
      assert.deepEqual(got, row.expect, `buildNodeProxyModel(${row.name})`);
      assert.equal(JSON.stringify(row.slices ?? []), frozen, 'the cached slices were not mutated');
    });
  }
});

describe('buildNodeProxyModel: Services sharing one address and port', () => {
  type Port = { name?: string; port: number; protocol?: string; appProtocol?: string };
  function shared(name: string, o: { annotations?: Record<string, string>; ports?: Port[]; created?: string; namespace?: string; sourceRanges?: string[] } = {}): V1Service {
    return {
      metadata: { namespace: o.namespace ?? 'default', name, annotations: { 'fulcrum-lb.io/allow-shared-ip': 'k', ...o.annotations }, ...(o.created ? { creationTimestamp: new Date(o.created) } : {}) },
      spec: {
        type: 'LoadBalancer',
        selector: { app: name },
        ports: (o.ports ?? [{ name: 'http', port: 80 }]).map((p) => ({ protocol: 'TCP', ...p })),
        ...(o.sourceRanges ? { loadBalancerSourceRanges: o.sourceRanges } : {}),
      },
      status: { loadBalancer: { ingress: [{ ip: VIP }] } },
    };
  }
  const http = (hosts?: string, more: Record<string, string> = {}) => ({ 'fulcrum-lb.io/protocol': 'http', ...(hosts === undefined ? {} : { 'fulcrum-lb.io/http-hosts': hosts }), ...more });
  const tlsLookup: NodeProxyInput['tls'] = (namespace, names) => ({ certificates: names.map((n) => ({ source: `secret ${namespace}/${n}`, certPem: `C ${n}`, keyPem: `K ${n}` })), problems: [] });
  /** Each frontend as `name: [hosts@prefix→backend, …]`. */
  const routesOf = (model: ProxyModel) =>
    Object.fromEntries(model.frontends.map((f) => [f.name, f.routes.map((r) => (r.match.kind === 'http' ? `${r.match.hosts.join('|') || '*'}@${r.match.pathPrefix}→${r.backend}` : `any→${r.backend}`))]));

  type Row = { name: string; services: V1Service[]; routes: Record<string, string[]>; warnings?: [string, BuildWarning['kind'], string?][]; check?: (m: ProxyModel) => void };
  const rows: Row[] = [
    {
      name: 'two HTTP Services with distinct hosts become one frontend with a route to each backend',
      services: [shared('a', { annotations: http('a.example.com') }), shared('b', { annotations: http('b.example.com') })],
      routes: { [`http@${VIP}:80`]: ['a.example.com@/→default/a:80/TCP', 'b.example.com@/→default/b:80/TCP'] },
      check: (m) => assert.deepEqual(m.backends.map((b) => b.name), ['default/a:80/TCP', 'default/b:80/TCP']),
    },
    {
      name: 'a default route and a path-prefix route without hosts share a port',
      services: [shared('web', { annotations: http() }), shared('api', { annotations: http(undefined, { 'fulcrum-lb.io/http-path-prefix': '/api' }) })],
      routes: { [`http@${VIP}:80`]: ['*@/api→default/api:80/TCP', '*@/→default/web:80/TCP'] },
    },
    {
      name: 'two TCP Services on one port: the one created first keeps it and the other is warned',
      services: [shared('a', { created: '2026-02-01T00:00:00Z' }), shared('b', { created: '2026-01-01T00:00:00Z' })],
      routes: { [`default/b:80/TCP@${VIP}`]: ['any→default/b:80/TCP'] },
      warnings: [['default/a', 'sharedPortConflict', 'notHttp']],
    },
    {
      name: 'with the same age the first by namespace/name keeps the port',
      services: [shared('b'), shared('a')],
      routes: { [`default/a:80/TCP@${VIP}`]: ['any→default/a:80/TCP'] },
      warnings: [['default/b', 'sharedPortConflict', 'notHttp']],
    },
    {
      name: 'an HTTP Service cannot join a TCP one on its port',
      services: [shared('a'), shared('b', { annotations: http('b.example.com') })],
      routes: { [`default/a:80/TCP@${VIP}`]: ['any→default/a:80/TCP'] },
      warnings: [['default/b', 'sharedPortConflict', 'notHttp']],
    },
    {
      name: 'a wildcard covering an older host is left out, naming the Service that keeps the port',
      services: [shared('a', { annotations: http('x.example.com') }), shared('b', { annotations: http('c.example.com,*.example.com') })],
      routes: { [`http@${VIP}:80`]: ['x.example.com@/→default/a:80/TCP'] },
      warnings: [['default/b', 'sharedPortConflict', 'routeOverlap']],
    },
    {
      name: 'two default routes with the same prefix: the later is left out',
      services: [shared('a', { annotations: http() }), shared('b', { annotations: http(undefined, { 'fulcrum-lb.io/http-path-prefix': '/' }) })],
      routes: { [`http@${VIP}:80`]: ['*@/→default/a:80/TCP'] },
      warnings: [['default/b', 'sharedPortConflict', 'routeOverlap']],
    },
    {
      name: 'the same host with different path prefixes shares the port',
      services: [shared('a', { annotations: http('a.example.com') }), shared('b', { annotations: http('a.example.com', { 'fulcrum-lb.io/http-path-prefix': '/api' }) })],
      routes: { [`http@${VIP}:80`]: ['a.example.com@/→default/a:80/TCP', 'a.example.com@/api→default/b:80/TCP'] },
    },
    {
      name: 'a TLS Service and a plain one on one port: the later is left out',
      services: [shared('a', { annotations: http('a.example.com', { 'fulcrum-lb.io/tls-secret': 'a-tls' }), ports: [{ name: 'https', port: 443 }] }), shared('b', { annotations: http('b.example.com'), ports: [{ name: 'web', port: 443 }] })],
      routes: { [`http@${VIP}:443`]: ['a.example.com@/→default/a:443/TCP'] },
      warnings: [['default/b', 'sharedPortConflict', 'tlsDiffers']],
    },
    {
      name: 'two TLS Services share one frontend with the certificates of both, the first one first',
      services: [
        shared('a', { annotations: http('a.example.com', { 'fulcrum-lb.io/tls-secret': 'a-tls' }), ports: [{ name: 'https', port: 443 }] }),
        shared('b', { namespace: 'shop', annotations: http('b.example.com', { 'fulcrum-lb.io/tls-secret': 'b-tls' }), ports: [{ name: 'https', port: 443 }] }),
      ],
      routes: { [`http@${VIP}:443`]: ['a.example.com@/→default/a:443/TCP', 'b.example.com@/→shop/b:443/TCP'] },
      check: (m) => assert.deepEqual(m.frontends[0]!.tls?.certificates.map((c) => c.source), ['secret default/a-tls', 'secret shop/b-tls']),
    },
    {
      name: 'a Service with other HTTP timeouts joins with the first one\'s and a warning',
      services: [shared('a', { annotations: http('a.example.com') }), shared('b', { annotations: http('b.example.com', { 'fulcrum-lb.io/timeout-server': '5m' }) })],
      routes: { [`http@${VIP}:80`]: ['a.example.com@/→default/a:80/TCP', 'b.example.com@/→default/b:80/TCP'] },
      warnings: [['default/b', 'sharedSettingIgnored']],
      check: (m) => assert.equal(m.frontends[0]!.http?.timeouts.serverMs, 50_000),
    },
    {
      name: 'a Service with other source ranges is left out rather than opening the port wider',
      services: [shared('a', { annotations: http('a.example.com'), sourceRanges: ['192.0.2.0/24'] }), shared('b', { annotations: http('b.example.com') })],
      routes: { [`http@${VIP}:80`]: ['a.example.com@/→default/a:80/TCP'] },
      warnings: [['default/b', 'sharedPortConflict', 'sourceRangesDiffer']],
    },
    {
      name: 'a redirecting Service and a serving one on port 80: the later is left out',
      services: [shared('a', { annotations: http('a.example.com') }), shared('b', { annotations: { 'fulcrum-lb.io/http-hosts': 'b.example.com', 'fulcrum-lb.io/redirect-http-to-https': 'true' } })],
      routes: { [`http@${VIP}:80`]: ['a.example.com@/→default/a:80/TCP'] },
      warnings: [['default/b', 'sharedPortConflict', 'redirectDiffers']],
    },
    {
      name: 'TCP and UDP on the same port number are different listeners',
      services: [shared('a', { ports: [{ name: 'dns', port: 53 }] }), shared('b', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] })],
      routes: { [`default/a:53/TCP@${VIP}`]: ['any→default/a:53/TCP'], [`default/b:53/UDP@${VIP}`]: ['any→default/b:53/UDP'] },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const frozen = JSON.stringify(row.services);
      const { model, warnings } = buildNodeProxyModel({ me: 'n1', owned: new Set([VIP]), services: row.services, endpoints: indexEndpoints([], []), down: new Set(), tls: tlsLookup });
      assert.deepEqual(routesOf(model), row.routes, `buildNodeProxyModel(${row.name})`);
      const got = warnings.map((w) => [w.service, w.warning.kind, ...(w.warning.kind === 'sharedPortConflict' ? [w.warning.reason] : [])]);
      assert.deepEqual(got, row.warnings ?? [], JSON.stringify(warnings));
      row.check?.(model);
      assert.equal(JSON.stringify(row.services), frozen, 'the Services were not mutated');
      const reversed = buildNodeProxyModel({ me: 'n1', owned: new Set([VIP]), services: [...row.services].reverse(), endpoints: indexEndpoints([], []), down: new Set(), tls: tlsLookup });
      assert.deepEqual(reversed.model, model, 'any order of the Services gives the same model');
    });
  }
});
