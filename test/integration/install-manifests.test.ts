import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { startAllocator } from '../../allocator/program.js';
import { startTestTarget, suiteTitle, apiServerName, type TestApiServer } from '../helpers/api-target.js';
import { waitFor } from '../helpers/wait.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CONFIG_DIR = join(REPO, 'config');
const INSTALL = join(CONFIG_DIR, 'install', 'fulcrum.yaml');
const RENDER = join(REPO, 'bin', 'render-install.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, [...args], { env: opts.env ?? process.env, timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
const objects = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJSON() as Obj | null).filter((o): o is Obj => o !== null);
const key = (o: Obj): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** config/NN-*.yaml as the renderer picks them: everything but the sample Services. */
const sourceFiles = (): string[] => readdirSync(CONFIG_DIR).filter((f) => /^\d\d-.*\.ya?ml$/.test(f) && !/sample/.test(f)).sort();

describe('config/install/fulcrum.yaml and config/Kustomization: rendered from config/ (bin/render-install.mjs)', function () {
  this.timeout(30_000);
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'fulcrum-render-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  /** A copy of config/ (the manifests and the committed generated files) to break. */
  function copyConfig(): string {
    const dir = join(tmp, 'config');
    mkdirSync(join(dir, 'install'), { recursive: true });
    for (const f of readdirSync(CONFIG_DIR).filter((f) => /\.ya?ml$/.test(f))) copyFileSync(join(CONFIG_DIR, f), join(dir, f));
    copyFileSync(INSTALL, join(dir, 'install', 'fulcrum.yaml'));
    copyFileSync(join(CONFIG_DIR, 'Kustomization'), join(dir, 'Kustomization'));
    return dir;
  }

  it('the committed files are what `npm run render-install` makes of config/ today (else: run it)', async () => {
    const r = await run(process.execPath, [RENDER, '--check']);
    assert.equal(r.code, 0, `node bin/render-install.mjs --check: ${r.stderr}`);
    assert.match(r.stdout, /up to date/);
  });

  it('is marked generated, with the command that generates it, and holds exactly the objects of config/NN-*.yaml, no sample Service', () => {
    const text = readFileSync(INSTALL, 'utf8');
    assert.match(text.split('\n')[0]!, /^# GENERATED FILE: do not edit/);
    assert.match(text.slice(0, 400), /npm run render-install/);
    const expected = sourceFiles().flatMap((f) => objects(readFileSync(join(CONFIG_DIR, f), 'utf8')));
    assert.deepEqual(objects(text), expected, 'the same objects, field for field, in file order');
    const kinds = new Set(expected.map((o) => o.kind));
    for (const k of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'DaemonSet']) assert.ok(kinds.has(k), `fulcrum.yaml has a ${k}`);
    assert.ok(!kinds.has('Service'), 'no sample Service');
    assert.ok(sourceFiles().length >= 7 && !sourceFiles().includes('90-sample-services.yaml'));
    const kust = readFileSync(join(CONFIG_DIR, 'Kustomization'), 'utf8');
    const resources = (parseAllDocuments(kust)[0]!.toJSON() as { resources: string[] }).resources;
    assert.deepEqual(resources, sourceFiles());
  });

  it('a new config/NN-*.yaml or an edited one makes --check fail naming both stale files and the fix; rendering again picks it up', async () => {
    const dir = copyConfig();
    assert.equal((await run(process.execPath, [RENDER, '--check', '--config', dir])).code, 0, 'the copy starts up to date');
    writeFileSync(join(dir, '40-memberlist.yaml'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: memberlist, namespace: fulcrum-system}\nstringData: {secretkey: change-me}\n');
    const stale = await run(process.execPath, [RENDER, '--check', '--config', dir]);
    assert.equal(stale.code, 1, stale.stdout);
    assert.match(stale.stderr, /install\/fulcrum\.yaml is out of date .*run `npm run render-install`/);
    assert.match(stale.stderr, /Kustomization is out of date/);
    const wrote = await run(process.execPath, [RENDER, '--config', dir]);
    assert.equal(wrote.code, 0, wrote.stderr);
    assert.match(readFileSync(join(dir, 'install', 'fulcrum.yaml'), 'utf8'), /# Source: config\/40-memberlist\.yaml\napiVersion: v1\nkind: Secret/);
    assert.match(readFileSync(join(dir, 'Kustomization'), 'utf8'), /- 31-speaker\.yaml\n {2}- 40-memberlist\.yaml\n$/);
    assert.equal((await run(process.execPath, [RENDER, '--check', '--config', dir])).code, 0);

    appendFileSync(join(dir, '30-allocator.yaml'), '# an edit\n');
    const edited = await run(process.execPath, [RENDER, '--check', '--config', dir]);
    assert.equal(edited.code, 1);
    assert.match(edited.stderr, /install\/fulcrum\.yaml is out of date/);
    assert.doesNotMatch(edited.stderr, /Kustomization/, 'the file list did not change');
  });

  it('a manifest without a name is refused naming the file, the document and the field', async () => {
    const dir = copyConfig();
    writeFileSync(join(dir, '40-bad.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {namespace: fulcrum-system}\n');
    const r = await run(process.execPath, [RENDER, '--config', dir]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 'render-install: config/40-bad.yaml: document 2 (Secret): metadata.name is undefined (expected a non-empty string)');
    assert.equal(readFileSync(join(dir, 'install', 'fulcrum.yaml'), 'utf8'), readFileSync(INSTALL, 'utf8'), 'nothing written');
  });
});

describe(suiteTitle(`the one-file install and the kustomization, applied with the real kubectl to ${apiServerName()}`), function () {
  this.timeout(90_000);
  let api: TestApiServer;
  let home: string;
  let kubeconfig: string;
  const installed = objects(readFileSync(INSTALL, 'utf8'));

  const kubectl = (args: readonly string[], input?: string): Promise<Run> =>
    run(process.env.KUBECTL ?? 'kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: home }, ...(input === undefined ? {} : { input }) });
  async function ok(args: readonly string[], input?: string): Promise<string> {
    const r = await kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  before(async () => {
    api = await startTestTarget();
    home = mkdtempSync(join(tmpdir(), 'fulcrum-install-'));
    kubeconfig = join(home, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig);
  });
  after(async () => {
    // Everything the install made, but the namespace: it is there before the suite (the emulator
    // starts with it, the shared real server keeps it between suites).
    if (kubeconfig) {
      const without = join(home, 'without-namespace.yaml');
      writeFileSync(without, installed.filter((o) => o.kind !== 'Namespace').map((o) => stringify(o)).join('---\n'));
      const r = await kubectl(['delete', '-f', without, '--ignore-not-found', '--wait=false']);
      assert.equal(r.code, 0, `cleanup: kubectl delete: ${r.stderr}`);
    }
    await api?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('apply --dry-run=server: every object accepted, nothing written', async () => {
    const out = await ok(['apply', '--dry-run=server', '-f', INSTALL]);
    for (const o of installed.filter((o) => o.kind !== 'Namespace')) {
      assert.match(out, new RegExp(`/${o.metadata.name} (created|configured) \\(server dry run\\)`), key(o));
    }
    const r = await kubectl(['get', 'deployment', '-n', 'fulcrum-system', 'fulcrum-allocator']);
    assert.notEqual(r.code, 0, 'the dry run wrote no Deployment');
    assert.match(r.stderr, /NotFound|not found/);
  });

  it('kubectl apply -k config/ creates every object of the install; then apply -f config/install/fulcrum.yaml finds them all unchanged', async () => {
    const k = await ok(['apply', '-k', CONFIG_DIR]);
    for (const o of installed.filter((o) => o.kind !== 'Namespace')) assert.match(k, new RegExp(`/${o.metadata.name} created`), `apply -k: ${key(o)}`);
    const f = await kubectl(['apply', '-f', INSTALL]);
    assert.equal(f.code, 0, f.stderr);
    const lines = f.stdout.trim().split('\n');
    assert.equal(lines.length, installed.length, f.stdout);
    // The namespace existed before either apply, without kustomize's annotation: apply -k configured it.
    for (const l of lines) assert.match(l, /unchanged$/, 'the one file and the kustomization are the same objects');
    const names = (await ok(['get', '-f', INSTALL, '-o', 'name'])).trim().split('\n');
    assert.equal(names.length, installed.length);
    assert.equal(await ok(['get', 'deploy', '-n', 'fulcrum-system', 'fulcrum-allocator', '-o', 'jsonpath={.spec.replicas}']), '2');
    assert.equal(await ok(['get', 'ds', '-n', 'fulcrum-system', 'fulcrum-speaker', '-o', 'jsonpath={.spec.template.spec.hostNetwork}']), 'true');
    assert.match(await ok(['get', 'crd', 'ipaddresspools.metallb.io', '-o', 'jsonpath={.spec.group}']), /^metallb\.io$/);
  });

  it('the allocator, as the install\'s ServiceAccount (its RBAC) with its example pools, gives a Service an address', async () => {
    const token = await api.serviceAccountToken('fulcrum-system', 'fulcrum-allocator');
    const saConfig = join(home, 'allocator.kubeconfig');
    await api.writeKubeconfig(saConfig, { token });
    const allocator = await startAllocator({
      kubeconfig: saConfig, namespace: 'fulcrum-system', configName: 'config', lbClass: undefined, metrics: undefined, identity: 'install-test',
      leaderElection: { enabled: true, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
    });
    try {
      await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'install-web', namespace: 'default' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } }));
      const ip = await waitFor('an address on default/install-web', async () => (await ok(['get', 'svc', 'install-web', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])) || undefined, { timeoutMs: 20_000, intervalMs: 200 });
      // The example ConfigMap's "default" pool: 192.0.2.100-192.0.2.149
      const last = Number(ip.split('.')[3]);
      assert.ok(ip.startsWith('192.0.2.') && last >= 100 && last <= 149, `address ${ip} from the example pool 192.0.2.100-192.0.2.149`);
    } finally {
      await allocator.stop();
      await kubectl(['delete', 'svc', 'install-web', '--ignore-not-found']);
    }
  });
});
