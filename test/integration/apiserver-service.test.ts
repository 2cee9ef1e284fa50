import assert from 'node:assert/strict';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { raw, reportRequests, startTestApiServer, type Json } from '../helpers/apiserver.js';

// Service defaulting and validation (fidelity spec §8), table-driven: each row creates a
// Service differing from a LoadBalancer default only where it says.
describe('apiserver emulator: Service defaulting and validation', () => {
  let api: ApiServer;
  let n = 0;
  before(async () => {
    api = await startTestApiServer();
  });
  after(async () => {
    reportRequests(api, 'service');
    await api.stop();
  });

  const path = '/api/v1/namespaces/default/services';
  const build = (spec: Json): Json => ({ metadata: { name: `svc-${++n}` }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }], ...spec } });
  const create = (spec: Json) => raw(api, 'POST', path, { body: build(spec) });

  const defaults: { name: string; spec: Json; check: (s: Json) => void }[] = [
    { name: 'a bare Service becomes a single-stack IPv4 ClusterIP Service', spec: { type: undefined }, check: (s) => {
      assert.equal(s.spec.type, 'ClusterIP');
      assert.equal(s.spec.sessionAffinity, 'None');
      assert.equal(s.spec.internalTrafficPolicy, 'Cluster');
      assert.equal(s.spec.ipFamilyPolicy, 'SingleStack');
      assert.deepEqual(s.spec.ipFamilies, ['IPv4']);
      assert.deepEqual(s.spec.clusterIPs, [s.spec.clusterIP]);
      assert.equal(s.spec.externalTrafficPolicy, undefined);
      assert.equal(s.spec.ports[0].nodePort, undefined);
      assert.deepEqual(s.status, { loadBalancer: {} });
    } },
    { name: 'ports default to TCP and targetPort to port, named target ports kept', spec: { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, targetPort: 'web' }] }, check: (s) => {
      assert.deepEqual(s.spec.ports.map((p: Json) => [p.protocol, p.targetPort]), [['TCP', 80], ['TCP', 'web']]);
    } },
    { name: 'a LoadBalancer gets Cluster traffic policy, node ports and allocateLoadBalancerNodePorts', spec: {}, check: (s) => {
      assert.equal(s.spec.externalTrafficPolicy, 'Cluster');
      assert.equal(s.spec.allocateLoadBalancerNodePorts, true);
      assert.ok(s.spec.ports[0].nodePort >= 30000);
      assert.equal(s.spec.healthCheckNodePort, undefined);
    } },
    { name: 'Local traffic policy on a LoadBalancer allocates a healthCheckNodePort', spec: { externalTrafficPolicy: 'Local' }, check: (s) => {
      assert.ok(s.spec.healthCheckNodePort >= 30000 && s.spec.healthCheckNodePort <= 32767);
      assert.notEqual(s.spec.healthCheckNodePort, s.spec.ports[0].nodePort);
    } },
    { name: 'PreferDualStack gets both families on this dual-stack cluster', spec: { ipFamilyPolicy: 'PreferDualStack' }, check: (s) => {
      assert.deepEqual(s.spec.ipFamilies, ['IPv4', 'IPv6']);
      assert.match(s.spec.clusterIPs[1], /^2001:db8:ff::/);
    } },
    { name: 'an IPv6-only Service gets an IPv6 cluster IP', spec: { ipFamilies: ['IPv6'] }, check: (s) => {
      assert.equal(s.spec.ipFamilyPolicy, 'SingleStack');
      assert.match(s.spec.clusterIP, /^2001:db8:ff::/);
    } },
    { name: 'a requested cluster IP in range is kept', spec: { clusterIP: '203.0.113.200' }, check: (s) => assert.equal(s.spec.clusterIP, '203.0.113.200') },
    { name: 'a headless Service has clusterIP None', spec: { type: 'ClusterIP', clusterIP: 'None' }, check: (s) => assert.deepEqual(s.spec.clusterIPs, ['None']) },
    { name: 'TCP and UDP on one LoadBalancer port are allowed', spec: { ports: [{ name: 'dns', port: 53 }, { name: 'dnsu', port: 53, protocol: 'UDP' }] }, check: (s) => assert.equal(s.spec.ports.length, 2) },
    { name: 'a loadBalancerClass with a prefix is accepted', spec: { loadBalancerClass: 'fulcrum-lb.io/lb' }, check: (s) => assert.equal(s.spec.loadBalancerClass, 'fulcrum-lb.io/lb') },
  ];
  for (const row of defaults) {
    it(`defaults: ${row.name}`, async () => {
      const r = await create(row.spec);
      assert.equal(r.status, 201, r.text);
      row.check(r.json);
    });
  }

  const invalid: { name: string; spec: Json; field: string; message: RegExp }[] = [
    { name: 'ports are required', spec: { ports: undefined }, field: 'spec.ports', message: /spec\.ports: Required value/ },
    { name: 'Local traffic policy on a ClusterIP Service', spec: { type: 'ClusterIP', externalTrafficPolicy: 'Local' }, field: 'spec.externalTrafficPolicy', message: /Invalid value: "Local": may only be set for externally-accessible services/ },
    { name: 'a loadBalancerClass on a ClusterIP Service', spec: { type: 'ClusterIP', loadBalancerClass: 'a.io/b' }, field: 'spec.loadBalancerClass', message: /Forbidden: may only be used when `type` is 'LoadBalancer'/ },
    { name: 'a loadBalancerClass that is not a qualified name', spec: { loadBalancerClass: 'not a name' }, field: 'spec.loadBalancerClass', message: /Invalid value/ },
    { name: 'a node port out of range', spec: { ports: [{ port: 80, nodePort: 80 }] }, field: 'spec.ports[0].nodePort', message: /Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767/ },
    { name: 'a source range that is not a CIDR', spec: { loadBalancerSourceRanges: ['192.0.2.0/33'] }, field: 'spec.loadBalancerSourceRanges[0]', message: /must be a valid CIDR/ },
    { name: 'an unknown type', spec: { type: 'Magic' }, field: 'spec.type', message: /Unsupported value: "Magic"/ },
    { name: 'two ports without names', spec: { ports: [{ port: 80 }, { port: 81 }] }, field: 'spec.ports[0].name', message: /Required value/ },
    { name: 'a duplicate port and protocol', spec: { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }, field: 'spec.ports[1]', message: /Duplicate value/ },
    { name: 'a cluster IP outside the service range', spec: { clusterIP: '192.0.2.1' }, field: 'spec.clusterIPs', message: /provided IP is not in the valid range/ },
    { name: 'SingleStack with two families', spec: { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4', 'IPv6'] }, field: 'spec.ipFamilies', message: /only one ipFamily/ },
    { name: 'a healthCheckNodePort without Local traffic policy', spec: { healthCheckNodePort: 31000 }, field: 'spec.healthCheckNodePort', message: /may only be set when/ },
    { name: 'allocateLoadBalancerNodePorts on a NodePort Service', spec: { type: 'NodePort', allocateLoadBalancerNodePorts: false }, field: 'spec.allocateLoadBalancerNodePorts', message: /Forbidden/ },
  ];
  for (const row of invalid) {
    it(`422: ${row.name}`, async () => {
      const r = await create(row.spec);
      assert.equal(r.status, 422, r.text);
      assert.equal(r.json.reason, 'Invalid');
      assert.match(r.json.message, /^Service "svc-\d+" is invalid: /);
      assert.match(r.json.message, row.message);
      assert.ok((r.json.details.causes as Json[]).some((c) => c.field === row.field), `causes name ${row.field}: ${JSON.stringify(r.json.details.causes)}`);
      assert.equal(r.json.details.kind, 'Service');
    });
  }

  it('a refused Service leaves no node port or cluster IP allocated', async () => {
    const first = await create({ ports: [{ port: 80, nodePort: 31999 }], clusterIP: '203.0.113.77', loadBalancerSourceRanges: ['nope'] });
    assert.equal(first.status, 422);
    const again = await create({ ports: [{ port: 80, nodePort: 31999 }], clusterIP: '203.0.113.77' });
    assert.equal(again.status, 201, again.text);
  });

  it('deleting a Service frees its node ports and cluster IP', async () => {
    const a = await create({ ports: [{ port: 80, nodePort: 32000 }], clusterIP: '203.0.113.78' });
    assert.equal(a.status, 201);
    await raw(api, 'DELETE', `${path}/${a.json.metadata.name}`);
    const b = await create({ ports: [{ port: 80, nodePort: 32000 }], clusterIP: '203.0.113.78' });
    assert.equal(b.status, 201, b.text);
  });

  it('LoadBalancer → ClusterIP clears node ports, traffic policy, health check port, allocate flag and status', async () => {
    const s = (await create({ externalTrafficPolicy: 'Local' })).json;
    await raw(api, 'PUT', `${path}/${s.metadata.name}/status`, { body: { ...s, status: { loadBalancer: { ingress: [{ ip: '192.0.2.50' }] } } } });
    const r = await raw(api, 'PATCH', `${path}/${s.metadata.name}`, { body: { spec: { type: 'ClusterIP' } }, contentType: 'application/merge-patch+json' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.spec.ports[0].nodePort, undefined);
    assert.equal(r.json.spec.externalTrafficPolicy, undefined);
    assert.equal(r.json.spec.healthCheckNodePort, undefined);
    assert.equal(r.json.spec.allocateLoadBalancerNodePorts, undefined);
    assert.deepEqual(r.json.status, { loadBalancer: {} });
    assert.equal(r.json.spec.clusterIP, s.spec.clusterIP, 'the cluster IP stays');
    const reuse = await create({ ports: [{ port: 80, nodePort: s.spec.ports[0].nodePort }] });
    assert.equal(reuse.status, 201, 'the freed node port can be taken again');
  });

  it('a PUT without the allocated fields keeps them (as kubectl replace does)', async () => {
    const s = (await create({})).json;
    const body = { metadata: { name: s.metadata.name, resourceVersion: s.metadata.resourceVersion }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } };
    const r = await raw(api, 'PUT', `${path}/${s.metadata.name}`, { body });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.spec.clusterIP, s.spec.clusterIP);
    assert.equal(r.json.spec.ports[0].nodePort, s.spec.ports[0].nodePort);
    assert.equal(r.json.metadata.resourceVersion, s.metadata.resourceVersion, 'nothing changed, so no new RV');
  });

  it('turning allocateLoadBalancerNodePorts off later keeps the existing node ports', async () => {
    const s = (await create({})).json;
    const r = await raw(api, 'PATCH', `${path}/${s.metadata.name}`, { body: { spec: { allocateLoadBalancerNodePorts: false } }, contentType: 'application/merge-patch+json' });
    assert.equal(r.json.spec.ports[0].nodePort, s.spec.ports[0].nodePort);
  });

  const statusRows: { name: string; ingress: Json[]; code: number; field?: string; stored?: Json[] }[] = [
    { name: 'an ingress IP that does not parse', ingress: [{ ip: 'not-an-ip' }], code: 422, field: 'status.loadBalancer.ingress[0].ip' },
    { name: 'a hostname that is an IP', ingress: [{ hostname: '192.0.2.1' }], code: 422, field: 'status.loadBalancer.ingress[0].hostname' },
    { name: 'an unknown ipMode', ingress: [{ ip: '192.0.2.1', ipMode: 'Tunnel' }], code: 422, field: 'status.loadBalancer.ingress[0].ipMode' },
    { name: 'an ingress port without a protocol (ports are not validated: Go zero values stored)', ingress: [{ ip: '192.0.2.1', ports: [{ port: 80 }] }], code: 200, stored: [{ ip: '192.0.2.1', ports: [{ port: 80, protocol: '' }], ipMode: 'VIP' }] },
    { name: 'an IPv6 ingress on an IPv4 Service (the family is not checked)', ingress: [{ ip: '2001:db8::1', ipMode: 'Proxy' }], code: 200, stored: [{ ip: '2001:db8::1', ipMode: 'Proxy' }] },
    { name: 'a hostname ingress', ingress: [{ hostname: 'lb.example.com' }], code: 200, stored: [{ hostname: 'lb.example.com' }] },
    { name: 'ports with an error', ingress: [{ ip: '192.0.2.1', ports: [{ port: 80, protocol: 'TCP', error: 'Pending' }] }], code: 200, stored: [{ ip: '192.0.2.1', ports: [{ port: 80, protocol: 'TCP', error: 'Pending' }], ipMode: 'VIP' }] },
  ];
  for (const row of statusRows) {
    it(`status: ${row.name} → ${row.code}`, async () => {
      const s = (await create({})).json;
      const r = await raw(api, 'PUT', `${path}/${s.metadata.name}/status`, { body: { ...s, status: { loadBalancer: { ingress: row.ingress } } } });
      assert.equal(r.status, row.code, r.text);
      if (row.field) assert.equal(r.json.details.causes[0].field, row.field);
      if (row.stored) assert.deepEqual(r.json.status.loadBalancer.ingress, row.stored);
    });
  }
});
