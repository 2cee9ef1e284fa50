import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { makeServingCert, type ServingCert } from './cert.js';
import { writeFile } from 'node:fs/promises';
import { componentLogger } from '../../src/log.js';
import { counter, gauge } from '../../src/metrics.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { handleResource, type HandlerContext } from './handlers.js';
import { asTableIfAsked } from './table.js';
import { kubeconfigYaml, type KubeconfigOptions } from './kubeconfig.js';
import { authorize, bootstrapObjects, forbiddenMessage, Tokens, type RequestAttributes, type UserInfo } from './rbac.js';
import { Registry } from './registry.js';
import { resolveRoute, type Route } from './routes.js';
import { IpRange, PortRange } from './kinds/service-ranges.js';
import { ApiStatusError, pathNotFound, statusBody, type Obj } from './status.js';
import { Store } from './store.js';
import { EndpointsController } from './controllers/endpoints.js';
import type { WatchHost, WatchStream } from './watch.js';
import { warningHeaders, type FieldValidation } from './field-validation.js';
import { serveOpenApi } from './openapi.js';
import { FulcrumError } from '../../src/errors.js';
import { findResource, storeDef as storeKeyDef, type ResourceDef } from './resources.js';
import { CustomResources } from './crd/served.js';

export interface ApiServerOptions {
  host?: string; // default 127.0.0.1
  port?: number; // 0 = free port
  eventWindow?: number; // watch history kept, default 10000
  /** IPv4 service range, default 203.0.113.0/24 (TEST-NET-3: written into objects, never routed). */
  serviceCidrV4?: string;
  /** IPv6 service range, default 2001:db8:ff::/112; `null` makes a single-stack cluster. */
  serviceCidrV6?: string | null;
  /**
   * What a write without a `fieldValidation` parameter does with unknown fields: `Warn` (default,
   * as kube-apiserver), `Strict` or `Ignore`. Default from FULCRUM_APISERVER_FIELD_VALIDATION, so a
   * whole test run can check that every object it writes is known field by field.
   */
  fieldValidation?: FieldValidation;
}

export interface ApiServer {
  /** http://host:port; the same port also speaks TLS (see tlsUrl). */
  readonly url: string;
  /** https://host:port with the self-signed certificate caPem (kubectl sends tokens only over TLS). */
  readonly tlsUrl: string;
  readonly caPem: string;
  readonly host: string;
  readonly port: number;
  readonly adminToken: string;
  kubeconfigYaml(opts?: KubeconfigOptions): string;
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<void>;
  serviceAccountToken(namespace: string, name: string): string;
  /** A token for an arbitrary user and groups (RBAC applies; the groups get system:authenticated). */
  userToken(name: string, groups?: readonly string[]): string;
  stop(): Promise<void>;
  /** Listens again after stop(), same port and store; the watch history restarts now (older RVs: 410). */
  start(): Promise<void>;
  compact(): void;
  readonly faults: { dropWatches(): void; failNext(count: number, code: 500 | 429): void; pause(ms: number): void };
  requestCount(): number;
  requestCounts(): Record<string, number>;
}

export type { KubeconfigOptions };

const openWatches = gauge('fulcrum_apiserver_watches', 'Watches open on the API emulator');
const requestsTotal = counter('fulcrum_apiserver_requests_total', 'Requests served by the API emulator, by verb and resource', ['verb', 'resource', 'code']);

/** Reads a request body; the emulator serves small JSON objects, so buffering is fine. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The default directive: the option, else FULCRUM_APISERVER_FIELD_VALIDATION, else Warn. */
function defaultFieldValidation(opt: FieldValidation | undefined): FieldValidation {
  const v = opt ?? process.env.FULCRUM_APISERVER_FIELD_VALIDATION ?? 'Warn';
  if (v !== 'Strict' && v !== 'Warn' && v !== 'Ignore') throw new FulcrumError('FUL_ERR_APISERVER_FIELD_VALIDATION', { value: v, variable: 'FULCRUM_APISERVER_FIELD_VALIDATION' });
  return v;
}

function send(res: ServerResponse, code: number, body: Obj, extraHeaders: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private', ...extraHeaders });
  res.end(text);
}

const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

function countKey(route: Route | undefined, method: string, path: string): string {
  if (!route) return `${method.toLowerCase()} ${path}`;
  if (route.kind === 'nonResource') return `${method.toLowerCase()} ${route.path}`;
  const res = route.subresource ? `${route.def.resource}/${route.subresource}` : route.def.resource;
  return `${route.verb} ${res}`;
}

class Emulator implements ApiServer, WatchHost {
  readonly host: string;
  #port: number;
  readonly #tokens = new Tokens();
  readonly #store: Store;
  readonly #registry: Registry;
  readonly #ctx: HandlerContext;
  readonly #watches = new Set<WatchStream>();
  readonly #counts = new Map<string, number>();
  readonly #log = componentLogger('apiserver');
  readonly #controller: EndpointsController;
  readonly #custom: CustomResources;
  readonly #lookup: (apiVersion: string, resource: string) => ResourceDef | undefined;
  #total = 0;
  #server: Server | undefined = undefined;
  readonly #sockets = new Set<Socket>();
  readonly #cert: ServingCert;
  #failNext: { count: number; code: 500 | 429 } = { count: 0, code: 500 };
  #restarts = 0;
  #pausedUntil = 0;

  constructor(opts: ApiServerOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.#port = opts.port ?? 0;
    this.#store = new Store(opts.eventWindow ?? 10_000);
    const v6 = opts.serviceCidrV6 === null ? undefined : new IpRange(opts.serviceCidrV6 ?? '2001:db8:ff::/112');
    this.#registry = new Registry(this.#store, { v4: new IpRange(opts.serviceCidrV4 ?? '203.0.113.0/24'), v6, nodePorts: new PortRange() });
    this.#ctx = { registry: this.#registry, watchHost: this, fieldValidation: defaultFieldValidation(opts.fieldValidation) };
    for (const { storeKey, object } of bootstrapObjects()) {
      const def = storeKeyDef(storeKey);
      this.#registry.create(def, '', object);
    }
    this.#controller = new EndpointsController(this.#registry);
    this.#custom = new CustomResources(this.#registry, { closeWatches: (key) => this.#closeWatches(key) });
    this.#registry.customDefs = () => this.#custom.defs();
    this.#lookup = (apiVersion, resource) => findResource(apiVersion, resource) ?? this.#custom.find(apiVersion, resource);
    this.#cert = makeServingCert(certIps(this.host), ['localhost']);
  }

  get port(): number {
    return this.#port;
  }

  /** The address clients dial: a wildcard listen address is reached on loopback. */
  #dialHost(): string {
    const h = this.host === '0.0.0.0' ? '127.0.0.1' : this.host === '::' ? '::1' : this.host;
    return h.includes(':') ? `[${h}]` : h;
  }

  get url(): string {
    return `http://${this.#dialHost()}:${this.#port}`;
  }

  get tlsUrl(): string {
    return `https://${this.#dialHost()}:${this.#port}`;
  }

  get caPem(): string {
    return this.#cert.certPem;
  }

  get adminToken(): string {
    return this.#tokens.adminToken;
  }

  kubeconfigYaml(opts: KubeconfigOptions = {}): string {
    const https = (opts.scheme ?? 'https') === 'https';
    return kubeconfigYaml(https ? this.tlsUrl : this.url, { token: this.adminToken, ...opts, ...(https ? { caPem: this.caPem } : {}) });
  }

  async writeKubeconfig(path: string, opts: KubeconfigOptions = {}): Promise<void> {
    await writeFile(path, this.kubeconfigYaml(opts), { mode: 0o600 });
  }

  serviceAccountToken(namespace: string, name: string): string {
    return this.#tokens.serviceAccount(namespace, name);
  }

  userToken(name: string, groups: readonly string[] = []): string {
    return this.#tokens.user(name, groups);
  }

  readonly faults = {
    dropWatches: (): void => {
      for (const w of [...this.#watches]) w.close();
    },
    failNext: (count: number, code: 500 | 429): void => {
      this.#failNext = { count, code };
    },
    pause: (ms: number): void => {
      this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + ms);
    },
  };

  requestCount(): number {
    return this.#total;
  }

  requestCounts(): Record<string, number> {
    return Object.fromEntries([...this.#counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  compact(): void {
    this.#store.compact();
  }

  pausedUntil(): number {
    return this.#pausedUntil;
  }

  register(w: WatchStream): void {
    this.#watches.add(w);
    openWatches.inc();
  }

  unregister(w: WatchStream): void {
    if (this.#watches.delete(w)) openWatches.dec();
  }

  async start(): Promise<void> {
    if (this.#server) return;
    // As a restarted kube-apiserver, whose watch cache starts at the resourceVersion current when
    // it starts: a watch from an older one gets 410 Expired (clients relist), one from now resumes.
    if (this.#restarts++ > 0) this.#store.compact();
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.#serve(req, res);
    const plain = createServer({ keepAliveTimeout: 65_000 }, handler);
    const tls = createHttpsServer({ keepAliveTimeout: 65_000, cert: this.#cert.certPem, key: this.#cert.keyPem }, handler);
    // One port, both protocols: a TLS ClientHello starts with byte 0x16, plain HTTP never does.
    const server = createNetServer((socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.once('data', (first: Buffer) => {
        socket.pause();
        socket.unshift(first);
        (first[0] === 0x16 ? tls : plain).emit('connection', socket);
        process.nextTick(() => socket.resume());
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    this.#log.info({ event: 'listening', url: this.url }, 'Kubernetes API emulator for the lab and tests (not a production API server)');
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const w of [...this.#watches]) w.abort();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await closed;
    this.#log.info({ event: 'stopped', url: this.url }, 'emulator stopped; the store is kept');
  }

  /** Terminal cleanup for tests that are done with the emulator. */
  dispose(): void {
    this.#registry.dispose();
    this.#controller.dispose();
    this.#custom.dispose();
  }

  #closeWatches(storeKey: string): void {
    for (const w of [...this.#watches]) if (w.storeKey === storeKey) w.close();
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#total++;
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://emulator');
    let route: Route | undefined;
    let code = 0;
    try {
      const body = await readBody(req);
      if (this.#pausedUntil > Date.now()) await new Promise((r) => setTimeout(r, this.#pausedUntil - Date.now()));
      const watch = url.searchParams.get('watch');
      route = resolveRoute(method, url.pathname, watch === 'true' || watch === '1', this.#lookup);
      if (this.#failNext.count > 0) {
        this.#failNext.count--;
        const c = this.#failNext.code;
        throw c === 429
          ? new ApiStatusError(429, 'TooManyRequests', 'Too many requests, please try again later.', { causes: [{ reason: 'TooManyRequests', message: 'injected by the emulator' }], retryAfterSeconds: 1 })
          : new ApiStatusError(500, 'InternalError', 'Internal error occurred: injected by the emulator', { causes: [{ message: 'injected by the emulator' }] });
      }
      const user = this.#authenticate(req);
      if (route.kind === 'nonResource') {
        this.#authorize(user, { kind: 'nonResource', verb: method.toLowerCase(), path: route.path });
        const doc = route.path.startsWith('/openapi/') ? serveOpenApi(route.path, url.searchParams, req.headers, new Date(), this.#custom.defs()) : undefined;
        if (doc) {
          code = doc.code;
          res.writeHead(doc.code, { ...doc.headers, 'Content-Length': Buffer.byteLength(doc.body) });
          res.end(doc.body);
          return;
        }
        if (route.path === '/healthz' || route.path === '/livez' || route.path === '/readyz') {
          // plain text, as kube-apiserver's health checks answer
          code = 200;
          res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': 2 });
          res.end('ok');
          return;
        }
        const out = this.#nonResource(route.path);
        code = out.code;
        send(res, out.code, out.body);
        return;
      }
      this.#authorize(user, { kind: 'resource', verb: route.verb, apiGroup: route.def.group, resource: route.def.resource, subresource: route.subresource, namespace: route.namespace, name: route.name });
      const reply = handleResource(route, url.searchParams, req.headers['content-type'] ?? '', body, res, this.#ctx, req.headers.accept);
      if (reply.code === 'streaming') {
        code = 200;
        return;
      }
      code = reply.code;
      send(res, reply.code, asTableIfAsked(route, req.headers.accept, url.searchParams, reply.code, reply.body), reply.warnings ? { Warning: warningHeaders(reply.warnings) } : {});
    } catch (err) {
      if (err instanceof ApiStatusError) {
        code = err.httpCode;
        const headers: Record<string, string> = err.httpCode === 429 ? { 'Retry-After': '1' } : {};
        if (!res.headersSent) send(res, err.httpCode, err.body, headers);
        else res.end();
      } else {
        code = 500;
        this.#log.error({ event: 'handlerFailed', err, method, path: url.pathname }, 'handler threw');
        if (!res.headersSent) send(res, 500, statusBody(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`));
        else res.end();
      }
    } finally {
      const key = countKey(route, method, url.pathname);
      if (this.#log.debug()) this.#log.debug({ event: 'request', request: key, namespace: route?.kind === 'resource' ? route.namespace : undefined, code }, 'served');
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
      requestsTotal.inc({ verb: route?.kind === 'resource' ? route.verb : method.toLowerCase(), resource: route?.kind === 'resource' ? route.def.resource : 'nonResource', code: String(code) });
    }
  }

  #authenticate(req: IncomingMessage): UserInfo {
    // As kube-apiserver with --anonymous-auth (its default): no credential at all is the anonymous
    // user, whom RBAC lets read /version and the health paths only (403 elsewhere); a credential
    // that does not authenticate is a 401.
    if (req.headers.authorization === undefined) return ANONYMOUS;
    const user = this.#tokens.authenticate(req.headers.authorization);
    // like bound service-account tokens: valid only while the ServiceAccount exists
    if (user && this.#serviceAccountExists(user)) return user;
    throw new ApiStatusError(401, 'Unauthorized', 'Unauthorized');
  }

  #serviceAccountExists(user: UserInfo): boolean {
    const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user.name);
    return !m || this.#store.get('serviceaccounts', m[1]!, m[2]!) !== undefined;
  }

  #authorize(user: UserInfo, a: RequestAttributes): void {
    const d = authorize(this.#store, user, a);
    if (d.allowed) return;
    const details: Obj = a.kind === 'resource' ? { ...(a.name ? { name: a.name } : {}), ...(a.apiGroup ? { group: a.apiGroup } : {}), kind: a.resource } : {};
    throw new ApiStatusError(403, 'Forbidden', forbiddenMessage(user, a), details);
  }

  #nonResource(path: string): { code: number; body: Obj } {
    if (path === '/version' || path === '/version/') return { code: 200, body: versionInfo() };
    if (path === '/api') return { code: 200, body: apiVersions(`${this.host}:${this.#port}`) };
    const custom = this.#custom.defs();
    if (path === '/apis') return { code: 200, body: apiGroupList(custom) };
    if (path === '/api/v1') return { code: 200, body: apiResourceList('v1')! };
    const gv = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (gv) {
      const list = apiResourceList(`${gv[1]}/${gv[2]}`, custom);
      if (list) return { code: 200, body: list };
    }
    const g = /^\/apis\/([^/]+)$/.exec(path);
    if (g) {
      const group = apiGroup(g[1]!, custom);
      if (group) return { code: 200, body: group };
    }
    // /openapi/v2 is not served: kubectl reads /openapi/v3 (openapi.ts)
    throw pathNotFound();
  }
}

/** The IPs the serving certificate names: loopback, the listen address, and every local address for a wildcard. */
function certIps(host: string): string[] {
  const ips = new Set(['127.0.0.1', '::1']);
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) ips.add(a.address.split('%')[0]!);
  } else if (isIP(host)) ips.add(host);
  return [...ips];
}

/** Starts an emulator listening on host:port (port 0 = a free one). */
export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const e = new Emulator(opts);
  await e.start();
  return e;
}
