import { stringify } from 'yaml';

/**
 * The text a real control plane (lab/real-control-plane.ts) writes for its users: kubeconfigs
 * (token or client certificate), file names for user names, and the first address of the
 * service CIDR (a SAN of the serving certificate). Pure.
 */

const CLUSTER_NAME = 'fulcrum-k8s-real';

/** The first address of an IPv4 CIDR: the `kubernetes` Service's ClusterIP, so a SAN of the serving certificate. */
export function firstIpv4(cidr: string): string {
  const [addr, bits] = cidr.split('/') as [string, string?];
  const n = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = bits === undefined ? 32 : Number(bits);
  const network = Math.floor(n / 2 ** (32 - mask)) * 2 ** (32 - mask);
  const first = network + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(first / 2 ** s) % 256).join('.');
}

export type KubeconfigUser = { readonly name: string; readonly token: string } | { readonly name: string; readonly certPem: string; readonly keyPem: string };

export function kubeconfigText(server: string, caPem: string, user: KubeconfigUser, namespace?: string): string {
  const credentials =
    'token' in user ? { token: user.token } : { 'client-certificate-data': Buffer.from(user.certPem).toString('base64'), 'client-key-data': Buffer.from(user.keyPem).toString('base64') };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name: CLUSTER_NAME, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user.name, user: credentials }],
    contexts: [{ name: CLUSTER_NAME, context: { cluster: CLUSTER_NAME, user: user.name, ...(namespace ? { namespace } : {}) } }],
    'current-context': CLUSTER_NAME,
  });
}

/** A file name for a user name such as system:serviceaccount:ns:name. */
export function fileSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}
