import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultStateDir } from '../../lab/lab.js';
import { listLinks, listNamespaces, waitFor } from '../../lab/netns.js';
import { SAMPLE_NAMESPACE, SAMPLE_SERVICES, samplePorts } from '../../lab/samples.js';
import type { LabState } from '../../lab/state.js';

// `fulcrum lab` as a user runs it, as a child process. Prefix `flc`.
const PREFIX = 'flc';
const BIN = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));
const ENV = { ...process.env, FULCRUM_LOG_LEVEL: 'silent' };

async function leftovers(): Promise<string[]> {
  return [...(await listNamespaces()), ...(await listLinks())].filter((n) => n.startsWith(`${PREFIX}-`));
}

describe('fulcrum lab (the command)', function () {
  this.timeout(90_000);
  let child: ChildProcess | undefined;

  before(function () {
    if (process.getuid?.() !== 0) {
      console.log('    (lab command e2e skipped: needs root for network namespaces)');
      this.skip();
    }
  });

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    child = undefined;
    // a killed lab leaves its namespaces: the next start removes them, so does this
    spawnSync(process.execPath, ['-e', `import(${JSON.stringify(fileURLToPath(new URL('../../lab/leftovers.js', import.meta.url)))}).then((m) => m.removeLeftovers('${PREFIX}'))`]);
  });

  it('refuses to run without root, with a clear message and exit 1', function () {
    const asNobody = ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath];
    const main = fileURLToPath(new URL('../../bin/main.js', import.meta.url));
    const canRead = spawnSync('setpriv', [...asNobody, '-e', `require('node:fs').accessSync(${JSON.stringify(main)}); require('node:fs').accessSync(${JSON.stringify(BIN)})`]);
    if (canRead.status !== 0) {
      console.log('      (skipped: user nobody cannot read this checkout, so it cannot run bin/fulcrum)');
      this.skip();
    }
    const r = spawnSync('setpriv', [...asNobody, BIN, 'lab', '--prefix', PREFIX], { encoding: 'utf8', env: ENV });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /needs root/);
  });

  it('rejects --nodes 8 as a usage error (exit 2)', () => {
    const r = spawnSync(process.execPath, [BIN, 'lab', '--nodes', '8', '--prefix', PREFIX], { encoding: 'utf8', env: ENV });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--nodes: "8"/);
  });

  it('rejects --config-from with an unknown source as a usage error naming the choices (exit 2)', () => {
    const r = spawnSync(process.execPath, [BIN, 'lab', '--config-from', 'metallb', '--prefix', PREFIX], { encoding: 'utf8', env: ENV });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--config-from "metallb": expected configmap or metallb-crds/);
  });

  it('--no-wait builds, checks, prints the table, removes everything and exits 0 only if every check passed', async () => {
    const r = spawnSync(process.execPath, [BIN, 'lab', '--no-wait', '--prefix', PREFIX, '--nodes', '2', '--address-timeout', '20s'], { encoding: 'utf8', env: ENV, timeout: 80_000 });
    const table = r.stdout.split('\n').filter((l) => l.startsWith('default/'));
    const samples = SAMPLE_SERVICES.map((x) => `${SAMPLE_NAMESPACE}/${x.name}`).sort();
    assert.deepEqual([...new Set(table.map((l) => l.split(/\s+/)[0]))].sort(), samples, r.stdout + r.stderr);
    const failed = table.filter((l) => / FAIL /.test(l)).length;
    assert.equal(r.status, failed === 0 ? 0 : 1, r.stdout);
    assert.match(r.stdout, failed === 0 ? /All \d+ checks passed/ : new RegExp(`${failed} of ${table.length} checks failed`));
    assert.deepEqual(await leftovers(), []);
    assert.ok(!existsSync(`${defaultStateDir(PREFIX)}/state.json`));
  });

  it('one node: every check passes, it stays up with state.json phase ready until Ctrl-C, then removes everything and exits 0', async () => {
    const statePath = `${defaultStateDir(PREFIX)}/state.json`;
    child = spawn(process.execPath, [BIN, 'lab', '--prefix', PREFIX, '--nodes', '1', '--address-timeout', '10s'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const state = await waitFor('state.json to say ready', () => {
      if (child!.exitCode !== null) throw new Error(`the lab exited: ${out}`);
      if (!existsSync(statePath)) return undefined;
      const s = JSON.parse(readFileSync(statePath, 'utf8')) as LabState;
      return s.phase === 'ready' ? s : undefined;
    }, 60_000, 200);
    assert.equal(state.prefix, PREFIX);
    assert.equal(state.clientNamespace, `${PREFIX}-cl`);
    assert.deepEqual(state.nodes.map((n) => n.name), [`${PREFIX}-n1`]);
    const byName = (a: [string, unknown], b: [string, unknown]) => a[0].localeCompare(b[0]);
    assert.deepEqual(
      state.services.map((s): [string, unknown] => [s.name, s.ports]).sort(byName),
      SAMPLE_SERVICES.map((s): [string, unknown] => [s.name, samplePorts(s)]).sort(byName),
    );
    assert.ok(existsSync(state.kubeconfig));
    // state.json says ready once the checks ran; the try-it lines and this line follow it
    await waitFor('"The lab is up"', () => (/The lab is up/.test(out) ? true : undefined), 30_000, 100);
    // One node serves every sample Service alone (no peer to hear is not being cut off).
    assert.match(out, /All \d+ checks passed/, out);
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0, out);
    assert.deepEqual(await leftovers(), []);
    assert.ok(!existsSync(statePath));
  });
});
