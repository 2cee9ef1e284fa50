import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { FulcrumError, errorMessage } from '../errors.js';

/** Where a KubeConfig came from, for the start-up log line. */
export type KubeConfigSource = { kind: 'flag'; path: string } | { kind: 'env'; path: string } | { kind: 'inCluster' };

/** client-node's in-cluster token path: present only inside a pod with a service account. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads the API client configuration: `--kubeconfig PATH` first, else `$KUBECONFIG` (the first
 * path of a colon-separated list), else the in-cluster service account. Never falls back to
 * ~/.kube/config: a daemon should not silently pick up an operator's personal credentials.
 */
export function loadKubeConfig(
  path?: string,
  env: NodeJS.ProcessEnv = process.env,
): { kubeConfig: KubeConfig; source: KubeConfigSource } {
  const kc = new KubeConfig();
  const fromEnv = env.KUBECONFIG?.split(':').find((p) => p.length > 0);
  const source: KubeConfigSource | undefined = path
    ? { kind: 'flag', path }
    : fromEnv
      ? { kind: 'env', path: fromEnv }
      : env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)
        ? { kind: 'inCluster' }
        : undefined;
  if (!source) {
    throw new FulcrumError('FUL_ERR_KUBECONFIG', {
      source: 'Kubernetes API configuration',
      reason: 'none found (pass --kubeconfig PATH, set KUBECONFIG, or run in a pod with a service account)',
    });
  }
  try {
    if (source.kind === 'inCluster') kc.loadFromCluster();
    else kc.loadFromFile(source.path);
  } catch (err) {
    const where = source.kind === 'inCluster' ? 'the in-cluster service account' : `kubeconfig "${source.path}"`;
    throw new FulcrumError('FUL_ERR_KUBECONFIG', { source: where, reason: `cannot load it: ${errorMessage(err)}` }, { cause: err });
  }
  allowPlainHttp(kc);
  if (!kc.getCurrentCluster()) {
    const where = source.kind === 'inCluster' ? 'in-cluster config' : `kubeconfig "${source.path}"`;
    throw new FulcrumError('FUL_ERR_KUBECONFIG', { source: where, reason: `context "${kc.getCurrentContext()}" names no cluster` });
  }
  return { kubeConfig: kc, source };
}

/**
 * client-node 1.4 refuses an `http://` server unless the cluster entry also says
 * `insecure-skip-tls-verify: true` ("HTTP protocol is not allowed when skipTLSVerify is not set
 * or false"), although there is no TLS to verify. kubectl has no such rule, and the lab's API
 * emulator serves plain HTTP, so such clusters get the flag here. https servers are untouched.
 */
function allowPlainHttp(kc: KubeConfig): void {
  if (!kc.clusters.some((c) => c.server.startsWith('http:') && !c.skipTLSVerify)) return;
  kc.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
}
