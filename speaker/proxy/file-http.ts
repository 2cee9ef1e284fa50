/**
 * The HTTP and TLS parts of the standalone proxy file (file.ts), pure: routes, a frontend's TLS
 * (certificate files), HTTP options and timeouts, a backend's re-encryption and HTTP health
 * checks. Referenced files are read through `readFile`, which the loader (command.ts) gives,
 * resolving paths against the config file's folder; `node:crypto` only parses the PEM text to
 * check that each certificate and key belong together.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { parseHostPattern, parsePathPrefix } from '../../src/http-match.js';
import type { Obj, Reader } from './file-reader.js';
import {
  DEFAULT_EXPECT_STATUS,
  DEFAULT_HEALTH_CHECK,
  DEFAULT_HTTP_OPTIONS,
  DEFAULT_HTTP_TIMEOUTS,
  DEFAULT_TLS_MIN_VERSION,
  TLS_VERSIONS,
  type BackendTls,
  type FrontendTls,
  type HealthCheck,
  type HttpOptions,
  type Route,
  type TlsCertificate,
} from './model.js';

/** The text of a file named in the config (a certificate, a key, a CA), or why it cannot be read. */
export type ReadReferencedFile = (file: string) => { readonly kind: 'ok'; readonly text: string } | { readonly kind: 'error'; readonly message: string };

export const HTTP_TIMEOUT_KEYS = ['httpRequestMs', 'httpKeepAliveMs', 'serverMs', 'tunnelMs'] as const;
/** The longest HTTP timeout: 7 days, as `idleMs`. */
const MAX_TIMEOUT_MS = 604_800_000;

function referenced(r: Reader, path: string, value: unknown, owner: string, readFile: ReadReferencedFile | undefined): string | undefined {
  const file = r.text(path, value);
  if (file === undefined) {
    if (value === undefined) r.problem(path, value, `is required (${owner})`);
    return undefined;
  }
  if (readFile === undefined) {
    r.problem(path, file, `of ${owner} cannot be read: files are read only when loading from disk`);
    return undefined;
  }
  const got = readFile(file);
  if (got.kind === 'error') {
    r.problem(path, file, `of ${owner} cannot be read: ${got.message}`);
    return undefined;
  }
  return got.text;
}

/** Why a certificate and its key are unusable together, or undefined. */
function keyPairProblem(certPem: string, keyPem: string): { field: 'certFile' | 'keyFile'; why: string } | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return { field: 'certFile', why: 'is not a PEM certificate' };
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return { field: 'keyFile', why: 'is not the private key of certFile' };
  } catch {
    return { field: 'keyFile', why: 'is not a PEM private key' };
  }
  return undefined;
}

/** `owner` names the frontend in messages: `frontend "web"` (`frontends[0]` when it has no usable name). */
export function readFrontendTls(r: Reader, path: string, raw: unknown, owner: string, readFile: ReadReferencedFile | undefined): FrontendTls | undefined {
  const t = r.obj(path, raw);
  if (!t) return undefined;
  r.keys(path, t, ['certificates', 'minVersion']);
  const list = r.list(`${path}.certificates`, t.certificates);
  if (list.length === 0) r.problem(`${path}.certificates`, t.certificates ?? null, `is empty: ${owner} needs at least one certFile and keyFile`);
  const certificates: TlsCertificate[] = [];
  list.forEach((raw, i) => {
    const at = `${path}.certificates[${i}]`;
    const c = r.obj(at, raw);
    if (!c) return;
    r.keys(at, c, ['certFile', 'keyFile']);
    const certPem = referenced(r, `${at}.certFile`, c.certFile, owner, readFile);
    const keyPem = referenced(r, `${at}.keyFile`, c.keyFile, owner, readFile);
    if (certPem === undefined || keyPem === undefined) return;
    const bad = keyPairProblem(certPem, keyPem);
    if (bad) r.problem(`${at}.${bad.field}`, c[bad.field], `of ${owner} ${bad.why}`);
    else certificates.push({ source: String(c.certFile), certPem, keyPem });
  });
  return { certificates, minVersion: r.oneOf(`${path}.minVersion`, t.minVersion, TLS_VERSIONS, DEFAULT_TLS_MIN_VERSION) };
}

/** `routes:` of an http frontend: `{ hosts?, pathPrefix?, backend }`, in order; an exact duplicate of an earlier match is a problem. */
export function readRoutes(r: Reader, path: string, raw: unknown): Route[] {
  const routes: Route[] = [];
  const list = r.list(path, raw);
  if (raw !== undefined && list.length === 0) r.problem(path, raw, 'is empty: an http frontend needs at least one route');
  list.forEach((item, i) => {
    const at = `${path}[${i}]`;
    const o = r.obj(at, item);
    if (!o) return;
    r.keys(at, o, ['hosts', 'pathPrefix', 'backend']);
    const hosts: string[] = [];
    r.list(`${at}.hosts`, o.hosts).forEach((h, j) => {
      const parsed = typeof h === 'string' ? parseHostPattern(h) : ({ kind: 'invalid', reason: 'is not a string' } as const);
      if (parsed.kind === 'ok') hosts.push(parsed.value);
      else r.problem(`${at}.hosts[${j}]`, h, `is not a host pattern: it ${parsed.reason}`);
    });
    let pathPrefix = '/';
    if (o.pathPrefix !== undefined) {
      const parsed = typeof o.pathPrefix === 'string' ? parsePathPrefix(o.pathPrefix) : ({ kind: 'invalid', reason: 'is not a string' } as const);
      if (parsed.kind === 'ok') pathPrefix = parsed.value;
      else r.problem(`${at}.pathPrefix`, o.pathPrefix, `is not a path prefix: it ${parsed.reason}`);
    }
    if (typeof o.backend !== 'string' || o.backend === '') r.problem(`${at}.backend`, o.backend, 'is not a backend name');
    const earlier = routes.findIndex((e) => e.match.kind === 'http' && e.match.pathPrefix === pathPrefix && (e.match.hosts.length === 0 ? hosts.length === 0 : e.match.hosts.some((h) => hosts.includes(h))));
    if (earlier >= 0) r.problem(`${at}`, `${hosts.join(',') || '(any host)'} ${pathPrefix}`, `is already matched by ${path}[${earlier}]: this route would never be used`);
    routes.push({ match: { kind: 'http', hosts, pathPrefix }, backend: typeof o.backend === 'string' ? o.backend : '' });
  });
  return routes;
}

/** The HTTP options of an http frontend; `t` is its `timeouts` mapping (keys already checked). */
export function readHttpOptions(r: Reader, path: string, f: Obj, t: Obj): HttpOptions {
  const d = DEFAULT_HTTP_TIMEOUTS;
  return {
    redirectToHttps: r.bool(`${path}.redirectToHttps`, f.redirectToHttps, DEFAULT_HTTP_OPTIONS.redirectToHttps),
    forwardedHeader: r.bool(`${path}.forwardedHeader`, f.forwardedHeader, DEFAULT_HTTP_OPTIONS.forwardedHeader),
    trustForwardedFrom: r.cidrs(`${path}.trustForwardedFrom`, f.trustForwardedFrom),
    timeouts: {
      httpRequestMs: r.int(`${path}.timeouts.httpRequestMs`, t.httpRequestMs, d.httpRequestMs, 1, MAX_TIMEOUT_MS),
      httpKeepAliveMs: r.int(`${path}.timeouts.httpKeepAliveMs`, t.httpKeepAliveMs, d.httpKeepAliveMs, 1, MAX_TIMEOUT_MS),
      serverMs: r.int(`${path}.timeouts.serverMs`, t.serverMs, d.serverMs, 1, MAX_TIMEOUT_MS),
      tunnelMs: r.int(`${path}.timeouts.tunnelMs`, t.tunnelMs, d.tunnelMs, 1, MAX_TIMEOUT_MS),
    },
  };
}

/** `tls:` of a re-encrypting backend: `caFile` (verify the endpoints) and `serverName` (SNI and the name checked). */
/** `owner` names the backend in messages: `backend "api"` (`backends[0]` when it has no usable name). */
export function readBackendTls(r: Reader, path: string, raw: unknown, owner: string, readFile: ReadReferencedFile | undefined): BackendTls {
  const t = r.obj(path, raw);
  if (!t) return {};
  r.keys(path, t, ['caFile', 'serverName']);
  let out: BackendTls = {};
  if (t.caFile !== undefined) {
    const caPem = referenced(r, `${path}.caFile`, t.caFile, owner, readFile);
    if (caPem !== undefined) {
      try {
        new X509Certificate(caPem);
        out = { caPem };
      } catch {
        r.problem(`${path}.caFile`, t.caFile, `of ${owner} is not a PEM certificate`);
      }
    }
  }
  if (t.serverName !== undefined) {
    const parsed = typeof t.serverName === 'string' && !t.serverName.startsWith('*') ? parseHostPattern(t.serverName) : ({ kind: 'invalid', reason: 'is not a DNS name' } as const);
    if (parsed.kind === 'ok') out = { ...out, serverName: parsed.value };
    else r.problem(`${path}.serverName`, t.serverName, `is not a server name: it ${parsed.reason}`);
  }
  return out;
}

/** `200-399` or `200`. */
function readStatusRange(r: Reader, path: string, value: unknown): { min: number; max: number } {
  if (value === undefined) return { ...DEFAULT_EXPECT_STATUS };
  const m = /^(\d{3})(?:-(\d{3}))?$/.exec(String(value));
  const min = Number(m?.[1]);
  const max = Number(m?.[2] ?? m?.[1]);
  if (m && (typeof value === 'string' || typeof value === 'number') && min >= 100 && max <= 599 && min <= max) return { min, max };
  r.problem(path, value, 'is not a status or a range of statuses such as 200-399');
  return { ...DEFAULT_EXPECT_STATUS };
}

export function readHealthCheck(r: Reader, path: string, h: Obj): HealthCheck {
  r.keys(path, h, ['type', 'path', 'expectStatus', 'intervalMs', 'rise', 'fall', 'timeoutMs']);
  const type = r.oneOf(`${path}.type`, h.type, ['tcp', 'http'] as const, 'tcp');
  const intervalMs = r.int(`${path}.intervalMs`, h.intervalMs, DEFAULT_HEALTH_CHECK.intervalMs, 10, 3_600_000);
  const base: HealthCheck = {
    type,
    intervalMs,
    rise: r.int(`${path}.rise`, h.rise, DEFAULT_HEALTH_CHECK.rise, 1, 100),
    fall: r.int(`${path}.fall`, h.fall, DEFAULT_HEALTH_CHECK.fall, 1, 100),
    timeoutMs: r.int(`${path}.timeoutMs`, h.timeoutMs, intervalMs, 1, 3_600_000),
  };
  if (type === 'tcp') {
    for (const k of ['path', 'expectStatus'] as const) if (h[k] !== undefined) r.problem(`${path}.${k}`, h[k], 'is for http health checks only');
    return base;
  }
  let checkPath = '/';
  if (h.path !== undefined) {
    if (typeof h.path === 'string' && /^\/[^\s#]*$/.test(h.path)) checkPath = h.path;
    else r.problem(`${path}.path`, h.path, 'is not a request path (it starts with "/", without spaces)');
  }
  return { ...base, path: checkPath, expectStatus: readStatusRange(r, `${path}.expectStatus`, h.expectStatus) };
}

/** RFC 6265 cookie-name: an RFC 7230 token. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

export function readStickyCookie(r: Reader, path: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && COOKIE_NAME.test(value)) return value;
  r.problem(path, value, 'is not a cookie name (letters, digits and !#$%&\'*+-.^_`|~)');
  return undefined;
}

