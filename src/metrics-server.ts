import http from 'node:http';
import { registry } from './metrics.js';

/**
 * The small HTTP endpoint every long-running program exposes: `/metrics` (Prometheus text),
 * `/healthz` (the process is alive) and `/readyz` (the program's own readiness check, e.g.
 * "informers synced"). Listening on port 0 picks a free port; `address` tells which.
 */
export interface MetricsServer {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export type Readiness = { ready: true; detail?: string } | { ready: false; reason: string };

export interface MetricsServerOptions {
  host: string;
  port: number;
  /** `/readyz` answers 200 ("ok", or "ok: " and the detail) when this returns `{ ready: true }`, else 503 with the reason. */
  ready?: () => Readiness;
  /** More pages (the stats page, speaker/stats/http.ts): answers the request and returns true, or returns false. */
  pages?: (path: string, res: http.ServerResponse) => boolean;
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`collecting metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
        },
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const r: Readiness = opts.ready ? opts.ready() : { ready: true };
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(r.ready ? `ok${r.detail ? `: ${r.detail}` : ''}\n` : `not ready: ${r.reason}\n`);
      return;
    }
    if (opts.pages?.(path, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    address: { host: opts.host, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
