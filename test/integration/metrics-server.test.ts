import assert from 'node:assert/strict';
import { counter } from '../../src/metrics.js';
import { startMetricsServer, type MetricsServer, type Readiness } from '../../src/metrics-server.js';

async function get(server: MetricsServer, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${server.address.port}${path}`);
  return { status: res.status, text: await res.text() };
}

describe('metrics server: /readyz, /healthz, /metrics on a real socket', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("/readyz follows the program's check: 503 with the reason, then 200 with the detail", async () => {
    let state: Readiness = { ready: false, reason: 'membership: not heard from n2 yet' };
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, ready: () => state });
    assert.deepEqual(await get(server, '/readyz'), { status: 503, text: 'not ready: membership: not heard from n2 yet\n' });
    state = { ready: true, detail: '3 of 3 members alive' };
    assert.deepEqual(await get(server, '/readyz?verbose'), { status: 200, text: 'ok: 3 of 3 members alive\n' });
    state = { ready: true };
    assert.deepEqual(await get(server, '/readyz'), { status: 200, text: 'ok\n' });
  });

  it('/healthz is always ok; /metrics is Prometheus text; anything else is a 404 that names the paths', async () => {
    counter('fulcrum_test_metrics_server_total', 'A counter of this test').inc(3);
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, ready: () => ({ ready: false, reason: 'x' }) });
    assert.deepEqual(await get(server, '/healthz'), { status: 200, text: 'ok\n' });
    const metrics = await get(server, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^fulcrum_test_metrics_server_total 3$/m);
    assert.deepEqual(await get(server, '/nope'), { status: 404, text: 'not found: try /metrics, /healthz or /readyz\n' });
  });
});
