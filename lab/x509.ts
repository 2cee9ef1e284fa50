/**
 * A tiny X.509 v3 builder for the lab's certificates and the tests (pure: node:crypto keys and signatures, DER written by hand):
 * self-signed or CA-issued certificates with SAN DNS and IP entries, a chosen validity, RSA or
 * ECDSA P-256 keys. Enough for TLS handshakes with node:tls and openssl; nothing else.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

/** One DER TLV. */
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 + n, inner);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bits = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const trimmed = b.subarray(i);
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(ms: number): Buffer {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const y = d.getUTCFullYear();
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return y < 2050 ? tlv(0x17, Buffer.from(`${String(y % 100).padStart(2, '0')}${rest}`)) : tlv(0x18, Buffer.from(`${y}${rest}`));
}

function name(cn: string | undefined): Buffer {
  return cn === undefined ? seq() : seq(set(seq(oid('2.5.4.3'), utf8(cn))));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head, tail = ''] = ip.split('::') as [string, string?];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

export type KeyKind = 'rsa' | 'ec';

export interface KeyPair {
  readonly kind: KeyKind;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyPem: string;
}

/** RSA 2048 (about 50–200 ms) or ECDSA P-256 (instant); `rsaBits` for a weak-key case. */
export function makeKey(kind: KeyKind, rsaBits = 2048): KeyPair {
  const { privateKey, publicKey } = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: rsaBits }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kind, privateKey, publicKey, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export interface CertificateSpec {
  /** Subject CN; absent: an empty subject. */
  readonly cn?: string;
  /** SAN DNS names; absent (with no `ips`): no SAN extension at all. */
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly notBeforeMs?: number;
  readonly notAfterMs?: number;
  /** A CA certificate (basicConstraints cA, keyCertSign). */
  readonly ca?: boolean;
  /** The issuer; absent: self-signed with `key`. */
  readonly issuer?: { readonly cert: Certificate; readonly key: KeyPair };
  readonly key: KeyPair;
}

export interface Certificate {
  readonly der: Buffer;
  readonly pem: string;
  /** The subject CN, as an issuer name for what this one signs. */
  readonly cn: string | undefined;
}

const DAY_MS = 86_400_000;

export function makeCertificate(spec: CertificateSpec): Certificate {
  const now = Date.now();
  const signer = spec.issuer?.key ?? spec.key;
  const sigAlg = signer.kind === 'rsa' ? seq(oid('1.2.840.113549.1.1.11'), tlv(0x05, Buffer.alloc(0))) : seq(oid('1.2.840.10045.4.3.2'));
  const extensions: Buffer[] = [];
  if (spec.dns !== undefined || spec.ips !== undefined) {
    const general = [...(spec.dns ?? []).map((d) => tlv(0x82, Buffer.from(d, 'ascii'))), ...(spec.ips ?? []).map((ip) => tlv(0x87, ipBytes(ip)))];
    extensions.push(seq(oid('2.5.29.17'), octets(seq(...general))));
  }
  if (spec.ca) {
    extensions.push(seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true)))));
    extensions.push(seq(oid('2.5.29.15'), bool(true), octets(bits(Buffer.from([0x06]))))); // keyCertSign | cRLSign
  }
  const spki = spec.key.publicKey.export({ type: 'spki', format: 'der' });
  const serial = createHash('sha256').update(spki).update(String(Math.random())).digest().subarray(0, 16);
  serial[0]! &= 0x7f;
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    sigAlg,
    spec.issuer ? name(spec.issuer.cert.cn) : name(spec.cn),
    seq(time(spec.notBeforeMs ?? now - DAY_MS), time(spec.notAfterMs ?? now + 30 * DAY_MS)),
    name(spec.cn),
    spki,
    ...(extensions.length > 0 ? [tlv(0xa3, seq(...extensions))] : []),
  );
  const signature = sign('sha256', tbs, signer.privateKey);
  const der = seq(tbs, sigAlg, bits(signature));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return { der, pem: `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`, cn: spec.cn };
}

/** A leaf certificate and its key as a `TlsCertificate`-shaped pair (PEM). */
export function makePair(kind: KeyKind, spec: Omit<CertificateSpec, 'key'> = {}, key: KeyPair = makeKey(kind)): { certPem: string; keyPem: string; key: KeyPair; cert: Certificate } {
  const cert = makeCertificate({ ...spec, key });
  return { certPem: cert.pem, keyPem: key.keyPem, key, cert };
}
