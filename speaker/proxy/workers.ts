/**
 * `workers: N > 1`: N worker processes (node:cluster) run the same engine on shared listening
 * sockets. The scheduling policy is `none`: every worker accepts on the shared socket itself and
 * the kernel spreads the connections (the default round-robin would have the primary accept
 * every connection and pass it on over IPC, which costs more than it saves on 2 cores).
 * The primary proxies nothing: it forks, prints `ready` once every worker is, replaces a worker
 * that dies, passes SIGHUP on as a reload, and on SIGTERM tells each worker to drain and waits.
 * UDP: the workers share the VIP socket, so each datagram goes to one worker and a client's
 * flow may be split across workers (each keeps its own flow table).
 */
import cluster, { type Worker } from 'node:cluster';
import { EXIT_FAILURE, EXIT_OK } from '../../src/command.js';
import { componentLogger } from '../../src/log.js';
import type { ParsedProxyFile } from './file.js';

export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}

export interface PrimaryOptions {
  workers: number;
  argv: string[];
  configPath: string;
  readConfig: (path: string) => ParsedProxyFile;
  metricsListen: { host: string; port: number } | undefined;
  drainTimeoutMs: number;
}

export async function runPrimary(opts: PrimaryOptions): Promise<number> {
  const log = componentLogger('proxy', { role: 'primary' });
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // Workers do not serve metrics (they would fight over the port); the primary has none either.
  const argv = dropFlag(opts.argv, '--metrics');
  cluster.setupPrimary({ args: ['proxy', ...argv] });
  const workers = new Set<Worker>();
  let stopping = false;
  let started = false;
  let readyCount = 0;
  let signalReady: (ok: boolean) => void = () => undefined;
  const ready = new Promise<boolean>((resolve) => (signalReady = resolve));
  const fork = (): void => {
    const w = cluster.fork();
    workers.add(w);
    w.on('message', (m: { kind?: string }) => {
      if (m?.kind === 'ready' && !started && ++readyCount === opts.workers) signalReady(true);
    });
    w.on('exit', (code, signal) => {
      workers.delete(w);
      if (stopping) return;
      log.error({ event: 'workerExited', pid: w.process.pid, code, signal });
      // Before ready, a dying worker means the config cannot run: give up. After, replace it.
      if (!started) signalReady(false);
      else fork();
    });
  };
  for (let i = 0; i < opts.workers; i++) fork();
  if (!(await ready)) {
    stopping = true;
    for (const w of workers) w.process.kill('SIGKILL');
    return EXIT_FAILURE;
  }
  started = true;
  process.stdout.write('fulcrum proxy: ready\n');
  const onHup = (): void => {
    const parsed = opts.readConfig(opts.configPath);
    if (parsed.kind === 'invalid') {
      for (const p of parsed.problems) process.stderr.write(`fulcrum proxy: reload: ${opts.configPath}: ${p}\n`);
      return;
    }
    for (const w of workers) w.send({ kind: 'reload' });
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  stopping = true;
  process.removeListener('SIGHUP', onHup);
  await Promise.all(
    [...workers].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
          w.send({ kind: 'stop' });
        }),
    ),
  );
  return EXIT_OK;
}

function dropFlag(argv: string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag) {
      i++;
      continue;
    }
    if (argv[i]!.startsWith(`${flag}=`)) continue;
    out.push(argv[i]!);
  }
  return out;
}
