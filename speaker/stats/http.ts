/**
 * The stats page's adapter: `GET /stats` (HTML) and `GET /stats.json` on the program's metrics
 * server (src/metrics-server.ts `pages`). Per request it reads the program's source (the model
 * applied, ownership) and the data plane's series from the Prometheus registry (their `collect`
 * hooks run, as for a scrape), then calls the pure builder and renderer. Nothing is counted for
 * the page: the hot path is untouched.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { errorMessage } from '../../src/errors.js';
import { registry } from '../../src/metrics.js';
import type { ProxyEngine } from '../proxy/engine.js';
import type { ProxyModel } from '../proxy/model.js';
import { renderStatsPage, STATS_SCRIPT } from './render.js';
import { STATS_METRICS, statsSnapshot, type MetricSample, type StatsInput, type StatsSnapshot } from './snapshot.js';

/** What a program knows besides the metrics. */
export interface StatsSource {
  read(): Omit<StatsInput, 'metrics' | 'nowMs'>;
}

/**
 * Only the page's own script may run (by hash, so an escaping mistake still cannot run a
 * script from the API), it may fetch only from this server, and nothing is loaded from elsewhere.
 */
export const STATS_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(STATS_SCRIPT).digest('base64')}'`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The series the snapshot reads, by name (a metric not registered in this process has none). */
export async function readStatsMetrics(): Promise<Map<string, MetricSample[]>> {
  const out = new Map<string, MetricSample[]>();
  for (const name of STATS_METRICS) {
    const metric = registry.getSingleMetric(name);
    if (metric === undefined) continue;
    const { values } = await metric.get();
    out.set(name, values.map((v) => ({ labels: v.labels as Record<string, string | number>, value: v.value })));
  }
  return out;
}

export async function readStatsSnapshot(source: StatsSource, now: () => number = Date.now): Promise<StatsSnapshot> {
  const metrics = await readStatsMetrics();
  return statsSnapshot({ ...source.read(), nowMs: now(), metrics });
}

const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

/** The metrics server's extra pages: answers `/stats` and `/stats.json` and returns true, or returns false. */
export function statsPages(source: StatsSource): (path: string, res: ServerResponse) => boolean {
  return (path, res) => {
    if (path !== '/stats' && path !== '/stats.json') return false;
    readStatsSnapshot(source).then(
      (s) => {
        if (path === '/stats.json') {
          res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(s));
        } else {
          res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': STATS_CSP });
          res.end(renderStatsPage(s));
        }
      },
      (err: unknown) => {
        res.writeHead(500, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
        res.end(`building the stats page failed: ${errorMessage(err)}\n`);
      },
    );
    return true;
  };
}

/** `fulcrum proxy`: the model it last applied, and the port each frontend is bound to (a missing one failed to bind). */
export function proxyStatsSource(engine: ProxyEngine, model: () => ProxyModel, startedMs: number = Date.now()): StatsSource {
  return {
    read: () => {
      const m = model();
      const boundPorts = new Map<string, number>();
      for (const f of m.frontends) {
        const port = engine.frontendPort(f.name);
        if (port !== undefined) boundPorts.set(f.name, port);
      }
      return { program: 'proxy', startedMs, model: m, boundPorts };
    },
  };
}
