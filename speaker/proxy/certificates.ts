/**
 * Certificates as data (pure: `node:crypto` parses and compares, nothing else): a PEM chain and
 * its key → the names the certificate answers for, its validity, and what is wrong with it; and
 * the SNI choice among the certificates of one frontend.
 *
 * What stops a certificate from being served (`unusable`): text that is not a PEM certificate, a
 * key that is not an unencrypted PEM private key, a key that does not match the leaf, an RSA key
 * under 2048 bits (Mozilla's intermediate profile; OpenSSL at security level 2 refuses it too), no
 * name at all. What is only a warning (`usable`, with `warnings`): expired, not yet valid, and an
 * intermediate that did not issue the certificate before it. An expired certificate is served, as
 * haproxy and nginx serve it: refusing it would take the port down for every client, while serving
 * it lets clients decide (most refuse) and the Warning Event tells the owner.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { TlsCertificate } from './model.js';

export const CERTIFICATE_PROBLEMS = ['notPem', 'keyNotPem', 'keyEncrypted', 'keyMismatch', 'weakKey', 'noNames', 'expired', 'notYetValid', 'chainOrder'] as const;
export type CertificateProblemReason = (typeof CERTIFICATE_PROBLEMS)[number];

/** Reasons that do not stop a certificate from being served. */
export const CERTIFICATE_WARNINGS: ReadonlySet<CertificateProblemReason> = new Set(['expired', 'notYetValid', 'chainOrder']);

export interface CertificateProblem {
  readonly reason: CertificateProblemReason;
  /** Completes a sentence after the certificate's source: `has a key that does not match its certificate`. */
  readonly message: string;
}

export interface CertificateInfo {
  /** DNS names, lower case, without a trailing dot: the SAN DNS entries, or the subject CN when there is no SAN extension. */
  readonly names: readonly string[];
  /** SAN IP addresses; never matched by SNI (RFC 6066 forbids IP literals in SNI). */
  readonly ipAddresses: readonly string[];
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** `rsa`, `ec`, `ed25519`… with the size or curve: `rsa 2048`, `ec prime256v1`. */
  readonly key: string;
  /** The leaf and the intermediates after it, in PEM order. */
  readonly chainLength: number;
  readonly fingerprint256: string;
}

export type CertificateCheck =
  | { readonly kind: 'usable'; readonly info: CertificateInfo; readonly warnings: readonly CertificateProblem[] }
  | { readonly kind: 'unusable'; readonly problem: CertificateProblem };

/** RSA keys under this are refused (Mozilla intermediate `rsa_key_size`; OpenSSL security level 2). */
export const MIN_RSA_BITS = 2048;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export type PemCertificates = { readonly kind: 'ok'; readonly certificates: readonly X509Certificate[] } | { readonly kind: 'invalid'; readonly problem: CertificateProblem };

/** Every `CERTIFICATE` block of `pem`, parsed; none, or one that does not parse, is `notPem`. */
export function parsePemCertificates(pem: string): PemCertificates {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { kind: 'invalid', problem: { reason: 'notPem', message: 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)' } };
  const certificates: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      certificates.push(new X509Certificate(block));
    } catch (err) {
      return { kind: 'invalid', problem: { reason: 'notPem', message: `has a PEM certificate (#${i + 1}) that does not parse: ${(err as Error).message}` } };
    }
  }
  return { kind: 'ok', certificates };
}

/** A DNS name as SNI compares it: lower case, no trailing dot. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The SAN entries of `X509Certificate.subjectAltName` ("DNS:a.example.com, IP Address:192.0.2.1").
 * Node quotes an entry that holds a comma or a quote (`DNS:"a,b"`); such a DNS entry is no host
 * name and is skipped.
 */
function sanEntries(san: string | undefined): { dns: string[]; ip: string[] } {
  const out = { dns: [] as string[], ip: [] as string[] };
  if (san === undefined) return out;
  for (const m of san.matchAll(/(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const [, type, value] = m as unknown as [string, string, string];
    if (value.startsWith('"')) continue;
    if (type === 'DNS') out.dns.push(normalizeName(value));
    else if (type === 'IP Address') out.ip.push(value);
  }
  return out;
}

/** The subject's CN, from Node's one-attribute-per-line `subject` text. */
function commonName(subject: string | undefined): string | undefined {
  for (const line of (subject ?? '').split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

function keyDescription(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (d.modulusLength !== undefined) return `${key.asymmetricKeyType} ${d.modulusLength}`;
  if (d.namedCurve !== undefined) return `${key.asymmetricKeyType} ${d.namedCurve}`;
  return String(key.asymmetricKeyType);
}

function dateMs(cert: X509Certificate, which: 'validFrom' | 'validTo'): number {
  return Date.parse(cert[which]); // "Jan  1 00:00:00 2026 GMT"; validFromDate exists only from Node 22.10
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/** Whether `cert` can be served at `nowMs`, and what the handshake and the Events need to know about it. */
export function checkCertificate(cert: Pick<TlsCertificate, 'certPem' | 'keyPem'>, nowMs: number): CertificateCheck {
  const parsed = parsePemCertificates(cert.certPem);
  if (parsed.kind === 'invalid') return { kind: 'unusable', problem: parsed.problem };
  const [leaf, ...intermediates] = parsed.certificates as [X509Certificate, ...X509Certificate[]];

  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(cert.keyPem)) {
    return { kind: 'unusable', problem: { reason: 'keyEncrypted', message: 'has an encrypted private key (it must be stored unencrypted)' } };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(cert.keyPem);
  } catch (err) {
    return { kind: 'unusable', problem: { reason: 'keyNotPem', message: `has a private key that does not parse: ${(err as Error).message}` } };
  }
  if (!leaf.checkPrivateKey(key)) return { kind: 'unusable', problem: { reason: 'keyMismatch', message: 'has a private key that does not match its certificate' } };
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType?.startsWith('rsa') && bits !== undefined && bits < MIN_RSA_BITS) {
    return { kind: 'unusable', problem: { reason: 'weakKey', message: `has an RSA key of ${bits} bits (at least ${MIN_RSA_BITS} are needed)` } };
  }

  const san = sanEntries(leaf.subjectAltName);
  const cn = leaf.subjectAltName === undefined ? commonName(leaf.subject) : undefined;
  const names = san.dns.length > 0 ? san.dns : cn !== undefined ? [normalizeName(cn)] : [];
  if (names.length === 0 && san.ip.length === 0) {
    return { kind: 'unusable', problem: { reason: 'noNames', message: 'has a certificate without a name (no subjectAltName DNS or IP entry, no subject CN)' } };
  }

  const notBeforeMs = dateMs(leaf, 'validFrom');
  const notAfterMs = dateMs(leaf, 'validTo');
  const warnings: CertificateProblem[] = [];
  if (nowMs > notAfterMs) warnings.push({ reason: 'expired', message: `has a certificate that expired at ${iso(notAfterMs)} (it is served anyway, as haproxy does)` });
  else if (nowMs < notBeforeMs) warnings.push({ reason: 'notYetValid', message: `has a certificate that is not valid before ${iso(notBeforeMs)} (it is served anyway)` });
  const chain = [leaf, ...intermediates];
  for (let i = 1; i < chain.length; i++) {
    if (!chain[i - 1]!.checkIssued(chain[i]!) || !chain[i - 1]!.verify(chain[i]!.publicKey)) {
      warnings.push({ reason: 'chainOrder', message: `has certificate #${i + 1} in its chain that did not issue certificate #${i} (clients may fail to build the chain)` });
      break;
    }
  }
  const info: CertificateInfo = { names, ipAddresses: san.ip, notBeforeMs, notAfterMs, key: keyDescription(key), chainLength: chain.length, fingerprint256: leaf.fingerprint256 };
  return { kind: 'usable', info, warnings };
}

/** The first problem of `cert` (an unusable one, else the first warning), or none. */
export function certificateProblem(cert: Pick<TlsCertificate, 'certPem' | 'keyPem'>, nowMs: number): CertificateProblem | undefined {
  const check = checkCertificate(cert, nowMs);
  return check.kind === 'unusable' ? check.problem : check.warnings[0];
}

/**
 * The names of a frontend's certificates, indexed once per generation: `exact` maps a name to the
 * first certificate that has it, `wildcard` maps the parent of `*.parent` likewise. Other
 * wildcard forms (`a*.example.com`, `*.*.example.com`) are not indexed: no client accepts them.
 */
export interface CertificateNameIndex {
  readonly exact: ReadonlyMap<string, number>;
  readonly wildcard: ReadonlyMap<string, number>;
}

export function indexCertificateNames(namesPerCertificate: readonly (readonly string[])[]): CertificateNameIndex {
  const exact = new Map<string, number>();
  const wildcard = new Map<string, number>();
  namesPerCertificate.forEach((names, i) => {
    for (const raw of names) {
      const name = normalizeName(raw);
      if (name.startsWith('*.')) {
        const parent = name.slice(2);
        if (!parent.includes('*') && !wildcard.has(parent)) wildcard.set(parent, i);
      } else if (!name.includes('*') && !exact.has(name)) exact.set(name, i);
    }
  });
  return { exact, wildcard };
}

/**
 * Which certificate answers a ClientHello: an exact name first, then a wildcard `*.parent` that
 * covers exactly one more label (`*.example.com` matches `a.example.com`, not `example.com` nor
 * `a.b.example.com`), each time the first certificate in the list; else 0, the default (also for
 * a client that sends no SNI).
 */
export function pickCertificate(serverName: string | undefined, index: CertificateNameIndex): number {
  if (serverName === undefined || serverName === '') return 0;
  const name = normalizeName(serverName);
  const exact = index.exact.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  if (dot > 0) {
    const wild = index.wildcard.get(name.slice(dot + 1));
    if (wild !== undefined) return wild;
  }
  return 0;
}
