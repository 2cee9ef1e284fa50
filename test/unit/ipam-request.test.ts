import assert from 'node:assert/strict';
import { serviceRequest, type ServiceLike } from '../../src/ipam/request.js';
import type { AllocationRequest } from '../../src/ipam/types.js';

type Spec = NonNullable<ServiceLike['spec']>;

function service(spec: Partial<Spec> = {}, annotations: Record<string, string> = {}): ServiceLike {
  return { metadata: { namespace: 'ns', name: 'web', annotations }, spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], selector: { app: 'web' }, ...spec } };
}

const DEFAULT: AllocationRequest = {
  pool: undefined,
  requestedAddresses: [],
  families: ['IPv4'],
  familyPolicy: 'SingleStack',
  sharingKey: undefined,
  ports: [{ port: 80, protocol: 'TCP' }],
  externalTrafficPolicy: 'Cluster',
  selector: { app: 'web' },
};

describe('serviceRequest: what a Service asks for', () => {
  const rows: Array<{ name: string; svc: ServiceLike; want: Partial<AllocationRequest> }> = [
    { name: 'a plain LoadBalancer Service asks for one IPv4 address from any auto-assign pool', svc: service(), want: {} },
    { name: 'the pool annotation names the pool', svc: service({}, { 'fulcrum-lb.io/address-pool': 'web' }), want: { pool: 'web' } },
    { name: "MetalLB's pool annotation is an alias", svc: service({}, { 'metallb.universe.tf/address-pool': 'web' }), want: { pool: 'web' } },
    { name: 'both pool annotations may agree', svc: service({}, { 'metallb.universe.tf/address-pool': 'web', 'fulcrum-lb.io/address-pool': 'web' }), want: { pool: 'web' } },
    { name: 'spec.loadBalancerIP requests an address', svc: service({ loadBalancerIP: '192.0.2.7' }), want: { requestedAddresses: ['192.0.2.7'] } },
    { name: 'spec.loadBalancerIP of IPv6 makes an IPv6 Service when the families are not given', svc: service({ loadBalancerIP: '2001:DB8::7' }), want: { requestedAddresses: ['2001:db8::7'], families: ['IPv6'] } },
    {
      name: 'the loadBalancerIPs annotation requests one address per family, in ipFamilies order',
      svc: service({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }, { 'fulcrum-lb.io/loadBalancerIPs': '192.0.2.7, 2001:db8::7' }),
      want: { requestedAddresses: ['2001:db8::7', '192.0.2.7'], families: ['IPv6', 'IPv4'], familyPolicy: 'RequireDualStack' },
    },
    {
      name: "MetalLB's loadBalancerIPs annotation is an alias",
      svc: service({}, { 'metallb.universe.tf/loadBalancerIPs': '192.0.2.8' }),
      want: { requestedAddresses: ['192.0.2.8'] },
    },
    {
      name: 'PreferDualStack with one requested address asks for that family only',
      svc: service({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] }, { 'fulcrum-lb.io/loadBalancerIPs': '2001:db8::9' }),
      want: { requestedAddresses: ['2001:db8::9'], families: ['IPv6'], familyPolicy: 'PreferDualStack' },
    },
    { name: 'the sharing key comes from allow-shared-ip', svc: service({}, { 'fulcrum-lb.io/allow-shared-ip': 'dns' }), want: { sharingKey: 'dns' } },
    { name: "MetalLB's allow-shared-ip is an alias", svc: service({}, { 'metallb.universe.tf/allow-shared-ip': 'dns' }), want: { sharingKey: 'dns' } },
    {
      name: 'ports carry their protocols, TCP by default',
      svc: service({ ports: [{ port: 53, protocol: 'UDP' }, { port: 53 }] }),
      want: { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
    },
    { name: 'externalTrafficPolicy Local and the selector are kept', svc: service({ externalTrafficPolicy: 'Local', selector: { app: 'x' } }), want: { externalTrafficPolicy: 'Local', selector: { app: 'x' } } },
    { name: 'a Service without selector has an empty one', svc: service({ selector: undefined }), want: { selector: {} } },
    { name: "the Service's labels come along, for pools pinned by serviceSelectors", svc: { ...service({}), metadata: { namespace: 'ns', name: 'web', labels: { tier: 'front' } } }, want: { labels: { tier: 'front' } } },
    { name: 'RequireDualStack serves both families, in ipFamilies order', svc: service({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }), want: { families: ['IPv6', 'IPv4'], familyPolicy: 'RequireDualStack' } },
    { name: 'PreferDualStack wants both families when the cluster gave it both', svc: service({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] }), want: { families: ['IPv4', 'IPv6'], familyPolicy: 'PreferDualStack' } },
    { name: 'PreferDualStack the cluster gave one family wants that family only, as MetalLB', svc: service({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4'] }), want: { familyPolicy: 'PreferDualStack' } },
    { name: 'PreferDualStack without ipFamilies or cluster IPs wants both families', svc: service({ ipFamilyPolicy: 'PreferDualStack' }), want: { families: ['IPv4', 'IPv6'], familyPolicy: 'PreferDualStack' } },
    { name: "MetalLB's new prefix metallb.io/ is read too", svc: service({}, { 'metallb.io/address-pool': 'web', 'metallb.io/allow-shared-ip': 'dns' }), want: { pool: 'web', sharingKey: 'dns' } },
    { name: 'SingleStack takes the first of ipFamilies', svc: service({ ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] }), want: { families: ['IPv6'] } },
    { name: 'without ipFamilies, the cluster IPs give the family', svc: service({ clusterIPs: ['fd00::1'] }), want: { families: ['IPv6'] } },
    {
      name: 'an HTTP port carries its claim: hosts in lower case, the normalised path prefix, TLS and redirect',
      svc: service({}, { 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-hosts': 'A.example.com,*.b.example.com', 'fulcrum-lb.io/http-path-prefix': '/api/' }),
      want: { ports: [{ port: 80, protocol: 'TCP', http: { hosts: ['a.example.com', '*.b.example.com'], pathPrefix: '/api', tls: false, redirect: false } }] },
    },
    {
      name: 'appProtocol http makes the port HTTP for sharing too, the other ports stay plain',
      svc: service({ ports: [{ port: 80, protocol: 'TCP', appProtocol: 'http' }, { port: 5432, protocol: 'TCP' }] }),
      want: { ports: [{ port: 80, protocol: 'TCP', http: { hosts: [], pathPrefix: '/', tls: false, redirect: false } }, { port: 5432, protocol: 'TCP' }] },
    },
    {
      name: 'tls-secret makes 443 a TLS claim and redirect makes 80 a redirecting one',
      svc: service({ ports: [{ port: 80, protocol: 'TCP' }, { port: 443, protocol: 'TCP', appProtocol: 'http' }] }, { 'fulcrum-lb.io/tls-secret': 'web-tls', 'fulcrum-lb.io/redirect-http-to-https': 'true' }),
      want: {
        ports: [
          { port: 80, protocol: 'TCP', http: { hosts: [], pathPrefix: '/', tls: false, redirect: true } },
          { port: 443, protocol: 'TCP', http: { hosts: [], pathPrefix: '/', tls: true, redirect: false } },
        ],
      },
    },
    { name: 'a plain TCP port has no HTTP claim, whatever http-hosts says', svc: service({}, { 'fulcrum-lb.io/http-hosts': 'a.example.com' }), want: {} },
    {
      name: 'bad HTTP annotation values read as their fallbacks, as the speaker reads them',
      svc: service({}, { 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-hosts': 'bad host', 'fulcrum-lb.io/http-path-prefix': 'api' }),
      want: { ports: [{ port: 80, protocol: 'TCP', http: { hosts: [], pathPrefix: '/', tls: false, redirect: false } }] },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = structuredClone(row.svc);
      const result = serviceRequest(row.svc);
      assert.deepEqual(result, { kind: 'request', request: { ...DEFAULT, ...row.want } }, `serviceRequest(${JSON.stringify(row.svc)})`);
      assert.deepEqual(row.svc, before, 'the Service was not mutated');
    });
  }
});

describe('serviceRequest: Services it refuses or ignores', () => {
  const rows: Array<{ name: string; svc: ServiceLike; kind: 'ignored' | 'invalid'; reason: string }> = [
    { name: 'a ClusterIP Service is ignored', svc: service({ type: 'ClusterIP' }), kind: 'ignored', reason: 'notLoadBalancer' },
    { name: 'a Service of another load-balancer class is ignored', svc: service({ loadBalancerClass: 'example.com/other' }), kind: 'ignored', reason: 'otherLoadBalancerClass' },
    {
      name: 'spec.loadBalancerIP and the annotation together are an error',
      svc: service({ loadBalancerIP: '192.0.2.7' }, { 'fulcrum-lb.io/loadBalancerIPs': '192.0.2.7' }),
      kind: 'invalid',
      reason: 'conflictingRequests',
    },
    { name: 'two pool annotations that disagree are an error', svc: service({}, { 'fulcrum-lb.io/address-pool': 'a', 'metallb.universe.tf/address-pool': 'b' }), kind: 'invalid', reason: 'conflictingRequests' },
    { name: 'two requested addresses of one family are an error', svc: service({ ipFamilyPolicy: 'PreferDualStack' }, { 'fulcrum-lb.io/loadBalancerIPs': '192.0.2.7,192.0.2.8' }), kind: 'invalid', reason: 'tooManyRequestedAddresses' },
    { name: 'a requested address that is not an address is an error', svc: service({ loadBalancerIP: '192.0.2.300' }), kind: 'invalid', reason: 'badRequestedAddress' },
    { name: 'an IPv6 request on an IPv4 SingleStack Service is an error', svc: service({ ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'], loadBalancerIP: '2001:db8::1' }), kind: 'invalid', reason: 'familyMismatch' },
    { name: 'RequireDualStack with one requested address is an error', svc: service({ ipFamilyPolicy: 'RequireDualStack' }, { 'fulcrum-lb.io/loadBalancerIPs': '192.0.2.7' }), kind: 'invalid', reason: 'familyMismatch' },
    { name: 'RequireDualStack on a Service the cluster gave one family is an error, as in MetalLB', svc: service({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] }), kind: 'invalid', reason: 'badSpec' },
    { name: 'a requested IPv6 address on a PreferDualStack Service the cluster gave only IPv4 is an error', svc: service({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4'], loadBalancerIP: '2001:db8::1' }), kind: 'invalid', reason: 'familyMismatch' },
    { name: 'metallb.io/ and metallb.universe.tf/ pool annotations that disagree are an error', svc: service({}, { 'metallb.io/address-pool': 'a', 'metallb.universe.tf/address-pool': 'b' }), kind: 'invalid', reason: 'conflictingRequests' },
    { name: 'an unknown ipFamilyPolicy is an error', svc: service({ ipFamilyPolicy: 'Both' }), kind: 'invalid', reason: 'badSpec' },
    { name: 'a port protocol that does not exist is an error', svc: service({ ports: [{ port: 80, protocol: 'QUIC' }] }), kind: 'invalid', reason: 'badSpec' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = serviceRequest(row.svc);
      assert.equal(result.kind as string, row.kind, JSON.stringify(result));
      if (result.kind === 'request') return;
      assert.equal(result.reason, row.reason, result.message);
      assert.ok(result.message.length > 0);
    });
  }

  it('a Service of the configured load-balancer class is served', () => {
    assert.equal(serviceRequest(service({ loadBalancerClass: 'fulcrum-lb.io/lb' }), { loadBalancerClass: 'fulcrum-lb.io/lb' }).kind, 'request');
  });
});
