import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { startApiServer, type ApiServer, type ApiServerOptions, type KubeconfigOptions } from '../../lab/apiserver/index.js';
import { AuditCounter } from './k8s-real-audit.js';
import { startRealControlPlane, type RealControlPlane } from '../../lab/real-control-plane.js';
import { fetchText } from '../../lab/real-control-plane-process.js';

/**
 * The API server an integration suite runs against: the in-process emulator (the default, what
 * `npm test` uses), or, with FULCRUM_TEST_APISERVER=real, one real control plane
 * (lab/real-control-plane.ts) shared by every suite of the run and swept back to its starting
 * objects each time a suite asks for a fresh server. Both are seen through `TestApiServer`, the
 * part of the emulator's `ApiServer` the suites use; what only the emulator can do (inject a 500,
 * drop every watch, compact its history) throws `EmulatorOnlyError` on the real server, and the
 * tests that need it are registered with `itOnEmulator`, which says why in the skipped title.
 */

export type ApiTargetKind = 'emulator' | 'real';

/** FULCRUM_TEST_APISERVER: `emulator` (default) or `real`. */
export function apiTargetKind(): ApiTargetKind {
  const v = process.env.FULCRUM_TEST_APISERVER || 'emulator';
  if (v !== 'emulator' && v !== 'real') throw new Error(`FULCRUM_TEST_APISERVER: "${v}" (expected "emulator" or "real")`);
  return v;
}

export function onRealServer(): boolean {
  return apiTargetKind() === 'real';
}

/** A suite's title, marked when it runs on the real server. */
export function suiteTitle(title: string): string {
  return onRealServer() ? `${title} [real kube-apiserver]` : title;
}

/** For suite titles: "the API emulator" or "the real kube-apiserver". */
export function apiServerName(): string {
  return onRealServer() ? 'the real kube-apiserver' : 'the API emulator';
}

/**
 * `it(title, fn)` on the emulator; on the real server a skipped test whose title gives the
 * reason (the fault or behaviour only the emulator has).
 */
export function itOnEmulator(title: string, reasonOnReal: string, fn: Mocha.AsyncFunc): void {
  if (onRealServer()) it.skip(`${title} [emulator only: ${reasonOnReal}]`, fn);
  else it(title, fn);
}

export class EmulatorOnlyError extends Error {
  constructor(what: string) {
    super(`${what}: only the API emulator can do this; the test must be registered with itOnEmulator`);
    this.name = 'EmulatorOnlyError';
  }
}

/** How a request authenticates: a bearer token, a client certificate, or nothing (anonymous). */
export interface Credential {
  readonly bearer?: string;
  readonly cert?: { readonly certPem: string; readonly keyPem: string };
}

export interface TestApiServer {
  readonly kind: ApiTargetKind;
  /** What kubeconfigs and lab helpers point at (the emulator: http; the real server: https). */
  readonly url: string;
  readonly tlsUrl: string;
  readonly caPem: string;
  readonly host: string;
  readonly port: number;
  readonly adminToken: string;
  kubeconfigYaml(opts?: KubeconfigOptions): string;
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<void>;
  /** A token of the ServiceAccount (on the real server from the TokenRequest API: the account must exist). */
  serviceAccountToken(namespace: string, name: string): Promise<string>;
  /** A credential string for `name` in `groups` for raw(): a token (emulator), a client certificate (real). */
  userToken(name: string, groups?: readonly string[]): Promise<string>;
  /** What raw() and RawWatch send for `token` (undefined: the admin; null: nothing). */
  credential(token: string | null | undefined): Credential;
  /** Takes the server away (emulator: closes its listener; real: SIGTERM to kube-apiserver). */
  stop(): Promise<void>;
  /** Brings it back on the same port with the same store (etcd). */
  start(): Promise<void>;
  /** Emulator only: drops the watch history. */
  compact(): void;
  /** dropWatches and failNext: emulator only; pause: the real server is frozen with SIGSTOP. */
  readonly faults: { dropWatches(): void; failNext(count: number, code: 500 | 429): void; pause(ms: number): void };
  /** Requests made by the tests' clients since this target was handed out (the real server: from its audit log, control-plane users left out). */
  requestCount(): number;
  requestCounts(): Record<string, number>;
  /** Done with it: the emulator stops; the shared real control plane stays up (and is started if a test left it stopped). */
  close(): Promise<void>;
}

/** The emulator seen as a TestApiServer. */
class EmulatorTarget implements TestApiServer {
  readonly kind = 'emulator' as const;
  readonly #api: ApiServer;

  constructor(api: ApiServer) {
    this.#api = api;
  }

  get url(): string { return this.#api.url; }
  get tlsUrl(): string { return this.#api.tlsUrl; }
  get caPem(): string { return this.#api.caPem; }
  get host(): string { return this.#api.host; }
  get port(): number { return this.#api.port; }
  get adminToken(): string { return this.#api.adminToken; }
  get faults(): ApiServer['faults'] { return this.#api.faults; }
  kubeconfigYaml(opts?: KubeconfigOptions): string { return this.#api.kubeconfigYaml(opts); }
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<void> { return this.#api.writeKubeconfig(path, opts); }
  async serviceAccountToken(namespace: string, name: string): Promise<string> { return this.#api.serviceAccountToken(namespace, name); }
  async userToken(name: string, groups: readonly string[] = []): Promise<string> { return this.#api.userToken(name, groups); }
  credential(token: string | null | undefined): Credential { return token === null ? {} : { bearer: token ?? this.#api.adminToken }; }
  stop(): Promise<void> { return this.#api.stop(); }
  start(): Promise<void> { return this.#api.start(); }
  compact(): void { this.#api.compact(); }
  requestCount(): number { return this.#api.requestCount(); }
  requestCounts(): Record<string, number> { return this.#api.requestCounts(); }
  close(): Promise<void> { return this.#api.stop(); }
}

/** One suite's view of the shared real control plane. */
class RealTarget implements TestApiServer {
  readonly kind = 'real' as const;
  readonly #cp: RealControlPlane;
  readonly #audit: AuditCounter;
  readonly #since: Record<string, number>;
  readonly #certs: Map<string, { certPem: string; keyPem: string }>;

  constructor(cp: RealControlPlane, audit: AuditCounter, certs: Map<string, { certPem: string; keyPem: string }>) {
    this.#cp = cp;
    this.#audit = audit;
    this.#certs = certs;
    this.#since = audit.counts();
  }

  get url(): string { return this.#cp.url; }
  get tlsUrl(): string { return this.#cp.tlsUrl; }
  get caPem(): string { return this.#cp.caPem; }
  get host(): string { return this.#cp.host; }
  get port(): number { return this.#cp.port; }
  get adminToken(): string { return this.#cp.adminToken; }
  kubeconfigYaml(opts?: KubeconfigOptions): string { return this.#cp.kubeconfigYaml(opts); }
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<void> { return this.#cp.writeKubeconfig(path, opts); }
  serviceAccountToken(namespace: string, name: string): Promise<string> { return this.#cp.serviceAccountToken(namespace, name); }

  async userToken(name: string, groups: readonly string[] = []): Promise<string> {
    // The real server has no token for an arbitrary user: a client certificate from its CA is
    // the same user and groups to RBAC. raw() finds the certificate under this handle.
    const handle = `x509:${name}:${groups.join(',')}`;
    if (!this.#certs.has(handle)) {
      const kubeconfig = parse(await readFile(await this.#cp.userKubeconfig(name, groups), 'utf8')) as { users: { user: Record<string, string> }[] };
      const u = kubeconfig.users[0]!.user;
      const pem = (k: string): string => Buffer.from(u[k] ?? '', 'base64').toString('utf8');
      this.#certs.set(handle, { certPem: pem('client-certificate-data'), keyPem: pem('client-key-data') });
    }
    return handle;
  }

  credential(token: string | null | undefined): Credential {
    if (token === null) return {};
    const cert = token === undefined ? undefined : this.#certs.get(token);
    return cert ? { cert } : { bearer: token ?? this.#cp.adminToken };
  }

  stop(): Promise<void> { return this.#cp.stopApiServer(); }
  start(): Promise<void> { return this.#cp.startApiServer(); }
  compact(): void { throw new EmulatorOnlyError('compact()'); }

  readonly faults = {
    dropWatches: (): void => { throw new EmulatorOnlyError('faults.dropWatches()'); },
    failNext: (): void => { throw new EmulatorOnlyError('faults.failNext()'); },
    pause: (ms: number): void => this.#cp.pauseApiServer(ms),
  };

  requestCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, n] of Object.entries(this.#audit.counts())) {
      const d = n - (this.#since[k] ?? 0);
      if (d > 0) out[k] = d;
    }
    return out;
  }

  requestCount(): number {
    return Object.values(this.requestCounts()).reduce((s, n) => s + n, 0);
  }

  async close(): Promise<void> {
    await this.#cp.startApiServer(); // a no-op unless a test stopped it and failed before starting it again
  }
}

// ---- the shared real control plane -------------------------------------------------------------

interface Shared {
  cp: RealControlPlane;
  audit: AuditCounter;
  baseline: Set<string>;
  certs: Map<string, { certPem: string; keyPem: string }>;
}

let shared: Promise<Shared> | undefined;

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
/** A deleted CRD goes once its objects are gone (a finalizer): a second or two; bounded. */
const CRD_GONE_TIMEOUT_MS = 30_000;

/** Collections swept between suites: [list path, path of one object in a namespace ('' = cluster-scoped)]. */
const SWEPT: readonly { list: string; item: (ns: string, name: string) => string }[] = [
  ...['services', 'configmaps', 'secrets', 'events', 'serviceaccounts', 'endpoints', 'pods'].map((r) => ({ list: `/api/v1/${r}`, item: (ns: string, n: string) => `/api/v1/namespaces/${ns}/${r}/${n}` })),
  ...[['coordination.k8s.io/v1', 'leases'], ['discovery.k8s.io/v1', 'endpointslices'], ['rbac.authorization.k8s.io/v1', 'roles'], ['rbac.authorization.k8s.io/v1', 'rolebindings'], ['apps/v1', 'deployments'], ['apps/v1', 'daemonsets']].map(
    ([gv, r]) => ({ list: `/apis/${gv}/${r}`, item: (ns: string, n: string) => `/apis/${gv}/namespaces/${ns}/${r}/${n}` }),
  ),
  ...['/api/v1/nodes', '/api/v1/namespaces', '/apis/rbac.authorization.k8s.io/v1/clusterroles', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', CRDS].map((list) => ({ list, item: (_ns: string, n: string) => `${list}/${n}` })),
];

// kube-system holds the controller-manager's service accounts and the apiserver's identity Leases:
// only what the suites write there (ConfigMaps) is swept.
const SWEPT_IN_KUBE_SYSTEM = new Set(['/api/v1/configmaps']);

interface Listed {
  items?: { metadata: { name: string; namespace?: string; uid: string; deletionTimestamp?: string } }[];
}

async function admin(cp: RealControlPlane, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return fetchText(`${cp.url}${path}`, { method, caPem: cp.caPem, token: cp.adminToken, ...(body === undefined ? {} : { body }) });
}

async function listAll(cp: RealControlPlane): Promise<{ uid: string; path: string; list: string; namespace: string }[]> {
  const out: { uid: string; path: string; list: string; namespace: string }[] = [];
  for (const c of SWEPT) {
    const r = await admin(cp, 'GET', c.list);
    if (r.status !== 200) throw new Error(`GET ${c.list}: ${r.status} ${r.text}`);
    for (const o of (JSON.parse(r.text) as Listed).items ?? []) {
      if (o.metadata.deletionTimestamp) continue;
      const ns = o.metadata.namespace ?? '';
      out.push({ uid: o.metadata.uid, path: c.item(ns, o.metadata.name), list: c.list, namespace: ns });
    }
  }
  return out;
}

async function startShared(): Promise<Shared> {
  const started = Date.now();
  const cp = await startRealControlPlane({ auditLog: true });
  try {
    // The emulator starts with fulcrum-system; config/ and the suites expect it.
    const ns = await admin(cp, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fulcrum-system' } });
    if (ns.status !== 201) throw new Error(`creating namespace fulcrum-system: ${ns.status} ${ns.text}`);
    const deadline = Date.now() + 30_000;
    for (const n of ['default', 'fulcrum-system', 'kube-system', 'kube-public', 'kube-node-lease']) {
      while ((await admin(cp, 'GET', `/api/v1/namespaces/${n}/serviceaccounts/default`)).status !== 200) {
        if (Date.now() > deadline) throw new Error(`ServiceAccount ${n}/default never appeared`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const baseline = new Set((await listAll(cp)).map((o) => o.uid));
    process.stdout.write(`      [k8s-real] shared control plane ${cp.version} up in ${Date.now() - started} ms (${cp.url}, ${cp.dir})\n`);
    return { cp, audit: new AuditCounter(cp.logs.audit!), baseline, certs: new Map() };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

/** Deletes every object made since the control plane started (in the swept collections). */
async function sweep(s: Shared): Promise<void> {
  const crds: string[] = [];
  for (const o of await listAll(s.cp)) {
    if (s.baseline.has(o.uid)) continue;
    if ((o.namespace === 'kube-system' && !SWEPT_IN_KUBE_SYSTEM.has(o.list)) || o.namespace === 'kube-node-lease') continue;
    const r = await admin(s.cp, 'DELETE', `${o.path}?gracePeriodSeconds=0`, { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' });
    if (r.status !== 200 && r.status !== 202 && r.status !== 404 && r.status !== 409) throw new Error(`DELETE ${o.path}: ${r.status} ${r.text}`);
    if (o.list === CRDS) crds.push(o.path);
  }
  // A CRD still terminating would turn the next suite's create of it into a 409: wait until it is gone.
  const deadline = Date.now() + CRD_GONE_TIMEOUT_MS;
  for (const path of crds) {
    while ((await admin(s.cp, 'GET', path)).status !== 404) {
      if (Date.now() > deadline) throw new Error(`${path} still there ${CRD_GONE_TIMEOUT_MS} ms after its DELETE`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The shared real control plane, started on first use and swept to its starting objects. */
export async function startRealTarget(): Promise<TestApiServer> {
  shared ??= startShared();
  const s = await shared;
  await s.cp.startApiServer();
  await sweep(s);
  return new RealTarget(s.cp, s.audit, s.certs);
}

/** Stops the shared real control plane (test/k8s-real/integration.test.ts, after every suite). */
export async function stopSharedControlPlane(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s) await (await s.catch(() => undefined))?.cp.stop();
}

/** A new emulator on 127.0.0.1, seen as a TestApiServer. */
export async function startEmulatorTarget(opts: ApiServerOptions = {}): Promise<TestApiServer> {
  return new EmulatorTarget(await startApiServer({ host: '127.0.0.1', port: 0, ...opts }));
}

/** A fresh API server for one suite: a new emulator, or the shared real control plane swept clean. */
export async function startTestTarget(opts: ApiServerOptions = {}): Promise<TestApiServer> {
  return onRealServer() ? startRealTarget() : startEmulatorTarget(opts);
}
