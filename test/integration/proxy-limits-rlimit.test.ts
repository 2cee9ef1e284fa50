// The proxy as its own process under a small descriptor limit (bash `ulimit -n`, which Node
// cannot raise): the default maxconn is derived from RLIMIT_NOFILE and keeps it out of EMFILE;
// and when a file's maxconn is set too high for the limit, running out of descriptors is the
// proxy's trouble, counted as such, and never ejects the healthy endpoint.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../helpers/wait.js';
import { tally, tryConnection, type Outcome } from './proxy-hostile-helpers.js';
import { Resources } from './proxy-harness.js';

/** The build this test belongs to (dist/ or another outDir), not bin/fulcrum's. */
const MAIN = new URL('../../bin/main.js', import.meta.url).href;

interface Proxy {
  child: ChildProcess;
  stderr: () => string;
}

describe('proxy limits under a small RLIMIT_NOFILE (the real process)', function () {
  this.timeout(20_000);
  const res = new Resources();
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-proxy-rlimit-'));
  });
  afterEach(async () => {
    await res.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(openFiles: number, yaml: string, metricsPort: number): Promise<Proxy> {
    const cfg = join(dir, 'proxy.yaml');
    writeFileSync(cfg, yaml);
    const script = `import { main } from ${JSON.stringify(MAIN)}; main(['proxy', '--config', ${JSON.stringify(cfg)}, '--metrics', '127.0.0.1:${metricsPort}']).then((c) => { process.exitCode = c; });`;
    const child = spawn('bash', ['-c', `ulimit -n ${openFiles} && exec "$0" --input-type=module -e "$1"`, process.execPath, script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FULCRUM_LOG_LEVEL: 'warn' } });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    res.add(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    await waitFor('the proxy to be ready', () => out.includes('fulcrum proxy: ready'), { describe: () => err.slice(-400) });
    return { child, stderr: () => err };
  }

  async function metrics(port: number): Promise<string> {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
    return r.text();
  }

  /** The value of the first sample whose name and labels contain every part of `match`; 0 when none. */
  function sample(text: string, match: string[]): number {
    const line = text.split('\n').find((l) => !l.startsWith('#') && match.every((m) => l.includes(m)));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  function config(listenPort: number, backendPort: number, top = ''): string {
    return `${top}
frontends:
  - name: web
    listen: 127.0.0.1:${listenPort}
    backend: web
backends:
  - name: web
    endpoints: [{ address: 127.0.0.1, port: ${backendPort} }]
`;
  }

  async function open(port: number, n: number): Promise<{ outcomes: Outcome[]; close: () => void }> {
    const all = await Promise.all(Array.from({ length: n }, () => tryConnection(port)));
    const close = (): void => {
      for (const c of all) c.socket.destroy();
    };
    res.add(close);
    return { outcomes: all.map((c) => c.outcome), close };
  }

  it('the default maxconn comes from RLIMIT_NOFILE: over it connections are reset, and the proxy never reaches EMFILE', async () => {
    const backend = await res.server();
    const [listen, metricsPort] = [await res.deadPort(), await res.deadPort()];
    // 100 descriptors: 64 kept aside, 36 usable, 9 for UDP flow sockets, (36 - 9) / 2 = 13 connections
    await start(100, config(listen, backend.port), metricsPort);
    const { outcomes } = await open(listen, 30);
    const t = tally(outcomes);
    const m = await metrics(metricsPort);
    console.log(`      ulimit -n 100: 30 connections → ${t.answered} answered, ${t.reset} reset, ${t.closed} closed; process limit ${sample(m, ['fulcrum_proxy_process_limit', 'connections'])}; EMFILE ${sample(m, ['fulcrum_proxy_resource_errors_total'])}`);
    assert.equal(sample(m, ['fulcrum_proxy_process_limit', '"connections"']), 13);
    assert.deepEqual(t, { answered: 13, closed: 0, reset: 17, error: 0 });
    assert.equal(sample(m, ['fulcrum_proxy_frontend_rejected_total', 'processMaxconn']), 17);
    assert.equal(sample(m, ['fulcrum_proxy_resource_errors_total']), 0, 'no descriptor ran out');
  });

  it('out of descriptors (maxconn set above the limit): never held against the endpoint, the next client is served at once, EMFILE on connect counted', async () => {
    // Two limits one apart: whether the last free descriptor goes to an accept or to the connect
    // that follows depends on the parity of what the process holds. An EMFILE on connect is
    // counted; one on accept is handled inside libuv (it accepts and closes the queued
    // connections, resetting them) and never reaches JavaScript.
    const backend = await res.server();
    let counted = 0;
    for (const openFiles of [80, 81]) {
      const [listen, metricsPort] = [await res.deadPort(), await res.deadPort()];
      await start(openFiles, config(listen, backend.port, 'maxconn: 10000'), metricsPort);
      const flood = await open(listen, 100);
      const t = tally(flood.outcomes);
      assert.ok(t.answered > 0 && t.answered < 100, `ulimit -n ${openFiles}: some answered, not all: ${JSON.stringify(t)}`);
      flood.close();
      await waitFor('the proxy to see every client gone', async () => sample(await metrics(metricsPort), ['fulcrum_proxy_process_usage', '"connections"']) === 0 || undefined, { intervalMs: 50, timeoutMs: 5000 });
      const next = await tryConnection(listen);
      next.socket.destroy();
      assert.equal(next.outcome, 'answered', `ulimit -n ${openFiles}: the first client after the exhaustion is served`);
      const m = await metrics(metricsPort);
      const emfile = sample(m, ['fulcrum_proxy_resource_errors_total', 'EMFILE']);
      counted += emfile;
      console.log(`      ulimit -n ${openFiles}, maxconn 10000: 100 connections → ${t.answered} answered, ${t.reset} reset, ${t.closed} closed, ${t.error} error; EMFILE counted ${emfile}; endpoint errors ${sample(m, ['fulcrum_proxy_endpoint_errors_total'])}`);
      assert.equal(sample(m, ['fulcrum_proxy_endpoint_errors_total']), 0, 'no connect failure was held against the endpoint');
      assert.equal(sample(m, ['fulcrum_proxy_endpoint_up', 'state="up"']), 1);
    }
    assert.ok(counted > 0, 'one of the two runs ran out on connect and counted it');
  });
});
