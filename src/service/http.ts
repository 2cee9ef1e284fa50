/**
 * What a Service asks of its TCP ports beyond L4, pure: which are HTTP, which terminate TLS,
 * which redirect to https, and the hosts and path prefix its HTTP ports answer for. Read once
 * here for every reader (the allocator's sharing rule, the proxy model builder, `fulcrum
 * status`), so they never disagree about a port. Bad values are returned as problems (with what
 * is done instead); the speaker turns them into Warning Events, the allocator ignores them and
 * reads the same fallback.
 *
 * A TCP port's mode, in order:
 *   1. its `appProtocol` (case-insensitive): `http`, `kubernetes.io/ws` → http; `https`,
 *      `kubernetes.io/wss` (the pods speak TLS) → http when the port terminates TLS here
 *      (re-encrypting by default), else tcp (passed through); `kubernetes.io/h2c`, `h2c`,
 *      `grpc` → tcp (HTTP/2 is passed through, not parsed); any other value → step 2. There is
 *      no `kubernetes.io/http`: Kubernetes defines only h2c, ws and wss under its prefix, and
 *      un-prefixed names are IANA's.
 *   2. `fulcrum-lb.io/protocol` (`tcp`, the default, or `http`);
 *   3. with `redirect-http-to-https: "true"`, port 80 is http (it answers 308s).
 * TLS ports: `tls-ports` (numbers or names) when set, else — when `tls-secret` is set — 443 and
 * the ports named `https`. A port meant for TLS is never served in plain text.
 */
import { parseHostPattern, parsePathPrefix } from '../http-match.js';
import { FULCRUM_PREFIX, readAnnotation, type AnnotationName } from './annotations.js';

export type PortMode = 'tcp' | 'http';

export interface TcpPortTerms {
  readonly port: number;
  /** '' for an unnamed port. */
  readonly name: string;
  readonly mode: PortMode;
  /** Meant to terminate TLS here (served only with a usable certificate). */
  readonly tls: boolean;
  /** Port 80 with `redirect-http-to-https`: every request gets a 308 to https. */
  readonly redirect: boolean;
  /** `appProtocol` https / kubernetes.io/wss: the pods speak TLS. */
  readonly podsSpeakTls: boolean;
}

/** A bad or inapplicable annotation value, with what is done instead. */
export interface AnnotationProblem {
  /** The full annotation, e.g. `fulcrum-lb.io/tls-ports`. */
  readonly annotation: string;
  readonly value: string;
  readonly reason: string;
  readonly effect: string;
}

export interface ServiceHttpTerms {
  /** The Service's TCP ports, by port number (a number is unique among a Service's TCP ports). */
  readonly ports: ReadonlyMap<number, TcpPortTerms>;
  /** Lower case; empty: the default route (any host). */
  readonly hosts: readonly string[];
  /** Normalised (`/api/` is `/api`); `/` by default. */
  readonly pathPrefix: string;
  /** The `tls-secret` names, in order (the first is the default certificate). */
  readonly tlsSecrets: readonly string[];
  readonly problems: readonly AnnotationProblem[];
}

type PortLike = { readonly port: number; readonly protocol?: string; readonly name?: string; readonly appProtocol?: string };
export type HttpServiceLike = {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: { readonly ports?: readonly PortLike[] };
};

const HTTP_APP_PROTOCOLS = new Set(['http', 'kubernetes.io/ws']);
const TLS_APP_PROTOCOLS = new Set(['https', 'kubernetes.io/wss']);
const PASSTHROUGH_APP_PROTOCOLS = new Set(['kubernetes.io/h2c', 'h2c', 'grpc']);
/** A Secret name is a DNS subdomain (RFC 1123). */
const SECRET_NAME = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

function text(svc: HttpServiceLike, name: AnnotationName): string | undefined {
  const a = readAnnotation(svc, name);
  return a.kind === 'set' ? a.value : undefined;
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function serviceHttpTerms(svc: HttpServiceLike): ServiceHttpTerms {
  const problems: AnnotationProblem[] = [];
  const problem = (name: AnnotationName, value: string, reason: string, effect: string) => problems.push({ annotation: FULCRUM_PREFIX + name, value, reason, effect });
  const tcpPorts = (svc.spec?.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP');

  const protocolText = text(svc, 'protocol');
  let protocol: PortMode = 'tcp';
  if (protocolText === 'http' || protocolText === 'tcp') protocol = protocolText;
  else if (protocolText !== undefined) problem('protocol', protocolText, 'is not one of tcp, http', 'tcp is used');

  const tlsSecrets: string[] = [];
  for (const name of list(text(svc, 'tls-secret'))) {
    if (SECRET_NAME.test(name) && name.length <= 253) tlsSecrets.push(name);
    else problem('tls-secret', name, 'is not a Secret name', 'the entry is ignored');
  }

  const tlsPorts = new Set<number>();
  const tlsPortsText = text(svc, 'tls-ports');
  if (tlsPortsText !== undefined) {
    for (const entry of list(tlsPortsText)) {
      const match = /^\d+$/.test(entry) ? tcpPorts.find((p) => p.port === Number(entry)) : tcpPorts.find((p) => p.name === entry);
      if (match) tlsPorts.add(match.port);
      else problem('tls-ports', entry, 'is not the number or name of a TCP port of the Service', 'the entry is ignored');
    }
  } else if (tlsSecrets.length > 0) {
    for (const p of tcpPorts) if (p.port === 443 || p.name === 'https') tlsPorts.add(p.port);
  }

  const redirectText = text(svc, 'redirect-http-to-https');
  let redirect = false;
  if (redirectText === 'true') redirect = true;
  else if (redirectText !== undefined && redirectText !== 'false') problem('redirect-http-to-https', redirectText, 'is not true or false', 'no redirect');
  if (redirect && !tcpPorts.some((p) => p.port === 80)) {
    problem('redirect-http-to-https', redirectText!, 'does not apply: the Service has no TCP port 80', 'ignored');
    redirect = false;
  } else if (redirect && tlsPorts.has(80)) {
    problem('redirect-http-to-https', redirectText!, 'does not apply: port 80 terminates TLS', 'ignored');
    redirect = false;
  }

  const ports = new Map<number, TcpPortTerms>();
  for (const p of tcpPorts) {
    const app = p.appProtocol?.trim().toLowerCase();
    const tls = tlsPorts.has(p.port);
    const podsSpeakTls = app !== undefined && TLS_APP_PROTOCOLS.has(app);
    const portRedirect = redirect && p.port === 80;
    let mode: PortMode = protocol;
    if (app !== undefined && HTTP_APP_PROTOCOLS.has(app)) mode = 'http';
    else if (podsSpeakTls) mode = tls ? 'http' : 'tcp';
    else if (app !== undefined && PASSTHROUGH_APP_PROTOCOLS.has(app)) mode = 'tcp';
    if (portRedirect) mode = 'http';
    ports.set(p.port, { port: p.port, name: p.name ?? '', mode, tls, redirect: portRedirect, podsSpeakTls });
  }
  const anyHttp = [...ports.values()].some((p) => p.mode === 'http');

  const hostsText = text(svc, 'http-hosts');
  const hosts: string[] = [];
  for (const entry of list(hostsText)) {
    const parsed = parseHostPattern(entry);
    if (parsed.kind === 'ok') {
      if (!hosts.includes(parsed.value)) hosts.push(parsed.value);
    } else problem('http-hosts', entry, parsed.reason, 'the entry is ignored');
  }
  if (hostsText !== undefined && hosts.length === 0) problem('http-hosts', hostsText, 'has no valid host', 'the HTTP ports answer for any host (the default route)');

  const prefixText = text(svc, 'http-path-prefix');
  let pathPrefix = '/';
  if (prefixText !== undefined) {
    const parsed = parsePathPrefix(prefixText);
    if (parsed.kind === 'ok') pathPrefix = parsed.value;
    else problem('http-path-prefix', prefixText, parsed.reason, '"/" is used');
  }
  if (!anyHttp) {
    if (hostsText !== undefined) problem('http-hosts', hostsText, 'does not apply: no port of the Service is HTTP', 'ignored');
    if (prefixText !== undefined) problem('http-path-prefix', prefixText, 'does not apply: no port of the Service is HTTP', 'ignored');
  }
  return { ports, hosts, pathPrefix, tlsSecrets, problems };
}
