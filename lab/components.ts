import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { LabControlPlane } from './control-plane.js';
import { apiRequest, applyObject, type ApiTarget, type JsonObject } from './kube-rest.js';
import { FulcrumError } from '../src/errors.js';
import { MEMBERLIST_KEY_BYTES, newMemberlistSecret } from '../src/memberlist-secret.js';
import { waitFor, type LabProcess } from './netns.js';
import type { Topology } from './topology.js';

/**
 * The lab's Fulcrum programs: RBAC from config/ (when the manifests exist), one kubeconfig per
 * component, and the allocator (root namespace) and speakers (one per node namespace) as child
 * processes of `bin/fulcrum`.
 */

export interface Kubeconfigs {
  /** For the user's kubectl: cluster-admin. */
  readonly admin: string;
  readonly allocator: string;
  readonly speaker: string;
  /** How the component credentials were made, for the progress output. */
  readonly identity: string;
}

type Manifest = JsonObject & { kind?: string; metadata?: { name?: string; namespace?: string } };

const COLLECTIONS: Record<string, (ns: string) => string> = {
  Namespace: () => '/api/v1/namespaces',
  ServiceAccount: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts`,
  ConfigMap: (ns) => `/api/v1/namespaces/${ns}/configmaps`,
  Secret: (ns) => `/api/v1/namespaces/${ns}/secrets`,
  Service: (ns) => `/api/v1/namespaces/${ns}/services`,
  ClusterRole: () => '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: () => '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  Role: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
  RoleBinding: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
  CustomResourceDefinition: () => CRDS,
  IPAddressPool: (ns) => `/apis/metallb.io/v1beta1/namespaces/${ns}/ipaddresspools`,
  L2Advertisement: (ns) => `/apis/metallb.io/v1beta1/namespaces/${ns}/l2advertisements`,
};

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
/** A CRD is served within a second or two on kube-apiserver; this much allows for a busy machine. */
const CRD_ESTABLISHED_TIMEOUT_MS = 30_000;

/** Creates (or updates) an object of a kind the lab knows the path of. */
export async function applyManifest(api: ApiTarget, obj: Manifest): Promise<void> {
  const kind = obj.kind ?? '';
  const path = COLLECTIONS[kind];
  const name = obj.metadata?.name;
  if (!path || !name) throw new Error(`cannot apply ${kind || 'an object without kind'} "${name ?? '?'}"`);
  await applyObject(api, path(obj.metadata?.namespace ?? 'default'), obj as JsonObject & { metadata: { name: string } });
}

/** The manifests of the config/ files whose name matches `pattern`, in file order (kinds the lab can apply). */
function configManifests(configDir: string, pattern: RegExp): Manifest[] {
  if (!existsSync(configDir)) return [];
  const files = readdirSync(configDir).filter((f) => pattern.test(f) && /\.ya?ml$/.test(f)).sort();
  const out: Manifest[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(configDir, f), 'utf8'))) {
      const obj = doc.toJSON() as Manifest | null;
      if (obj && typeof obj === 'object' && obj.kind && COLLECTIONS[obj.kind]) out.push(obj);
    }
  }
  return out;
}

/**
 * Applies the CustomResourceDefinitions shipped in config/ (files whose name mentions crds) and
 * waits until each is Established, as `kubectl wait --for=condition=Established` would: only
 * then are its objects served. Returns their names.
 */
export async function applyCrds(api: ApiTarget, configDir: string): Promise<string[]> {
  const crds = configManifests(configDir, /crds/i).filter((m) => m.kind === 'CustomResourceDefinition');
  if (crds.length === 0) throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: '--config-from metallb-crds', reason: `no CustomResourceDefinition in ${configDir}/*crds*.yaml` });
  for (const crd of crds) await applyManifest(api, crd);
  const names = crds.map((c) => c.metadata!.name!);
  for (const name of names) {
    await waitFor(`CustomResourceDefinition ${name} Established`, async () => {
      const got = (await apiRequest(api, 'GET', `${CRDS}/${name}`)) as { status?: { conditions?: { type?: string; status?: string }[] } };
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    }, CRD_ESTABLISHED_TIMEOUT_MS, 100);
  }
  return names;
}

/** RBAC manifests shipped in config/ (files whose name mentions rbac), if any. */
export function rbacManifests(configDir: string): Manifest[] {
  return configManifests(configDir, /rbac/i);
}

/**
 * Applies config/ RBAC, then writes the kubeconfigs: components get their ServiceAccount's
 * token when the manifests define one for them, else the admin token (said in `identity`).
 */
export async function writeKubeconfigs(api: LabControlPlane, target: ApiTarget, stateDir: string, configDir: string): Promise<Kubeconfigs> {
  const manifests = rbacManifests(configDir);
  for (const m of manifests) await applyManifest(target, m);
  const accounts = manifests.filter((m) => m.kind === 'ServiceAccount');
  const tokenFor = async (component: string): Promise<{ token: string; who: string }> => {
    const sa = accounts.find((a) => a.metadata?.name?.includes(component));
    if (!sa) return { token: api.adminToken, who: 'admin' };
    const ns = sa.metadata?.namespace ?? 'default';
    return { token: await api.serviceAccountToken(ns, sa.metadata!.name!), who: `serviceaccount ${ns}/${sa.metadata!.name}` };
  };
  const admin = join(stateDir, 'admin.kubeconfig');
  const allocator = join(stateDir, 'allocator.kubeconfig');
  const speaker = join(stateDir, 'speaker.kubeconfig');
  await api.writeKubeconfig(admin, {});
  const a = await tokenFor('allocator');
  const s = await tokenFor('speaker');
  await api.writeKubeconfig(allocator, { token: a.token, user: 'fulcrum-allocator' });
  await api.writeKubeconfig(speaker, { token: s.token, user: 'fulcrum-speaker' });
  const identity = manifests.length === 0
    ? 'no RBAC manifests in config/ yet: components use the admin token'
    : `allocator as ${a.who}, speakers as ${s.who}`;
  return { admin, allocator, speaker, identity };
}

/** The speakers' memberlist Secret with a fresh random key (src/memberlist-secret.ts); `previous` adds `secretkey-previous` (a rotation). */
export function memberlistSecret(namespace: string, previous?: string): Manifest & { data: Record<string, string> } {
  return newMemberlistSecret(namespace, randomBytes(MEMBERLIST_KEY_BYTES), previous) as unknown as Manifest & { data: Record<string, string> };
}

export interface ComponentOptions {
  readonly fulcrumBin: string;
  readonly logDir: string;
  readonly allocatorArgs?: readonly string[];
  readonly speakerArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Options for the Node runtime of each component (e.g. `--trace-gc`, which NODE_OPTIONS refuses). */
  readonly nodeArgs?: readonly string[];
}

export function startAllocator(topo: Topology, kubeconfig: string, o: ComponentOptions): LabProcess {
  // --metrics off: the root namespace is shared with other labs and the machine
  return topo.spawn(undefined, process.execPath, [...(o.nodeArgs ?? []), o.fulcrumBin, 'allocator', '--kubeconfig', kubeconfig, '--metrics', 'off', ...(o.allocatorArgs ?? [])], {
    name: 'allocator',
    env: { ...process.env, ...o.env },
    logFile: join(o.logDir, 'allocator.log'),
  });
}

export function startSpeaker(topo: Topology, nodeName: string, kubeconfig: string, o: ComponentOptions): LabProcess {
  const node = topo.node(nodeName);
  return topo.spawn(node.namespace, process.execPath, [...(o.nodeArgs ?? []), o.fulcrumBin, 'speaker', '--kubeconfig', kubeconfig, ...(o.speakerArgs ?? [])], {
    name: `speaker ${node.name}`,
    env: { ...process.env, ...o.env, NODE_NAME: node.name },
    logFile: join(o.logDir, `speaker-${node.name}.log`),
  });
}

/** "running", or how it ended with the last line it printed (to show a failure in the table). */
export function componentStatus(p: LabProcess | undefined): string {
  if (!p) return 'not started';
  const exit = p.exitStatus();
  if (!exit) return 'running';
  const last = p.output().trim().split('\n').filter((l) => l.trim() !== '').pop() ?? '';
  return `exited ${exit.signal ?? exit.code}${last ? `: ${last.slice(0, 120)}` : ''}`;
}
