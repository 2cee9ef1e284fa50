// The nodes suite's topology and the configurations of its paths, pure: three namespaces (a
// client, a node that owns the Service address, a backend with two endpoint addresses), and what
// each path is asked to do there, side by side (unit-tested in test/unit/bench-nodes.test.ts).
import { kernelTablesOf } from '../../speaker/kernel/table.js';
import { haproxyResponderConfig } from '../l4/config.js';
import { renderKernelRuleset, type KernelPort } from '../../speaker/kernel/ruleset.js';
import { seedOf } from '../../speaker/kernel/slots.js';

/** The services, as in the L4 suite: new connection per request, bulk, keep-alive HTTP, UDP. */
export const NODE_SERVICES = ['conn', 'bulk', 'http', 'udp'] as const;
export type NodeService = (typeof NODE_SERVICES)[number];

/** The paths of this suite; `kmode` is Fulcrum's kernel mode, `kernel` kube-proxy-like DNAT. */
export const NODE_PATHS = ['kmode', 'proxy', 'haproxy', 'kernel', 'direct'] as const;
export type NodePath = (typeof NODE_PATHS)[number];

export const protocolOf = (s: NodeService): 'tcp' | 'udp' => (s === 'udp' ? 'udp' : 'tcp');

/**
 * Documentation ranges only. The client (198.51.100.0/24) reaches the node on one link; the node
 * reaches the backend (203.0.113.0/24) on another and holds the Service address on `lo`, as a
 * speaker that owns it does. The backend has two endpoint addresses; its default route is the node.
 */
export interface NodesTopology {
  readonly prefix: string;
  readonly ns: { readonly client: string; readonly node: string; readonly backend: string };
  readonly vip: string;
  readonly clientAddress: string;
  readonly nodeClientSide: string;
  readonly nodeBackendSide: string;
  readonly endpoints: readonly string[];
  /** Ports of the backend servers (on every endpoint address). */
  readonly backendPorts: Readonly<Record<NodeService, number>>;
  /** Frontend ports on the VIP, per path (`direct` goes to the first endpoint's backend port). */
  readonly frontends: Readonly<Record<Exclude<NodePath, 'direct'>, Readonly<Record<NodeService, number>>>>;
  /** Interface names: client ↔ node, node ↔ backend (names inside each namespace). */
  readonly links: { readonly client: string; readonly nodeToClient: string; readonly nodeToBackend: string; readonly backend: string };
}

const portsFrom = (base: number): Record<NodeService, number> => ({ conn: base + 1, bulk: base + 2, http: base + 3, udp: base + 4 });

export function nodesTopology(prefix: string): NodesTopology {
  return {
    prefix,
    ns: { client: `${prefix}-client`, node: `${prefix}-node`, backend: `${prefix}-backend` },
    vip: '192.0.2.10',
    clientAddress: '198.51.100.10',
    nodeClientSide: '198.51.100.1',
    nodeBackendSide: '203.0.113.1',
    endpoints: ['203.0.113.10', '203.0.113.11'],
    backendPorts: portsFrom(8000),
    frontends: { kmode: portsFrom(12000), proxy: portsFrom(10000), haproxy: portsFrom(9000), kernel: portsFrom(11000) },
    links: { client: 'eth0', nodeToClient: 'client0', nodeToBackend: 'backend0', backend: 'eth0' },
  };
}

/** Where the load generator connects for a path, or null where the path has no such frontend. */
export function targetOf(t: NodesTopology, path: NodePath, s: NodeService): { host: string; port: number } | null {
  if (path === 'direct') return { host: t.endpoints[0]!, port: t.backendPorts[s] };
  if (path === 'haproxy' && s === 'udp') return null; // haproxy 2.6 has no UDP proxy
  return { host: t.vip, port: t.frontends[path][s] };
}

/**
 * The `ip` commands that build the topology, in order (each an argv after `ip`). Veth pairs are
 * made in the node namespace and their far ends moved out, so no link touches the root namespace.
 */
export function setupCommands(t: NodesTopology): string[][] {
  const { client, node, backend } = t.ns;
  const l = t.links;
  return [
    ['netns', 'add', client],
    ['netns', 'add', node],
    ['netns', 'add', backend],
    ['-n', node, 'link', 'add', l.nodeToClient, 'type', 'veth', 'peer', 'name', 'c-tmp', 'netns', client],
    ['-n', node, 'link', 'add', l.nodeToBackend, 'type', 'veth', 'peer', 'name', 'b-tmp', 'netns', backend],
    ['-n', client, 'link', 'set', 'c-tmp', 'name', l.client],
    ['-n', backend, 'link', 'set', 'b-tmp', 'name', l.backend],
    ['-n', client, 'addr', 'add', `${t.clientAddress}/24`, 'dev', l.client],
    ['-n', node, 'addr', 'add', `${t.nodeClientSide}/24`, 'dev', l.nodeToClient],
    ['-n', node, 'addr', 'add', `${t.nodeBackendSide}/24`, 'dev', l.nodeToBackend],
    ['-n', node, 'addr', 'add', `${t.vip}/32`, 'dev', 'lo'],
    ...t.endpoints.map((e) => ['-n', backend, 'addr', 'add', `${e}/24`, 'dev', l.backend]),
    ...[client, node, backend].map((ns) => ['-n', ns, 'link', 'set', 'lo', 'up']),
    ['-n', client, 'link', 'set', l.client, 'up'],
    ['-n', node, 'link', 'set', l.nodeToClient, 'up'],
    ['-n', node, 'link', 'set', l.nodeToBackend, 'up'],
    ['-n', backend, 'link', 'set', l.backend, 'up'],
    ['-n', client, 'route', 'add', 'default', 'via', t.nodeClientSide],
    ['-n', backend, 'route', 'add', 'default', 'via', t.nodeBackendSide],
  ];
}

/**
 * Sysctls per namespace: the node forwards; every side reuses TIME_WAIT ports (the Linux default
 * does so on loopback only) from a wide range, so a new connection per request for minutes does
 * not run out of ports.
 */
export function sysctlsOf(t: NodesTopology): Record<string, Record<string, string>> {
  const ports = { 'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.ip_local_port_range': '1024 65535' };
  return { [t.ns.client]: ports, [t.ns.node]: { ...ports, 'net.ipv4.ip_forward': '1' }, [t.ns.backend]: ports };
}

/**
 * Receive Packet Steering masks (hex) per namespace and interface: the node's receive work on
 * `nodeCpu`, the client's and backend's on `loadCpu`. veth delivers on the sending core unless
 * steered, so without this the node's softirq work would land on the load generator's core and
 * go uncounted.
 */
export function rpsMasks(t: NodesTopology, loadCpu: number, nodeCpu: number): Array<{ ns: string; dev: string; mask: string }> {
  const hex = (cpu: number): string => (1 << cpu).toString(16);
  return [
    { ns: t.ns.client, dev: t.links.client, mask: hex(loadCpu) },
    { ns: t.ns.node, dev: t.links.nodeToClient, mask: hex(nodeCpu) },
    { ns: t.ns.node, dev: t.links.nodeToBackend, mask: hex(nodeCpu) },
    { ns: t.ns.backend, dev: t.links.backend, mask: hex(loadCpu) },
  ];
}

/** Fulcrum's `proxy --config` file: one frontend per service on the VIP, both endpoints behind each. */
export function proxyConfig(t: NodesTopology, workers: number): string {
  const lines = [`workers: ${workers}`, 'frontends:'];
  for (const s of NODE_SERVICES) lines.push(`  - name: ${s}`, `    listen: ${t.vip}:${t.frontends.proxy[s]}`, `    protocol: ${protocolOf(s)}`, `    backend: ${s}`);
  lines.push('backends:');
  for (const s of NODE_SERVICES) {
    lines.push(`  - name: ${s}`, '    balance: roundrobin', '    endpoints:', ...t.endpoints.map((e) => `      - { address: ${e}, port: ${t.backendPorts[s]} }`));
  }
  return lines.join('\n') + '\n';
}

/** haproxy in TCP mode, the same frontends and servers, shipped defaults (as in the L4 suite). */
export function haproxyConfig(t: NodesTopology, threads: number): string {
  const lines = ['global', `  nbthread ${threads}`, '  maxconn 4096', 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s'];
  for (const s of NODE_SERVICES) {
    if (s === 'udp') continue;
    lines.push(`frontend ${s}`, `  bind ${t.vip}:${t.frontends.haproxy[s]}`, `  default_backend ${s}`, `backend ${s}`, '  balance roundrobin');
    t.endpoints.forEach((e, i) => lines.push(`  server e${i + 1} ${e}:${t.backendPorts[s]}`));
  }
  return lines.join('\n') + '\n';
}

/** The keep-alive HTTP backend: haproxy answering `200 ok` itself, on every endpoint address. */
export function httpBackendConfig(t: NodesTopology): string {
  return haproxyResponderConfig(`:${t.backendPorts.http}`);
}

export const PLAIN_NAT_TABLE = 'fulcrum_bench_nodes';

/**
 * What kube-proxy's nftables mode gives a Service on a node today: DNAT to an endpoint picked at
 * random per new flow, masquerade toward the endpoints (`externalTrafficPolicy: Cluster`).
 */
export function plainNatRuleset(t: NodesTopology): string {
  const dnat = NODE_SERVICES.map((s) => {
    const p = protocolOf(s);
    const map = t.endpoints.map((e, i) => `${i} : ${e} . ${t.backendPorts[s]}`).join(', ');
    return `    ip daddr ${t.vip} ${p} dport ${t.frontends.kernel[s]} dnat ip to numgen random mod ${t.endpoints.length} map { ${map} }`;
  });
  return [
    `table ip ${PLAIN_NAT_TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...dnat,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ct status dnat oifname "${t.links.nodeToBackend}" masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Fulcrum's kernel-mode ports for the suite (`externalTrafficPolicy: Cluster`: SNAT to the VIP). */
export function kernelModePorts(t: NodesTopology): Array<KernelPort & { endpoints: Array<{ key: string; address: string; port: number; weight: number }> }> {
  return NODE_SERVICES.map((s) => {
    const protocol = protocolOf(s);
    const port = t.frontends.kmode[s];
    return {
      name: `bench/nodes:${port}/${protocol.toUpperCase()}@${t.vip}`,
      address: t.vip,
      port,
      protocol,
      seed: seedOf('bench/nodes', port, protocol),
      hashOn: 'flow' as const,
      snat: true,
      sourceRanges: [],
      denyAll: false,
      endpoints: t.endpoints.map((e) => ({ key: `${e}:${t.backendPorts[s]}`, address: e, port: t.backendPorts[s], weight: 1 })),
    };
  });
}

/** The kernel-mode table as the speaker writes it (speaker/kernel/ruleset.ts), every endpoint healthy. */
export function kernelModeRuleset(t: NodesTopology): string {
  return renderKernelRuleset(kernelTablesOf(kernelModePorts(t)).tables);
}
