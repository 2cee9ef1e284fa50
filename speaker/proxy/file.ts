/**
 * The standalone file of `fulcrum proxy --config FILE.yaml` → ProxyModel. Pure: text in, a model
 * or every problem out (each naming the field path and the value). Files the config names
 * (certificates, keys, CAs) are read through the `readFile` the loader gives (command.ts:
 * relative to the config file), so a changed certificate is a changed model on reload. The
 * format is documented in speaker/proxy/README.md and driven by bench/; keys are stable, new
 * ones are optional. HTTP and TLS keys: file-http.ts.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { FulcrumError } from '../../src/errors.js';
import { HTTP_TIMEOUT_KEYS, readBackendTls, readFrontendTls, readHealthCheck, readHttpOptions, readRoutes, readStickyCookie, type ReadReferencedFile } from './file-http.js';
import { isObj, Reader, show } from './file-reader.js';
import { parseConnectionRate } from './limits.js';
import {
  BACKEND_PROTOCOLS,
  BALANCE_ALGORITHMS,
  DEFAULT_AFFINITY,
  DEFAULT_CONNECT_ATTEMPTS,
  DEFAULT_PASSIVE_EJECTION,
  DEFAULT_TIMEOUTS,
  DEFAULT_UDP_TIMEOUTS,
  FRONTEND_PROTOCOLS,
  PROXY_PROTOCOL_VERSIONS,
  type Backend,
  type ConnectionRate,
  type Endpoint,
  type Frontend,
  type ListenAddress,
  type ProxyModel,
  type Route,
} from './model.js';

export type { ReadReferencedFile } from './file-http.js';

export interface ParseOptions {
  /** Reads a file the config names (certificates, keys, CAs); absent: a config that names one is invalid. */
  readonly readFile?: ReadReferencedFile;
}

export class ProxyConfigError extends FulcrumError<'FUL_ERR_PROXY_CONFIG'> {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('FUL_ERR_PROXY_CONFIG', { count: `${problems.length} problem${problems.length === 1 ? '' : 's'}`, problems: problems.join('\n  ') });
    this.name = 'ProxyConfigError';
    this.problems = problems;
  }
}

export type ParsedProxyFile = { readonly kind: 'ok'; readonly model: ProxyModel } | { readonly kind: 'invalid'; readonly problems: readonly string[] };

/** `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:53`. Port 0 is allowed (tests: pick a free port). */
export function parseListen(text: string): ListenAddress | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const address = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined ? !isIPv6(address) : !isIPv4(address)) return undefined;
  return { address, port };
}

const TOP_KEYS = ['workers', 'maxconn', 'frontends', 'backends'] as const;
const FRONTEND_KEYS = ['name', 'listen', 'protocol', 'backend', 'routes', 'tls', 'redirectToHttps', 'forwardedHeader', 'trustForwardedFrom', 'sourceRanges', 'acceptProxyProtocolFrom', 'timeouts', 'maxconn', 'maxConnectionRatePerSource'] as const;
/** The largest maxconn the file takes (process or frontend): more than any descriptor limit allows. */
const MAX_MAXCONN = 10_000_000;

/** A frontend's `maxConnectionRatePerSource`: `20/s`, `600/m`, `5/10s` (tcp and http frontends). */
function readRate(r: Reader, path: string, value: unknown, protocol: string): ConnectionRate | undefined {
  if (value === undefined) return undefined;
  if (protocol === 'udp') {
    r.problem(path, value, 'is for tcp and http frontends only (this one is udp)');
    return undefined;
  }
  const rate = typeof value === 'string' ? parseConnectionRate(value) : undefined;
  if (rate === undefined) r.problem(path, value, 'is not a rate such as 20/s, 600/m or 5/10s (1 to 1,000,000 per 1 s to 1 h)');
  return rate;
}
/** Keys that only an http frontend takes. */
const HTTP_ONLY_KEYS = ['routes', 'redirectToHttps', 'forwardedHeader', 'trustForwardedFrom'] as const;
const BACKEND_KEYS = ['name', 'protocol', 'tls', 'stickyCookie', 'balance', 'proxyProtocol', 'affinity', 'healthCheck', 'passiveEjection', 'connectAttempts', 'endpoints'] as const;
const ENDPOINT_KEYS = ['address', 'port', 'weight', 'nodeName', 'ready', 'serving', 'terminating'] as const;

/** A frontend read from the file, with the field that names each route's backend (for reference problems). */
interface ReadFrontend {
  readonly frontend: Frontend;
  /** Its place in the file (`frontends[2]`): entries that are not mappings are left out of the list. */
  readonly path: string;
  readonly routeFields: readonly string[];
  /** `listen` as the file wrote it, for messages. */
  readonly listenText: unknown;
}

function readFrontend(r: Reader, path: string, raw: unknown, opts: ParseOptions): ReadFrontend | undefined {
  const f = r.obj(path, raw);
  if (!f) return undefined;
  r.keys(path, f, FRONTEND_KEYS);
  // An unusable name is reported here and is '' in the model: later checks skip it and messages name the path.
  const name = typeof f.name === 'string' ? f.name : '';
  if (name === '') r.problem(`${path}.name`, f.name, 'is not a non-empty string');
  const listen = typeof f.listen === 'string' ? parseListen(f.listen) : undefined;
  if (!listen) r.problem(`${path}.listen`, f.listen, 'is not ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)');
  const protocol = r.oneOf(`${path}.protocol`, f.protocol, FRONTEND_PROTOCOLS, 'tcp');
  const http = protocol === 'http';
  const defaults = protocol === 'udp' ? DEFAULT_UDP_TIMEOUTS : DEFAULT_TIMEOUTS;
  const t = r.obj(`${path}.timeouts`, f.timeouts) ?? {};
  r.keys(`${path}.timeouts`, t, http ? ['connectMs', 'idleMs', ...HTTP_TIMEOUT_KEYS] : ['connectMs', 'idleMs']);
  if (!http) for (const k of HTTP_ONLY_KEYS) if (f[k] !== undefined) r.problem(`${path}.${k}`, f[k], `is for http frontends only (this one is ${protocol})`);
  let routes: Route[];
  let routeFields: string[];
  if (http && f.routes !== undefined) {
    if (f.backend !== undefined) r.problem(`${path}.backend`, f.backend, 'cannot be given with routes (a route without hosts is the default)');
    routes = readRoutes(r, `${path}.routes`, f.routes);
    routeFields = routes.map((_, j) => `${path}.routes[${j}].backend`);
  } else {
    routeFields = [`${path}.backend`];
    if (typeof f.backend !== 'string' || f.backend === '') r.problem(`${path}.backend`, f.backend, http ? 'is not a backend name (an http frontend names a backend or routes)' : 'is not a backend name');
    const backend = typeof f.backend === 'string' ? f.backend : '';
    routes = [{ match: http ? { kind: 'http', hosts: [], pathPrefix: '/' } : { kind: 'any' }, backend }];
  }
  const sourceRanges = r.cidrs(`${path}.sourceRanges`, f.sourceRanges);
  const acceptProxyProtocolFrom = r.cidrs(`${path}.acceptProxyProtocolFrom`, f.acceptProxyProtocolFrom);
  if (protocol === 'udp' && acceptProxyProtocolFrom.length > 0) r.problem(`${path}.acceptProxyProtocolFrom`, 'udp', 'frontends do not accept PROXY headers');
  if (protocol === 'udp' && f.tls !== undefined) r.problem(`${path}.tls`, f.tls, 'is for tcp and http frontends only (this one is udp)');
  const tls = protocol === 'udp' ? undefined : readFrontendTls(r, `${path}.tls`, f.tls, ownerLabel('frontend', name, path), opts.readFile);
  const maxconn = f.maxconn === undefined ? undefined : r.int(`${path}.maxconn`, f.maxconn, 1, 1, MAX_MAXCONN);
  const rate = readRate(r, `${path}.maxConnectionRatePerSource`, f.maxConnectionRatePerSource, protocol);
  const frontend: Frontend = {
    name,
    listen: listen ?? { address: '0.0.0.0', port: 0 },
    protocol,
    routes,
    sourceRanges,
    acceptProxyProtocolFrom,
    timeouts: {
      connectMs: r.int(`${path}.timeouts.connectMs`, t.connectMs, defaults.connectMs, 1, 3_600_000),
      idleMs: r.int(`${path}.timeouts.idleMs`, t.idleMs, defaults.idleMs, 1, 604_800_000),
    },
  };
  return {
    frontend: {
      ...frontend,
      ...(maxconn !== undefined ? { maxconn } : {}),
      ...(rate !== undefined ? { maxConnectionRatePerSource: rate } : {}),
      ...(tls ? { tls } : {}),
      ...(http ? { http: readHttpOptions(r, path, f, t) } : {}),
    },
    path,
    routeFields,
    listenText: f.listen,
  };
}

/** A backend read from the file, with its place in the file (`backends[2]`). */
interface ReadBackend {
  readonly backend: Backend;
  readonly path: string;
}

function readEndpoint(r: Reader, path: string, raw: unknown): Endpoint | undefined {
  const e = r.obj(path, raw);
  if (!e) return undefined;
  r.keys(path, e, ENDPOINT_KEYS);
  const ready = r.bool(`${path}.ready`, e.ready, true);
  const endpoint: Endpoint = {
    address: r.address(`${path}.address`, e.address),
    port: r.int(`${path}.port`, e.port, 1, 1, 65535),
    ready,
    serving: r.bool(`${path}.serving`, e.serving, ready),
    terminating: r.bool(`${path}.terminating`, e.terminating, false),
    weight: r.int(`${path}.weight`, e.weight, 1, 0, 256),
  };
  if (e.nodeName !== undefined) {
    if (typeof e.nodeName !== 'string') r.problem(`${path}.nodeName`, e.nodeName, 'is not a string');
    return { ...endpoint, nodeName: String(e.nodeName) };
  }
  return endpoint;
}

function readBackend(r: Reader, path: string, raw: unknown, opts: ParseOptions): Backend | undefined {
  const b = r.obj(path, raw);
  if (!b) return undefined;
  r.keys(path, b, BACKEND_KEYS);
  const name = typeof b.name === 'string' ? b.name : '';
  if (name === '') r.problem(`${path}.name`, b.name, 'is not a non-empty string');
  const a = r.obj(`${path}.affinity`, b.affinity) ?? {};
  r.keys(`${path}.affinity`, a, ['clientIP', 'timeoutSeconds']);
  const h = r.obj(`${path}.healthCheck`, b.healthCheck);
  const p = r.obj(`${path}.passiveEjection`, b.passiveEjection) ?? {};
  r.keys(`${path}.passiveEjection`, p, ['consecutiveFailures', 'baseEjectMs', 'maxEjectMs']);
  const endpoints = r.list(`${path}.endpoints`, b.endpoints)
    .map((e, i) => readEndpoint(r, `${path}.endpoints[${i}]`, e))
    .filter((e): e is Endpoint => e !== undefined);
  const base = r.int(`${path}.passiveEjection.baseEjectMs`, p.baseEjectMs, DEFAULT_PASSIVE_EJECTION.baseEjectMs, 1, 3_600_000);
  const read = b.protocol === undefined ? undefined : r.oneOf(`${path}.protocol`, b.protocol, BACKEND_PROTOCOLS, 'tcp');
  // A bad protocol is reported above and left out, so the checks against frontends never judge the fallback.
  const protocol = read === b.protocol ? read : undefined;
  const reencrypt = protocol === 'tls' || protocol === 'https';
  if (b.tls !== undefined && !reencrypt) r.problem(`${path}.tls`, b.tls, 'is for backends with protocol tls or https only');
  const stickyCookie = readStickyCookie(r, `${path}.stickyCookie`, b.stickyCookie);
  const backend: Backend = {
    name,
    balance: r.oneOf(`${path}.balance`, b.balance, BALANCE_ALGORITHMS, 'roundrobin'),
    proxyProtocol: r.oneOf(`${path}.proxyProtocol`, b.proxyProtocol, PROXY_PROTOCOL_VERSIONS, 'none'),
    affinity: {
      clientIP: r.bool(`${path}.affinity.clientIP`, a.clientIP, DEFAULT_AFFINITY.clientIP),
      timeoutSeconds: r.int(`${path}.affinity.timeoutSeconds`, a.timeoutSeconds, DEFAULT_AFFINITY.timeoutSeconds, 1, 86400),
    },
    passiveEjection: {
      consecutiveFailures: r.int(`${path}.passiveEjection.consecutiveFailures`, p.consecutiveFailures, DEFAULT_PASSIVE_EJECTION.consecutiveFailures, 1, 1000),
      baseEjectMs: base,
      maxEjectMs: r.int(`${path}.passiveEjection.maxEjectMs`, p.maxEjectMs, Math.max(base, DEFAULT_PASSIVE_EJECTION.maxEjectMs), base, 86_400_000),
    },
    connectAttempts: r.int(`${path}.connectAttempts`, b.connectAttempts, DEFAULT_CONNECT_ATTEMPTS, 1, 16),
    endpoints,
  };
  return {
    ...backend,
    ...(protocol !== undefined ? { protocol } : {}),
    ...(reencrypt ? { tls: readBackendTls(r, `${path}.tls`, b.tls, ownerLabel('backend', name, path), opts.readFile) } : {}),
    ...(stickyCookie !== undefined ? { stickyCookie } : {}),
    ...(h ? { healthCheck: readHealthCheck(r, `${path}.healthCheck`, h) } : {}),
  };
}

/** Parses and validates the whole file, reporting every problem, never only the first. */
export function parseProxyFile(text: string, opts: ParseOptions = {}): ParsedProxyFile {
  let doc: unknown;
  try {
    // logLevel 'error': the yaml library would print a process warning (unresolved tag, a list as a
    // key) from this pure parser; the values stay as the library reads them and are checked below.
    doc = parseYaml(text, { logLevel: 'error' });
  } catch (err) {
    return { kind: 'invalid', problems: [`not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`] };
  }
  const r = new Reader();
  if (!isObj(doc)) return { kind: 'invalid', problems: [`the file: ${show(doc)} is not a mapping with frontends and backends`] };
  r.keys('', doc, TOP_KEYS);
  const workers = r.int('workers', doc.workers, 1, 1, 64);
  const maxconn = doc.maxconn === undefined ? undefined : r.int('maxconn', doc.maxconn, 1, 1, MAX_MAXCONN);
  const read = r.list('frontends', doc.frontends)
    .map((f, i) => readFrontend(r, `frontends[${i}]`, f, opts))
    .filter((f): f is ReadFrontend => f !== undefined);
  const frontends = read.map((f) => f.frontend);
  const readBackends = r.list('backends', doc.backends)
    .map((b, i) => ({ backend: readBackend(r, `backends[${i}]`, b, opts), path: `backends[${i}]` }))
    .filter((b): b is ReadBackend => b.backend !== undefined);
  const backends = readBackends.map((b) => b.backend);
  checkReferences(r, read, readBackends);
  if (r.problems.length > 0) return { kind: 'invalid', problems: r.problems.map((p) => p.replace(/^\./, '')) };
  return { kind: 'ok', model: { workers, ...(maxconn !== undefined ? { maxconn } : {}), frontends, backends } };
}

/** `parseProxyFile` for callers that want a model or an exception (code FUL_ERR_PROXY_CONFIG). */
export function loadProxyFile(text: string, opts: ParseOptions = {}): ProxyModel {
  const r = parseProxyFile(text, opts);
  if (r.kind === 'invalid') throw new ProxyConfigError(r.problems);
  return r.model;
}

/** How messages name a frontend or backend: `frontend "web"`, or its path when it has no usable name. */
function ownerLabel(kind: 'frontend' | 'backend', name: string, path: string): string {
  return name === '' ? path : `${kind} ${JSON.stringify(name)}`;
}

/** The backend protocols a frontend of each kind can use (absent is always fine). */
const BACKEND_PROTOCOLS_FOR = { tcp: ['tcp', 'tls'], udp: ['tcp'], http: ['http', 'https'] } as const;

/** The checks across frontends and backends; messages name each by its place in the file. */
function checkReferences(r: Reader, read: readonly ReadFrontend[], readBackends: readonly ReadBackend[]): void {
  const seen = new Set<string>();
  read.forEach(({ frontend: f, path }) => {
    if (f.name === '') return; // already reported
    if (seen.has(f.name)) r.problem(`${path}.name`, f.name, 'is used by an earlier frontend');
    seen.add(f.name);
  });
  const binds = new Map<string, string>();
  read.forEach(({ frontend: f, path, listenText }) => {
    if (f.listen.port === 0) return;
    // tcp and http frontends both listen on TCP sockets.
    const transport = f.protocol === 'udp' ? 'udp' : 'tcp';
    const key = `${transport}/${f.listen.address}/${f.listen.port}`;
    const other = binds.get(key);
    if (other !== undefined) r.problem(`${path}.listen`, listenText, `is also the ${transport} listen address of ${other}`);
    binds.set(key, ownerLabel('frontend', f.name, path));
  });
  const byName = new Map<string, ReadBackend>();
  readBackends.forEach((b) => {
    if (b.backend.name === '') return; // already reported
    if (byName.has(b.backend.name)) r.problem(`${b.path}.name`, b.backend.name, 'is used by an earlier backend');
    byName.set(b.backend.name, b);
  });
  read.forEach(({ frontend: f, path, routeFields }) => {
    f.routes.forEach((route, j) => {
      if (route.backend === '') return; // already reported
      const field = routeFields[j]!;
      const found = byName.get(route.backend);
      if (!found) {
        r.problem(field, route.backend, 'names no backend');
        return;
      }
      const { backend, path: at } = found;
      const frontend = ownerLabel('frontend', f.name, path);
      if (f.protocol === 'udp' && backend.proxyProtocol !== 'none') r.problem(`${at}.proxyProtocol`, backend.proxyProtocol, `is not supported behind udp ${frontend}`);
      const allowed: readonly string[] = BACKEND_PROTOCOLS_FOR[f.protocol];
      if (backend.protocol !== undefined && !allowed.includes(backend.protocol)) r.problem(`${at}.protocol`, backend.protocol, `is not one of ${allowed.join(', ')}, which ${f.protocol} ${frontend} can use`);
      if (backend.stickyCookie !== undefined && f.protocol !== 'http') r.problem(`${at}.stickyCookie`, backend.stickyCookie, `needs an http frontend; ${f.protocol} ${frontend} uses this backend`);
    });
  });
}
