/**
 * TLS on the data plane (I/O: node:tls). `TlsTermination` turns a frontend's `FrontendTls` into
 * what its runtime needs: one SecureContext per certificate (Mozilla "intermediate"), the SNI
 * choice between them (`pickCertificate`), ALPN, session tickets whose keys rotate, and the
 * handshake counters; `wrap(socket)` terminates TLS on an accepted `net.Socket`. `update(spec)`
 * swaps the contexts for new handshakes only: a TLSSocket keeps the context it was made with.
 * `upstreamTlsOptions` is the client side, for backends that re-encrypt towards the pods.
 *
 * Session tickets: the keys are shared by every context of a frontend and rotate (tls-tickets.ts).
 */
import { constants, createHash } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import type { Counter, Gauge } from 'prom-client';
import { FulcrumError } from '../../src/errors.js';
import { counter, gauge } from '../../src/metrics.js';
import { checkCertificate, indexCertificateNames, pickCertificate, type CertificateInfo, type CertificateNameIndex } from './certificates.js';
import { addSweeper, coarseNow, removeSweeper, type Sweeper } from './coarse-timer.js';
import { installTicketKeys, TicketKeys, ticketKeyMode, type TicketKeyMode } from './tls-tickets.js';
import type { Logger } from '../../src/log.js';
import type { BackendTls, Frontend, FrontendProtocol, FrontendTls } from './model.js';

export { ticketKeyMode, type TicketKeyMode } from './tls-tickets.js';

/**
 * Mozilla's "intermediate" TLS 1.2 ciphers, in its order (guidelines 5.8 and 6.0,
 * github.com/mozilla/ssl-config-generator src/static/guidelines/6.0.json, `ciphers.openssl`):
 * ECDHE only, AEAD only. 5.7 also listed three DHE-RSA ciphers; 5.8 dropped them.
 */
export const MOZILLA_INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
/** TLS 1.3 suites (Mozilla `ciphersuites`, OpenSSL's default three): Node reads them from the same `ciphers` string; listed so the whole profile is written out here. */
export const TLS13_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';
export const SERVER_CIPHERS = `${TLS13_CIPHERSUITES}:${MOZILLA_INTERMEDIATE_CIPHERS}`;
/** Mozilla 6.0 `tls_curves`; the hybrid X25519MLKEM768 only where OpenSSL has it (3.5+), see `ecdhCurves`. */
const CURVES_WITH_MLKEM = 'X25519MLKEM768:X25519:P-256:P-384';
const CURVES = 'X25519:P-256:P-384';

/** Keys encrypt for this long, then decrypt for as long again (Go rotates daily, Cloudflare hourly; see the README). */
export const DEFAULT_TICKET_ROTATION_MS = 12 * 3_600_000;
/** A client that has not finished its handshake by then is closed (Node's own default, 120 s, invites slow-handshake floods). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export const HANDSHAKE_RESULTS = ['ok', 'resumed', 'protocolVersion', 'noCipher', 'noApplicationProtocol', 'unknownCa', 'badCertificate', 'notTls', 'timeout', 'closed', 'other'] as const;
/**
 * How a handshake ended: `ok`/`resumed` succeeded; `noApplicationProtocol` is a client whose ALPN
 * list has nothing the frontend speaks (RFC 7301 answers it with a fatal alert); `unknownCa` and
 * `badCertificate` are the client's alerts about our certificate; `closed` is a client gone (or
 * reset) before finishing.
 */
export type HandshakeResult = (typeof HANDSHAKE_RESULTS)[number];

/** OpenSSL reasons, as node:tls names them (`ERR_SSL_` + the reason), → a result. */
const RESULT_BY_CODE: ReadonlyMap<string, HandshakeResult> = new Map<string, HandshakeResult>([
  ...['UNSUPPORTED_PROTOCOL', 'UNKNOWN_PROTOCOL', 'VERSION_TOO_LOW', 'TLSV1_ALERT_PROTOCOL_VERSION'].map((c) => [`ERR_SSL_${c}`, 'protocolVersion'] as const),
  ...['NO_SHARED_CIPHER', 'NO_CIPHERS_AVAILABLE', 'NO_SHARED_GROUPS', 'NO_SUITABLE_KEY_SHARE', 'NO_SUITABLE_SIGNATURE_ALGORITHM', 'SSLV3_ALERT_HANDSHAKE_FAILURE', 'TLSV1_ALERT_INSUFFICIENT_SECURITY'].map((c) => [`ERR_SSL_${c}`, 'noCipher'] as const),
  ['ERR_SSL_NO_APPLICATION_PROTOCOL', 'noApplicationProtocol'],
  ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'unknownCa'],
  ...['SSLV3_ALERT_BAD_CERTIFICATE', 'SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'SSLV3_ALERT_CERTIFICATE_EXPIRED', 'SSLV3_ALERT_CERTIFICATE_REVOKED', 'SSLV3_ALERT_UNSUPPORTED_CERTIFICATE'].map((c) => [`ERR_SSL_${c}`, 'badCertificate'] as const),
  // OpenSSL 3.2+ (Node 22 and later) names the SSLv3 alerts `SSL/TLS_ALERT_*`
  ...['HANDSHAKE_FAILURE'].map((c) => [`ERR_SSL_SSL/TLS_ALERT_${c}`, 'noCipher'] as const),
  ...['BAD_CERTIFICATE', 'CERTIFICATE_UNKNOWN', 'CERTIFICATE_EXPIRED', 'CERTIFICATE_REVOKED', 'UNSUPPORTED_CERTIFICATE'].map((c) => [`ERR_SSL_SSL/TLS_ALERT_${c}`, 'badCertificate'] as const),
  // A plain-HTTP request, an HTTP proxy's CONNECT, or bytes that are no TLS record at all.
  ...['HTTP_REQUEST', 'HTTPS_PROXY_REQUEST', 'WRONG_VERSION_NUMBER', 'PACKET_LENGTH_TOO_LONG'].map((c) => [`ERR_SSL_${c}`, 'notTls'] as const),
  ...['ECONNRESET', 'EPIPE', 'ECONNABORTED'].map((c) => [c, 'closed'] as const),
]);

/** The result a handshake error counts as (pure). */
export function handshakeResultOf(err: unknown): HandshakeResult {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'string' ? RESULT_BY_CODE.get(code) : undefined) ?? 'other';
}

/** ALPN offered by a frontend kind, most preferred first: `http/1.1` on http frontends (`h2` goes first once spoken), none on tcp. */
export function alpnFor(protocol: FrontendProtocol): readonly string[] {
  return protocol === 'http' ? ['http/1.1'] : [];
}

/** Counters of one frontend's handshakes, read when scraped (metrics.ts's habit). */
export class TlsStats {
  readonly frontend: string;
  readonly handshakes: Record<HandshakeResult, number>;
  /** The certificates served now: `source` and notAfter. */
  certificates: readonly { readonly source: string; readonly notAfterMs: number }[] = [];

  constructor(frontend: string) {
    this.frontend = frontend;
    this.handshakes = { ok: 0, resumed: 0, protocolVersion: 0, noCipher: 0, noApplicationProtocol: 0, unknownCa: 0, badCertificate: 0, notTls: 0, timeout: 0, closed: 0, other: 0 };
  }
}

const tracked = new Set<TlsStats>();
function onCollect<M extends Counter<string> | Gauge<string>>(metric: M, fill: (this: M) => void): void {
  (metric as unknown as { collect: () => void }).collect = fill.bind(metric);
}
onCollect(counter('fulcrum_proxy_tls_handshakes_total', 'TLS handshakes on a frontend, by result (ok, resumed, or why it failed)', ['frontend', 'result']), function () {
  this.reset();
  for (const s of tracked) for (const r of HANDSHAKE_RESULTS) if (s.handshakes[r] > 0) this.inc({ frontend: s.frontend, result: r }, s.handshakes[r]);
});
onCollect(gauge('fulcrum_proxy_tls_certificate_expiry_timestamp_seconds', 'notAfter of each certificate a frontend serves, in seconds since the epoch', ['frontend', 'source']), function () {
  this.reset();
  for (const s of tracked) for (const c of s.certificates) this.set({ frontend: s.frontend, source: c.source }, Math.floor(c.notAfterMs / 1000));
});

let curves: string | undefined;
/** Mozilla's curves, with X25519MLKEM768 first when this OpenSSL knows it (probed once). */
export function ecdhCurves(): string {
  if (curves === undefined) {
    try {
      tls.createSecureContext({ ecdhCurve: CURVES_WITH_MLKEM });
      curves = CURVES_WITH_MLKEM;
    } catch {
      curves = CURVES;
    }
  }
  return curves;
}

/** Handshakes in progress of one termination: counted when they end, closed when they take too long. */
class HandshakeTracker implements Sweeper {
  readonly stats: TlsStats;
  readonly timeoutMs: number;
  readonly #pending = new Map<tls.TLSSocket, number>();
  #sweeping = false;

  constructor(stats: TlsStats, timeoutMs: number) {
    this.stats = stats;
    this.timeoutMs = timeoutMs;
  }

  start(socket: tls.TLSSocket): void {
    if (!this.#sweeping) {
      this.#sweeping = true;
      addSweeper(this); // before coarseNow(): a timer that was idle starts with a fresh time
    }
    this.#pending.set(socket, coarseNow());
  }

  finish(socket: tls.TLSSocket, result: HandshakeResult): void {
    if (this.#pending.delete(socket)) this.stats.handshakes[result]++;
  }

  get pending(): number {
    return this.#pending.size;
  }

  sweep(nowMs: number): void {
    for (const [socket, startedMs] of this.#pending) {
      if (nowMs - startedMs < this.timeoutMs) continue;
      this.finish(socket, 'timeout');
      socket.destroy();
    }
    if (this.#pending.size === 0) {
      this.#sweeping = false;
      removeSweeper(this);
    }
  }
}

const kTracker = Symbol('fulcrum.tlsTracker');
type TrackedSocket = tls.TLSSocket & { [kTracker]: HandshakeTracker };

// Module-level listeners shared by every socket (no closure per connection).
function onTlsSecure(this: TrackedSocket): void {
  this[kTracker].finish(this, this.isSessionReused() ? 'resumed' : 'ok');
}
function onTlsError(this: TrackedSocket, err: Error): void {
  this[kTracker].finish(this, handshakeResultOf(err));
}
function onTlsClose(this: TrackedSocket): void {
  this[kTracker].finish(this, 'closed');
}

/** A certificate the termination serves. */
export interface ServedCertificate {
  readonly source: string;
  readonly info: CertificateInfo;
}

/** A certificate left out of the contexts, with why (`reason` completes a sentence after its source). */
export interface SkippedCertificate {
  readonly source: string;
  readonly reason: string;
}

export type TlsUpdate =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'updated'; readonly served: readonly ServedCertificate[]; readonly skipped: readonly SkippedCertificate[] }
  /** No certificate of the new spec can be served: the previous set stays. */
  | { readonly kind: 'kept'; readonly skipped: readonly SkippedCertificate[] };

/** One set of contexts: what new handshakes use until the next update or ticket rotation. */
class TlsGeneration {
  readonly spec: FrontendTls;
  readonly served: readonly ServedCertificate[];
  readonly contexts: readonly tls.SecureContext[];
  readonly names: CertificateNameIndex;
  readonly socketOptions: tls.TLSSocketOptions;

  constructor(spec: FrontendTls, served: ServedCertificate[], contexts: tls.SecureContext[], alpn: Buffer | undefined) {
    this.spec = spec;
    this.served = served;
    this.contexts = contexts;
    this.names = indexCertificateNames(served.map((s) => s.info.names));
    this.socketOptions = {
      isServer: true,
      secureContext: contexts[0],
      requestCert: false,
      rejectUnauthorized: false,
      // One certificate: no SNI callback, no round trip into JS per handshake.
      ...(contexts.length > 1 ? { SNICallback: this.#onSni.bind(this) } : {}),
      ...(alpn !== undefined ? { ALPNProtocols: alpn } : {}),
    };
  }

  #onSni(serverName: string, done: (err: Error | null, ctx?: tls.SecureContext) => void): void {
    done(null, this.contexts[pickCertificate(serverName, this.names)]);
  }
}

export interface TlsTerminationOptions {
  readonly handshakeTimeoutMs?: number;
  readonly ticketRotationMs?: number;
  /** Tests only: force the fallback ticket-key mode. */
  readonly ticketKeyMode?: TicketKeyMode;
  /** The clock for certificate validity checks (warnings only). */
  readonly nowMs?: () => number;
}

function sameSpec(a: FrontendTls, b: FrontendTls): boolean {
  return a.minVersion === b.minVersion && a.certificates.length === b.certificates.length
    && a.certificates.every((c, i) => c.source === b.certificates[i]!.source && c.certPem === b.certificates[i]!.certPem && c.keyPem === b.certificates[i]!.keyPem);
}

/** TLS termination of one frontend; see the file's header. */
export class TlsTermination {
  readonly frontend: string;
  readonly stats: TlsStats;
  readonly #alpn: Buffer | undefined;
  readonly #tracker: HandshakeTracker;
  readonly #tickets = new TicketKeys();
  readonly #mode: TicketKeyMode;
  readonly #sessionTimeoutS: number;
  /** Same on every context of the frontend (≤ 32 bytes), so a session resumes whichever context SNI picked. */
  readonly #sessionIdContext: string;
  readonly #now: () => number;
  readonly #rotation: NodeJS.Timeout;
  #generation: TlsGeneration;

  /** Throws FUL_ERR_PROXY_CONFIG when no certificate of `spec` can be served. */
  constructor(spec: FrontendTls, alpn: readonly string[], frontend: string, options: TlsTerminationOptions = {}) {
    this.frontend = frontend;
    this.stats = new TlsStats(frontend);
    this.#alpn = alpn.length > 0 ? Buffer.concat(alpn.map((p) => Buffer.concat([Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)]))) : undefined;
    this.#tracker = new HandshakeTracker(this.stats, options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.#mode = options.ticketKeyMode ?? ticketKeyMode();
    const rotationMs = options.ticketRotationMs ?? DEFAULT_TICKET_ROTATION_MS;
    // A ticket lives no longer than one rotation period, so its key is still the current or the previous one.
    this.#sessionTimeoutS = Math.max(1, Math.floor(rotationMs / 1000));
    this.#sessionIdContext = createHash('sha256').update(`fulcrum frontend ${frontend}`).digest('hex').slice(0, 32);
    this.#now = options.nowMs ?? Date.now;
    const built = this.#build(spec);
    if (built.kind !== 'built') {
      const why = built.skipped.map((s) => `${s.source} ${s.reason}`).join('; ') || 'no certificate is configured';
      throw new FulcrumError('FUL_ERR_PROXY_CONFIG', { count: '1 problem', problems: `frontend "${frontend}": tls: no certificate can be served: ${why}` });
    }
    this.#generation = built.generation;
    this.stats.certificates = built.generation.served.map((s) => ({ source: s.source, notAfterMs: s.info.notAfterMs }));
    this.#rotation = setInterval(this.rotateTicketKeys.bind(this), rotationMs);
    this.#rotation.unref(); // the listeners keep the process alive, not the rotation
    tracked.add(this.stats);
  }

  /** New handshakes use `spec` (open connections keep their context); certificates that cannot be served are skipped. */
  update(spec: FrontendTls): TlsUpdate {
    if (sameSpec(spec, this.#generation.spec)) return { kind: 'unchanged' };
    const built = this.#build(spec);
    if (built.kind !== 'built') return { kind: 'kept', skipped: built.skipped };
    this.#generation = built.generation;
    this.stats.certificates = built.generation.served.map((s) => ({ source: s.source, notAfterMs: s.info.notAfterMs }));
    return { kind: 'updated', served: built.generation.served, skipped: built.skipped };
  }

  /** Terminates TLS on an accepted socket (not yet read from: the TLSSocket reads its handle itself). */
  wrap(socket: Socket): tls.TLSSocket {
    const s = new tls.TLSSocket(socket, this.#generation.socketOptions) as TrackedSocket;
    s[kTracker] = this.#tracker;
    this.#tracker.start(s);
    s.once('secure', onTlsSecure);
    s.on('error', onTlsError);
    s.once('close', onTlsClose);
    return s;
  }

  /** The certificates new handshakes get, the default first. */
  certificates(): readonly ServedCertificate[] {
    return this.#generation.served;
  }

  /** Handshakes started and not yet finished. */
  pendingHandshakes(): number {
    return this.#tracker.pending;
  }

  /** A new current key; the current one is kept for decryption only (`single` mode: dropped). Every period, and by tests. */
  rotateTicketKeys(): void {
    this.#tickets.rotate();
    if (this.#mode === 'callback') return;
    const rebuilt = this.#build(this.#generation.spec);
    if (rebuilt.kind === 'built') this.#generation = rebuilt.generation;
  }

  /** Stops the rotation and the metrics; handshakes in progress still time out, open connections are not touched. */
  close(): void {
    clearInterval(this.#rotation);
    tracked.delete(this.stats);
  }

  #build(spec: FrontendTls): { kind: 'built'; generation: TlsGeneration; skipped: SkippedCertificate[] } | { kind: 'none'; skipped: SkippedCertificate[] } {
    const served: ServedCertificate[] = [];
    const contexts: tls.SecureContext[] = [];
    const skipped: SkippedCertificate[] = [];
    const nowMs = this.#now();
    for (const cert of spec.certificates) {
      const check = checkCertificate(cert, nowMs);
      if (check.kind === 'unusable') {
        skipped.push({ source: cert.source, reason: check.problem.message });
        continue;
      }
      try {
        contexts.push(this.#context(cert.certPem, cert.keyPem, spec.minVersion));
        served.push({ source: cert.source, info: check.info });
      } catch (err) {
        skipped.push({ source: cert.source, reason: `is refused by OpenSSL: ${(err as Error).message}` });
      }
    }
    if (contexts.length === 0) return { kind: 'none', skipped };
    return { kind: 'built', generation: new TlsGeneration(spec, served, contexts, this.#alpn), skipped };
  }

  #context(certPem: string, keyPem: string, minVersion: FrontendTls['minVersion']): tls.SecureContext {
    const ctx = tls.createSecureContext({
      cert: certPem,
      key: keyPem,
      minVersion,
      maxVersion: 'TLSv1.3',
      ciphers: SERVER_CIPHERS,
      ecdhCurve: ecdhCurves(),
      honorCipherOrder: false, // Mozilla intermediate: server_preferred_order false (every suite is strong; the client knows if it has AES hardware)
      secureOptions: constants.SSL_OP_NO_RENEGOTIATION, // TLS 1.2 renegotiation: a CPU cost no client needs (added to Node's defaults)
      sessionTimeout: this.#sessionTimeoutS,
      sessionIdContext: this.#sessionIdContext,
      ...(this.#mode === 'single' ? { ticketKeys: this.#tickets.current.bytes48 } : {}),
    });
    if (this.#mode === 'callback') installTicketKeys(ctx, this.#tickets);
    return ctx;
  }
}

/**
 * A frontend's termination after an update of its spec (tcp-frontend.ts and http-frontend.ts):
 * made when TLS appears, given the new certificates (logged) when it changes, closed when it
 * goes. Throws, as the constructor does, when TLS appears without a certificate to serve.
 */
export function renewTermination(current: TlsTermination | null, spec: Frontend, log: Logger): TlsTermination | null {
  if (spec.tls === undefined) {
    current?.close();
    return null;
  }
  if (current === null) return new TlsTermination(spec.tls, alpnFor(spec.protocol), spec.name);
  const r = current.update(spec.tls);
  if (r.kind === 'updated') log.info({ event: 'certificatesUpdated', frontend: spec.name, served: r.served.map((c) => c.source), skipped: r.skipped });
  else if (r.kind === 'kept') log.warn({ event: 'certificatesKept', frontend: spec.name, skipped: r.skipped }, 'no certificate of the new set can be served; the previous ones stay');
  return current;
}

/**
 * The client side of a re-encrypting backend, built once per backend: a context with TLS 1.2 as
 * the floor and the CA when there is one; verification (`rejectUnauthorized`) only with a CA; SNI
 * and the name check only with a `serverName` (an IP literal is checked, not sent: RFC 6066).
 */
export function upstreamTlsOptions(backend: BackendTls | undefined, alpn: readonly string[] = []): tls.ConnectionOptions {
  const caPem = backend?.caPem;
  const serverName = backend?.serverName;
  const verify = caPem !== undefined;
  const secureContext = tls.createSecureContext({ minVersion: 'TLSv1.2', ...(verify ? { ca: caPem } : {}) });
  const options: tls.ConnectionOptions = { secureContext, minVersion: 'TLSv1.2', rejectUnauthorized: verify };
  if (serverName !== undefined && isIP(serverName) === 0) options.servername = serverName;
  if (verify) {
    // Node checks the name it connected to (an endpoint IP) by default: check `serverName`, or no name at all.
    options.checkServerIdentity = serverName !== undefined ? (_host, cert) => tls.checkServerIdentity(serverName, cert) : () => undefined;
  }
  if (alpn.length > 0) options.ALPNProtocols = [...alpn];
  return options;
}
