import { stringify } from 'yaml';

export interface KubeconfigOptions {
  token?: string;
  user?: string;
  namespace?: string;
  /** 'https' (default: kubectl sends tokens only over TLS) or 'http'. */
  scheme?: 'https' | 'http';
}

/**
 * A kubeconfig for kubectl and client-node: one cluster, one user with a bearer token, one
 * context. Over http it sets insecure-skip-tls-verify, without which client-node 1.4 refuses
 * http:// servers; kubectl drops credentials for http:// servers, so it needs the https form.
 */
export function kubeconfigYaml(server: string, opts: KubeconfigOptions & { token: string; caPem?: string }): string {
  const user = opts.user ?? 'fulcrum-admin';
  const context: Record<string, string> = { cluster: 'fulcrum-lab', user };
  if (opts.namespace) context.namespace = opts.namespace;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name: 'fulcrum-lab', cluster: opts.caPem ? { server, 'certificate-authority-data': Buffer.from(opts.caPem).toString('base64') } : { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: user, user: { token: opts.token } }],
    contexts: [{ name: 'fulcrum-lab', context }],
    'current-context': 'fulcrum-lab',
  });
}
