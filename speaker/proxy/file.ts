/**
 * The standalone file of `fulcrum proxy --config FILE.yaml` → ProxyModel. Pure: text in, a model
 * or every problem out (each naming the field path and the value). The format is documented in
 * speaker/proxy/README.md and driven by bench/; keys are stable, new ones are optional.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { FulcrumError } from '../../src/errors.js';
import { parseCidr } from './acl.js';
import {
  BALANCE_ALGORITHMS,
  DEFAULT_AFFINITY,
  DEFAULT_CONNECT_ATTEMPTS,
  DEFAULT_HEALTH_CHECK,
  DEFAULT_PASSIVE_EJECTION,
  DEFAULT_TIMEOUTS,
  DEFAULT_UDP_TIMEOUTS,
  FRONTEND_PROTOCOLS,
  PROXY_PROTOCOL_VERSIONS,
  type Backend,
  type Endpoint,
  type Frontend,
  type ListenAddress,
  type ProxyModel,
} from './model.js';

export class ProxyConfigError extends FulcrumError<'FUL_ERR_PROXY_CONFIG'> {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('FUL_ERR_PROXY_CONFIG', { count: `${problems.length} problem${problems.length === 1 ? '' : 's'}`, problems: problems.join('\n  ') });
    this.name = 'ProxyConfigError';
    this.problems = problems;
  }
}

export type ParsedProxyFile = { readonly kind: 'ok'; readonly model: ProxyModel } | { readonly kind: 'invalid'; readonly problems: readonly string[] };

type Obj = Record<string, unknown>;

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One reader per parse: each getter records a problem and returns a default, so parsing goes on. */
class Reader {
  readonly problems: string[] = [];

  problem(path: string, value: unknown, why: string): void {
    this.problems.push(`${path}: ${show(value)} ${why}`);
  }

  keys(path: string, obj: Obj, allowed: readonly string[]): void {
    for (const k of Object.keys(obj)) if (!allowed.includes(k)) this.problems.push(`${path}.${k}: unknown key (expected one of ${allowed.join(', ')})`);
  }

  int(path: string, value: unknown, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problem(path, value, `is not a whole number between ${min} and ${max}`);
      return fallback;
    }
    return value;
  }

  bool(path: string, value: unknown, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.problem(path, value, 'is not true or false');
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(path: string, value: unknown, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.problem(path, value, `is not one of ${allowed.join(', ')}`);
      return fallback;
    }
    return value as T;
  }

  obj(path: string, value: unknown): Obj | undefined {
    if (value === undefined) return undefined;
    if (!isObj(value)) {
      this.problem(path, value, 'is not a mapping');
      return undefined;
    }
    return value;
  }

  list(path: string, value: unknown): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.problem(path, value, 'is not a list');
      return [];
    }
    return value;
  }

  cidrs(path: string, value: unknown): string[] {
    const out: string[] = [];
    this.list(path, value).forEach((v, i) => {
      const parsed = typeof v === 'string' ? parseCidr(v) : ({ kind: 'invalid', reason: 'is not a string' } as const);
      if (parsed.kind === 'ok') out.push(v as string);
      else this.problem(`${path}[${i}]`, v, `is not a CIDR (${parsed.reason})`);
    });
    return out;
  }

  address(path: string, value: unknown): string {
    if (typeof value !== 'string' || !(isIPv4(value) || isIPv6(value))) {
      this.problem(path, value, 'is not an IPv4 or IPv6 address');
      return '0.0.0.0';
    }
    return value;
  }
}

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

const TOP_KEYS = ['workers', 'frontends', 'backends'] as const;
const FRONTEND_KEYS = ['name', 'listen', 'protocol', 'backend', 'sourceRanges', 'acceptProxyProtocolFrom', 'timeouts'] as const;
const BACKEND_KEYS = ['name', 'balance', 'proxyProtocol', 'affinity', 'healthCheck', 'passiveEjection', 'connectAttempts', 'endpoints'] as const;
const ENDPOINT_KEYS = ['address', 'port', 'weight', 'nodeName', 'ready', 'serving', 'terminating'] as const;

function readFrontend(r: Reader, path: string, raw: unknown): Frontend | undefined {
  const f = r.obj(path, raw);
  if (!f) return undefined;
  r.keys(path, f, FRONTEND_KEYS);
  if (typeof f.name !== 'string' || f.name === '') r.problem(`${path}.name`, f.name, 'is not a non-empty string');
  const listen = typeof f.listen === 'string' ? parseListen(f.listen) : undefined;
  if (!listen) r.problem(`${path}.listen`, f.listen, 'is not ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)');
  const protocol = r.oneOf(`${path}.protocol`, f.protocol, FRONTEND_PROTOCOLS, 'tcp');
  if (typeof f.backend !== 'string' || f.backend === '') r.problem(`${path}.backend`, f.backend, 'is not a backend name');
  const defaults = protocol === 'udp' ? DEFAULT_UDP_TIMEOUTS : DEFAULT_TIMEOUTS;
  const t = r.obj(`${path}.timeouts`, f.timeouts) ?? {};
  r.keys(`${path}.timeouts`, t, ['connectMs', 'idleMs']);
  const sourceRanges = r.cidrs(`${path}.sourceRanges`, f.sourceRanges);
  const acceptProxyProtocolFrom = r.cidrs(`${path}.acceptProxyProtocolFrom`, f.acceptProxyProtocolFrom);
  if (protocol === 'udp' && acceptProxyProtocolFrom.length > 0) r.problem(`${path}.acceptProxyProtocolFrom`, 'udp', 'frontends do not accept PROXY headers');
  return {
    name: String(f.name),
    listen: listen ?? { address: '0.0.0.0', port: 0 },
    protocol,
    routes: [{ match: { kind: 'any' }, backend: typeof f.backend === 'string' ? f.backend : '' }],
    sourceRanges,
    acceptProxyProtocolFrom,
    timeouts: {
      connectMs: r.int(`${path}.timeouts.connectMs`, t.connectMs, defaults.connectMs, 1, 3_600_000),
      idleMs: r.int(`${path}.timeouts.idleMs`, t.idleMs, defaults.idleMs, 1, 604_800_000),
    },
  };
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

function readBackend(r: Reader, path: string, raw: unknown): Backend | undefined {
  const b = r.obj(path, raw);
  if (!b) return undefined;
  r.keys(path, b, BACKEND_KEYS);
  if (typeof b.name !== 'string' || b.name === '') r.problem(`${path}.name`, b.name, 'is not a non-empty string');
  const a = r.obj(`${path}.affinity`, b.affinity) ?? {};
  r.keys(`${path}.affinity`, a, ['clientIP', 'timeoutSeconds']);
  const h = r.obj(`${path}.healthCheck`, b.healthCheck);
  if (h) r.keys(`${path}.healthCheck`, h, ['type', 'intervalMs', 'rise', 'fall', 'timeoutMs']);
  const p = r.obj(`${path}.passiveEjection`, b.passiveEjection) ?? {};
  r.keys(`${path}.passiveEjection`, p, ['consecutiveFailures', 'baseEjectMs', 'maxEjectMs']);
  const endpoints = r.list(`${path}.endpoints`, b.endpoints)
    .map((e, i) => readEndpoint(r, `${path}.endpoints[${i}]`, e))
    .filter((e): e is Endpoint => e !== undefined);
  const intervalMs = h ? r.int(`${path}.healthCheck.intervalMs`, h.intervalMs, DEFAULT_HEALTH_CHECK.intervalMs, 10, 3_600_000) : 0;
  const base = r.int(`${path}.passiveEjection.baseEjectMs`, p.baseEjectMs, DEFAULT_PASSIVE_EJECTION.baseEjectMs, 1, 3_600_000);
  const backend: Backend = {
    name: String(b.name),
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
  if (!h) return backend;
  return {
    ...backend,
    healthCheck: {
      type: r.oneOf(`${path}.healthCheck.type`, h.type, ['tcp'] as const, 'tcp'),
      intervalMs,
      rise: r.int(`${path}.healthCheck.rise`, h.rise, DEFAULT_HEALTH_CHECK.rise, 1, 100),
      fall: r.int(`${path}.healthCheck.fall`, h.fall, DEFAULT_HEALTH_CHECK.fall, 1, 100),
      timeoutMs: r.int(`${path}.healthCheck.timeoutMs`, h.timeoutMs, intervalMs, 1, 3_600_000),
    },
  };
}

/** Parses and validates the whole file, reporting every problem, never only the first. */
export function parseProxyFile(text: string): ParsedProxyFile {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return { kind: 'invalid', problems: [`not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`] };
  }
  const r = new Reader();
  if (!isObj(doc)) return { kind: 'invalid', problems: [`the file: ${show(doc)} is not a mapping with frontends and backends`] };
  r.keys('', doc, TOP_KEYS);
  const workers = r.int('workers', doc.workers, 1, 1, 64);
  const frontends = r.list('frontends', doc.frontends)
    .map((f, i) => readFrontend(r, `frontends[${i}]`, f))
    .filter((f): f is Frontend => f !== undefined);
  const backends = r.list('backends', doc.backends)
    .map((b, i) => readBackend(r, `backends[${i}]`, b))
    .filter((b): b is Backend => b !== undefined);
  checkReferences(r, frontends, backends);
  if (r.problems.length > 0) return { kind: 'invalid', problems: r.problems.map((p) => p.replace(/^\./, '')) };
  return { kind: 'ok', model: { workers, frontends, backends } };
}

/** `parseProxyFile` for callers that want a model or an exception (code FUL_ERR_PROXY_CONFIG). */
export function loadProxyFile(text: string): ProxyModel {
  const r = parseProxyFile(text);
  if (r.kind === 'invalid') throw new ProxyConfigError(r.problems);
  return r.model;
}

function checkReferences(r: Reader, frontends: readonly Frontend[], backends: readonly Backend[]): void {
  const seen = new Set<string>();
  frontends.forEach((f, i) => {
    if (seen.has(f.name)) r.problem(`frontends[${i}].name`, f.name, 'is used by an earlier frontend');
    seen.add(f.name);
  });
  const binds = new Map<string, string>();
  frontends.forEach((f, i) => {
    if (f.listen.port === 0) return;
    const key = `${f.protocol}/${f.listen.address}/${f.listen.port}`;
    const other = binds.get(key);
    if (other !== undefined) r.problem(`frontends[${i}].listen`, `${f.listen.address}:${f.listen.port}`, `is also the ${f.protocol} listen address of frontend "${other}"`);
    binds.set(key, f.name);
  });
  const byName = new Map<string, Backend>();
  backends.forEach((b, i) => {
    if (byName.has(b.name)) r.problem(`backends[${i}].name`, b.name, 'is used by an earlier backend');
    byName.set(b.name, b);
  });
  frontends.forEach((f, i) => {
    if (f.routes[0]!.backend === '') return; // already reported
    const backend = byName.get(f.routes[0]!.backend);
    if (!backend) {
      r.problem(`frontends[${i}].backend`, f.routes[0]!.backend, 'names no backend');
      return;
    }
    if (f.protocol === 'udp' && backend.proxyProtocol !== 'none') r.problem(`backends[${backends.indexOf(backend)}].proxyProtocol`, backend.proxyProtocol, `is not supported behind udp frontend "${f.name}"`);
  });
}
