import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { registry } from '../../src/metrics.js';
import { waitFor } from '../helpers/wait.js';
import { backend, collect, endpoint, frontend, model, Resources, whoAnswers } from './proxy-harness.js';

/**
 * A listener that never accepts, with a backlog of 0: once one connection waits in its queue,
 * the kernel drops further SYNs, so a connect to it hangs (a "blackholed" endpoint on loopback).
 * Python, because node always accepts.
 */
async function blackhole(res: Resources): Promise<number> {
  const child: ChildProcess = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  res.add(() => void child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
  });
  // Fill the accept queue so the next SYN is dropped.
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    res.add(() => void s.destroy());
  }
  await waitFor('the accept queue to fill', async () => {
    const probe = net.connect(port, '127.0.0.1');
    probe.on('error', () => undefined);
    const connected = await Promise.race([new Promise((r) => probe.once('connect', () => r(true))), new Promise((r) => setTimeout(() => r(false), 200))]);
    probe.destroy();
    return !connected;
  });
  return port;
}

describe('proxy connect timeouts and metrics', () => {
  const res = new Resources();
  afterEach(() => res.closeAll());

  it('a connect that hangs times out after connectMs and is retried on another endpoint', async function () {
    this.timeout(15_000);
    const hole = await blackhole(res);
    const live = await res.namedServer('live');
    const engine = res.engine();
    await engine.apply(model([frontend('t', { timeouts: { connectMs: 300, idleMs: 60_000 } })], [backend('t', [endpoint(hole), endpoint(live.port)])]));
    assert.equal(await whoAnswers(engine.frontendPort('t')!), 'live', 'roundrobin tries the blackhole first, then the live endpoint');
    const ep = engine.pool('t')!.endpoints.find((e) => e.port === hole)!;
    assert.equal(ep.errors.connectTimeout, 1);
    assert.equal(ep.activeConnections, 0, 'the abandoned attempt is not counted as open');
  });

  it('the Prometheus registry shows connections, bytes, rejections, endpoint state and connect latency', async () => {
    const echo = await res.server();
    const engine = res.engine();
    await engine.apply(model([frontend('m', { sourceRanges: ['127.0.0.1/32'] })], [backend('m', [endpoint(echo.port)])]));
    const port = engine.frontendPort('m')!;
    const c = await res.connect(port);
    const done = collect(c);
    c.end('abcd');
    await done;
    assert.equal(await whoAnswers(port, '127.0.0.7'), undefined);
    const text = await registry.metrics();
    const line = (re: RegExp): string | undefined => text.split('\n').find((l) => re.test(l));
    assert.match(line(/^fulcrum_proxy_frontend_connections_total\{frontend="m"/) ?? '', / 2$/);
    assert.match(line(/^fulcrum_proxy_frontend_bytes_total\{frontend="m",direction="in"\}/) ?? '', / 4$/);
    assert.match(line(/^fulcrum_proxy_frontend_rejected_total\{frontend="m",reason="sourceRange"\}/) ?? '', / 1$/);
    assert.match(line(new RegExp(`^fulcrum_proxy_endpoint_up\\{backend="m",endpoint="127.0.0.1:${echo.port}",state="up"\\}`)) ?? '', / 1$/);
    assert.match(line(/^fulcrum_proxy_connect_seconds_count\{backend="m"\}/) ?? '', / 1$/);
    assert.match(line(/^fulcrum_proxy_frontend_changes_total\{kind="added"\}/) ?? '', / \d+$/);
  });
});
