import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Endpoints, V1Service } from '@kubernetes/client-node';
import { indexEndpoints } from '../../src/service/endpoints.js';
import { buildNodeProxyModel } from '../../speaker/plan/proxy-model.js';

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
