import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { describeBuildWarning } from '../../speaker/events.js';
import { buildProxyModel, type BuildOptions, type BuildWarning } from '../../speaker/plan/service-proxy.js';

function svc(annotations: Record<string, string>, spec: Partial<NonNullable<V1Service['spec']>> = {}): V1Service {
  return {
    metadata: { namespace: 'default', name: 'web', annotations },
    spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
    status: { loadBalancer: { ingress: [{ ip: '192.0.2.70' }] } },
  };
}

describe('speaker: the Warning Event for Service proxy settings that are ignored', () => {
  const rows: { name: string; service: V1Service; opts?: BuildOptions; expect: RegExp }[] = [
    { name: 'bad balance names the annotation, the value and the allowed ones', service: svc({ 'fulcrum-lb.io/balance': 'fastest' }), expect: /^fulcrum-lb\.io\/balance: "fastest" not one of roundrobin, .*; the default is used$/ },
    { name: 'bad PROXY protocol version', service: svc({ 'fulcrum-lb.io/proxy-protocol': 'v3' }), expect: /^fulcrum-lb\.io\/proxy-protocol: "v3" not one of .*v1.*v2/ },
    { name: 'bad source range names the field and the value', service: svc({}, { loadBalancerSourceRanges: ['10.0.0.0/33'] }), expect: /^loadBalancerSourceRanges: "10\.0\.0\.0\/33" .*every entry is bad, the port serves no one/ },
    { name: 'SCTP port', service: svc({}, { ports: [{ name: 's', port: 9, protocol: 'SCTP' }] }), expect: /^port 9\/SCTP: protocol "SCTP" is not supported/ },
    { name: 'PROXY protocol on a UDP port', service: svc({ 'fulcrum-lb.io/proxy-protocol': 'v2' }, { ports: [{ name: 'd', port: 53, protocol: 'UDP' }] }), expect: /^port 53\/UDP: the PROXY protocol is for TCP only/ },
    {
      name: 'a bad list entry says the entry is ignored rather than the default used',
      service: svc({ 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-hosts': 'a.example.com,*b.example.com' }),
      expect: /^fulcrum-lb\.io\/http-hosts: "\*b\.example\.com" has a "\*" that is not the whole first label .*; the entry is ignored$/,
    },
    {
      name: 'a missing tls-secret Secret names the Secret and says the others are served',
      service: svc({ 'fulcrum-lb.io/tls-secret': 'gone-tls,web-tls' }, { ports: [{ name: 'https', port: 443, protocol: 'TCP' }] }),
      opts: { tls: () => ({ certificates: [{ source: 'secret default/web-tls', certPem: 'C', keyPem: 'K' }], problems: [{ secret: 'gone-tls', reason: 'is not found in namespace "default"' }] }) },
      expect: /^fulcrum-lb\.io\/tls-secret: Secret "gone-tls" is not found in namespace "default"; the other certificates, and its last good one if any, are served$/,
    },
    {
      name: 'a TLS port without a certificate names the port and the Secrets and says it is not served',
      service: svc({ 'fulcrum-lb.io/tls-secret': 'web-tls' }, { ports: [{ name: 'https', port: 443, protocol: 'TCP' }] }),
      expect: /^port 443\/TCP: no usable certificate in fulcrum-lb\.io\/tls-secret "web-tls"; the port is not served \(never in plain text\)$/,
    },
    {
      name: 'tls-ports without tls-secret says no Secret is named',
      service: svc({ 'fulcrum-lb.io/tls-ports': '443' }, { ports: [{ name: 'https', port: 443, protocol: 'TCP' }] }),
      expect: /^port 443\/TCP: meant for TLS .* names no Secret; the port is not served/,
    },
    {
      name: 'an unreadable backend CA names the Secret and says the port is not served unverified',
      service: svc({ 'fulcrum-lb.io/backend-protocol': 'https', 'fulcrum-lb.io/backend-ca-secret': 'pods-ca' }),
      opts: { backendCa: () => ({ kind: 'unavailable', reason: 'has no ca.crt' }) },
      expect: /^port 80\/TCP: fulcrum-lb\.io\/backend-ca-secret "pods-ca" has no ca\.crt; the port is not served \(it never connects to the pods unverified\)$/,
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const built = buildProxyModel(r.service, [], 'n1', ['192.0.2.70'], r.opts);
      assert.equal(built.warnings.length, 1, JSON.stringify(built.warnings));
      assert.match(describeBuildWarning(built.warnings[0]!), r.expect);
    });
  }
});

describe('speaker: the Warning Event for a Service left out of a shared address and port', () => {
  const rows: { name: string; warning: BuildWarning; expect: RegExp }[] = [
    {
      name: 'an overlapping route names the port, the address, the Service that keeps it and the clash',
      warning: { kind: 'sharedPortConflict', port: '80/TCP', address: '192.0.2.70', winner: 'shop/a', reason: 'routeOverlap', detail: 'host "a.example.com", path prefix "/"' },
      expect: /^port 80\/TCP on 192\.0\.2\.70 is kept by shop\/a, which takes precedence \(created first, then by namespace\/name\): both claim the same host and path prefix \(host "a\.example\.com", path prefix "\/"\); this Service is not served on that port$/,
    },
    {
      name: 'a differing frontend-wide setting says whose is used',
      warning: { kind: 'sharedSettingIgnored', port: '443/TCP', address: '192.0.2.70', winner: 'shop/a', setting: 'HTTP timeouts' },
      expect: /^port 443\/TCP on 192\.0\.2\.70 is shared with shop\/a: this Service's HTTP timeouts differ from its, and shop\/a's are used$/,
    },
  ];
  for (const r of rows) it(r.name, () => assert.match(describeBuildWarning(r.warning), r.expect));
});
