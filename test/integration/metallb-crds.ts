import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { raw } from '../helpers/apiserver.js';
import type { TestApiServer } from '../helpers/api-target.js';

/**
 * MetalLB's CRDs (config/01-crds-metallb.yaml) for the suites that read IPAddressPools and
 * L2Advertisements through the API (not a test file itself). They are applied with the real
 * kubectl; a server that cannot serve CRDs (the emulator before it learns them) says so, and
 * the suites skip what needs them. Cluster-scoped CRDs outlive a suite's sweep on the shared
 * real control plane, so whoever installs them removes them again (`remove`).
 */

const run = promisify(execFile);
const CRDS = fileURLToPath(new URL('../../../config/01-crds-metallb.yaml', import.meta.url));
export const METALLB = '/apis/metallb.io/v1beta1';
export const CONFIG_NS = 'fulcrum-system';

export function kubectl(kubeconfig: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.env.KUBECTL ?? 'kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 30_000 });
}

/** Whether `IPAddressPool`s are served (the CRD is installed and established). */
export async function metallbServed(api: TestApiServer): Promise<boolean> {
  return (await raw(api, 'GET', `${METALLB}/namespaces/${CONFIG_NS}/ipaddresspools`)).status === 200;
}

export interface InstalledCrds {
  /**
   * Deletes what this suite created: every MetalLB object in the config namespace, then the CRDs
   * if they were not there before (through `api` and `kubeconfig`: the ones of the install may be gone).
   */
  remove(api: TestApiServer, kubeconfig: string): Promise<void>;
}

/**
 * `kubectl apply -f config/01-crds-metallb.yaml` and waits until both kinds are served; the
 * reason it cannot, or undefined when it did.
 */
export async function installCrds(api: TestApiServer, kubeconfig: string): Promise<InstalledCrds | { reason: string }> {
  const before = await metallbServed(api);
  try {
    await kubectl(kubeconfig, 'apply', '-f', CRDS);
    await kubectl(kubeconfig, 'wait', '--for=condition=Established', '--timeout=20s', 'crd/ipaddresspools.metallb.io', 'crd/l2advertisements.metallb.io');
  } catch (err) {
    return { reason: `kubectl apply -f config/01-crds-metallb.yaml: ${String((err as { stderr?: string }).stderr ?? err).trim().split('\n')[0]}` };
  }
  const deadline = Date.now() + 20_000;
  while (!(await metallbServed(api))) {
    if (Date.now() > deadline) return { reason: 'the CRDs were applied but IPAddressPools are not served after 20 s' };
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    async remove(to, kubeconfigNow) {
      await deleteMetalLBObjects(to);
      if (!before) await kubectl(kubeconfigNow, 'delete', '--ignore-not-found', '--wait=true', '-f', CRDS);
    },
  };
}

/** Deletes every IPAddressPool and L2Advertisement of the config namespace (no-op when not served). */
export async function deleteMetalLBObjects(api: TestApiServer): Promise<void> {
  for (const plural of ['ipaddresspools', 'l2advertisements']) {
    const r = await raw(api, 'DELETE', `${METALLB}/namespaces/${CONFIG_NS}/${plural}`);
    if (r.status !== 200 && r.status !== 404) throw new Error(`DELETE ${plural}: ${r.status} ${r.text}`);
  }
}

/** Creates or replaces one MetalLB object in the config namespace, as the admin. */
export async function putMetalLB(api: TestApiServer, kind: 'IPAddressPool' | 'L2Advertisement', name: string, spec: Record<string, unknown>, labels?: Record<string, string>): Promise<void> {
  const plural = kind === 'IPAddressPool' ? 'ipaddresspools' : 'l2advertisements';
  const path = `${METALLB}/namespaces/${CONFIG_NS}/${plural}`;
  const body = { apiVersion: 'metallb.io/v1beta1', kind, metadata: { name, namespace: CONFIG_NS, ...(labels ? { labels } : {}) }, spec };
  const created = await raw(api, 'POST', path, { body });
  if (created.status === 201) return;
  if (created.status !== 409) throw new Error(`POST ${kind} ${name}: ${created.status} ${created.text}`);
  // Replace (not merge): a key left out of `spec` is removed.
  const current = await raw(api, 'GET', `${path}/${name}`);
  const rv = (current.json as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
  const replaced = await raw(api, 'PUT', `${path}/${name}`, { body: { ...body, metadata: { ...body.metadata, resourceVersion: rv } } });
  if (replaced.status !== 200) throw new Error(`PUT ${kind} ${name}: ${replaced.status} ${replaced.text}`);
}

export async function deleteMetalLB(api: TestApiServer, kind: 'IPAddressPool' | 'L2Advertisement', name: string): Promise<void> {
  const plural = kind === 'IPAddressPool' ? 'ipaddresspools' : 'l2advertisements';
  const r = await raw(api, 'DELETE', `${METALLB}/namespaces/${CONFIG_NS}/${plural}/${name}`);
  if (r.status !== 200 && r.status !== 404) throw new Error(`DELETE ${kind} ${name}: ${r.status} ${r.text}`);
}
