import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { FulcrumError } from '../src/errors.js';
import { StopWaiting, waitFor } from './netns.js';

/**
 * The processes of a real control plane (lab/real-control-plane.ts): each runs in a process group
 * of its own with its output in a log file, is waited for by polling an HTTP endpoint under a
 * deadline, and is killed with its whole group on stop() or, failing that, when Node exits.
 */

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: string | null;
}

// Every process group still running, killed synchronously if Node exits before stop() ran.
const liveGroups = new Set<number>();
let exitHookInstalled = false;
const cleanups = new Set<() => void>();

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // the group is gone already
  }
}

function onSignal(sig: NodeJS.Signals): void {
  // Another listener (`fulcrum lab`'s Ctrl-C) owns the shutdown: it stops the programs while the
  // apiserver still answers, then the control plane; the exit hook is the backstop.
  if (process.listenerCount(sig) > 1) return;
  runExitCleanups();
  // Ours was the only listener: Node's default (exit) applies.
  process.removeAllListeners(sig);
  process.kill(process.pid, sig);
}

function runExitCleanups(): void {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  liveGroups.clear();
  for (const c of cleanups) c();
  cleanups.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', runExitCleanups);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
}

/** Removes `dir` if Node exits while the control plane is still up; returns the unregister function. */
export function removeOnExit(dir: string): () => void {
  installExitHook();
  const c = (): void => rmSync(dir, { recursive: true, force: true });
  cleanups.add(c);
  return () => {
    cleanups.delete(c);
  };
}

/** One control-plane process: stdout and stderr go to `logFile`. */
export class ControlPlaneProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<ProcessExit>;
  #exit: ProcessExit | undefined;

  constructor(name: string, binary: string, args: readonly string[], logFile: string) {
    installExitHook();
    this.name = name;
    this.logFile = logFile;
    const fd = openSync(logFile, 'a');
    // detached: a process group of its own, so stop() reaches anything it forks.
    const child = spawn(binary, [...args], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.pid = child.pid ?? -1;
    if (this.pid > 0) liveGroups.add(this.pid);
    // Not ref'd: a test that forgets stop() must not keep Node alive; the exit hook kills the group.
    child.unref();
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.#exit ??= { code: null, signal: `spawn failed: ${err.message}` };
        liveGroups.delete(this.pid);
        resolve(this.#exit);
      });
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        liveGroups.delete(this.pid);
        resolve(this.#exit);
      });
    });
  }

  get running(): boolean {
    return this.#exit === undefined && this.pid > 0;
  }

  /** The last `bytes` of the log, for error messages. */
  logTail(bytes = 4000): string {
    try {
      const text = readFileSync(this.logFile, 'utf8');
      return text.length > bytes ? `…${text.slice(-bytes)}` : text;
    } catch {
      return '';
    }
  }

  /** Throws (through waitFor) once the process has exited: nothing left to wait for. */
  assertRunning(waitingFor: string): void {
    const exit = this.#exit;
    if (exit === undefined) return;
    throw new StopWaiting(
      new FulcrumError('FUL_ERR_LAB_PROCESS', { process: this.name, exit: exit.signal ?? `code ${exit.code}`, pattern: waitingFor, output: `(log ${this.logFile})\n${this.logTail()}` }),
    );
  }

  /** Polls `check` until it returns true, failing early if the process exits, else after `timeoutMs`. */
  async waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    await waitFor(
      `${this.name}: ${what}`,
      async () => {
        this.assertRunning(what);
        return check();
      },
      timeoutMs,
      250, // each check is an HTTP request: four a second is plenty next to a start of seconds
    );
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.pid <= 0) return;
    if (this.running) {
      killGroup(this.pid, 'SIGTERM');
      killGroup(this.pid, 'SIGCONT'); // a process frozen by a test (SIGSTOP) handles SIGTERM only once continued
      const timer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // Whatever the leader forked and left behind in its group.
    killGroup(this.pid, 'SIGKILL');
    liveGroups.delete(this.pid);
  }
}

/** `n` distinct free TCP ports on `host` (all held open at once, then released). */
export async function freePorts(host: string, n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, host, () => resolve());
      });
    }
    return servers.map((s) => {
      const a = s.address();
      if (a === null || typeof a === 'string') throw new Error(`freePorts: no TCP address for a listener on ${host}`);
      return a.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

export interface HttpReply {
  readonly status: number;
  readonly text: string;
}

export interface HttpOptions {
  readonly method?: string;
  readonly body?: unknown;
  readonly token?: string;
  /** https: the CA to trust; absent: any certificate (only for components' self-signed health ports). */
  readonly caPem?: string;
  readonly timeoutMs?: number;
}

/** One small HTTP(S) request answered whole; rejects on transport errors and after `timeoutMs`. */
export function fetchText(url: string, opts: HttpOptions = {}): Promise<HttpReply> {
  const u = new URL(url);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  if (payload) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(payload.length);
  }
  const tls = u.protocol === 'https:' ? (opts.caPem ? { ca: opts.caPem } : { rejectUnauthorized: false }) : {};
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(u, { method: opts.method ?? 'GET', headers, timeout: opts.timeoutMs ?? 10_000, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no answer within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}
