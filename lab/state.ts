import { rename, rm, writeFile } from 'node:fs/promises';

/**
 * `.lab/state.json`: what a running lab is, for scripts and tests. Written whole, atomically
 * (temporary file + rename), at every phase change and whenever the Services change.
 */

export type LabPhase = 'starting' | 'ready' | 'stopping';

export interface LabStateNode {
  readonly name: string;
  readonly namespace: string;
  readonly addresses: readonly string[];
  readonly mac: string;
}

export interface LabStateService {
  readonly namespace: string;
  readonly name: string;
  readonly addresses: readonly string[];
  readonly ports: readonly { port: number; protocol: string }[];
  /** Node whose MAC the client last resolved the first address to; null when not seen. */
  readonly owner: string | null;
}

export interface LabState {
  readonly phase: LabPhase;
  readonly prefix: string;
  readonly clientNamespace: string;
  /** Admin kubeconfig, for kubectl. */
  readonly kubeconfig: string;
  readonly apiServer: string;
  /** `emulator` (in the lab's process) or `real` (kube-apiserver built from source: fulcrum lab --apiserver real). */
  readonly apiServerKind: 'emulator' | 'real';
  readonly nodes: readonly LabStateNode[];
  readonly services: readonly LabStateService[];
  /** Process ids of the lab's Fulcrum programs, by name (allocator, speaker <node>). */
  readonly components: Readonly<Record<string, { pid: number; status: string }>>;
  readonly updatedAt: string;
}

export async function writeState(path: string, state: Omit<LabState, 'updatedAt'>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2) + '\n');
  await rename(tmp, path);
}

export async function removeState(path: string): Promise<void> {
  await rm(path, { force: true });
}
