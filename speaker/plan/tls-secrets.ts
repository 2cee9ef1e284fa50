/**
 * The certificates a Service's TLS ports serve, from `kubernetes.io/tls` Secrets of its own
 * namespace (pure: the caller's Secret cache comes in as `lookup`, `now` as `nowMs`).
 *
 * A Secret that is missing, of another type, or without a usable key pair never takes the port
 * down: it contributes its last good certificate when there is one, nothing otherwise, and a
 * problem either way (the caller turns problems into Warning Events). `lastGood` is threaded
 * through every call of a run: the returned map is the one given, with the entries of these
 * names updated, keyed `namespace/name`; `pruneLastGood` drops the Secrets nothing names any more.
 */
import type { V1Secret } from '@kubernetes/client-node';
import { checkCertificate, parsePemCertificates, type CertificateProblemReason } from '../proxy/certificates.js';
import type { TlsCertificate } from '../proxy/model.js';

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

export type SecretLookup = (namespace: string, name: string) => V1Secret | undefined;

export const TLS_SECRET_PROBLEMS = ['invalidName', 'notFound', 'wrongType', 'missingKey', 'missingCa'] as const;
export type TlsSecretProblemReason = (typeof TLS_SECRET_PROBLEMS)[number] | CertificateProblemReason;

export interface TlsSecretProblem {
  /** The Secret's name as the Service wrote it. */
  readonly secret: string;
  /** Completes a sentence after `Secret "web-tls"`: `is not found in namespace "shop" …`. */
  readonly reason: string;
  readonly code: TlsSecretProblemReason;
  /** What is served for this Secret meanwhile: its own pair (a warning), its last good one, or nothing. */
  readonly serving: 'this' | 'lastGood' | 'nothing';
}

/** `namespace/name`, the key of `lastGood`. */
export function secretKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** A Secret name (DNS-1123 subdomain): anything else, a `/` in particular, never reaches the lookup. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
function validName(name: string): boolean {
  return name.length <= 253 && SECRET_NAME.test(name);
}

function decoded(secret: V1Secret, key: string): string | undefined {
  const b64 = secret.data?.[key];
  if (b64 === undefined || b64 === '') return undefined;
  return Buffer.from(b64, 'base64').toString('utf8');
}

type Read<T> =
  | { readonly kind: 'ok'; readonly value: T; readonly warnings: readonly { readonly code: TlsSecretProblemReason; readonly reason: string }[] }
  | { readonly kind: 'bad'; readonly code: TlsSecretProblemReason; readonly reason: string };

/** The Secret itself, or why it cannot be used (shared by both resolvers). */
function findSecret(namespace: string, name: string, lookup: SecretLookup): { kind: 'ok'; secret: V1Secret } | { kind: 'bad'; code: TlsSecretProblemReason; reason: string } {
  if (!validName(name)) return { kind: 'bad', code: 'invalidName', reason: `is not a Secret name (a Secret is read from the Service's namespace "${namespace}" only)` };
  const secret = lookup(namespace, name);
  if (secret === undefined) return { kind: 'bad', code: 'notFound', reason: `is not found in namespace "${namespace}" (only Secrets of type ${TLS_SECRET_TYPE} are read)` };
  if (secret.metadata?.namespace !== undefined && secret.metadata.namespace !== namespace) {
    throw new Error(`incoherent Secret lookup: asked for ${secretKey(namespace, name)}, got ${secretKey(secret.metadata.namespace, secret.metadata.name ?? '')}`);
  }
  if (secret.type !== TLS_SECRET_TYPE) return { kind: 'bad', code: 'wrongType', reason: `is of type "${secret.type ?? 'Opaque'}", not ${TLS_SECRET_TYPE}` };
  return { kind: 'ok', secret };
}

function readPair(namespace: string, name: string, lookup: SecretLookup, nowMs: number): Read<TlsCertificate> {
  const found = findSecret(namespace, name, lookup);
  if (found.kind === 'bad') return found;
  const certPem = decoded(found.secret, 'tls.crt');
  const keyPem = decoded(found.secret, 'tls.key');
  if (certPem === undefined || keyPem === undefined) return { kind: 'bad', code: 'missingKey', reason: `has no ${certPem === undefined ? 'tls.crt' : 'tls.key'}` };
  const check = checkCertificate({ certPem, keyPem }, nowMs);
  if (check.kind === 'unusable') return { kind: 'bad', code: check.problem.reason, reason: check.problem.message };
  const value: TlsCertificate = { source: `secret ${secretKey(namespace, name)}`, certPem, keyPem };
  return { kind: 'ok', value, warnings: check.warnings.map((w) => ({ code: w.reason, reason: w.message })) };
}

export interface TlsSecretsInput {
  readonly namespace: string;
  /** The Service's `tls-secret` names, in order: the first resolved one is the default certificate. */
  readonly names: readonly string[];
  readonly lookup: SecretLookup;
  readonly lastGood: ReadonlyMap<string, TlsCertificate>;
  readonly nowMs: number;
}

export interface TlsSecretsResult {
  /** In the order of `names` (a repeated name counts once). */
  readonly certificates: readonly TlsCertificate[];
  readonly lastGood: Map<string, TlsCertificate>;
  readonly problems: readonly TlsSecretProblem[];
}

export function resolveTlsSecrets(input: TlsSecretsInput): TlsSecretsResult {
  const lastGood = new Map(input.lastGood);
  const certificates: TlsCertificate[] = [];
  const problems: TlsSecretProblem[] = [];
  for (const name of new Set(input.names)) {
    const read = readPair(input.namespace, name, input.lookup, input.nowMs);
    if (read.kind === 'ok') {
      certificates.push(read.value);
      lastGood.set(secretKey(input.namespace, name), read.value);
      for (const w of read.warnings) problems.push({ secret: name, code: w.code, reason: w.reason, serving: 'this' });
      continue;
    }
    const previous = read.code === 'invalidName' ? undefined : lastGood.get(secretKey(input.namespace, name));
    if (previous !== undefined) certificates.push(previous);
    problems.push({ secret: name, code: read.code, reason: previous !== undefined ? `${read.reason}; its last good certificate is served` : read.reason, serving: previous !== undefined ? 'lastGood' : 'nothing' });
  }
  return { certificates, lastGood, problems };
}

/** `lastGood` without the Secrets no Service names any more (`referenced`: `namespace/name` keys). */
export function pruneLastGood<V>(lastGood: ReadonlyMap<string, V>, referenced: ReadonlySet<string>): Map<string, V> {
  return new Map([...lastGood].filter(([key]) => referenced.has(key)));
}

export interface CaSecretInput {
  readonly namespace: string;
  /** The Service's `backend-ca-secret`. */
  readonly name: string;
  readonly lookup: SecretLookup;
  /** Last good CA bundles (PEM), keyed `namespace/name`. */
  readonly lastGood: ReadonlyMap<string, string>;
}

/**
 * The CA that verifies a re-encrypting backend's pods: `ca.crt` of a `kubernetes.io/tls` Secret
 * (cert-manager writes `ca.crt` next to `tls.crt`/`tls.key`; a hand-made one holds empty ones).
 * A Secret gone bad keeps its last good CA (`ok` with a problem); without one it is `unavailable`
 * and the caller must not connect unverified. `reason` completes a sentence after the name.
 */
export type CaSecretResult =
  | { readonly kind: 'ok'; readonly caPem: string; readonly lastGood: Map<string, string>; readonly problems: readonly TlsSecretProblem[] }
  | { readonly kind: 'unavailable'; readonly reason: string; readonly lastGood: Map<string, string>; readonly problems: readonly TlsSecretProblem[] };

function readCa(namespace: string, name: string, lookup: SecretLookup): Read<string> {
  const found = findSecret(namespace, name, lookup);
  if (found.kind === 'bad') return found;
  const caPem = decoded(found.secret, 'ca.crt');
  if (caPem === undefined) return { kind: 'bad', code: 'missingCa', reason: 'has no ca.crt' };
  const parsed = parsePemCertificates(caPem);
  if (parsed.kind === 'invalid') return { kind: 'bad', code: parsed.problem.reason, reason: `has an invalid ca.crt: it ${parsed.problem.message}` };
  return { kind: 'ok', value: caPem, warnings: [] };
}

export function resolveCaSecret(input: CaSecretInput): CaSecretResult {
  const key = secretKey(input.namespace, input.name);
  const lastGood = new Map(input.lastGood);
  const read = readCa(input.namespace, input.name, input.lookup);
  if (read.kind === 'ok') {
    lastGood.set(key, read.value);
    return { kind: 'ok', caPem: read.value, lastGood, problems: [] };
  }
  const previous = read.code === 'invalidName' ? undefined : lastGood.get(key);
  if (previous !== undefined) {
    return { kind: 'ok', caPem: previous, lastGood, problems: [{ secret: input.name, code: read.code, reason: `${read.reason}; its last good CA is used`, serving: 'lastGood' }] };
  }
  return { kind: 'unavailable', reason: read.reason, lastGood, problems: [{ secret: input.name, code: read.code, reason: read.reason, serving: 'nothing' }] };
}

/** One run's Secret lookups for buildNodeProxyModel (service-proxy.ts's TlsLookupResult and CaLookupResult shapes). */
export interface SecretLookups {
  tls(namespace: string, names: readonly string[]): { certificates: readonly TlsCertificate[]; problems: readonly { secret: string; reason: string }[] };
  backendCa(namespace: string, name: string): { kind: 'ok'; caPem: string } | { kind: 'unavailable'; reason: string };
}

/**
 * The last good certificates and CA bundles across runs (pure; the controller owns one). Each
 * run gets lookups over the Secret cache; `endRun` keeps what the run resolved and forgets the
 * Secrets no Service named in it.
 */
export class SecretMemory {
  #certificates: ReadonlyMap<string, TlsCertificate> = new Map();
  #cas: ReadonlyMap<string, string> = new Map();

  run(lookup: SecretLookup, nowMs: number): SecretLookups & { endRun(): void } {
    let certificates = new Map(this.#certificates);
    let cas = new Map(this.#cas);
    const referenced = new Set<string>();
    return {
      tls: (namespace, names) => {
        for (const n of names) referenced.add(secretKey(namespace, n));
        const r = resolveTlsSecrets({ namespace, names, lookup, lastGood: certificates, nowMs });
        certificates = r.lastGood;
        return { certificates: r.certificates, problems: r.problems.map((p) => ({ secret: p.secret, reason: p.reason })) };
      },
      backendCa: (namespace, name) => {
        referenced.add(secretKey(namespace, name));
        const r = resolveCaSecret({ namespace, name, lookup, lastGood: cas });
        cas = r.lastGood;
        return r.kind === 'ok' ? { kind: 'ok', caPem: r.caPem } : { kind: 'unavailable', reason: r.reason };
      },
      endRun: () => {
        this.#certificates = pruneLastGood(certificates, referenced);
        this.#cas = pruneLastGood(cas, referenced);
      },
    };
  }

  /** Secrets remembered (for tests and the status command). */
  get size(): number {
    return this.#certificates.size + this.#cas.size;
  }
}
