import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execCommand } from './netns.js';
import { FulcrumError } from '../src/errors.js';

/**
 * Where the real control plane's binaries are (lab/real-control-plane.ts): built from source by
 * test/k8s-real/build.sh, which caches them by version, or given in FULCRUM_K8S_BIN.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BUILD_SCRIPT = join(REPO, 'test/k8s-real/build.sh');
/** The build command, as the README gives it (run from the repository). */
export const BUILD_COMMAND = 'bash test/k8s-real/build.sh';
const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager'] as const;

/**
 * The directory of up-to-date binaries: FULCRUM_K8S_BIN when set (it must hold all three), else
 * what `build.sh --check` prints. Otherwise FUL_ERR_LAB_COMMAND naming the build command.
 */
export async function realControlPlaneBinDir(): Promise<string> {
  const fromEnv = process.env.FULCRUM_K8S_BIN;
  if (fromEnv) {
    const missing = BINARIES.filter((b) => !isExecutable(join(fromEnv, b)));
    if (missing.length === 0) return fromEnv;
    throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: `FULCRUM_K8S_BIN=${fromEnv}`, reason: `no executable ${missing.join(', ')} there (unset it to use \`${BUILD_COMMAND}\`)` });
  }
  const howToBuild = `build them with \`${BUILD_COMMAND}\` from the repository (Go >= 1.26; about 11 min on 2 cores the first time, 0.1 s once built), or set FULCRUM_K8S_BIN to a directory holding ${BINARIES.join(', ')}`;
  if (!existsSync(BUILD_SCRIPT)) {
    throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: 'the real control plane', reason: `${BUILD_SCRIPT} is not here (an installed package has no Go module): ${howToBuild}` });
  }
  const r = await execCommand('bash', [BUILD_SCRIPT, '--check'], { timeoutMs: 30_000 });
  const dir = r.stdout.trim();
  if (r.code !== 0 || dir === '') {
    throw new FulcrumError('FUL_ERR_LAB_COMMAND', {
      command: `bash ${BUILD_SCRIPT} --check`,
      reason: `etcd, kube-apiserver and kube-controller-manager are not built for this go.mod: ${howToBuild}${r.stderr ? ` (${r.stderr.trim()})` : ''}`,
    });
  }
  return dir;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
