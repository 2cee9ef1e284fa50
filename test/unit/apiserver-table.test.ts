import assert from 'node:assert/strict';
import { humanDuration, toTable, wantsTable } from '../../lab/apiserver/table.js';

// Server-side printing: kubectl prints only NAME and AGE unless the server answers with a Table.
describe('apiserver: Table printing (kubectl get)', () => {
  const rows: [string, number, string][] = [
    ['seconds under two minutes', 119_000, '119s'],
    ['minutes and seconds under ten minutes', 7 * 60_000 + 30_000, '7m30s'],
    ['whole minutes under three hours', 150 * 60_000, '150m'],
    ['hours and minutes under eight hours', 3 * 3_600_000 + 12 * 60_000, '3h12m'],
    ['days under two years', 5 * 86_400_000, '5d'],
  ];
  for (const [name, ms, want] of rows) it(`ages read like kubectl's: ${name}`, () => assert.equal(humanDuration(ms), want));

  it('recognises the Accept header kubectl sends, and nothing else', () => {
    assert.equal(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'), 'v1');
    assert.equal(wantsTable('application/json'), undefined);
    assert.equal(wantsTable(undefined), undefined);
  });

  it('prints a LoadBalancer Service with its external IP, ports with nodePorts, and <pending> without one', () => {
    const svc = (name: string, ingress: { ip: string }[]) => ({
      metadata: { name, creationTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '7' },
      spec: { type: 'LoadBalancer', clusterIP: '203.0.113.9', ports: [{ port: 80, nodePort: 31000, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }], selector: { app: 'web' } },
      status: { loadBalancer: { ingress } },
    });
    const input = [svc('web', [{ ip: '192.0.2.64' }, { ip: '2001:db8::100' }]), svc('queued', [])];
    const before = JSON.stringify(input);
    const t = toTable('services', input, { version: 'v1', resourceVersion: '9', includeObject: null, nowMs: Date.parse('2026-01-01T00:05:00Z') }) as {
      columnDefinitions: { name: string }[]; rows: { cells: unknown[]; object: { kind: string } }[];
    };
    assert.deepEqual(t.columnDefinitions.map((c) => c.name), ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector']);
    assert.deepEqual(t.rows[0]!.cells, ['web', 'LoadBalancer', '203.0.113.9', '192.0.2.64,2001:db8::100', '80:31000/TCP,53/UDP', '5m', 'app=web']);
    assert.equal(t.rows[1]!.cells[3], '<pending>');
    assert.equal(t.rows[0]!.object.kind, 'PartialObjectMetadata');
    assert.equal(JSON.stringify(input), before, 'input not mutated');
  });
});
