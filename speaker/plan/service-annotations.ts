/**
 * The proxy settings a Service's annotations ask for, pure: balancing, PROXY protocol, health
 * checks, and the HTTP/TLS settings (backend protocol, sticky cookie, HTTP timeouts, forwarded
 * headers). A bad value is a warning (returned, never thrown) and the default is used; which
 * ports are HTTP or TLS is read by `src/service/http.ts`, shared with the allocator.
 */
import type { V1Service } from '@kubernetes/client-node';
import { annotationText, FULCRUM_PREFIX, type AnnotationName } from '../../src/service/annotations.js';
import { parseCidr } from '../proxy/acl.js';
import { parseConnectionRate, type ConnectionRate } from '../proxy/limits.js';
import {
  DEFAULT_EXPECT_STATUS,
  DEFAULT_HEALTH_CHECK,
  DEFAULT_HTTP_TIMEOUTS,
  type HealthCheck,
  type HttpOptions,
  type HttpTimeouts,
} from '../proxy/model.js';

/** Why part of a Service's proxy settings is not served as asked; `speaker/events.ts` words each kind. */
export type BuildWarning =
  /** `effect` says what is done instead; absent: the default is used. */
  | { readonly kind: 'badAnnotation'; readonly annotation: string; readonly value: string; readonly reason: string; readonly effect?: string }
  | { readonly kind: 'unsupportedProtocol'; readonly port: string; readonly protocol: string }
  | { readonly kind: 'badSourceRange'; readonly value: string; readonly reason: string }
  | { readonly kind: 'proxyProtocolOnUdp'; readonly port: string }
  /** One `tls-secret` Secret is missing or has no valid key pair; the others (or its last good certificate) are served. */
  | { readonly kind: 'tlsSecretProblem'; readonly secret: string; readonly reason: string }
  /** A port meant for TLS has no usable certificate: it is not served (never in plain text). */
  | { readonly kind: 'tlsUnavailable'; readonly port: string; readonly secrets: readonly string[] }
  /** `backend-ca-secret` is missing or has no valid `ca.crt`: the re-encrypting ports are not served (never unverified). */
  | { readonly kind: 'backendCaUnavailable'; readonly port: string; readonly secret: string; readonly reason: string }
  /** Another Service (`winner`) keeps this address and port; this Service's routes are not served there. */
  | { readonly kind: 'sharedPortConflict'; readonly port: string; readonly address: string; readonly winner: string; readonly reason: SharedPortConflictReason; readonly detail: string }
  /** This Service joins a shared HTTP frontend whose frontend-wide `setting` differs: the `winner`'s is used. */
  | { readonly kind: 'sharedSettingIgnored'; readonly port: string; readonly address: string; readonly winner: string; readonly setting: string };

export type SharedPortConflictReason = 'notHttp' | 'routeOverlap' | 'tlsDiffers' | 'redirectDiffers' | 'sourceRangesDiffer';

function annotation(svc: V1Service, name: AnnotationName): string | undefined {
  return annotationText(svc, name);
}

function bad(warnings: BuildWarning[], name: AnnotationName, value: string, reason: string, effect?: string): void {
  warnings.push(effect === undefined ? { kind: 'badAnnotation', annotation: `${FULCRUM_PREFIX}${name}`, value, reason } : { kind: 'badAnnotation', annotation: `${FULCRUM_PREFIX}${name}`, value, reason, effect });
}

/** The longest duration an annotation may set: 7 days, the file's bound for idle timeouts. */
const MAX_DURATION_MS = 604_800_000;

/** `2s`, `500ms`, `1m`, `1h`, or a bare number of milliseconds; above 0 and at most 7 days. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? 60_000 : m[2] === 's' ? 1000 : 1;
  const ms = Math.round(n * unit);
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : undefined;
}

export function oneOf<T extends string>(svc: V1Service, name: AnnotationName, allowed: readonly T[], fallback: T, warnings: BuildWarning[]): T {
  const v = annotation(svc, name);
  if (v === undefined) return fallback;
  if ((allowed as readonly string[]).includes(v.trim())) return v.trim() as T;
  bad(warnings, name, v, `not one of ${allowed.join(', ')}`);
  return fallback;
}

function positiveInt(svc: V1Service, name: AnnotationName, fallback: number, warnings: BuildWarning[]): number {
  const v = annotation(svc, name);
  if (v === undefined) return fallback;
  const n = Number(v.trim());
  if (Number.isInteger(n) && n >= 1 && n <= 100) return n;
  bad(warnings, name, v, 'not a whole number from 1 to 100');
  return fallback;
}

function duration(svc: V1Service, name: AnnotationName, fallback: number, warnings: BuildWarning[]): number {
  const v = annotation(svc, name);
  if (v === undefined) return fallback;
  const ms = parseDurationMs(v);
  if (ms !== undefined) return ms;
  bad(warnings, name, v, 'not a duration such as 5s, 500ms, 1m or 1h (at most 7 days)');
  return fallback;
}

function flag(svc: V1Service, name: AnnotationName, warnings: BuildWarning[]): boolean {
  const v = annotation(svc, name);
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  bad(warnings, name, v, 'not true or false');
  return false;
}

/** `200`, `200-399`: statuses from 100 to 599. */
export function parseStatusRange(text: string): { min: number; max: number } | undefined {
  const m = /^(\d{3})(?:-(\d{3}))?$/.exec(text.trim());
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = Number(m[2] ?? m[1]);
  return min >= 100 && max <= 599 && min <= max ? { min, max } : undefined;
}

/** `tcp`, or `http` / `http:/path` (a GET of the path, default `/`, answered within `health-check-status`). */
export function healthCheckOf(svc: V1Service, warnings: BuildWarning[]): HealthCheck | undefined {
  const raw = annotation(svc, 'health-check')?.trim();
  if (raw === undefined || raw === 'none' || raw === '') return undefined;
  const http = /^http(?::(.*))?$/.exec(raw);
  if (raw !== 'tcp' && !http) {
    bad(warnings, 'health-check', raw, 'is not tcp, http or http:/path', 'no active health check');
    return undefined;
  }
  let path = '/';
  if (http?.[1] !== undefined) {
    if (/^\/[^\s#]*$/.test(http[1])) path = http[1];
    else bad(warnings, 'health-check', raw, 'has a path that does not start with "/" or has spaces', 'the path "/" is checked');
  }
  const intervalMs = duration(svc, 'health-check-interval', DEFAULT_HEALTH_CHECK.intervalMs, warnings);
  const base = {
    intervalMs,
    rise: positiveInt(svc, 'health-check-rise', DEFAULT_HEALTH_CHECK.rise, warnings),
    fall: positiveInt(svc, 'health-check-fall', DEFAULT_HEALTH_CHECK.fall, warnings),
    timeoutMs: intervalMs,
  };
  const statusText = annotation(svc, 'health-check-status');
  if (!http) {
    if (statusText !== undefined) bad(warnings, 'health-check-status', statusText, 'applies to http health checks only', 'ignored');
    return { type: 'tcp', ...base };
  }
  let expectStatus: { min: number; max: number } = { ...DEFAULT_EXPECT_STATUS };
  if (statusText !== undefined) {
    const range = parseStatusRange(statusText);
    if (range) expectStatus = range;
    else bad(warnings, 'health-check-status', statusText, 'is not a status or a range such as 200-399');
  }
  return { type: 'http', path, expectStatus, ...base };
}

/** What `backend-protocol` asks: `reencrypt` (https, tls), `plain` (http, tcp), or `default` (absent). */
export type BackendEncryption = 'reencrypt' | 'plain' | 'default';

export function backendEncryptionOf(svc: V1Service, warnings: BuildWarning[]): BackendEncryption {
  const v = annotation(svc, 'backend-protocol')?.trim();
  if (v === undefined) return 'default';
  if (v === 'https' || v === 'tls') return 'reencrypt';
  if (v === 'http' || v === 'tcp') return 'plain';
  bad(warnings, 'backend-protocol', v, 'not one of http, https, tcp, tls');
  return 'default';
}

/** RFC 6265 cookie-name: an RFC 7230 token. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

export function stickyCookieOf(svc: V1Service, anyHttpPort: boolean, warnings: BuildWarning[]): string | undefined {
  const v = annotation(svc, 'sticky-cookie')?.trim();
  if (v === undefined) return undefined;
  if (!COOKIE_NAME.test(v)) {
    bad(warnings, 'sticky-cookie', v, 'is not a cookie name (letters, digits and !#$%&\'*+-.^_`|~)', 'no sticky cookie');
    return undefined;
  }
  if (!anyHttpPort) bad(warnings, 'sticky-cookie', v, 'applies to HTTP ports only and the Service has none', 'ignored');
  return v;
}

/** Annotations that only HTTP frontends read (`http-hosts`, `http-path-prefix`: src/service/http.ts). */
const HTTP_ONLY: readonly AnnotationName[] = ['http-request-timeout', 'http-keepalive-timeout', 'timeout-server', 'timeout-tunnel', 'forwarded-header', 'trust-forwarded-from'];

/** On a Service without an HTTP port, each HTTP-only annotation set is a warning: it is ignored. */
export function warnHttpOnly(svc: V1Service, warnings: BuildWarning[]): void {
  for (const name of HTTP_ONLY) {
    const v = annotation(svc, name);
    if (v !== undefined) bad(warnings, name, v, 'does not apply: no port of the Service is HTTP', 'ignored');
  }
}

/** The HTTP options of the Service's HTTP frontends (`redirectToHttps` is per port: the caller sets it). */
export function httpOptionsOf(svc: V1Service, warnings: BuildWarning[]): Omit<HttpOptions, 'redirectToHttps'> {
  const timeouts: HttpTimeouts = {
    httpRequestMs: duration(svc, 'http-request-timeout', DEFAULT_HTTP_TIMEOUTS.httpRequestMs, warnings),
    httpKeepAliveMs: duration(svc, 'http-keepalive-timeout', DEFAULT_HTTP_TIMEOUTS.httpKeepAliveMs, warnings),
    serverMs: duration(svc, 'timeout-server', DEFAULT_HTTP_TIMEOUTS.serverMs, warnings),
    tunnelMs: duration(svc, 'timeout-tunnel', DEFAULT_HTTP_TIMEOUTS.tunnelMs, warnings),
  };
  const trustForwardedFrom: string[] = [];
  for (const entry of (annotation(svc, 'trust-forwarded-from') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const parsed = parseCidr(entry);
    if (parsed.kind === 'ok') trustForwardedFrom.push(entry);
    else bad(warnings, 'trust-forwarded-from', entry, `is not a CIDR (${parsed.reason})`, 'the entry is ignored (its peers\' X-Forwarded-For is replaced)');
  }
  return { forwardedHeader: flag(svc, 'forwarded-header', warnings), trustForwardedFrom, timeouts };
}

/** The most `fulcrum-lb.io/maxconn` may say: far above any descriptor limit. */
const MAX_MAXCONN = 10_000_000;

/** `fulcrum-lb.io/maxconn`: a whole number of connections (TCP) or flows (UDP) per frontend; absent or bad: undefined. */
export function maxconnOf(svc: V1Service, warnings: BuildWarning[]): number | undefined {
  const v = annotation(svc, 'maxconn');
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  if (Number.isInteger(n) && n >= 1 && n <= MAX_MAXCONN) return n;
  bad(warnings, 'maxconn', v, `not a whole number from 1 to ${MAX_MAXCONN}`, 'no per-port limit (the process bound applies)');
  return undefined;
}

/** `fulcrum-lb.io/max-connection-rate-per-source`: `20/s`, `600/m`, `5/10s`, for the TCP ports; absent or bad: undefined. */
export function connectionRateOf(svc: V1Service, anyTcpPort: boolean, warnings: BuildWarning[]): ConnectionRate | undefined {
  const v = annotation(svc, 'max-connection-rate-per-source');
  if (v === undefined) return undefined;
  const rate = parseConnectionRate(v);
  if (rate === undefined) {
    bad(warnings, 'max-connection-rate-per-source', v, 'is not a rate such as 20/s, 600/m or 5/10s (1 to 1,000,000 per 1 s to 1 h)', 'no rate limit');
    return undefined;
  }
  if (!anyTcpPort) bad(warnings, 'max-connection-rate-per-source', v, 'applies to TCP ports only and the Service has none', 'ignored');
  return rate;
}
