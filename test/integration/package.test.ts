import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The repository root, from dist/test/integration/ (where this file runs after the build).
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type Run = { code: number | null; stdout: string; stderr: string };

function run(file: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FULCRUM_LOG_LEVEL: 'silent', FULCRUM_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new Error(`running ${file} ${args.join(' ')} in ${cwd}: ${err.message}`, { cause: err })));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The last lines of a failed command's output: enough to see why, short enough to read. */
function tail(r: Run, lines = 30): string {
  return (r.stdout + r.stderr).trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * What a user gets: `npm pack` (prepack builds dist/; here the suite's own build is packed), then `npm install <tarball>` into an
 * empty folder (the install script builds the native addon), then the installed `fulcrum`.
 * Needs npm, the npm registry or a warm npm cache, and a C toolchain; without them it fails
 * and says which step could not run.
 */
describe('the packed package, installed into an empty folder (real npm pack and npm install)', function () {
  // Pack builds dist/ and install compiles the native addon: tens of seconds, more on a cold cache.
  this.timeout(300_000);
  let packDir: string;
  let installDir: string;
  let tarball: string;
  let pkg: string;
  let fulcrum: string;

  before(async () => {
    packDir = mkdtempSync(join(tmpdir(), 'fulcrum-pack-'));
    installDir = mkdtempSync(join(tmpdir(), 'fulcrum-install-'));
    // --ignore-scripts: `npm test` has just built dist/, and this suite runs from it; a rebuild
    // (prepack, prepare) under the running tests could swap modules while they load.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], ROOT);
    assert.equal(pack.code, 0, `npm pack in ${ROOT} failed (exit ${pack.code}):\n${tail(pack)}`);
    const tgz = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    assert.equal(tgz.length, 1, `npm pack wrote ${JSON.stringify(tgz)} to ${packDir}, expected one .tgz`);
    tarball = join(packDir, tgz[0]!);
    // A package.json of its own, so npm installs here and not into a node_modules further up.
    writeFileSync(join(installDir, 'package.json'), '{ "name": "fulcrum-package-test", "private": true }\n');
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], installDir);
    assert.equal(install.code, 0, `npm install ${tarball} failed (exit ${install.code}); it needs the npm registry (or a warm npm cache) and a C compiler, python3 and Node headers for the native addon:\n${tail(install)}`);
    pkg = join(installDir, 'node_modules', 'fulcrum-lb');
    fulcrum = join(installDir, 'node_modules', '.bin', 'fulcrum');
  });

  after(() => {
    for (const dir of [packDir, installDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the tarball holds the launcher, dist/, config/ and the native sources, and no tests, benches or TypeScript', async () => {
    const list = await run('tar', ['-tzf', tarball], packDir);
    assert.equal(list.code, 0, `tar -tzf ${tarball}: ${tail(list)}`);
    const entries = list.stdout.trimEnd().split('\n').map((e) => e.replace(/^package\//, ''));
    for (const needed of ['package.json', 'README.md', 'bin/fulcrum', 'dist/bin/main.js', 'dist/lab/lab.js', 'binding.gyp', 'speaker/announce/native/packet.c', 'config/10-rbac-allocator.yaml', 'config/examples/pools.yaml']) {
      assert.ok(entries.includes(needed), `tarball has ${needed}`);
    }
    assert.deepEqual(entries.filter((e) => /^(dist\/)?(test|bench)\//.test(e)), [], 'no tests or benches, compiled or not');
    assert.deepEqual(entries.filter((e) => e.endsWith('.ts')), [], 'no TypeScript sources');
  });

  it('installing builds the native addon', () => {
    assert.ok(existsSync(join(pkg, 'build', 'Release', 'fulcrum_packet.node')), `${pkg}/build/Release/fulcrum_packet.node exists`);
  });

  it('fulcrum --help exits 0 and lists the commands', async () => {
    const r = await run(fulcrum, ['--help'], installDir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: fulcrum <command>/);
    for (const command of ['check-config', 'allocator', 'speaker', 'proxy', 'lab', 'status']) {
      assert.match(r.stdout, new RegExp(`^  ${command} `, 'm'), `--help lists ${command}`);
    }
  });

  it('fulcrum --version prints the version of the installed package.json', async () => {
    const r = await run(fulcrum, ['--version'], installDir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^fulcrum \d+\.\d+\.\d+/);
  });

  it('fulcrum check-config on the example ConfigMap shipped in config/examples/ prints "config OK"', async () => {
    const r = await run(fulcrum, ['check-config', join(pkg, 'config', 'examples', 'pools.yaml')], installDir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^config OK: /);
  });

  it('fulcrum check-config on a bad file exits 1 and names the field', async () => {
    const bad = join(installDir, 'bad.yaml');
    writeFileSync(bad, 'address-pools:\n- {name: web, protocol: bgp, addresses: [192.0.2.0/28]}\n');
    const r = await run(fulcrum, ['check-config', bad], installDir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /pool "web": protocol: "bgp"/);
  });
});
