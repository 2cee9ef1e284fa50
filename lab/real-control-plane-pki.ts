import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './netns.js';

/**
 * The certificates and keys of a real control plane (lab/real-control-plane.ts), made with the
 * openssl CLI in its directory: a CA that signs the apiserver's serving certificate and every client
 * certificate (kube-apiserver --client-ca-file), and the service-account signing key pair.
 * Client certificates carry the user in CN and the groups in O, as kube-apiserver reads them.
 */

export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ControlPlanePki {
  readonly caFile: string;
  readonly caPem: string;
  readonly serving: CertFiles;
  /** PKCS#8 private key (--service-account-signing-key-file, --service-account-private-key-file). */
  readonly serviceAccountKeyFile: string;
  /** SPKI public key (--service-account-key-file). */
  readonly serviceAccountPublicKeyFile: string;
  /** A client certificate for `user` in `groups`, signed by the CA; `file` names the files. */
  issueClient(file: string, user: string, groups?: readonly string[]): Promise<CertFiles>;
}

// Short-lived on purpose: a control plane lives for one test run.
const VALID_DAYS = '2';

/** Escapes one -subj value: openssl treats `/`, `+`, `=` and `\` as syntax there. */
function subjValue(v: string): string {
  return v.replace(/[\\/+=,]/g, (c) => `\\${c}`);
}

function subject(cn: string, orgs: readonly string[] = []): string {
  return `/CN=${subjValue(cn)}${orgs.map((o) => `/O=${subjValue(o)}`).join('')}`;
}

// An openssl config of our own, so the machine's openssl.cnf (whose `req -x509` defaults add
// CA:TRUE to every certificate) decides nothing.
function opensslConfig(servingIps: readonly string[], servingDns: readonly string[]): string {
  const san = [...servingDns.map((d) => `DNS:${d}`), ...servingIps.map((ip) => `IP:${ip}`)].join(',');
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'CN = unused',
    '[ca]',
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
    'subjectKeyIdentifier = hash',
    '[server]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${san}`,
    '[client]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage = clientAuth',
    '',
  ].join('\n');
}

async function readPair(certFile: string, keyFile: string): Promise<CertFiles> {
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { certFile, keyFile, certPem, keyPem };
}

/**
 * Makes the CA, the serving certificate (SANs: `servingIps`, `servingDns`) and the
 * service-account keys in `dir`.
 */
export async function makeControlPlanePki(dir: string, servingIps: readonly string[], servingDns: readonly string[]): Promise<ControlPlanePki> {
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, opensslConfig(servingIps, servingDns));
  const caFile = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await runCommand('openssl', ['req', '-x509', '-config', config, ...newKey, '-keyout', caKey, '-out', caFile, '-subj', subject('fulcrum-k8s-real-ca'), '-days', VALID_DAYS, '-extensions', 'ca']);
  const caPem = await readFile(caFile, 'utf8');

  const issue = async (file: string, cn: string, orgs: readonly string[], extensions: 'server' | 'client'): Promise<CertFiles> => {
    const certFile = join(dir, `${file}.crt`);
    const keyFile = join(dir, `${file}.key`);
    await runCommand('openssl', ['req', '-x509', '-config', config, ...newKey, '-keyout', keyFile, '-out', certFile, '-subj', subject(cn, orgs), '-days', VALID_DAYS, '-CA', caFile, '-CAkey', caKey, '-extensions', extensions]);
    return readPair(certFile, keyFile);
  };

  const serving = await issue('apiserver', 'kube-apiserver', [], 'server');
  // RSA, as clusters usually sign service-account tokens (RS256); node:crypto is quicker than openssl here.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const serviceAccountKeyFile = join(dir, 'sa.key');
  const serviceAccountPublicKeyFile = join(dir, 'sa.pub');
  await writeFile(serviceAccountKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(serviceAccountPublicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));

  return {
    caFile,
    caPem,
    serving,
    serviceAccountKeyFile,
    serviceAccountPublicKeyFile,
    issueClient: (file, user, groups = []) => issue(file, user, groups, 'client'),
  };
}
