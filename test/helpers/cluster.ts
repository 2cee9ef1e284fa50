import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Event, V1Service } from '@kubernetes/client-node';
import { fileURLToPath } from 'node:url';
import { rbacManifests } from '../../lab/components.js';
import { createApiClients, type ApiClients } from '../../src/k8s/client.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { startTestTarget, type TestApiServer } from './api-target.js';
import { raw } from './apiserver.js';

/**
 * An API emulator on loopback with an admin kubeconfig and typed clients, for one test file; with
 * FULCRUM_TEST_APISERVER=real, the shared real control plane swept clean (test/helpers/api-target.ts).
 */
export interface TestCluster {
  api: TestApiServer;
  clients: ApiClients;
  kubeconfig: string;
  dir: string;
  close(): Promise<void>;
}

export async function startTestCluster(): Promise<TestCluster> {
  const api = await startTestTarget();
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
      await api.close();
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
  for (const m of rbacManifests(CONFIG_DIR)) await applyObject(cluster.api, m);
  const path = join(cluster.dir, `${component}.kubeconfig`);
  await cluster.api.writeKubeconfig(path, { token: await cluster.api.serviceAccountToken('fulcrum-system', `fulcrum-${component}`), user: `fulcrum-${component}` });
  return path;
}

type Manifest = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } };

/** The collection a manifest's object is created in (the kinds of config/'s RBAC files). */
function collectionPath(m: Manifest): string {
  const ns = m.metadata?.namespace ?? 'default';
  const [group, version] = (m.apiVersion ?? 'v1').includes('/') ? (m.apiVersion as string).split('/') : ['', m.apiVersion ?? 'v1'];
  const plural = `${(m.kind ?? '').toLowerCase()}s`;
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  return ['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(m.kind ?? '') ? `${base}/${plural}` : `${base}/namespaces/${ns}/${plural}`;
}

/** Creates the object as the admin, or merge-patches it over an existing one (as the lab's applyManifest). */
export async function applyObject(api: TestApiServer, m: Manifest): Promise<void> {
  const path = collectionPath(m);
  const created = await raw(api, 'POST', path, { body: m });
  if (created.status === 201) return;
  if (created.status !== 409) throw new Error(`POST ${path} ${m.kind}/${m.metadata?.name}: ${created.status} ${created.text}`);
  const patched = await raw(api, 'PATCH', `${path}/${m.metadata?.name}`, { body: m, contentType: 'application/merge-patch+json' });
  if (patched.status !== 200) throw new Error(`PATCH ${path}/${m.metadata?.name}: ${patched.status} ${patched.text}`);
}
