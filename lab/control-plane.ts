import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_IPV4 } from './addressing.js';
import { startApiServer, type ApiServer, type KubeconfigOptions } from './apiserver/index.js';
import { killProcessesMentioning } from './leftovers.js';
import { startRealControlPlane } from './real-control-plane.js';

/**
 * The lab's control plane, of either kind: the in-process API emulator (the default: no Go, no
 * binaries) or the real etcd + kube-apiserver + kube-controller-manager built from source
 * (`--apiserver real`). Either listens on the lab host address, which the node namespaces reach
 * over the host link. This is what the lab needs of it, whichever it is.
 */

export type ApiServerKind = 'emulator' | 'real';
export const API_SERVER_KINDS: readonly ApiServerKind[] = ['emulator', 'real'];

export interface LabControlPlane {
  readonly kind: ApiServerKind;
  /** What the lab's own requests and every kubeconfig point at. */
  readonly url: string;
  readonly adminToken: string;
  /** The CA of the serving certificate when the lab should verify it (the real server). */
  readonly caPem: string | undefined;
  /** For the progress line: what runs, where. */
  readonly description: string;
  /** The emulator itself (faults, request counts); undefined on the real server. */
  readonly emulator: ApiServer | undefined;
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<void>;
  /** A token of the ServiceAccount (which must exist on the real server: TokenRequest). */
  serviceAccountToken(namespace: string, name: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * How long the components' tokens last on the real server: as long as its certificates (two
 * days, lab/real-control-plane-pki.ts), since a lab outliving them fails anyway.
 */
const REAL_TOKEN_SECONDS = 2 * 24 * 3600;
/** The real control plane's directory (PKI, etcd data, logs) is made in the lab's state directory under this prefix. */
const REAL_DIR_PREFIX = 'fulcrum-k8s-real-';

/** Starts the control plane of a lab whose state directory is `stateDir`, first removing what a killed lab left there. */
export async function startLabControlPlane(kind: ApiServerKind, stateDir: string): Promise<LabControlPlane> {
  removeRealLeftovers(stateDir); // whichever kind runs now: the last one may have been real
  if (kind === 'emulator') return emulatorPlane(await startApiServer({ host: HOST_IPV4, port: 0 }));
  const real = await startRealControlPlane({ host: HOST_IPV4, parentDir: stateDir });
  return {
    kind,
    url: real.url,
    adminToken: real.adminToken,
    caPem: real.caPem,
    description: `kube-apiserver ${real.version} on ${real.url} (etcd, kube-controller-manager beside it; logs in ${real.dir})`,
    emulator: undefined,
    writeKubeconfig: (path, opts) => real.writeKubeconfig(path, opts),
    serviceAccountToken: (namespace, name) => real.serviceAccountToken(namespace, name, REAL_TOKEN_SECONDS),
    stop: () => real.stop(),
  };
}

function emulatorPlane(api: ApiServer): LabControlPlane {
  return {
    kind: 'emulator',
    url: api.url,
    adminToken: api.adminToken,
    caPem: undefined,
    description: `the API emulator on ${api.url} (in this process)`,
    emulator: api,
    writeKubeconfig: (path, opts) => api.writeKubeconfig(path, opts),
    serviceAccountToken: (namespace, name) => Promise.resolve(api.serviceAccountToken(namespace, name)),
    stop: () => api.stop(),
  };
}

/**
 * What a lab killed with SIGKILL left of its real control plane in its state directory: the
 * processes run in process groups of their own, so they outlive it. Each names its directory in
 * its arguments (--data-dir, --cert-dir, --kubeconfig), which is how they are found; then the
 * directory goes (one kept with FULCRUM_K8S_KEEP=1 too).
 */
function removeRealLeftovers(stateDir: string): void {
  let dirs: string[];
  try {
    dirs = readdirSync(stateDir).filter((d) => d.startsWith(REAL_DIR_PREFIX)).map((d) => join(stateDir, d));
  } catch {
    return; // no state directory yet
  }
  killProcessesMentioning(dirs.map((d) => `${d}/`));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
