import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { waitFor, type Json } from '../helpers/apiserver.js';

const BIN = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));
const run = promisify(execFile);

// `fulcrum apiserver` as a process: the kubeconfig appears once it serves, kubectl works with
// it, SIGTERM stops it with exit 0.
describe('fulcrum apiserver (the command)', function () {
  this.timeout(30_000);
  let dir: string;
  let child: ChildProcess | undefined;
  let stderr = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fulcrum-apiserver-cmd-'));
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the kubeconfig once it serves, says it is an emulator, and stops on SIGTERM', async () => {
    const kubeconfig = join(dir, 'kc.yaml');
    child = spawn(process.execPath, [BIN, 'apiserver', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfig, '--log-level', 'silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await waitFor('the kubeconfig', () => existsSync(kubeconfig), 15_000, 20);
    assert.match(stderr, /emulator for the lab and tests, not a production API server/);
    const kc = parseYaml(await readFile(kubeconfig, 'utf8')) as Json;
    assert.match(kc.clusters[0].cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const { stdout } = await run('kubectl', ['get', 'ns', 'fulcrum-system', '-o', 'jsonpath={.status.phase}'], { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: dir } });
    assert.equal(stdout, 'Active');
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stderr, /stopped \(served \d+ requests\)/);
  });

  const usageRows: [string, string[], RegExp][] = [
    ['a bad --listen', ['--listen', 'nope'], /--listen: "nope" is not HOST:PORT/],
    ['a bad --kubeconfig-scheme', ['--kubeconfig-scheme', 'ftp'], /--kubeconfig-scheme: "ftp" is not https or http/],
    ['a bad --event-window', ['--event-window', '0'], /--event-window: "0"/],
    ['an unknown flag', ['--bogus'], /bogus/],
  ];
  for (const [name, args, message] of usageRows) {
    it(`rejects ${name} with exit 2`, async () => {
      await assert.rejects(run(process.execPath, [BIN, 'apiserver', ...args]), (err: Json) => err.code === 2 && message.test(err.stderr));
    });
  }
});
