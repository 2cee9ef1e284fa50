import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { FulcrumError } from '../src/errors.js';

/**
 * Thin adapters over `ip`, `ip netns exec` and child processes. No policy: the topology decides
 * what to build, these run it and report failures with the whole command line.
 */

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; null when killed by a signal (then `signal` is set). */
  readonly code: number | null;
  readonly signal: string | null;
}

export interface ExecOptions {
  /** Kill the command after this long (default 10 s). */
  readonly timeoutMs?: number;
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
}

const DEFAULT_EXEC_TIMEOUT_MS = 10_000;

function commandLine(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs a command to completion and returns its output and status; never throws for a non-zero exit. */
export function execCommand(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          // spawn failure (ENOENT…), not an exit status
          reject(new FulcrumError('FUL_ERR_LAB_COMMAND', { command: commandLine(file, args), reason: err.message }, { cause: err }));
          return;
        }
        const e = err as (Error & { code?: number | null; signal?: string | null }) | null;
        resolve({ stdout, stderr, code: e ? (e.code ?? null) : 0, signal: e ? (e.signal ?? null) : null });
      },
    );
    if (options.input !== undefined) {
      // A command that exits without reading its input (an nft that fails at once) closes the
      // pipe: the write's EPIPE must not become an uncaught error; the exit status says it all.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input);
    }
  });
}

/** Runs a command and throws FUL_ERR_LAB_COMMAND, naming the command and its stderr, unless it exits 0. */
export async function runCommand(file: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const r = await execCommand(file, args, options);
  if (r.code !== 0) {
    const why = r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
    throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: commandLine(file, args), reason: `${why}: ${r.stderr.trim() || r.stdout.trim()}` });
  }
  return r.stdout;
}

/** `ip …` in the root namespace, or in `namespace` (`ip -n`). */
export function ip(args: readonly string[], namespace?: string): Promise<string> {
  return runCommand('ip', namespace ? ['-n', namespace, ...args] : args);
}

/** A command inside a network namespace (`ip netns exec`); throws unless it exits 0. */
export function nsRun(namespace: string, file: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  return runCommand('ip', ['netns', 'exec', namespace, file, ...args], options);
}

/** A command inside a network namespace; returns its status instead of throwing. */
export function nsExec(namespace: string, file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return execCommand('ip', ['netns', 'exec', namespace, file, ...args], options);
}

/** Sets sysctls inside a namespace (`key=value` pairs). */
export function nsSysctl(namespace: string, settings: Readonly<Record<string, string | number>>): Promise<string> {
  return nsRun(namespace, 'sysctl', ['-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}

export async function listNamespaces(): Promise<string[]> {
  const out = await runCommand('ip', ['netns', 'list']);
  return parseNamespaceList(out);
}

export function listNamespacesSync(): string[] {
  return parseNamespaceList(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }));
}

function parseNamespaceList(out: string): string[] {
  // "name (id: 3)" or "name"
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/** Link names in a namespace (root when `namespace` is undefined), without the `@peer` suffix. */
export async function listLinks(namespace?: string): Promise<string[]> {
  const out = await ip(['-j', 'link', 'show'], namespace);
  return (JSON.parse(out || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

export function listRootLinksSync(): string[] {
  const out = execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

/** Pids of every process whose network namespace is `namespace`. */
export async function namespacePids(namespace: string): Promise<number[]> {
  const r = await execCommand('ip', ['netns', 'pids', namespace]);
  if (r.code !== 0) return [];
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * Removes a namespace and everything inside it: SIGKILL to its processes (a process keeps a
 * namespace alive after `ip netns del`), then the namespace, whose links go with it. Idempotent.
 */
export async function deleteNamespace(namespace: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const pids = (await namespacePids(namespace)).filter((p) => p !== process.pid);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitForPidsGone(pids, 2000);
  }
  await execCommand('ip', ['netns', 'delete', namespace]);
}

/** The same, synchronously, for `process.on('exit')`. */
export function deleteNamespaceSync(namespace: string): void {
  try {
    const out = execFileSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const pid of out.split(/\s+/).filter(Boolean).map(Number)) {
      if (pid > 0 && pid !== process.pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  } catch {
    // namespace already gone
  }
  try {
    execFileSync('ip', ['netns', 'delete', namespace], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

async function waitForPidsGone(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pids.every((p) => !pidAlive(p))) return;
    await delay(20);
  }
}

/** Alive and not a zombie (a killed process whose parent has not reaped it is gone for us). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown by a `waitFor` check to give up at once (e.g. the process it waits for has exited). */
export class StopWaiting extends Error {
  readonly reason: unknown;
  constructor(reason: unknown) {
    // A signal inside waitFor, not an error of its own: waitFor throws `reason`, so it has no code.
    super('stop waiting', { cause: reason });
    this.name = 'StopWaiting';
    this.reason = reason;
  }
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined/false, or
 * throws FUL_ERR_LAB_TIMEOUT naming `what` after `timeoutMs`. The last error thrown by `check`
 * is kept as the cause.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof StopWaiting) throw err.reason;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new FulcrumError('FUL_ERR_LAB_TIMEOUT', { timeoutMs, what }, lastError ? { cause: lastError } : undefined);
    }
    await delay(intervalMs);
  }
}

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: string | null;
}

export interface SpawnOptions {
  /** Shown in errors and logs. */
  readonly name?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Also append stdout and stderr to this file. */
  readonly logFile?: string;
  /** Called with every complete line of stdout (not stderr), without the newline. */
  readonly onStdoutLine?: (line: string) => void;
}

const OUTPUT_KEEP_BYTES = 64 * 1024;

/** A long-running process, in a namespace or in the root namespace. */
export class LabProcess {
  readonly name: string;
  readonly namespace: string | undefined;
  readonly pid: number;
  /** Settles when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  #child: ChildProcess;
  #output = '';
  #exit: ProcessExit | undefined;
  #log: WriteStream | undefined;

  constructor(namespace: string | undefined, file: string, args: readonly string[], options: SpawnOptions = {}) {
    this.namespace = namespace;
    this.name = options.name ?? file;
    const [cmd, argv] = namespace ? ['ip', ['netns', 'exec', namespace, file, ...args]] : [file, [...args]];
    this.#log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
    // `ip netns exec` execs the command in place, so the pid is the command's own.
    this.#child = spawn(cmd, argv, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.#child.pid ?? -1;
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (err) => {
        this.#append(`spawn failed: ${err.message}\n`);
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
      });
      this.#child.once('close', (code, signal) => {
        this.#exit = { code, signal };
        this.#log?.end();
        resolve(this.#exit);
      });
    });
    const onLine = options.onStdoutLine;
    let partial = '';
    this.#child.stdout?.on('data', (b: Buffer) => {
      const text = b.toString('utf8');
      this.#append(text);
      if (!onLine) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    this.#child.stderr?.on('data', (b: Buffer) => this.#append(b.toString('utf8')));
  }

  #append(text: string): void {
    this.#output += text;
    if (this.#output.length > OUTPUT_KEEP_BYTES * 2) this.#output = this.#output.slice(-OUTPUT_KEEP_BYTES);
    this.#log?.write(text);
  }

  /** The last 64 KiB or so of stdout and stderr, interleaved. */
  output(): string {
    return this.#output;
  }

  /** Set once the process has exited. */
  exitStatus(): ProcessExit | undefined {
    return this.#exit;
  }

  get running(): boolean {
    return this.#exit === undefined && this.pid > 0;
  }

  /** Sends a signal (SIGSTOP/SIGCONT/SIGKILL for failover tests); a no-op once exited. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // raced with exit
    }
  }

  /** SIGTERM (after SIGCONT, in case it is stopped), then SIGKILL after `graceMs`. Resolves once it has exited. */
  async stop(graceMs = 2000): Promise<ProcessExit> {
    if (!this.running) return this.exited;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits until the output matches `re` (e.g. a "listening" line); throws if the process exits first. */
  async waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return waitFor(`${this.name} to print ${re}`, () => {
      const m = re.exec(this.#output);
      if (m) return m;
      if (this.#exit) {
        const exit = String(this.#exit.signal ?? this.#exit.code);
        throw new StopWaiting(new FulcrumError('FUL_ERR_LAB_PROCESS', { process: this.name, exit, pattern: String(re), output: this.#output.slice(-2000) }));
      }
      return undefined;
    }, timeoutMs);
  }
}
