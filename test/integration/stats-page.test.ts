// The stats page of a real `fulcrum proxy` process: /stats.json and /stats over HTTP, totals that
// move under load, a reload that shows up, and the page rendered by headless Chromium (Debian's
// `chromium`, installed by .ci/run), whose script must run under the page's CSP and fill in rates.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { StatsSnapshot } from '../../speaker/stats/snapshot.js';
import { waitFor } from '../helpers/wait.js';
import { Resources, whoAnswers } from './proxy-harness.js';

const MAIN = new URL('../../bin/main.js', import.meta.url).href;
const CHROMIUM = 'chromium';
/** Regenerates the README's screenshot when set (a path). */
const SCREENSHOT_OUT = process.env.FULCRUM_STATS_SCREENSHOT;

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function startProxy(config: string): Proc {
  const script = `import { main } from ${JSON.stringify(MAIN)}; main(['proxy', '--config', ${JSON.stringify(config)}, '--metrics', '127.0.0.1:0']).then((c) => { process.exitCode = c; });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FULCRUM_LOG_LEVEL: 'info' } });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

/** One request through the proxy; resolves with the status (the body is read and dropped). */
function request(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within 5 s for ${path}`)));
    req.once('error', reject);
  });
}

/** Runs headless Chromium on `url` with `args`; resolves with its stdout, fails on a non-zero exit or after 60 s. */
function chromium(res: Resources, profile: string, url: string, args: string[]): Promise<string> {
  const child = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', `--user-data-dir=${profile}`, ...args, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  res.add(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`chromium exited ${code ?? signal}: ${err.slice(-800)}`));
    });
  });
}

/**
 * Headless Chromium driven over the DevTools protocol, for what a dump cannot show: the page
 * left running in real time (virtual time fast-forwards the refreshes, so rates would be over
 * a few milliseconds). Flat sessions: one WebSocket, each command tagged with the page's session.
 */
async function openPage(res: Resources, profile: string, url: string): Promise<{ evaluate: (expression: string) => Promise<unknown>; screenshot: () => Promise<Buffer> }> {
  const child = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', `--user-data-dir=${profile}`, '--remote-debugging-port=0', '--hide-scrollbars', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  res.add(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const endpoint = await waitFor('chromium\'s DevTools endpoint', () => /DevTools listening on (ws:\/\/\S+)/.exec(err)?.[1], { timeoutMs: 30_000, describe: () => err.slice(-500) });
  const ws = new WebSocket(endpoint);
  res.add(() => ws.terminate());
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
    const p = m.id === undefined ? undefined : pending.get(m.id);
    if (p === undefined) return; // an event
    pending.delete(m.id!);
    if (m.error) p.reject(new Error(`DevTools: ${m.error.message}`));
    else p.resolve(m.result ?? {});
  });
  const send = (method: string, params: Record<string, unknown>, sessionId?: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
  await send('Emulation.setDeviceMetricsOverride', { width: 1200, height: 720, deviceScaleFactor: 1, mobile: false }, sessionId);
  await send('Page.navigate', { url }, sessionId);
  return {
    evaluate: async (expression) => ((await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)).result as { value?: unknown }).value,
    screenshot: async () => Buffer.from(String((await send('Page.captureScreenshot', { format: 'png' }, sessionId)).data), 'base64'),
  };
}

/** The text of a `data-stat` cell in the row `data-<kind>="name"` of a dumped DOM. */
function cell(dom: string, kind: 'frontend' | 'backend' | 'endpoint', name: string, stat: string): string {
  const row = new RegExp(`<tr[^>]*data-${kind}="${name.replace(/[.[\]]/g, '\\$&')}"[^>]*>(.*?)</tr>`, 's').exec(dom);
  assert.ok(row, `a row for ${kind} ${name} in the DOM`);
  const td = new RegExp(`data-stat="${stat}"[^>]*>([^<]*)<`).exec(row[1]!);
  assert.ok(td, `a ${stat} cell for ${kind} ${name}`);
  return td[1]!;
}
const count = (text: string): number => Number(text.replace(/,/g, ''));

describe('stats page of `fulcrum proxy` (/stats, /stats.json)', function () {
  this.timeout(90_000);
  const res = new Resources();
  let dir: string;
  let configFile: string;
  let proxy: Proc;
  let statsUrl: string;
  let webPort: number;
  let sitePort: number;
  let livePort: number;
  let deadPort: number;
  let sitePortBackend: number;

  const json = async (): Promise<StatsSnapshot> => {
    const r = await fetch(`${statsUrl}.json`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    return (await r.json()) as StatsSnapshot;
  };
  const frontendOf = (s: StatsSnapshot, name: string) => s.frontends.find((f) => f.name === name)!;

  function writeConfig(extra = ''): void {
    writeFileSync(configFile, [
      'frontends:',
      `  - { name: web, listen: 127.0.0.1:${webPort}, protocol: tcp, backend: web }`,
      `  - name: site`,
      `    listen: 127.0.0.1:${sitePort}`,
      '    protocol: http',
      '    routes: [{ pathPrefix: /broken, backend: gone }, { backend: site }]',
      extra,
      'backends:',
      '  - name: web',
      '    balance: roundrobin',
      '    healthCheck: { type: tcp, intervalMs: 200, rise: 1, fall: 1 }',
      `    endpoints: [{ address: 127.0.0.1, port: ${livePort} }, { address: 127.0.0.1, port: ${deadPort} }]`,
      `  - { name: site, balance: roundrobin, endpoints: [{ address: 127.0.0.1, port: ${sitePortBackend} }] }`,
      `  - { name: gone, balance: roundrobin, connectAttempts: 1, endpoints: [{ address: 127.0.0.1, port: ${deadPort} }] }`,
      '',
    ].filter((l) => l !== '').join('\n'));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-stats-page-'));
    configFile = join(dir, 'proxy.yaml');
    livePort = (await res.namedServer('live')).port;
    const site = http.createServer((_req, r) => r.end('hello\n'));
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
    res.add(() => new Promise<void>((r) => { site.closeAllConnections(); site.close(() => r()); }));
    sitePortBackend = (site.address() as { port: number }).port;
    [deadPort, webPort, sitePort] = [await res.deadPort(), await res.deadPort(), await res.deadPort()];
    writeConfig();
    proxy = startProxy(configFile);
    res.add(async () => {
      if (proxy.child.exitCode === null && proxy.child.signalCode === null) proxy.child.kill('SIGKILL');
      await proxy.exit;
    });
    const port = await waitFor('the ready log line with the metrics address', () => /"event":"ready".*"metrics":\{"host":"127\.0\.0\.1","port":(\d+)\}/.exec(proxy.stderr())?.[1], { describe: () => proxy.stderr().slice(-800) });
    statsUrl = `http://127.0.0.1:${port}/stats`;
  });
  after(async () => {
    await res.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('/stats.json lists each frontend with its protocol and bound address, and each endpoint with its health', async () => {
    const s = await waitFor('the dead endpoint to be marked down by its health check', async () => {
      const got = await json();
      return got.backends.find((b) => b.name === 'web')?.endpoints.some((e) => e.state === 'down') && got;
    });
    assert.deepEqual([s.program, s.node, s.ownership], ['proxy', null, null]);
    assert.deepEqual(s.frontends.map((f) => [f.name, f.protocol, f.listen, f.state]), [['site', 'http', `127.0.0.1:${sitePort}`, 'active'], ['web', 'tcp', `127.0.0.1:${webPort}`, 'active']]);
    assert.deepEqual(s.backends.find((b) => b.name === 'web')!.endpoints.map((e) => [e.endpoint, e.state]), [[`127.0.0.1:${livePort}`, 'up'], [`127.0.0.1:${deadPort}`, 'down']]);
    assert.equal(s.backends.find((b) => b.name === 'web')!.healthCheck, 'tcp every 200ms');
  });

  it('totals move under load: TCP connections, HTTP requests and 5xx, endpoint connections', async () => {
    const before = await json();
    for (let i = 0; i < 20; i++) assert.equal(await whoAnswers(webPort), 'live');
    for (let i = 0; i < 30; i++) assert.equal(await request(sitePort, '/'), 200);
    for (let i = 0; i < 5; i++) assert.ok((await request(sitePort, '/broken')) >= 500);
    const after = await waitFor('the 35 requests to be counted', async () => {
      const s = await json();
      return frontendOf(s, 'site').http!.total - frontendOf(before, 'site').http!.total === 35 && s;
    }, { describe: async () => frontendOf(await json(), 'site').http });
    assert.equal(frontendOf(after, 'web').connections.total - frontendOf(before, 'web').connections.total, 20);
    assert.equal(frontendOf(after, 'site').http!.errors - frontendOf(before, 'site').http!.errors, 5);
    const liveTotal = (s: StatsSnapshot): number => s.backends.find((b) => b.name === 'web')!.endpoints[0]!.connections.total;
    assert.equal(liveTotal(after) - liveTotal(before), 20, 'every connection went to the healthy endpoint');
    assert.ok(after.nowMs > before.nowMs);
  });

  it('/stats is the HTML page, under a CSP that allows only its own script', async () => {
    const r = await fetch(statsUrl);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
    assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    const html = await r.text();
    assert.match(html, /<tr data-frontend="web">/);
    assert.match(count(cell(html, 'frontend', 'site', 'requests.total')).toString(), /^[1-9]\d*$/);
  });

  it('a reload (SIGHUP) shows up: a frontend added to the file is listed', async () => {
    const extraPort = await res.deadPort();
    writeConfig(`  - { name: extra, listen: 127.0.0.1:${extraPort}, protocol: tcp, backend: web }`);
    proxy.child.kill('SIGHUP');
    const s = await waitFor('the added frontend in /stats.json', async () => {
      const got = await json();
      return got.frontends.some((f) => f.name === 'extra') && got;
    }, { describe: () => proxy.stderr().slice(-500) });
    assert.equal(frontendOf(s, 'extra').listen, `127.0.0.1:${extraPort}`);
  });

  describe('rendered by headless Chromium', () => {
    let profile: string;
    before(function () {
      const version = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' });
      if (version.error) this.skip(); // no chromium on this machine: .ci/run installs Debian's
      profile = join(dir, 'chromium-profile');
    });

    it('the script runs, refreshes from stats.json and fills in rates; the numbers move between two loads', async () => {
      // --virtual-time-budget lets the page's 2 s refresh run before the DOM is dumped
      const dump = (): Promise<string> => chromium(res, profile, statsUrl, ['--virtual-time-budget=5000', '--dump-dom']);
      for (let i = 0; i < 10; i++) assert.equal(await request(sitePort, '/'), 200);
      const first = await dump();
      assert.match(first, /<p id="stats-status" class="live">live: refreshed every 2 s<\/p>/, 'the refresh ran (the CSP allowed the script)');
      assert.match(cell(first, 'frontend', 'site', 'requests.rate'), /^\d[\d,.]*$/, 'a rate only the script computes');
      assert.match(cell(first, 'endpoint', `127.0.0.1:${livePort}`, 'connections.rate'), /^\d[\d,.]*$/);
      for (let i = 0; i < 25; i++) assert.equal(await request(sitePort, '/'), 200);
      for (let i = 0; i < 5; i++) assert.equal(await whoAnswers(webPort), 'live');
      const second = await dump();
      assert.ok(count(cell(second, 'frontend', 'site', 'requests.total')) >= count(cell(first, 'frontend', 'site', 'requests.total')) + 25);
      assert.ok(count(cell(second, 'frontend', 'web', 'connections.total')) >= count(cell(first, 'frontend', 'web', 'connections.total')) + 5);
      assert.match(second, /<td class="st-down">down<\/td>/, 'the dead endpoint is shown down');
    });

    it('left open under load, it shows real rates; a screenshot of it', async () => {
      const page = await openPage(res, join(dir, 'chromium-cdp-profile'), statsUrl);
      let loading = true;
      const load = (async () => {
        // bounded in time, not count: the page computes rates between two refreshes 2 s apart, so
        // the load must outlast the wait below (a fast machine used up 5,000 requests first)
        const until = Date.now() + 25_000;
        for (let i = 0; loading && Date.now() < until; i++) {
          await request(sitePort, i % 20 === 19 ? '/broken' : '/');
          if (i % 10 === 0) await whoAnswers(webPort);
        }
      })();
      try {
        // rates of 1,000/s and more are written with a thousands separator
        const rateOf = (row: string, stat: string): string => `Number(((document.querySelector('tr[${row}] [data-stat="${stat}"]') || {}).textContent || '').replace(/,/g, ''))`;
        const rates = await waitFor('positive request, 5xx and connection rates on the open page', async () => {
          const r = (await page.evaluate(`[${rateOf('data-frontend="site"', 'requests.rate')}, ${rateOf('data-frontend="site"', 'errors.rate')}, ${rateOf('data-frontend="web"', 'connections.rate')}]`)) as number[];
          return r.every((x) => x > 0) && r;
        }, { timeoutMs: 20_000, intervalMs: 250, describe: () => page.evaluate('document.getElementById("stats").innerText.slice(0, 800)') });
        assert.equal(rates.length, 3);
        assert.equal(await page.evaluate('document.getElementById("stats-status").textContent'), 'live: refreshed every 2 s');
        const png = await page.screenshot();
        assert.equal(png.subarray(1, 4).toString(), 'PNG');
        assert.ok(png.length > 10_000, `a real picture, not a blank one (${png.length} bytes)`);
        writeFileSync(join(dir, 'stats.png'), png);
        if (SCREENSHOT_OUT) copyFileSync(join(dir, 'stats.png'), SCREENSHOT_OUT);
      } finally {
        loading = false;
        await load;
      }
    });
  });
});
