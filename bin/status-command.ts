import type { CoreV1Event, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { createApiClients } from '../src/k8s/client.js';
import { reuseConnections } from '../src/k8s/keep-alive.js';
import { loadKubeConfig } from '../src/k8s/kubeconfig.js';
import { EXIT_OK, parseCommandArgs, type Command } from '../src/command.js';
import { annotationText } from '../src/service/annotations.js';
import { endpointsOf, indexEndpoints, type EndpointView } from '../src/service/endpoints.js';
import { canonicalAddress } from '../src/address.js';
import { serviceHttpTerms } from '../src/service/http.js';
import { assignedNode } from '../speaker/events.js';
import { isHttpCode } from '../src/k8s/api-error.js';
import { splitKernelPorts } from '../speaker/plan/kernel-ports.js';
import { buildProxyModel } from '../speaker/plan/service-proxy.js';
import { alignColumns, COMPONENT_SELECTOR, componentRows, componentsNote, DEFAULT_SYSTEM_NAMESPACE, formatComponentsTable, type ComponentStatusRow } from './status-components.js';

const usage = `Usage: fulcrum status [--kubeconfig PATH] [-n NAMESPACE] [-o table|json [--components]] [--system-namespace NS]

Shows every LoadBalancer Service: its addresses (from status), the pool they came from, the
node that announces them (from the speakers' latest nodeAssigned event), its ports with how
each is served (80/TCP http, 443/TCP https(web-tls), 5432/TCP tls(db-tls), 80/TCP
redirect(https); plain TCP and UDP ports show no mode; a port the Service asks kernel mode for
and can have it, fulcrum-lb.io/data-plane, says kernel: 53/UDP kernel) and how many endpoints
are ready. Kernel mode also needs nftables on the owner node: a node without it serves the port
in its proxy and says so in a Warning event.
Then the Pods of Fulcrum's allocator and speakers (label ${COMPONENT_SELECTOR}):
node, ready containers, status (Running, CrashLoopBackOff…) and restarts, as kubectl shows them;
a one-line note instead when this user may not list Pods there.

Options:
  --kubeconfig PATH        API access (default: $KUBECONFIG, else in-cluster)
  -n, --namespace NS       only this namespace's Services (default: all)
  -o, --output FMT         table (default) or json (an array of Services)
  --components             with -o json: {"services": [...], "components": [...]} instead of
                           the array (which stays the default, for scripts that read it)
  --system-namespace NS    where Fulcrum's components run (default: ${DEFAULT_SYSTEM_NAMESPACE})
`;

export interface ServiceStatusRow {
  namespace: string;
  name: string;
  addresses: string[];
  pool: string | null;
  owner: string | null;
  ports: PortStatus[];
  endpoints: { ready: number; total: number };
  trafficPolicy: string;
}

/**
 * How a port is served, read as the speaker reads it (src/service/http.ts): `tcp`, `udp` (or
 * another transport, lower case), `http`, `https` (HTTP behind TLS), `tls` (TCP behind TLS),
 * `redirect` (port 80 answering 308s to https). `tlsSecrets`: the Secrets of a TLS port.
 */
export interface PortStatus {
  port: number;
  protocol: string;
  mode: string;
  tlsSecrets: string[];
  /** `kernel`: forwarded by the owner node's nftables (kernel mode); `proxy`: the speaker's proxy. */
  dataPlane: 'kernel' | 'proxy';
}

/** The Service ports kernel mode takes (`80/TCP`), as the speaker's plan decides from the Service alone. */
function kernelPorts(svc: V1Service, addresses: readonly string[], endpoints: readonly EndpointView[]): Set<string> {
  if (annotationText(svc, 'data-plane') === undefined || addresses.length === 0) return new Set();
  const split = splitKernelPorts(svc, buildProxyModel(svc, endpoints, '', addresses));
  return new Set(split.kernel.map((k) => `${k.port}/${k.protocol.toUpperCase()}`));
}

function portStatuses(svc: V1Service, addresses: readonly string[], endpoints: readonly EndpointView[]): PortStatus[] {
  const terms = serviceHttpTerms(svc);
  const kernel = kernelPorts(svc, addresses, endpoints);
  return (svc.spec?.ports ?? []).map((p) => {
    const protocol = p.protocol ?? 'TCP';
    const t = protocol === 'TCP' ? terms.ports.get(p.port) : undefined;
    const mode = t === undefined ? protocol.toLowerCase() : t.redirect ? 'redirect' : t.tls ? (t.mode === 'http' ? 'https' : 'tls') : t.mode;
    return { port: p.port, protocol, mode, tlsSecrets: t?.tls ? [...terms.tlsSecrets] : [], dataPlane: kernel.has(`${p.port}/${protocol}`) ? 'kernel' : 'proxy' };
  });
}

/** `80/TCP`, `80/TCP http`, `443/TCP https(a-tls+b-tls)`, `80/TCP redirect(https)`, `53/UDP kernel`; `-` for a TLS port without a Secret. */
export function formatPort(p: PortStatus): string {
  const base = `${p.port}/${p.protocol}`;
  if (p.dataPlane === 'kernel') return `${base} kernel`;
  if (p.mode === 'tcp' || p.mode === p.protocol.toLowerCase()) return base;
  if (p.mode === 'redirect') return `${base} redirect(https)`;
  if (p.mode === 'https' || p.mode === 'tls') return `${base} ${p.mode}(${p.tlsSecrets.join('+') || '-'})`;
  return `${base} ${p.mode}`;
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
    const addresses = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean);
    rows.push({
      namespace: ns,
      name,
      addresses,
      pool: annotationText(svc, 'ip-allocated-from-pool') ?? null,
      owner: lastOwner(events.filter((e) => e.involvedObject?.namespace === ns && e.involvedObject?.name === name && e.involvedObject?.kind === 'Service')),
      ports: portStatuses(svc, addresses.filter((a) => canonicalAddress(a) !== undefined), eps), // not hostnames
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
    r.ports.map(formatPort).join(',') || '-',
    `${r.endpoints.ready}/${r.endpoints.total} ready`,
    r.trafficPolicy,
  ]);
  return alignColumns([header, ...cells]);
}

export const command: Command = {
  name: 'status',
  summary: 'show addresses, owners and endpoints of LoadBalancer Services, and the restarts of Fulcrum\'s Pods',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      output: { type: 'string', short: 'o' },
      components: { type: 'boolean' },
      'system-namespace': { type: 'string' },
    });
    const output = values.output ?? 'table';
    if (output !== 'table' && output !== 'json') {
      const { UsageError } = await import('../src/errors.js');
      throw new UsageError(`--output: "${output}" is not table or json`);
    }
    const clients = createApiClients(reuseConnections(loadKubeConfig(values.kubeconfig).kubeConfig), { requestTimeoutMs: 15_000 });
    const ns = values.namespace;
    const systemNamespace = values['system-namespace'] ?? DEFAULT_SYSTEM_NAMESPACE;
    const [services, slices, events, pods] = await Promise.all([
      ns ? clients.core.listNamespacedService({ namespace: ns }) : clients.core.listServiceForAllNamespaces(),
      ns ? clients.discovery.listNamespacedEndpointSlice({ namespace: ns }) : clients.discovery.listEndpointSliceForAllNamespaces(),
      ns ? clients.core.listNamespacedEvent({ namespace: ns }) : clients.core.listEventForAllNamespaces(),
      clients.core.listNamespacedPod({ namespace: systemNamespace, labelSelector: COMPONENT_SELECTOR }).then(
        // wire form (timestamps as strings), as the printer reads it
        (list) => JSON.parse(JSON.stringify(list.items)) as Record<string, unknown>[],
        (err: unknown) => {
          if (isHttpCode(err, 403)) return undefined;
          throw err;
        },
      ),
    ]);
    const rows = statusRows(services.items, slices.items, events.items);
    if (output === 'json') {
      const components: ComponentStatusRow[] | null = pods ? componentRows(pods) : null;
      const body = values.components ? { services: rows, components, ...(pods ? {} : { componentsNote: componentsNote(systemNamespace, 'forbidden').trim() }) } : rows;
      process.stdout.write(JSON.stringify(body, null, 2) + '\n');
      return EXIT_OK;
    }
    const section = !pods ? componentsNote(systemNamespace, 'forbidden') : pods.length ? formatComponentsTable(pods, Date.now()) : componentsNote(systemNamespace, 'none');
    process.stdout.write(`${rows.length ? formatStatusTable(rows) : 'no LoadBalancer Services\n'}\n${section}`);
    return EXIT_OK;
  },
};
