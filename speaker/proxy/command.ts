/**
 * `fulcrum proxy --config FILE.yaml`: the data plane standalone. Prints `fulcrum proxy: ready`
 * on stdout once every listener is bound (the bench harness waits for that line), reloads the
 * file as a diff on SIGHUP (a bad file is reported and the running config kept), drains and
 * exits 0 on SIGTERM/SIGINT. With `workers: N > 1`, N worker processes share the listeners.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { applyLogLevelFlag, durationFlag, EXIT_FAILURE, EXIT_OK, listenFlag, parseCommandArgs, type Command } from '../../src/command.js';
import { errorMessage } from '../../src/errors.js';
import { componentLogger } from '../../src/log.js';
import { collectProcessMetrics } from '../../src/metrics.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics-server.js';
import { proxyStatsSource, statsPages } from '../stats/http.js';
import { ProxyEngine } from './engine.js';
import { parseProxyFile, type ParsedProxyFile } from './file.js';
import { isWorkerProcess, runPrimary } from './workers.js';

const USAGE = `Usage: fulcrum proxy --config FILE.yaml [options]

Run the data plane (TCP, UDP, HTTP, TLS) standalone from a declarative YAML file of frontends
and backends (format: speaker/proxy/README.md; certificate files are relative to it). Prints
"fulcrum proxy: ready" once every listener is bound. SIGHUP reloads the file and the files it
names as a diff (open connections are kept); SIGTERM drains and exits 0.

Options:
  --config FILE          the frontends and backends (required)
  --log-level L          trace|debug|info|warn|error|fatal|silent (default: $FULCRUM_LOG_LEVEL or info)
  --metrics HOST:PORT    serve /metrics, /healthz, /readyz and the stats page /stats there
  --drain-timeout D      how long removed frontends (and SIGTERM) let connections finish (default 30s)
  -h, --help             this text

Exit codes: 0 stopped cleanly, 1 invalid file or a listener could not bind, 2 usage error.
`;

/**
 * The file and every file it names (certificates, keys, CAs: paths relative to the file's
 * folder), read afresh on each load, so a SIGHUP after a certificate was replaced applies it.
 */
function readConfig(path: string): ParsedProxyFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { kind: 'invalid', problems: [`reading ${path}: ${errorMessage(err)}`] };
  }
  const folder = dirname(resolve(path));
  return parseProxyFile(text, {
    readFile: (file) => {
      const full = resolve(folder, file);
      try {
        return { kind: 'ok', text: readFileSync(full, 'utf8') };
      } catch (err) {
        return { kind: 'error', message: `reading ${full}: ${errorMessage(err)}` };
      }
    },
  });
}

export const command: Command = {
  name: 'proxy',
  summary: 'run the data plane standalone from a declarative YAML file',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values } = parseCommandArgs(argv, {
      config: { type: 'string' },
      'log-level': { type: 'string' },
      metrics: { type: 'string' },
      'drain-timeout': { type: 'string' },
    });
    applyLogLevelFlag(values['log-level']);
    const configPath = values.config;
    if (configPath === undefined) {
      const { UsageError } = await import('../../src/errors.js');
      throw new UsageError('--config FILE is required');
    }
    const drainTimeoutMs = durationFlag('drain-timeout', values['drain-timeout'], 30_000);
    const metricsListen = values.metrics === undefined ? undefined : listenFlag('metrics', values.metrics, { host: '127.0.0.1', port: 0 });
    const parsed = readConfig(configPath);
    if (parsed.kind === 'invalid') {
      for (const p of parsed.problems) process.stderr.write(`fulcrum proxy: ${configPath}: ${p}\n`);
      return EXIT_FAILURE;
    }
    if (parsed.model.workers > 1 && !isWorkerProcess()) {
      return runPrimary({ workers: parsed.model.workers, argv, configPath, readConfig, metricsListen, drainTimeoutMs });
    }
    return runEngine(configPath, parsed.model, metricsListen, drainTimeoutMs);
  },
};

async function runEngine(configPath: string, model: Parameters<ProxyEngine['apply']>[0], metricsListen: { host: string; port: number } | undefined, drainTimeoutMs: number): Promise<number> {
  const log = componentLogger('proxy', isWorkerProcess() ? { worker: process.pid } : {});
  const engine = new ProxyEngine({ log, drainTimeoutMs });
  const first = await engine.apply(model);
  if (first.kind === 'applied' && first.failed.length > 0) {
    for (const f of first.failed) process.stderr.write(`fulcrum proxy: ${f.error.message} (${f.error.code})\n`);
    await engine.stop({ drainTimeoutMs: 0 });
    return EXIT_FAILURE;
  }
  let metrics: MetricsServer | undefined;
  // The model last applied, for the stats page (/stats on the metrics port).
  let applied = model;
  if (metricsListen !== undefined) {
    collectProcessMetrics();
    metrics = await startMetricsServer({ host: metricsListen.host, port: metricsListen.port, pages: statsPages(proxyStatsSource(engine, () => applied)) });
  }
  if (isWorkerProcess()) process.send?.({ kind: 'ready' });
  else process.stdout.write('fulcrum proxy: ready\n');
  log.info({ event: 'ready', frontends: model.frontends.length, backends: model.backends.length, metrics: metrics?.address ?? null });

  const onHup = (): void => {
    const parsed = readConfig(configPath);
    if (parsed.kind === 'invalid') {
      for (const p of parsed.problems) process.stderr.write(`fulcrum proxy: reload: ${configPath}: ${p}\n`);
      log.error({ event: 'reloadRejected', problems: parsed.problems.length });
      return;
    }
    engine.apply(parsed.model).then(
      (r) => {
        applied = parsed.model;
        if (r.kind === 'unchanged') log.info({ event: 'reloadUnchanged' });
        else log.info({ event: 'reloaded', keep: r.plan.keep.length, add: r.plan.add.length, update: r.plan.update.length, drain: r.plan.drain.length, failed: r.failed.length });
        for (const f of r.kind === 'applied' ? r.failed : []) process.stderr.write(`fulcrum proxy: reload: ${f.error.message} (${f.error.code})\n`);
        if (isWorkerProcess()) process.send?.({ kind: 'reloaded' });
      },
      (err: unknown) => log.error({ event: 'reloadFailed', err }),
    );
  };
  process.on('SIGHUP', onHup);
  if (isWorkerProcess()) process.on('message', (m: { kind?: string }) => m?.kind === 'reload' && onHup());

  await new Promise<void>((resolve) => {
    const onStop = (): void => resolve();
    process.once('SIGTERM', onStop);
    process.once('SIGINT', onStop);
    if (isWorkerProcess()) process.on('message', (m: { kind?: string }) => m?.kind === 'stop' && onStop());
  });
  log.info({ event: 'stopping', drainTimeoutMs });
  await engine.stop({ drainTimeoutMs });
  await metrics?.close();
  process.removeListener('SIGHUP', onHup);
  // A worker's IPC channel would keep it alive; closing it lets the process end (and the primary see it).
  if (isWorkerProcess()) process.disconnect?.();
  return EXIT_OK;
}
