import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { KubeconfigOptions } from './apiserver/index.js';
import { realControlPlaneBinDir } from './real-control-plane-binaries.js';
import { FulcrumError } from '../src/errors.js';
import { makeControlPlanePki, type ControlPlanePki } from './real-control-plane-pki.js';
import { fileSafe, firstIpv4, kubeconfigText } from './real-control-plane-kubeconfig.js';
import { ControlPlaneProcess, fetchText, freePorts, removeOnExit } from './real-control-plane-process.js';

/**
 * A real control plane for the tests and `fulcrum lab --apiserver real`: etcd, kube-apiserver and
 * kube-controller-manager built from source by test/k8s-real/build.sh, on loopback (or the
 * kube-apiserver on `host`, e.g. the lab host address), in a temporary directory that holds the
 * PKI, the kubeconfigs and one log file per component. Shaped like the emulator's `ApiServer`
 * (lab/apiserver/index.ts) where it can be, so a harness can point at either; the differences are
 * `kind`, that `url` is https (the real server has no plain-http port) and that tokens for service
 * accounts come from the TokenRequest API (async) while other users get client certificates.
 * The tests use it too (test/helpers/api-target.ts, test/k8s-real/): the lab may not import test/.
 */

export interface RealControlPlaneOptions {
  /** Where etcd, kube-apiserver and kube-controller-manager are; default FULCRUM_K8S_BIN, else build.sh --check. */
  binDir?: string;
  /** IPv4 service range; default the emulator's 203.0.113.0/24 (TEST-NET-3: never routed). */
  serviceCidrV4?: string;
  /** IPv6 service range, default the emulator's 2001:db8:ff::/112; `null`: single-stack. */
  serviceCidrV6?: string | null;
  /** Default 30000-32767, the real default and the emulator's range. */
  nodePortRange?: string;
  /** kube-controller-manager --controllers (canonical names); default DEFAULT_CONTROLLERS. */
  controllers?: readonly string[];
  /** Deadline for each component to become ready; default 120 s (a cold apiserver on 2 busy cores takes 10–30 s). */
  startTimeoutMs?: number;
  /** Keep the directory (logs, kubeconfigs) after stop(); default FULCRUM_K8S_KEEP=1. */
  keepDir?: boolean;
  /**
   * The address kube-apiserver binds, advertises and is reached at (`url`), added to its serving
   * certificate; default 127.0.0.1. The lab gives its host address (192.0.2.254), which its node
   * namespaces reach over the host link. etcd and the controller-manager's port stay on loopback.
   */
  host?: string;
  /** Where the temporary directory is made; default the system's (os.tmpdir()). */
  parentDir?: string;
  /**
   * Write an audit log (`logs.audit`): one JSON line per request at its RequestReceived stage,
   * written before the request is handled (blocking mode), so a test can count the requests it
   * made (test/helpers/api-target.ts). Default false.
   */
  auditLog?: boolean;
}

/**
 * What the emulator does too (lab/apiserver/controllers): EndpointSlices and Endpoints from Pods,
 * and the garbage collector, which deletes a Service's slices after it (the slice controller
 * leaves them to their ownerReference). Plus ServiceAccount tokens and `default` accounts, node
 * health (taints on NotReady Nodes) and namespace deletion (else a namespace stays Terminating).
 * Not endpointslice-mirroring-controller: the emulator does not mirror selectorless Endpoints.
 */
export const DEFAULT_CONTROLLERS: readonly string[] = [
  'endpointslice-controller',
  'endpoints-controller',
  'garbage-collector-controller',
  'serviceaccount-token-controller',
  'serviceaccount-controller',
  'node-lifecycle-controller',
  'namespace-controller',
];

export interface RealControlPlane {
  readonly kind: 'real';
  /** https://HOST:PORT, HOST 127.0.0.1 unless told (the same as tlsUrl: the real server only speaks TLS). */
  readonly url: string;
  readonly tlsUrl: string;
  /** The address kube-apiserver listens on (RealControlPlaneOptions.host). */
  readonly host: string;
  readonly port: number;
  readonly caPem: string;
  /** A static token (--token-auth-file) for user fulcrum-admin in system:masters. */
  readonly adminToken: string;
  /** The admin kubeconfig (token). */
  readonly kubeconfig: string;
  readonly dir: string;
  /** /version's gitVersion, e.g. v1.37.2. */
  readonly version: string;
  readonly logs: { readonly etcd: string; readonly apiserver: string; readonly controllerManager: string; readonly audit?: string };
  kubeconfigYaml(opts?: KubeconfigOptions): string;
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<void>;
  /** A bound token for the ServiceAccount from the TokenRequest API (the account must exist). */
  serviceAccountToken(namespace: string, name: string, expirationSeconds?: number): Promise<string>;
  /** Writes a kubeconfig holding serviceAccountToken(); returns its path. */
  serviceAccountKubeconfig(namespace: string, name: string, kubeconfigNamespace?: string): Promise<string>;
  /** Writes a kubeconfig with a client certificate for `user` in `groups`; returns its path. */
  userKubeconfig(user: string, groups?: readonly string[]): Promise<string>;
  /** Stops kube-apiserver alone (SIGTERM): clients see their connections end and then refused. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port, with the same flags and etcd; resolves once /readyz is 200. */
  startApiServer(): Promise<void>;
  /**
   * Freezes kube-apiserver (SIGSTOP) for `ms`, then lets it go on (SIGCONT): connections are
   * accepted by the kernel and answered when it wakes, as with a server stalled by the machine.
   */
  pauseApiServer(ms: number): void;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const ISSUER = 'https://kubernetes.default.svc.cluster.local';
interface Started {
  /** Spawns kube-apiserver with its flags and waits for /readyz: the first start and every restart. */
  startApiserver?: () => Promise<ControlPlaneProcess>;
  etcd?: ControlPlaneProcess;
  apiserver?: ControlPlaneProcess;
  controllerManager?: ControlPlaneProcess;
}

async function stopAll(started: Started): Promise<void> {
  // Reverse order of start: clients before the servers they talk to.
  for (const p of [started.controllerManager, started.apiserver, started.etcd]) await p?.stop();
}

/** Starts etcd, kube-apiserver and kube-controller-manager; every start is bounded by `startTimeoutMs`. */
export async function startRealControlPlane(opts: RealControlPlaneOptions = {}): Promise<RealControlPlane> {
  const binDir = opts.binDir ?? (await realControlPlaneBinDir());
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const keepDir = opts.keepDir ?? process.env.FULCRUM_K8S_KEEP === '1';
  const cidrV4 = opts.serviceCidrV4 ?? '203.0.113.0/24';
  const cidrV6 = opts.serviceCidrV6 === null ? undefined : (opts.serviceCidrV6 ?? '2001:db8:ff::/112');
  const controllers = opts.controllers ?? DEFAULT_CONTROLLERS;
  const host = opts.host ?? HOST;

  const dir = await mkdtemp(join(opts.parentDir ?? tmpdir(), 'fulcrum-k8s-real-'));
  const forgetDir = keepDir ? (): void => undefined : removeOnExit(dir);
  const started: Started = {};
  const logs = {
    etcd: join(dir, 'etcd.log'),
    apiserver: join(dir, 'kube-apiserver.log'),
    controllerManager: join(dir, 'kube-controller-manager.log'),
    ...(opts.auditLog ? { audit: join(dir, 'audit.log') } : {}),
  };
  try {
    const pki = await makeControlPlanePki(
      dir,
      [...new Set([host, HOST, '::1', firstIpv4(cidrV4)])],
      ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    );
    // One call per address: ports asked for together are distinct.
    const ports = host === HOST ? await freePorts(HOST, 4) : [...(await freePorts(HOST, 3)), ...(await freePorts(host, 1))];
    const [etcdPort, etcdPeerPort, kcmPort, port] = ports as [number, number, number, number];
    const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const adminToken = randomBytes(24).toString('hex');

    // etcd: one member on loopback; fsync off because the data lives for one test run.
    const etcdUrl = `http://${HOST}:${etcdPort}`;
    const peerUrl = `http://${HOST}:${etcdPeerPort}`;
    started.etcd = new ControlPlaneProcess('etcd', join(binDir, 'etcd'), [
      '--name=fulcrum',
      `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=fulcrum=${peerUrl}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], logs.etcd);
    await started.etcd.waitUntil('GET /health', async () => {
      const r = await fetchText(`${etcdUrl}/health`, { timeoutMs: 2000 });
      return r.status === 200 && (JSON.parse(r.text) as { health?: string }).health === 'true';
    }, timeoutMs);

    // kube-apiserver: the static token is the admin's (the emulator's adminToken); everyone else
    // authenticates with a client certificate from our CA or a service-account token.
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(tokenFile, `${adminToken},fulcrum-admin,fulcrum-admin,"system:masters"\n`, { mode: 0o600 });
    const auditFlags: string[] = [];
    if (logs.audit) {
      // Metadata of every request, at RequestReceived only: one line per request, before it is served.
      const policy = join(dir, 'audit-policy.yaml');
      await writeFile(policy, stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['ResponseStarted', 'ResponseComplete', 'Panic'], rules: [{ level: 'Metadata' }] }));
      auditFlags.push(`--audit-policy-file=${policy}`, `--audit-log-path=${logs.audit}`, '--audit-log-mode=blocking', '--audit-log-format=json');
    }
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${host}`,
      `--advertise-address=${host}`,
      // The lease reconciler would publish the advertise address as the `kubernetes` Service's
      // endpoints, and refuses a loopback one; the tests never reach the apiserver through it.
      '--endpoint-reconciler-type=none',
      `--secure-port=${port}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.serving.certFile}`,
      `--tls-private-key-file=${pki.serving.keyFile}`,
      `--client-ca-file=${pki.caFile}`,
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=Node,RBAC',
      `--service-cluster-ip-range=${cidrV6 ? `${cidrV4},${cidrV6}` : cidrV4}`,
      `--service-node-port-range=${opts.nodePortRange ?? '30000-32767'}`,
      `--service-account-issuer=${ISSUER}`,
      `--service-account-key-file=${pki.serviceAccountPublicKeyFile}`,
      `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
      '--allow-privileged=true',
      '--profiling=false',
      ...auditFlags,
    ];
    started.startApiserver = async () => {
      const p = new ControlPlaneProcess('kube-apiserver', join(binDir, 'kube-apiserver'), apiserverArgs, logs.apiserver);
      started.apiserver = p;
      await p.waitUntil('GET /readyz', async () => (await fetchText(`${url}/readyz`, { caPem: pki.caPem, token: adminToken, timeoutMs: 5000 })).status === 200, timeoutMs);
      return p;
    };
    await started.startApiserver();
    const versionReply = await fetchText(`${url}/version`, { caPem: pki.caPem, token: adminToken });
    const version = (JSON.parse(versionReply.text) as { gitVersion?: string }).gitVersion ?? 'unknown';

    started.controllerManager = await startControllerManager(dir, binDir, url, pki, kcmPort, controllers, logs.controllerManager);
    await started.controllerManager.waitUntil('GET /healthz', async () => (await fetchText(`https://${HOST}:${kcmPort}/healthz`, { timeoutMs: 5000 })).status === 200, timeoutMs);
    if (controllers.includes('serviceaccount-controller')) {
      // The first thing the controllers visibly do; tests that create Pods need it (ServiceAccount admission).
      await started.controllerManager.waitUntil('ServiceAccount default/default', async () => (await fetchText(`${url}/api/v1/namespaces/default/serviceaccounts/default`, { caPem: pki.caPem, token: adminToken })).status === 200, timeoutMs);
    }

    const plane = new ControlPlane({ dir, url, host, port, caPem: pki.caPem, adminToken, version, logs, pki, keepDir, forgetDir, started });
    await plane.writeAdminKubeconfig();
    return plane;
  } catch (err) {
    await stopAll(started);
    if (!keepDir) {
      await rm(dir, { recursive: true, force: true });
      forgetDir();
    }
    throw err;
  }
}

async function startControllerManager(dir: string, binDir: string, url: string, pki: ControlPlanePki, port: number, controllers: readonly string[], logFile: string): Promise<ControlPlaneProcess> {
  // Its own identity, bound by the bootstrap RBAC policy; each controller then uses its own
  // service account (--use-service-account-credentials), as kubeadm clusters run it.
  const cert = await pki.issueClient('kube-controller-manager', 'system:kube-controller-manager');
  const kubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
  await writeFile(kubeconfig, kubeconfigText(url, pki.caPem, { name: 'system:kube-controller-manager', certPem: cert.certPem, keyPem: cert.keyPem }), { mode: 0o600 });
  const certDir = join(dir, 'kube-controller-manager-certs');
  await mkdir(certDir);
  return new ControlPlaneProcess('kube-controller-manager', join(binDir, 'kube-controller-manager'), [
    `--kubeconfig=${kubeconfig}`,
    // No --authentication/authorization-kubeconfig: its port serves only /healthz to us (always
    // allowed), and delegated authentication would want the apiserver's front-proxy CA.
    `--bind-address=${HOST}`,
    `--secure-port=${port}`,
    `--cert-dir=${certDir}`,
    `--controllers=${controllers.join(',')}`,
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.serviceAccountKeyFile}`,
    `--root-ca-file=${pki.caFile}`,
    '--leader-elect=false', // one instance: no need to wait for a Lease
    '--profiling=false',
  ], logFile);
}

interface ControlPlaneParts {
  dir: string;
  url: string;
  host: string;
  port: number;
  caPem: string;
  adminToken: string;
  version: string;
  logs: RealControlPlane['logs'];
  pki: ControlPlanePki;
  keepDir: boolean;
  forgetDir: () => void;
  started: Started;
}

class ControlPlane implements RealControlPlane {
  readonly kind = 'real' as const;
  readonly url: string;
  readonly tlsUrl: string;
  readonly host: string;
  readonly port: number;
  readonly caPem: string;
  readonly adminToken: string;
  readonly kubeconfig: string;
  readonly dir: string;
  readonly version: string;
  readonly logs: RealControlPlane['logs'];
  readonly #pki: ControlPlanePki;
  readonly #keepDir: boolean;
  readonly #forgetDir: () => void;
  readonly #started: Started;
  #stopping: Promise<void> | undefined;

  constructor(p: ControlPlaneParts) {
    this.url = p.url;
    this.tlsUrl = p.url;
    this.host = p.host;
    this.port = p.port;
    this.caPem = p.caPem;
    this.adminToken = p.adminToken;
    this.dir = p.dir;
    this.version = p.version;
    this.logs = p.logs;
    this.kubeconfig = join(p.dir, 'admin.kubeconfig');
    this.#pki = p.pki;
    this.#keepDir = p.keepDir;
    this.#forgetDir = p.forgetDir;
    this.#started = p.started;
  }

  /** Written by startRealControlPlane before it returns. */
  async writeAdminKubeconfig(): Promise<void> {
    await this.writeKubeconfig(this.kubeconfig);
  }

  kubeconfigYaml(opts: KubeconfigOptions = {}): string {
    if (opts.scheme === 'http') throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: 'kubeconfigYaml', reason: 'the real kube-apiserver serves https only (scheme "http")' });
    return kubeconfigText(this.url, this.caPem, { name: opts.user ?? 'fulcrum-admin', token: opts.token ?? this.adminToken }, opts.namespace);
  }

  async writeKubeconfig(path: string, opts: KubeconfigOptions = {}): Promise<void> {
    await writeFile(path, this.kubeconfigYaml(opts), { mode: 0o600 });
  }

  async serviceAccountToken(namespace: string, name: string, expirationSeconds = 3600): Promise<string> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`;
    const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } };
    const r = await fetchText(`${this.url}${path}`, { method: 'POST', body, caPem: this.caPem, token: this.adminToken });
    if (r.status !== 201) throw new FulcrumError('FUL_ERR_LAB_API', { method: 'POST', path, reason: `${r.status} ${r.text}` });
    return (JSON.parse(r.text) as { status: { token: string } }).status.token;
  }

  async serviceAccountKubeconfig(namespace: string, name: string, kubeconfigNamespace?: string): Promise<string> {
    const user = `system:serviceaccount:${namespace}:${name}`;
    const path = join(this.dir, `${fileSafe(user)}.kubeconfig`);
    const token = await this.serviceAccountToken(namespace, name);
    await this.writeKubeconfig(path, { token, user, ...(kubeconfigNamespace ? { namespace: kubeconfigNamespace } : {}) });
    return path;
  }

  async userKubeconfig(user: string, groups: readonly string[] = []): Promise<string> {
    const file = `user-${fileSafe(user)}${groups.length ? `-${fileSafe(groups.join('+'))}` : ''}`;
    const cert = await this.#pki.issueClient(file, user, groups);
    const path = join(this.dir, `${file}.kubeconfig`);
    await writeFile(path, kubeconfigText(this.url, this.caPem, { name: user, certPem: cert.certPem, keyPem: cert.keyPem }), { mode: 0o600 });
    return path;
  }

  async stopApiServer(): Promise<void> {
    // The listener closes within milliseconds of SIGTERM; the rest of a graceful shutdown is not worth waiting for.
    await this.#started.apiserver?.stop(1000);
  }

  async startApiServer(): Promise<void> {
    if (this.#started.apiserver?.running) return;
    if (!this.#started.startApiserver) throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: 'startApiServer', reason: 'the control plane never started kube-apiserver' });
    await this.#started.startApiserver();
  }

  pauseApiServer(ms: number): void {
    const p = this.#started.apiserver;
    if (!p?.running) return;
    process.kill(p.pid, 'SIGSTOP');
    const timer = setTimeout(() => {
      if (p.running) process.kill(p.pid, 'SIGCONT');
    }, ms);
    timer.unref();
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await stopAll(this.#started);
      if (this.#keepDir) {
        process.stderr.write(`      [k8s-real] kept ${this.dir} (logs, kubeconfigs)\n`);
        return;
      }
      await rm(this.dir, { recursive: true, force: true });
      this.#forgetDir();
    })();
    return this.#stopping;
  }
}
