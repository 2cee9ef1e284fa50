import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { describeBuildWarning } from '../../speaker/events.js';
import { buildProxyModel } from '../../speaker/plan/service-proxy.js';

function svc(annotations: Record<string, string>, spec: Partial<NonNullable<V1Service['spec']>> = {}): V1Service {
  return {
    metadata: { namespace: 'default', name: 'web', annotations },
    spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
    status: { loadBalancer: { ingress: [{ ip: '192.0.2.70' }] } },
  };
}

describe('speaker: the Warning Event for Service proxy settings that are ignored', () => {
  const rows: { name: string; service: V1Service; expect: RegExp }[] = [
    { name: 'bad balance names the annotation, the value and the allowed ones', service: svc({ 'fulcrum-lb.io/balance': 'fastest' }), expect: /^fulcrum-lb\.io\/balance: "fastest" not one of roundrobin, .*; the default is used$/ },
    { name: 'bad PROXY protocol version', service: svc({ 'fulcrum-lb.io/proxy-protocol': 'v3' }), expect: /^fulcrum-lb\.io\/proxy-protocol: "v3" not one of .*v1.*v2/ },
    { name: 'bad source range names the field and the value', service: svc({}, { loadBalancerSourceRanges: ['10.0.0.0/33'] }), expect: /^loadBalancerSourceRanges: "10\.0\.0\.0\/33" .*every entry is bad, the port serves no one/ },
    { name: 'SCTP port', service: svc({}, { ports: [{ name: 's', port: 9, protocol: 'SCTP' }] }), expect: /^port 9\/SCTP: protocol "SCTP" is not supported/ },
    { name: 'PROXY protocol on a UDP port', service: svc({ 'fulcrum-lb.io/proxy-protocol': 'v2' }, { ports: [{ name: 'd', port: 53, protocol: 'UDP' }] }), expect: /^port 53\/UDP: the PROXY protocol is for TCP only/ },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const built = buildProxyModel(r.service, [], 'n1', ['192.0.2.70']);
      assert.equal(built.warnings.length, 1, JSON.stringify(built.warnings));
      assert.match(describeBuildWarning(built.warnings[0]!), r.expect);
    });
  }
});
