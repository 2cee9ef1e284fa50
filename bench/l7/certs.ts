// The suite's certificates, made at run time with `openssl` in the run's temp dir (mode 0700,
// removed at exit; no key is ever committed): a P-256 CA, and two leaves it signs for
// bench.example.com, one ECDSA P-256 and one RSA 2048.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FulcrumError } from '../../src/errors.js';
import { SERVER_NAME, type CertificateFiles, type Certificates, type TlsFrontend } from './config.js';

/** A server certificate, as a public CA would issue it. */
const LEAF_EXTENSIONS = [
  `subjectAltName = DNS:${SERVER_NAME}`,
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature, keyEncipherment',
  'extendedKeyUsage = serverAuth',
  '',
].join('\n');

const KEY_ARGS: Record<TlsFrontend, string[]> = {
  ecdsa: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  rsa: ['-newkey', 'rsa:2048'],
};

/** Valid for two days: long enough for any run, useless if one ever leaked. */
const DAYS = '2';

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim().slice(-300);
    throw new FulcrumError('FUL_ERR_BENCH_CHILD', { child: 'openssl', reason: `${args.slice(0, 2).join(' ')} failed: ${stderr}` }, { cause: err });
  }
}

export function makeCertificates(dir: string): Certificates {
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  openssl(['req', '-x509', ...KEY_ARGS.ecdsa, '-nodes', '-keyout', caKey, '-out', caFile, '-days', DAYS, '-subj', '/CN=Fulcrum bench CA']);
  const extFile = join(dir, 'leaf.cnf');
  writeFileSync(extFile, LEAF_EXTENSIONS);
  const leaf = (kind: TlsFrontend, serial: number): CertificateFiles => {
    const keyFile = join(dir, `${kind}.key`);
    const certFile = join(dir, `${kind}.pem`);
    const csr = join(dir, `${kind}.csr`);
    openssl(['req', ...KEY_ARGS[kind], '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${SERVER_NAME}`]);
    openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(serial), '-days', DAYS, '-extfile', extFile, '-out', certFile]);
    const bundleFile = join(dir, `${kind}.bundle.pem`);
    writeFileSync(bundleFile, readFileSync(certFile, 'utf8') + readFileSync(keyFile, 'utf8'), { mode: 0o600 });
    return { certFile, keyFile, bundleFile };
  };
  return { caFile, ecdsa: leaf('ecdsa', 1), rsa: leaf('rsa', 2) };
}
