import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Event, V1Service } from '@kubernetes/client-node';
import { fileURLToPath } from 'node:url';
import { startApiServer, type ApiServer } from '../../lab/apiserver/index.js';
import { applyManifest, rbacManifests } from '../../lab/components.js';
import { createApiClients, type ApiClients } from '../../src/k8s/client.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';

/** An API emulator on loopback with an admin kubeconfig and typed clients, for one test file. */
export interface TestCluster {
  api: ApiServer;
  clients: ApiClients;
  kubeconfig: string;
  dir: string;
  close(): Promise<void>;
}

export async function startTestCluster(): Promise<TestCluster> {
  const api = await startApiServer({ host: '127.0.0.1', port: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'fulcrum-test-'));
  const kubeconfig = join(dir, 'admin.kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  const clients = createApiClients(loadKubeConfig(kubeconfig).kubeConfig);
  return {
    api,
    clients,
    kubeconfig,
    dir,
    async close() {
      await api.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Creates or replaces the pool ConfigMap fulcrum-system/config with this YAML. */
export async function applyPoolConfig(clients: ApiClients, config: string, name = 'config', namespace = 'fulcrum-system'): Promise<void> {
  try {
    const cm = await clients.core.readNamespacedConfigMap({ name, namespace });
    cm.data = { config };
    await clients.core.replaceNamespacedConfigMap({ name, namespace, body: cm });
  } catch {
    await clients.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, namespace }, data: { config } } });
  }
}

export interface ServiceShape {
  ports?: { port: number; protocol?: string; name?: string }[];
  annotations?: Record<string, string>;
  loadBalancerIP?: string;
  loadBalancerClass?: string;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  ipFamilies?: ('IPv4' | 'IPv6')[];
  selector?: Record<string, string>;
  type?: string;
}

export function lbService(name: string, s: ServiceShape = {}, namespace = 'default'): V1Service {
  return {
    metadata: { name, namespace, ...(s.annotations ? { annotations: s.annotations } : {}) },
    spec: {
      type: s.type ?? 'LoadBalancer',
      ports: (s.ports ?? [{ port: 80 }]).map((p, i) => ({ name: p.name ?? `p${i}`, port: p.port, protocol: p.protocol ?? 'TCP' })),
      selector: s.selector ?? { app: name },
      ...(s.loadBalancerIP ? { loadBalancerIP: s.loadBalancerIP } : {}),
      ...(s.loadBalancerClass ? { loadBalancerClass: s.loadBalancerClass } : {}),
      ...(s.externalTrafficPolicy ? { externalTrafficPolicy: s.externalTrafficPolicy } : {}),
      ...(s.ipFamilyPolicy ? { ipFamilyPolicy: s.ipFamilyPolicy } : {}),
      ...(s.ipFamilies ? { ipFamilies: s.ipFamilies } : {}),
    },
  };
}

export async function createService(clients: ApiClients, svc: V1Service): Promise<V1Service> {
  return clients.core.createNamespacedService({ namespace: svc.metadata?.namespace ?? 'default', body: svc });
}

export async function getService(clients: ApiClients, name: string, namespace = 'default'): Promise<V1Service> {
  return clients.core.readNamespacedService({ name, namespace });
}

export function ingressIps(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter((ip) => ip !== '');
}

export async function serviceEvents(clients: ApiClients, name: string, namespace = 'default'): Promise<CoreV1Event[]> {
  const list = await clients.core.listNamespacedEvent({ namespace, fieldSelector: undefined });
  return list.items.filter((e) => e.involvedObject?.name === name && e.involvedObject?.kind === 'Service');
}

const CONFIG_DIR = fileURLToPath(new URL('../../../config', import.meta.url));

/**
 * Applies the RBAC manifests of config/ and writes a kubeconfig holding the token of the
 * component's ServiceAccount, so a test exercises exactly the permissions a cluster grants.
 */
export async function componentKubeconfig(cluster: TestCluster, component: 'allocator' | 'speaker'): Promise<string> {
  const target = { url: cluster.api.url, token: cluster.api.adminToken };
  for (const m of rbacManifests(CONFIG_DIR)) await applyManifest(target, m);
  const path = join(cluster.dir, `${component}.kubeconfig`);
  await cluster.api.writeKubeconfig(path, { token: cluster.api.serviceAccountToken('fulcrum-system', `fulcrum-${component}`), user: `fulcrum-${component}` });
  return path;
}
