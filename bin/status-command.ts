import type { CoreV1Event, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { createApiClients } from '../src/k8s/client.js';
import { reuseConnections } from '../src/k8s/keep-alive.js';
import { loadKubeConfig } from '../src/k8s/kubeconfig.js';
import { EXIT_OK, parseCommandArgs, type Command } from '../src/command.js';
import { annotationText } from '../src/service/annotations.js';
import { endpointsOf, indexEndpoints } from '../src/service/endpoints.js';
import { assignedNode } from '../speaker/events.js';

const usage = `Usage: fulcrum status [--kubeconfig PATH] [-n NAMESPACE] [-o table|json]

Shows every LoadBalancer Service: its addresses (from status), the pool they came from, the
node that announces them (from the speakers' latest nodeAssigned event), its ports and how
many endpoints are ready.

Options:
  --kubeconfig PATH   API access (default: $KUBECONFIG, else in-cluster)
  -n, --namespace NS  only this namespace (default: all)
  -o, --output FMT    table (default) or json
`;

export interface ServiceStatusRow {
  namespace: string;
  name: string;
  addresses: string[];
  pool: string | null;
  owner: string | null;
  ports: { port: number; protocol: string }[];
  endpoints: { ready: number; total: number };
  trafficPolicy: string;
}

/** The owner a speaker last announced for this Service: MetalLB's `nodeAssigned` event. */
function lastOwner(events: readonly CoreV1Event[]): string | null {
  let best: { t: number; node: string } | undefined;
  for (const e of events) {
    if (e.reason !== 'nodeAssigned') continue;
    const node = assignedNode(e.message ?? '');
    if (node === undefined) continue;
    const t = Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0));
    if (!best || t >= best.t) best = { t, node };
  }
  return best?.node ?? null;
}

/** Pure: the rows of `fulcrum status` from what the API holds. */
export function statusRows(services: readonly V1Service[], slices: readonly V1EndpointSlice[], events: readonly CoreV1Event[]): ServiceStatusRow[] {
  const rows: ServiceStatusRow[] = [];
  const index = indexEndpoints(slices, []);
  for (const svc of services) {
    if (svc.spec?.type !== 'LoadBalancer') continue;
    const ns = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata?.name ?? '';
    const eps = endpointsOf(svc, index);
    rows.push({
      namespace: ns,
      name,
      addresses: (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean),
      pool: annotationText(svc, 'ip-allocated-from-pool') ?? null,
      owner: lastOwner(events.filter((e) => e.involvedObject?.namespace === ns && e.involvedObject?.name === name && e.involvedObject?.kind === 'Service')),
      ports: (svc.spec.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' })),
      endpoints: { ready: eps.filter((e) => e.ready).length, total: eps.length },
      trafficPolicy: svc.spec.externalTrafficPolicy ?? 'Cluster',
    });
  }
  return rows.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export function formatStatusTable(rows: readonly ServiceStatusRow[]): string {
  const header = ['SERVICE', 'ADDRESSES', 'POOL', 'OWNER', 'PORTS', 'ENDPOINTS', 'POLICY'];
  const cells = rows.map((r) => [
    `${r.namespace}/${r.name}`,
    r.addresses.length ? r.addresses.join(',') : '<pending>',
    r.pool ?? '-',
    r.owner ?? '-',
    r.ports.map((p) => `${p.port}/${p.protocol}`).join(',') || '-',
    `${r.endpoints.ready}/${r.endpoints.total} ready`,
    r.trafficPolicy,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}

export const command: Command = {
  name: 'status',
  summary: 'show addresses, owners and endpoints of LoadBalancer Services',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      output: { type: 'string', short: 'o' },
    });
    const output = values.output ?? 'table';
    if (output !== 'table' && output !== 'json') {
      const { UsageError } = await import('../src/errors.js');
      throw new UsageError(`--output: "${output}" is not table or json`);
    }
    const clients = createApiClients(reuseConnections(loadKubeConfig(values.kubeconfig).kubeConfig), { requestTimeoutMs: 15_000 });
    const ns = values.namespace;
    const [services, slices, events] = await Promise.all([
      ns ? clients.core.listNamespacedService({ namespace: ns }) : clients.core.listServiceForAllNamespaces(),
      ns ? clients.discovery.listNamespacedEndpointSlice({ namespace: ns }) : clients.discovery.listEndpointSliceForAllNamespaces(),
      ns ? clients.core.listNamespacedEvent({ namespace: ns }) : clients.core.listEventForAllNamespaces(),
    ]);
    const rows = statusRows(services.items, slices.items, events.items);
    process.stdout.write(output === 'json' ? JSON.stringify(rows, null, 2) + '\n' : rows.length ? formatStatusTable(rows) : 'no LoadBalancer Services\n');
    return EXIT_OK;
  },
};
