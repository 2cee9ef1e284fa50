import { SERVICE_POOL_V4, SERVICE_POOL_V4_HIGH, SERVICE_POOL_V4_LOW, SERVICE_POOL_V6, SERVICE_POOL_V6_HIGH, SERVICE_POOL_V6_LOW } from './addressing.js';
import type { ContainerPort } from './kubelet.js';

/**
 * What `npm run lab` puts in the cluster: the pool ConfigMap, backend pods and sample Services
 * (TCP echo, HTTP, UDP echo, one externalTrafficPolicy Local, one dual-stack, one HTTPS with its
 * certificate in a Secret, and two HTTP Services told apart by Host on one shared address).
 * Data only.
 */

export const SAMPLE_NAMESPACE = 'default';
export const FULCRUM_NAMESPACE = 'fulcrum-system';

export const LAB_POOL_CONFIG = [
  'address-pools:',
  '- name: lab',
  '  protocol: layer2',
  '  addresses:',
  `  - ${SERVICE_POOL_V4}`,
  `  - ${SERVICE_POOL_V6}`,
  '',
].join('\n');

export const LAB_CONFIGMAP = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'config', namespace: FULCRUM_NAMESPACE },
  data: { config: LAB_POOL_CONFIG },
};

/** Where `npm run lab` takes its pools from: the legacy ConfigMap, or MetalLB's resources (`--config-from metallb-crds`). */
export const CONFIG_SOURCES = ['configmap', 'metallb-crds'] as const;
export type ConfigSource = (typeof CONFIG_SOURCES)[number];

/** The label that puts a sample Service in the `lab-edge` pool (by its serviceAllocation; the ConfigMap ignores it). */
export const EDGE_POOL_LABEL = 'fulcrum-lb.io/lab-pool';

/**
 * The lab's pools as MetalLB resources (`--config-from metallb-crds`): the same addresses as the
 * ConfigMap, in two pools announced by different nodes. `lab` (the lower halves) serves every
 * Service; `lab-edge` (the upper halves) only Services labelled `fulcrum-lb.io/lab-pool: edge`,
 * by its `serviceAllocation`. With 3 or more nodes the `lab` L2Advertisement selects every node
 * but the last and the `lab-edge` one only the last; with 2 nodes `lab` is announced by both; with
 * one node by it alone.
 */
export function labMetalLBResources(nodeNames: readonly string[]): (Record<string, unknown> & { kind: string; metadata: { name: string; namespace: string } })[] {
  const last = nodeNames[nodeNames.length - 1]!;
  const hostnames = (names: readonly string[]) => [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [...names] }] }];
  const meta = (name: string) => ({ name, namespace: FULCRUM_NAMESPACE });
  const api = 'metallb.io/v1beta1';
  const labNodes = nodeNames.length >= 3 ? nodeNames.slice(0, -1) : nodeNames;
  return [
    { apiVersion: api, kind: 'IPAddressPool', metadata: meta('lab'), spec: { addresses: [SERVICE_POOL_V4_LOW, SERVICE_POOL_V6_LOW] } },
    {
      apiVersion: api,
      kind: 'IPAddressPool',
      metadata: meta('lab-edge'),
      spec: { addresses: [SERVICE_POOL_V4_HIGH, SERVICE_POOL_V6_HIGH], serviceAllocation: { serviceSelectors: [{ matchLabels: { [EDGE_POOL_LABEL]: 'edge' } }] } },
    },
    { apiVersion: api, kind: 'L2Advertisement', metadata: meta('lab'), spec: { ipAddressPools: ['lab'], nodeSelectors: hostnames(labNodes) } },
    { apiVersion: api, kind: 'L2Advertisement', metadata: meta('lab-edge'), spec: { ipAddressPools: ['lab-edge'], nodeSelectors: hostnames([last]) } },
  ];
}

export const POD_PORTS = { http: 8080, tcpEcho: 5678, tcpTick: 5679, udpEcho: 5678 } as const;

export const POD_CONTAINER_PORTS: readonly ContainerPort[] = [
  { name: 'http', containerPort: POD_PORTS.http, protocol: 'TCP' },
  { name: 'echo', containerPort: POD_PORTS.tcpEcho, protocol: 'TCP' },
  { name: 'tick', containerPort: POD_PORTS.tcpTick, protocol: 'TCP' },
  { name: 'echo-udp', containerPort: POD_PORTS.udpEcho, protocol: 'UDP' },
];

export interface SamplePod {
  readonly name: string;
  /** 1-based node index. */
  readonly node: number;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * One backend per node, `web-<i>` on node i (at least two, both on node 1 with one node). The
 * second one alone carries `lab-local: "true"`, the backend of the Local Service, so its owner
 * must be that pod's node. Pods alternate between `shard: a` and `shard: b`: the two
 * host-routed Services select one shard each, so the pod that answers shows which one routed.
 */
export function samplePods(nodeCount: number): SamplePod[] {
  const count = Math.max(2, nodeCount);
  return Array.from({ length: count }, (_, i) => ({
    name: `web-${i + 1}`,
    node: (i % nodeCount) + 1,
    labels: { app: 'web', shard: i % 2 === 0 ? 'a' : 'b', ...(i === 1 ? { 'lab-local': 'true' } : {}) },
  }));
}

export type CheckKind = 'tcp-echo' | 'http' | 'udp-echo' | 'https';

/** How the lab checks one port: the kind, and for HTTP the Host name (SNI too) and the shard that must answer. */
export interface CheckSpec {
  readonly kind: CheckKind;
  readonly host?: string;
  readonly shard?: string;
}

export interface SampleService {
  readonly name: string;
  /** How the lab checks each port from the client, by port number. */
  readonly checks: Readonly<Record<number, CheckKind | CheckSpec>>;
  readonly manifest: Record<string, unknown> & { metadata: { name: string; namespace: string } & Record<string, unknown> };
}

/** The Secret of the HTTPS sample: made at lab start (lab/certificates.ts), signed by the lab's own CA. */
export const TLS_SECRET = 'web-tls';
/** The names the lab's certificate and Host-routed Services answer to (a documentation-style domain no resolver knows). */
export const HTTPS_HOST = 'web-tls.lab.example';
export const SHOP_HOST = 'shop.lab.example';
export const BLOG_HOST = 'blog.lab.example';
/** The sharing key of the two host-routed Services. */
export const SHARED_HTTP_KEY = 'lab-http';

function service(name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}, labels: Record<string, string> = {}): SampleService['manifest'] {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: SAMPLE_NAMESPACE, labels: { 'fulcrum-lb.io/lab-sample': 'true', ...labels }, annotations },
    spec: { type: 'LoadBalancer', ...spec },
  };
}

const HTTP_PORT = { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' };
const DUAL = { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] };

export const SAMPLE_SERVICES: readonly SampleService[] = [
  {
    name: 'echo-tcp',
    checks: { 5678: 'tcp-echo' },
    manifest: service('echo-tcp', { selector: { app: 'web' }, ports: [{ name: 'echo', port: 5678, targetPort: 'echo', protocol: 'TCP' }] }),
  },
  {
    name: 'web',
    checks: { 80: 'http' },
    manifest: service('web', { selector: { app: 'web' }, ports: [HTTP_PORT] }, { 'fulcrum-lb.io/protocol': 'http' }),
  },
  {
    name: 'echo-udp',
    checks: { 5678: 'udp-echo' },
    // in the lab-edge pool when the lab runs on MetalLB resources (labMetalLBResources)
    manifest: service('echo-udp', { selector: { app: 'web' }, ports: [{ name: 'echo-udp', port: 5678, targetPort: 'echo-udp', protocol: 'UDP' }] }, {}, { [EDGE_POOL_LABEL]: 'edge' }),
  },
  {
    name: 'web-local',
    checks: { 80: 'http' },
    manifest: service(
      'web-local',
      { selector: { app: 'web', 'lab-local': 'true' }, externalTrafficPolicy: 'Local', ports: [HTTP_PORT] },
      { 'fulcrum-lb.io/proxy-protocol': 'v1' },
    ),
  },
  {
    name: 'web-dual',
    checks: { 80: 'http' },
    manifest: service('web-dual', { selector: { app: 'web' }, ...DUAL, ports: [HTTP_PORT] }),
  },
  {
    name: 'web-tls',
    checks: { 443: { kind: 'https', host: HTTPS_HOST } },
    manifest: service(
      'web-tls',
      { selector: { app: 'web' }, ...DUAL, externalTrafficPolicy: 'Local', ports: [{ name: 'https', port: 443, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }] },
      { 'fulcrum-lb.io/tls-secret': TLS_SECRET },
    ),
  },
  {
    name: 'shop',
    checks: { 80: { kind: 'http', host: SHOP_HOST, shard: 'a' } },
    manifest: service(
      'shop',
      { selector: { app: 'web', shard: 'a' }, ...DUAL, ports: [HTTP_PORT] },
      { 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-hosts': SHOP_HOST, 'fulcrum-lb.io/allow-shared-ip': SHARED_HTTP_KEY },
    ),
  },
  {
    name: 'blog',
    checks: { 80: { kind: 'http', host: BLOG_HOST, shard: 'b' } },
    manifest: service(
      'blog',
      { selector: { app: 'web', shard: 'b' }, ...DUAL, ports: [HTTP_PORT] },
      { 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/http-hosts': BLOG_HOST, 'fulcrum-lb.io/allow-shared-ip': SHARED_HTTP_KEY },
    ),
  },
];

/** The shard of a sample pod by its name (`web-<i>`: odd i is shard a), as samplePods labels it. */
export function shardOfPod(name: string): string | undefined {
  const m = /^web-(\d+)$/.exec(name);
  return m ? (Number(m[1]) % 2 === 1 ? 'a' : 'b') : undefined;
}

/** How many addresses a sample Service gets: one per IP family it asks for (two when dual-stack). */
export function sampleAddressCount(s: SampleService): number {
  return (s.manifest.spec as { ipFamilies?: readonly string[] } | undefined)?.ipFamilies?.length ?? 1;
}

/** A sample Service's ports as the API reports them (protocol defaulted to TCP). */
export function samplePorts(s: SampleService): { port: number; protocol: string }[] {
  const ports = (s.manifest.spec as { ports?: readonly { port: number; protocol?: string }[] } | undefined)?.ports ?? [];
  return ports.map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' }));
}

/** How many rows the lab's check table has for these samples: one per address and port. */
export function sampleCheckCount(samples: readonly SampleService[] = SAMPLE_SERVICES): number {
  return samples.reduce((n, s) => n + sampleAddressCount(s) * samplePorts(s).length, 0);
}

/** A check spec, whatever way the sample wrote it. */
export function checkSpec(c: CheckKind | CheckSpec): CheckSpec {
  return typeof c === 'string' ? { kind: c } : c;
}
