import assert from 'node:assert/strict';
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { formatStatusTable, statusRows, type PortStatus } from '../../bin/status-command.js';

function svc(ports: V1ServicePort[], annotations: Record<string, string> = {}): V1Service {
  return { metadata: { namespace: 'shop', name: 'web', annotations }, spec: { type: 'LoadBalancer', ports }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.70' }] } } };
}

describe('statusRows: how each port of a Service is served', () => {
  const HTTPS: V1ServicePort[] = [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'https', port: 443, protocol: 'TCP' }];
  const rows: { name: string; svc: V1Service; cell: string; ports?: Partial<PortStatus>[] }[] = [
    { name: 'plain TCP and UDP ports show no mode', svc: svc([{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }]), cell: '80/TCP,53/UDP', ports: [{ mode: 'tcp', tlsSecrets: [], dataPlane: 'proxy' }, { mode: 'udp', tlsSecrets: [], dataPlane: 'proxy' }] },
    { name: 'an HTTP port says http', svc: svc([{ port: 80, protocol: 'TCP', appProtocol: 'http' }]), cell: '80/TCP http' },
    {
      name: 'a TLS port of an HTTP Service says https with its Secrets',
      svc: svc(HTTPS, { 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/tls-secret': 'web-tls,old-tls' }),
      cell: '80/TCP http,443/TCP https(web-tls+old-tls)',
      ports: [{ mode: 'http', tlsSecrets: [], dataPlane: 'proxy' }, { mode: 'https', tlsSecrets: ['web-tls', 'old-tls'], dataPlane: 'proxy' }],
    },
    { name: 'a TLS port of a TCP Service says tls', svc: svc([{ name: 'db', port: 5432, protocol: 'TCP' }], { 'fulcrum-lb.io/tls-secret': 'db-tls', 'fulcrum-lb.io/tls-ports': 'db' }), cell: '5432/TCP tls(db-tls)' },
    { name: 'port 80 with redirect-http-to-https says redirect', svc: svc(HTTPS, { 'fulcrum-lb.io/tls-secret': 'web-tls', 'fulcrum-lb.io/redirect-http-to-https': 'true' }), cell: '80/TCP redirect(https),443/TCP tls(web-tls)' },
    { name: 'a TLS port without a Secret shows a dash (the speaker does not serve it)', svc: svc(HTTPS, { 'fulcrum-lb.io/tls-ports': '443' }), cell: '80/TCP,443/TCP tls(-)' },
    {
      name: 'ports in kernel mode say kernel; one with a proxy-only feature stays in the proxy',
      svc: svc([{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'web', port: 80, protocol: 'TCP', appProtocol: 'http' }, { name: 'db', port: 5432, protocol: 'TCP' }], { 'fulcrum-lb.io/data-plane': 'kernel' }),
      cell: '53/UDP kernel,80/TCP http,5432/TCP kernel',
      ports: [{ mode: 'udp', tlsSecrets: [], dataPlane: 'kernel' }, { mode: 'http', tlsSecrets: [], dataPlane: 'proxy' }, { mode: 'tcp', tlsSecrets: [], dataPlane: 'kernel' }],
    },
    { name: 'kernel mode for some ports only', svc: svc([{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'db', port: 5432, protocol: 'TCP' }], { 'fulcrum-lb.io/data-plane': 'kernel:dns' }), cell: '53/UDP kernel,5432/TCP' },
    { name: 'a pending Service shows no data plane yet', svc: { ...svc([{ port: 53, protocol: 'UDP' }], { 'fulcrum-lb.io/data-plane': 'kernel' }), status: {} }, cell: '53/UDP' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = JSON.stringify(row.svc);
      const [r] = statusRows([row.svc], [], []);
      if (row.ports) assert.deepEqual(r!.ports.map((p) => ({ mode: p.mode, tlsSecrets: p.tlsSecrets, dataPlane: p.dataPlane })), row.ports);
      const table = formatStatusTable([r!]);
      assert.match(table.split('\n')[1]!, new RegExp(`\\s${row.cell.replace(/[()+/]/g, '\\$&')}\\s`), table);
      assert.equal(JSON.stringify(row.svc), before, 'inputs were not mutated');
    });
  }
});
