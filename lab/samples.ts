import { SERVICE_POOL_V4, SERVICE_POOL_V6 } from './addressing.js';
import type { ContainerPort } from './kubelet.js';

/**
 * What `npm run lab` puts in the cluster: the pool ConfigMap, backend pods and sample Services
 * (TCP echo, HTTP, UDP echo, one externalTrafficPolicy Local, one dual-stack). Data only.
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

export const POD_PORTS = { http: 8080, tcpEcho: 5678, udpEcho: 5678 } as const;

export const POD_CONTAINER_PORTS: readonly ContainerPort[] = [
  { name: 'http', containerPort: POD_PORTS.http, protocol: 'TCP' },
  { name: 'echo', containerPort: POD_PORTS.tcpEcho, protocol: 'TCP' },
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
 * must be that pod's node.
 */
export function samplePods(nodeCount: number): SamplePod[] {
  const count = Math.max(2, nodeCount);
  return Array.from({ length: count }, (_, i) => ({
    name: `web-${i + 1}`,
    node: (i % nodeCount) + 1,
    labels: { app: 'web', ...(i === 1 ? { 'lab-local': 'true' } : {}) },
  }));
}

export type CheckKind = 'tcp-echo' | 'http' | 'udp-echo';

export interface SampleService {
  readonly name: string;
  /** How the lab checks each port from the client, by port number. */
  readonly checks: Readonly<Record<number, CheckKind>>;
  readonly manifest: Record<string, unknown> & { metadata: { name: string; namespace: string } & Record<string, unknown> };
}

function service(name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}): SampleService['manifest'] {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: SAMPLE_NAMESPACE, labels: { 'fulcrum-lb.io/lab-sample': 'true' }, annotations },
    spec: { type: 'LoadBalancer', ...spec },
  };
}

const HTTP_PORT = { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' };

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
    manifest: service('echo-udp', { selector: { app: 'web' }, ports: [{ name: 'echo-udp', port: 5678, targetPort: 'echo-udp', protocol: 'UDP' }] }),
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
    manifest: service('web-dual', { selector: { app: 'web' }, ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], ports: [HTTP_PORT] }),
  },
];
