import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { dataPlaneOf, splitKernelPorts } from '../../speaker/plan/kernel-ports.js';
import type { BuildWarning } from '../../speaker/plan/service-annotations.js';
import { buildProxyModel } from '../../speaker/plan/service-proxy.js';
import { indexEndpoints, type EndpointView } from '../../src/service/endpoints.js';
import { buildNodeProxyModel } from '../../speaker/plan/proxy-model.js';

const VIP = '192.0.2.10';

function service(annotations: Record<string, string>, spec: Partial<NonNullable<V1Service['spec']>> = {}): V1Service {
  return {
    metadata: { namespace: 'shop', name: 'web', annotations },
    spec: {
      type: 'LoadBalancer',
      ports: [
        { name: 'web', port: 80, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'tls', port: 443, protocol: 'TCP' },
      ],
      ...spec,
    },
  };
}

const endpoint = (address: string): EndpointView => ({
  address,
  nodeName: 'n1',
  ready: true,
  serving: true,
  terminating: false,
  ports: new Map([
    ['web', { port: 8080, protocol: 'TCP' }],
    ['dns', { port: 5353, protocol: 'UDP' }],
    ['tls', { port: 8443, protocol: 'TCP' }],
  ]),
});

function split(svc: V1Service) {
  const model = buildProxyModel(svc, [endpoint('203.0.113.2'), endpoint('203.0.113.1')], 'n1', [VIP]);
  const copy = structuredClone(model);
  const out = splitKernelPorts(svc, model);
  assert.deepEqual(model, copy, 'the proxy model is not mutated');
  return { model, ...out };
}

describe('kernel mode: the data-plane annotation', () => {
  const rows: { name: string; value?: string; want: string; warn?: RegExp }[] = [
    { name: 'absent: the proxy', want: 'proxy' },
    { name: 'proxy: the proxy', value: 'proxy', want: 'proxy' },
    { name: 'kernel: every port', value: 'kernel', want: 'kernel all' },
    { name: 'kernel with ports by number and name', value: 'kernel:80,dns', want: 'kernel 80,dns' },
    { name: 'a port the Service lacks is warned about, the others kept', value: 'kernel:80,99', want: 'kernel 80,99', warn: /names port "99", which the Service does not have/ },
    { name: 'anything else is warned about and keeps the proxy', value: 'kernal', want: 'proxy', warn: /is not proxy, kernel, or kernel:/ },
    { name: 'an empty list is a bad value', value: 'kernel:', want: 'proxy', warn: /is not proxy, kernel/ },
  ];
  for (const row of rows)
    it(row.name, () => {
      const warnings: BuildWarning[] = [];
      const c = dataPlaneOf(service(row.value === undefined ? {} : { 'fulcrum-lb.io/data-plane': row.value }), warnings);
      assert.equal(c.kind === 'proxy' ? 'proxy' : `kernel ${c.ports === 'all' ? 'all' : [...c.ports].join(',')}`, row.want, `dataPlaneOf(${row.value})`);
      if (row.warn) assert.match(warnings.map((w) => (w.kind === 'badAnnotation' ? w.reason : w.kind)).join('; '), row.warn);
      else assert.deepEqual(warnings, []);
    });
});

describe('kernel mode: which ports the kernel forwards', () => {
  it('no annotation: everything stays in the proxy, unchanged', () => {
    const { model, proxy, kernel } = split(service({}));
    assert.deepEqual(kernel, []);
    assert.deepEqual(proxy, model);
  });

  it('kernel: plain TCP and UDP ports go to the kernel, with Cluster SNAT, the same seed on every node, sorted endpoints; the backends stay in the proxy', () => {
    const { model, proxy, kernel } = split(service({ 'fulcrum-lb.io/data-plane': 'kernel' }));
    assert.deepEqual(kernel.map((k) => `${k.port}/${k.protocol} ${k.hashOn} snat=${k.snat} ${k.endpoints.map((e) => e.key).join(',')}`), [
      '80/tcp flow snat=true 203.0.113.1:8080,203.0.113.2:8080',
      '53/udp flow snat=true 203.0.113.1:5353,203.0.113.2:5353',
      '443/tcp flow snat=true 203.0.113.1:8443,203.0.113.2:8443',
    ]);
    assert.equal(proxy.frontends.length, 0);
    assert.deepEqual(proxy.backends, model.backends);
    assert.equal(split(service({ 'fulcrum-lb.io/data-plane': 'kernel' })).kernel[0]!.seed, kernel[0]!.seed);
  });

  it('kernel:80 with Local and ClientIP: only port 80, no SNAT, hashed on the client address', () => {
    const { proxy, kernel } = split(service({ 'fulcrum-lb.io/data-plane': 'kernel:80' }, { externalTrafficPolicy: 'Local', sessionAffinity: 'ClientIP' }));
    assert.deepEqual(kernel.map((k) => [k.port, k.snat, k.hashOn]), [[80, false, 'clientAddress']]);
    assert.deepEqual(proxy.frontends.map((f) => f.listen.port).sort(), [443, 53]);
  });

  it('source ranges: this family kept, the other family dropped from the list', () => {
    const { kernel } = split(service({ 'fulcrum-lb.io/data-plane': 'kernel:web' }, { loadBalancerSourceRanges: ['198.51.100.0/24', '2001:db8::/32'] }));
    assert.deepEqual(kernel.map((k) => [k.sourceRanges, k.denyAll]), [[['198.51.100.0/24'], false]]);
  });

  const proxyOnly: { name: string; annotations: Record<string, string>; feature: RegExp }[] = [
    { name: 'PROXY protocol keeps the TCP ports in the proxy', annotations: { 'fulcrum-lb.io/proxy-protocol': 'v2' }, feature: /uses PROXY protocol v2/ },
    { name: 'leastconn keeps every port in the proxy', annotations: { 'fulcrum-lb.io/balance': 'leastconn' }, feature: /uses balance leastconn/ },
    { name: 'HTTP keeps the HTTP ports in the proxy', annotations: { 'fulcrum-lb.io/protocol': 'http' }, feature: /uses HTTP/ },
    { name: 'maxconn keeps every port in the proxy', annotations: { 'fulcrum-lb.io/maxconn': '100' }, feature: /uses maxconn/ },
  ];
  for (const row of proxyOnly)
    it(row.name + ', with a warning naming the feature', () => {
      const { proxy, kernel } = split(service({ 'fulcrum-lb.io/data-plane': 'kernel:80', ...row.annotations }));
      assert.deepEqual(kernel, []);
      assert.ok(proxy.frontends.some((f) => f.listen.port === 80), 'port 80 served by the proxy');
      const w = proxy.warnings.filter((x) => x.kind === 'badAnnotation' && x.annotation === 'fulcrum-lb.io/data-plane');
      assert.equal(w.length, 1, JSON.stringify(proxy.warnings));
      assert.match(w[0]!.kind === 'badAnnotation' ? `${w[0]!.reason}; ${w[0]!.effect}` : '', row.feature);
      assert.match(w[0]!.kind === 'badAnnotation' ? (w[0]!.effect ?? '') : '', /stays in the proxy/);
    });
});

describe('kernel mode: the node model (buildNodeProxyModel)', () => {
  const annotated: V1Service = { ...service({ 'fulcrum-lb.io/data-plane': 'kernel:80' }), status: { loadBalancer: { ingress: [{ ip: VIP }] } } };
  const slices = [
    {
      addressType: 'IPv4',
      metadata: { namespace: 'shop', name: 'web-a', labels: { 'kubernetes.io/service-name': 'web' } },
      ports: [{ name: 'web', port: 8080, protocol: 'TCP' }],
      endpoints: [{ addresses: ['203.0.113.1'], nodeName: 'n1', conditions: { ready: true } }],
    },
  ];
  const input = (kernel?: boolean) => ({ me: 'n1', owned: new Set([VIP]), services: [annotated], endpoints: indexEndpoints(slices, []), down: new Set<string>(), ...(kernel === undefined ? {} : { kernel }) });

  it('kernel mode unavailable: the annotated port stays in the proxy and no kernel list is made', () => {
    const out = buildNodeProxyModel(input());
    assert.equal(out.kernel, undefined);
    assert.ok(out.model.frontends.some((f) => f.listen.port === 80));
  });

  it('kernel mode available: port 80 leaves the proxy for the kernel list, its backend stays for health checks', () => {
    const out = buildNodeProxyModel(input(true));
    assert.deepEqual(out.kernel?.map((k) => `${k.name} ${k.endpoints.map((e) => e.key).join(',')}`), [`shop/web:80/TCP@${VIP} 203.0.113.1:8080`]);
    assert.ok(!out.model.frontends.some((f) => f.listen.port === 80));
    assert.ok(out.model.backends.some((b) => b.name === 'shop/web:80/TCP'));
  });

  it('the table is built over every endpoint: one not ready and one on a down node stay in it, unhealthy, so the table size and the other slots do not change', () => {
    const three = [{ ...slices[0]!, endpoints: [
      { addresses: ['203.0.113.1'], nodeName: 'n1', conditions: { ready: true } },
      { addresses: ['203.0.113.2'], nodeName: 'n2', conditions: { ready: false } },
      { addresses: ['203.0.113.3'], nodeName: 'n3', conditions: { ready: true } },
    ] }];
    const listed = (down: string[]) => buildNodeProxyModel({ ...input(true), endpoints: indexEndpoints(three, []), down: new Set(down) }).kernel!.map((k) => k.endpoints.map((e) => `${e.key}${e.healthy ? '' : ' (unhealthy)'}`).join(', '));
    assert.deepEqual(listed([]), ['203.0.113.1:8080, 203.0.113.2:8080 (unhealthy), 203.0.113.3:8080']);
    assert.deepEqual(listed(['n3']), ['203.0.113.1:8080, 203.0.113.2:8080 (unhealthy), 203.0.113.3:8080 (unhealthy)'], 'n3 down: its endpoint keeps its place');
    const proxyBackend = buildNodeProxyModel({ ...input(true), endpoints: indexEndpoints(three, []), down: new Set(['n3']) }).model.backends.find((b) => b.name === 'shop/web:80/TCP')!;
    assert.deepEqual(proxyBackend.endpoints.map((e) => e.address), ['203.0.113.1'], 'the health choice itself is unchanged');
  });

  it('more endpoints than the largest table holds (1,310): the port stays in the proxy with a warning, not served by nobody', () => {
    // Documentation addresses only (768 of them), so two slices with two target ports: address:port is the endpoint.
    const docs = ['192.0.2', '198.51.100', '203.0.113'].flatMap((net) => Array.from({ length: 256 }, (_, i) => `${net}.${i}`));
    const many = (n: number) => [0, 1].map((k) => ({
      ...slices[0]!,
      metadata: { ...slices[0]!.metadata, name: `web-${k}` },
      ports: [{ name: 'web', port: 8080 + k, protocol: 'TCP' }],
      endpoints: docs.slice(0, k === 0 ? Math.min(n, 700) : Math.max(0, n - 700)).map((a) => ({ addresses: [a], nodeName: 'n1', conditions: { ready: true } })),
    }));
    const at = (n: number) => buildNodeProxyModel({ ...input(true), endpoints: indexEndpoints(many(n), []) });
    const fits = at(1310);
    assert.equal(fits.kernel!.length, 1);
    assert.ok(!fits.model.frontends.some((f) => f.listen.port === 80));
    const over = at(1311);
    assert.deepEqual(over.kernel, []);
    assert.ok(over.model.frontends.some((f) => f.listen.port === 80), 'the proxy serves port 80');
    const w = over.warnings.map((x) => (x.warning.kind === 'badAnnotation' ? x.warning.reason : '')).filter((r) => r.includes('largest table'));
    assert.deepEqual(w, ['asks kernel mode for port 80/TCP, which has 1311 endpoints: kernel mode\'s largest table holds 1310']);
  });

  it('externalTrafficPolicy Local: the universe is this node\'s endpoints only', () => {
    const local: V1Service = { ...annotated, spec: { ...annotated.spec!, externalTrafficPolicy: 'Local' } };
    const two = [{ ...slices[0]!, endpoints: [{ addresses: ['203.0.113.1'], nodeName: 'n1', conditions: { ready: false } }, { addresses: ['203.0.113.3'], nodeName: 'n3', conditions: { ready: true } }] }];
    const out = buildNodeProxyModel({ ...input(true), services: [local], endpoints: indexEndpoints(two, []) });
    assert.deepEqual(out.kernel!.map((k) => k.endpoints.map((e) => `${e.key} ${e.healthy}`)), [['203.0.113.1:8080 false']]);
  });
});
