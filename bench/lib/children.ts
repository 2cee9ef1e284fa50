// Every process the benchmark starts goes through here, so that all of them are killed on
// normal exit, on error and on Ctrl-C, and none outlives the harness by more than its cap.
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { FulcrumError } from '../../src/errors.js';

export interface Spawned {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr), capped to the last 64 KiB. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

export interface SpawnOptions {
  /** CPU list for `taskset -c` (e.g. "0", "1", "0-1"); inherited by threads and worker processes. */
  cpus?: string;
  /**
   * Hard cap on the lifetime, enforced by coreutils `timeout` on the whole process group, so a
   * server still dies if the harness itself is killed with SIGKILL and cannot clean up.
   */
  maxSeconds: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Network namespace to run in (`ip netns exec`, inside `taskset`, so the pinning holds). */
  netns?: string;
}

const OUTPUT_CAP = 64 * 1024;
const live = new Set<Spawned>();
let hooked = false;

/** Kills a process group at once (the group leader is `timeout`, which took its own group). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Signals the group leader (`timeout`) alone; falls back to the group if that fails. */
function signalLeader(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    killGroup(child, signal);
  }
}

/** Synchronous last resort, for process 'exit' where nothing asynchronous runs any more. */
export function killAllNow(): void {
  for (const s of live) killGroup(s.child, 'SIGKILL');
  live.clear();
}

const exitHooks: Array<() => void> = [];
/** Synchronous cleanups run at exit and on signals after the children are killed (nft tables). */
export function onCleanup(fn: () => void): void {
  exitHooks.push(fn);
}

function runCleanups(): void {
  killAllNow();
  while (exitHooks.length > 0) {
    try {
      exitHooks.pop()!();
    } catch {
      // best effort: the remaining cleanups still run
    }
  }
}

function hookProcess(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', runCleanups);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
      runCleanups();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/**
 * Starts `command args` under `timeout` (own process group, lifetime cap) and `taskset`.
 * The process is tracked until it exits; stop() or killAllNow() end it with its whole group.
 */
export function start(name: string, command: string, args: readonly string[], opts: SpawnOptions): Spawned {
  hookProcess();
  const inNs = opts.netns === undefined ? [command, ...args] : ['ip', 'netns', 'exec', opts.netns, command, ...args];
  const pinned = opts.cpus === undefined ? inNs : ['taskset', '-c', opts.cpus, ...inNs];
  // timeout -k 3: SIGTERM at the cap, SIGKILL 3 s later if the group ignores it.
  const child = spawn('timeout', ['-k', '3', String(Math.ceil(opts.maxSeconds)), ...pinned], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // Ctrl-C goes to the harness only; it then stops every group itself
  });
  let buffered = '';
  const append = (chunk: Buffer): void => {
    buffered += chunk.toString('utf8');
    if (buffered.length > OUTPUT_CAP) buffered = buffered.slice(-OUTPUT_CAP);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (err) => {
      append(Buffer.from(`spawn error: ${err.message}\n`));
      resolve('spawn-error');
    });
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const spawned: Spawned = { name, child, output: () => buffered, exited };
  live.add(spawned);
  void exited.then(() => live.delete(spawned));
  return spawned;
}

/**
 * SIGTERM, SIGKILL to the group after `graceMs`; resolves once it has exited. The SIGTERM goes
 * to `timeout` only: it relays it to its whole group by itself, so a signal sent to the group as
 * well would arrive twice, and a Node process whose handler is `once('SIGTERM')` dies of the
 * second one before it exits by itself (losing, for example, its `--cpu-prof` profile).
 */
export async function stop(s: Spawned, graceMs = 3000): Promise<void> {
  signalLeader(s.child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(s.child, 'SIGKILL'), graceMs);
  await s.exited;
  clearTimeout(timer);
  live.delete(s);
}

/** Runs a bounded command to completion; rejects with its output when it fails. */
export async function runToEnd(name: string, command: string, args: readonly string[], opts: SpawnOptions): Promise<string> {
  const s = start(name, command, args, opts);
  const code = await s.exited;
  if (code !== 0) {
    throw new FulcrumError('FUL_ERR_BENCH_CHILD', { child: name, reason: `exited with ${code}: ${s.output().slice(-2000)}` });
  }
  return s.output();
}

/** Resolves once `pattern` appears in the process's output; rejects if it exits or time runs out. */
export async function waitForOutput(s: Spawned, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void s.exited.then(() => (exited = true));
  while (!pattern.test(s.output())) {
    if (exited) throw new FulcrumError('FUL_ERR_BENCH_CHILD', { child: s.name, reason: `exited before printing ${pattern}: ${s.output().slice(-2000)}` });
    if (Date.now() > deadline) throw new FulcrumError('FUL_ERR_BENCH_CHILD', { child: s.name, reason: `did not print ${pattern} within ${timeoutMs} ms: ${s.output().slice(-2000)}` });
    await sleep(20);
  }
}

/** Resolves once a TCP connection to host:port succeeds. */
export async function waitForPort(host: string, port: number, timeoutMs: number, s?: Spawned): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host, port });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (s && s.child.exitCode !== null) throw new FulcrumError('FUL_ERR_BENCH_CHILD', { child: s.name, reason: `exited: ${s.output().slice(-2000)}` });
    if (Date.now() > deadline) {
      const reason = `is not listening on ${host}:${port} after ${timeoutMs} ms${s ? `: ${s.output().slice(-2000)}` : ''}`;
      throw new FulcrumError('FUL_ERR_BENCH_CHILD', { child: s?.name ?? 'the server', reason });
    }
    await sleep(50);
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the kernel's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Ports free a moment ago, none given twice (a UDP user may reuse a number free for TCP). */
export function distinctPorts(): () => Promise<number> {
  const taken = new Set<number>();
  return async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
