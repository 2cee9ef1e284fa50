import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/wait.js';
import { A_CERT } from '../helpers/tls-fixtures.js';
import { Resources, whoAnswers } from './proxy-harness.js';

const BIN = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, 'proxy', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FULCRUM_LOG_LEVEL: 'info' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

describe('fulcrum proxy --config (the real CLI process)', function () {
  this.timeout(20_000);
  const res = new Resources();
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-proxy-cli-'));
  });
  afterEach(async () => {
    await res.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  function config(listenPort: number, backendPort: number, extra = ''): string {
    const file = join(dir, 'proxy.yaml');
    writeFileSync(file, `frontends:\n  - name: web\n    listen: 127.0.0.1:${listenPort}\n    protocol: tcp\n    backend: web\n${extra}backends:\n  - name: web\n    balance: roundrobin\n    endpoints:\n      - { address: 127.0.0.1, port: ${backendPort} }\n`);
    return file;
  }

  function track(p: Proc): Proc {
    res.add(async () => {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exit;
      }
    });
    return p;
  }

  it('prints ready, serves, reloads on SIGHUP as a diff, and drains and exits 0 on SIGTERM', async () => {
    const [one, two] = [await res.namedServer('one'), await res.namedServer('two')];
    const listenPort = await res.deadPort();
    const file = config(listenPort, one.port);
    const p = track(run(['--config', file]));
    await waitFor('the ready line', () => p.stdout() === 'fulcrum proxy: ready\n', { describe: () => p.stderr() });
    assert.equal(await whoAnswers(listenPort), 'one');
    config(listenPort, two.port);
    p.child.kill('SIGHUP');
    await waitFor('the reload to take effect', async () => (await whoAnswers(listenPort)) === 'two', { describe: () => p.stderr() });
    assert.match(p.stderr(), /"event":"reloaded".*"update":1/);
    p.child.kill('SIGTERM');
    assert.equal(await p.exit, 0);
  });

  it('a reload with an invalid file keeps the running config and says why', async () => {
    const one = await res.namedServer('one');
    const listenPort = await res.deadPort();
    const file = config(listenPort, one.port);
    const p = track(run(['--config', file]));
    await waitFor('the ready line', () => p.stdout().includes('ready'), { describe: () => p.stderr() });
    writeFileSync(file, 'frontends: 7\n');
    p.child.kill('SIGHUP');
    await waitFor('the rejection on stderr', () => p.stderr().includes('reload:'));
    assert.match(p.stderr(), /frontends: 7 is not a list/);
    assert.equal(await whoAnswers(listenPort), 'one');
    p.child.kill('SIGTERM');
    assert.equal(await p.exit, 0);
  });

  it('an invalid file: every problem names its field and value on stderr, exit 1', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, [
      'frontends:',
      '  - name: a',
      '    listen: 127.0.0.1:99999',
      '    protocol: sctp',
      '    backend: missing',
      '    sourceRanges: [10.0.0.0/33]',
      'backends:',
      '  - name: b',
      '    balance: fastest',
      '    endpoints: [{ address: 1.2.3, port: 80 }]',
      '',
    ].join('\n'));
    const p = track(run(['--config', file]));
    assert.equal(await p.exit, 1);
    const lines = p.stderr().trim().split('\n');
    assert.deepEqual(lines.map((l) => l.replace(`${file}: `, '')), [
      'fulcrum proxy: frontends[0].listen: "127.0.0.1:99999" is not ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)',
      'fulcrum proxy: frontends[0].protocol: "sctp" is not one of tcp, udp, http',
      'fulcrum proxy: frontends[0].sourceRanges[0]: "10.0.0.0/33" is not a CIDR (prefix "/33" is not 0-32)',
      'fulcrum proxy: backends[0].endpoints[0].address: "1.2.3" is not an IPv4 or IPv6 address',
      'fulcrum proxy: backends[0].balance: "fastest" is not one of roundrobin, leastconn, source, random, sed, nq',
      'fulcrum proxy: frontends[0].backend: "missing" names no backend',
    ]);
    assert.equal(p.stdout(), '');
  });

  it('certificate files are read relative to the config file; one that cannot be read names the frontend, the key and the path, exit 1', async () => {
    mkdirSync(join(dir, 'certs'));
    writeFileSync(join(dir, 'certs', 'a.pem'), A_CERT);
    const file = config(await res.deadPort(), 9, '    tls: { certificates: [{ certFile: certs/a.pem, keyFile: certs/a.key }] }\n');
    const p = track(run(['--config', file]));
    assert.equal(await p.exit, 1);
    const missing = join(dir, 'certs', 'a.key');
    assert.equal(
      p.stderr().trim(),
      `fulcrum proxy: ${file}: frontends[0].tls.certificates[0].keyFile: "certs/a.key" of frontend "web" cannot be read: reading ${missing}: ENOENT: no such file or directory, open '${missing}'`,
    );
  });

  it('a port already in use: the bind error names the frontend, exit 1', async () => {
    const taken = await res.server();
    const p = track(run(['--config', config(taken.port, taken.port)]));
    assert.equal(await p.exit, 1);
    assert.match(p.stderr(), new RegExp(`frontend "web": binding tcp 127.0.0.1:${taken.port}: .*EADDRINUSE.*\\(FUL_ERR_PROXY_BIND\\)`));
  });

  it('without --config it is a usage error (exit 2)', async () => {
    const p = track(run([]));
    assert.equal(await p.exit, 2);
    assert.match(p.stderr(), /--config FILE is required/);
  });

  it('workers: 2 starts two processes that share the listener, ready once both are, and replaces one that dies', async () => {
    const one = await res.namedServer('one');
    const listenPort = await res.deadPort();
    const file = config(listenPort, one.port);
    writeFileSync(file, `workers: 2\n${(await import('node:fs')).readFileSync(file, 'utf8')}`);
    const p = track(run(['--config', file]));
    await waitFor('the ready line', () => p.stdout() === 'fulcrum proxy: ready\n', { describe: () => p.stderr() });
    for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(listenPort), 'one');
    const readyPids = (): string[] => [...p.stderr().matchAll(/"worker":(\d+)[^\n]*"event":"ready"/g)].map((m) => m[1]!);
    assert.equal(readyPids().length, 2, `two workers ready: ${readyPids().join(',')}`);
    // A worker that dies is replaced; the listener keeps serving meanwhile (the other worker).
    process.kill(Number(readyPids()[0]), 'SIGKILL');
    await waitFor('a replacement worker to be ready', () => readyPids().length === 3, { describe: () => p.stderr().slice(-500) });
    assert.match(p.stderr(), /"event":"workerExited".*"signal":"SIGKILL"/);
    for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(listenPort), 'one');
    p.child.kill('SIGTERM');
    assert.equal(await p.exit, 0);
  });
});
