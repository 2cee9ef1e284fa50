import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCertificate, makeKey, type Certificate, type KeyPair } from './x509.js';
import { BLOG_HOST, HTTPS_HOST, SAMPLE_NAMESPACE, SHOP_HOST, TLS_SECRET } from './samples.js';

/**
 * The lab's TLS material, made at every start (no key is ever committed or reused): a CA of its
 * own, written to `<stateDir>/lab-ca.crt` so that clients (the lab's checks, `curl --cacert`)
 * verify against it, and an ECDSA P-256 certificate for the sample names, signed by that CA, in
 * the `kubernetes.io/tls` Secret the HTTPS sample Service names.
 */
export interface LabTls {
  readonly caFile: string;
  /** The CA and its key, kept in memory for the lab's life: `labTlsSecret(ca)` renews the certificate. */
  readonly ca: LabCa;
  readonly secret: LabTlsSecret;
}

export interface LabCa {
  readonly cert: Certificate;
  readonly key: KeyPair;
}

export type LabTlsSecret = Record<string, unknown> & { metadata: { name: string; namespace: string; labels?: Record<string, string> } };

const VALIDITY_MS = 30 * 86_400_000;

export async function makeLabTls(stateDir: string): Promise<LabTls> {
  const key = makeKey('ec');
  const ca: LabCa = { cert: makeCertificate({ cn: 'Fulcrum lab CA', ca: true, key, notAfterMs: Date.now() + VALIDITY_MS }), key };
  const caFile = join(stateDir, 'lab-ca.crt');
  await writeFile(caFile, ca.cert.pem);
  return { caFile, ca, secret: labTlsSecret(ca) };
}

/**
 * The sample `web-tls` Secret with a fresh key and certificate for the sample names, signed by
 * `ca`: what the lab applies at start, and a renewal as cert-manager makes one (same Secret,
 * same names, new key) when applied again.
 */
export function labTlsSecret(ca: LabCa): LabTlsSecret {
  const key = makeKey('ec');
  const leaf = makeCertificate({ cn: HTTPS_HOST, dns: [HTTPS_HOST, SHOP_HOST, BLOG_HOST], key, issuer: ca, notAfterMs: Date.now() + VALIDITY_MS });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: TLS_SECRET, namespace: SAMPLE_NAMESPACE, labels: { 'fulcrum-lb.io/lab-sample': 'true' } },
    data: { 'tls.crt': b64(leaf.pem + ca.cert.pem), 'tls.key': b64(key.keyPem), 'ca.crt': b64(ca.cert.pem) },
  };
}
