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

/** A Fulcrum program of the lab: its pid, status and restarts (lab/supervisor.ts). */
export interface LabStateComponent {
  readonly pid: number;
  /** "running", or how it ended: "exited SIGKILL", "exited 1: <last line>". */
  readonly status: string;
  /** Restarts so far (0 with --no-restart or from code without `restart`). */
  readonly restarts: number;
  /** The last exit ("killed by SIGKILL", "exited 1") and when; null before any. */
  readonly lastExit: string | null;
  readonly lastExitAt: string | null;
  /** When the pending restart is due (back-off), else null. */
  readonly nextRestartAt: string | null;
  /** The delay of the pending or last restart in ms; null before the first. */
  readonly backOffMs: number | null;
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
  /** The lab's Fulcrum programs, by name (allocator, speaker <node>). */
  readonly components: Readonly<Record<string, LabStateComponent>>;
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
