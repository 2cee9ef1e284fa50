import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiServer } from '../../lab/apiserver/index.js';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real kubectl binary with a kubeconfig written by the emulator, in a private HOME (no shared discovery cache). */
export class Kubectl {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly binary: string;

  private constructor(dir: string, binary: string) {
    this.dir = dir;
    this.kubeconfig = join(dir, 'kubeconfig');
    this.binary = binary;
  }

  static async create(api: ApiServer, opts: { token?: string; binary?: string } = {}): Promise<Kubectl> {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-kubectl-'));
    const k = new Kubectl(dir, opts.binary ?? process.env.KUBECTL ?? 'kubectl');
    await api.writeKubeconfig(k.kubeconfig, opts.token ? { token: opts.token } : {});
    return k;
  }

  #env(): NodeJS.ProcessEnv {
    return { ...process.env, KUBECONFIG: this.kubeconfig, HOME: this.dir };
  }

  run(args: readonly string[], input?: string): Promise<KubectlResult> {
    return new Promise((resolve) => {
      const child = execFile(this.binary, [...args], { env: this.#env(), timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** A long-running kubectl (get --watch); stdout lines are collected as they come. */
  spawn(args: readonly string[]): { child: ChildProcess; lines: string[] } {
    const child = spawn(this.binary, [...args], { env: this.#env(), stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    return { child, lines };
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A kubectl 1.32+ binary if one is installed beside the dispatcher (it sends protobuf for imperative creates). */
export function kubectl132(): string | undefined {
  for (const p of ['/usr/lib/google-cloud-sdk/bin/kubectl.1.32', '/usr/lib/google-cloud-sdk/bin/kubectl.1.33']) if (existsSync(p)) return p;
  return undefined;
}
