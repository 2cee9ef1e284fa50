import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { startAllocator } from '../../allocator/program.js';
import { startEmulatorTarget, startRealTarget, stopSharedControlPlane, type TestApiServer } from '../helpers/api-target.js';
import { waitFor } from '../helpers/wait.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CHART = join(REPO, 'charts', 'fulcrum');
const CONFIG_DIR = join(REPO, 'config');

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

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };
const objects = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJSON() as Obj | null).filter((o): o is Obj => o !== null);
const find = (objs: readonly Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} rendered (have: ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')})`);
  return o;
};
const configObjects = (): Obj[] =>
  readdirSync(CONFIG_DIR).filter((f) => /^\d\d-.*\.yaml$/.test(f) && !/sample/.test(f)).sort().flatMap((f) => objects(readFileSync(join(CONFIG_DIR, f), 'utf8')));

/** helm as test/helm/build.sh built it (`npm run test:helm` builds it first). */
let helmPath: string | undefined;
async function helm(args: readonly string[], kubeconfig?: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  if (!helmPath) {
    const r = await run('bash', [join(REPO, 'test', 'helm', 'build.sh'), '--check']);
    assert.equal(r.code, 0, `helm is not built: run \`bash test/helm/build.sh\` (npm run test:helm does) ${r.stderr}`);
    helmPath = r.stdout.trim().split('\n').pop()!;
  }
  const home = mkdtempSync(join(tmpdir(), 'fulcrum-helm-home-'));
  try {
    // A private HOME and XDG dirs: no repository config or cache of the machine's user.
    return await run(helmPath, args, { env: { PATH: process.env.PATH, HOME: home, XDG_CACHE_HOME: join(home, 'cache'), XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data'), ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}), ...extraEnv } });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
async function template(...set: string[]): Promise<Obj[]> {
  const r = await helm(['template', 'fulcrum', CHART, '--namespace', 'fulcrum-system', ...set]);
  assert.equal(r.code, 0, `helm template ${set.join(' ')}: ${r.stderr}`);
  return objects(r.stdout);
}

const MONITORING = ['--set', 'serviceMonitor.enabled=true', '--set', 'prometheusRule.enabled=true', '--set', 'grafanaDashboard.enabled=true'];

describe('charts/fulcrum: helm lint and helm template', function () {
  this.timeout(60_000);

  it('helm is the pinned release', async () => {
    const r = await helm(['version', '--template', '{{.Version}}']);
    assert.equal(r.code, 0, r.stderr);
    const pinned = /^\s*helm\.sh\/helm\/v3 (v\S+)/m.exec(readFileSync(join(REPO, 'test', 'helm', 'go.mod'), 'utf8'))?.[1];
    assert.equal(r.stdout.trim(), pinned);
  });

  it('helm lint --strict passes with the defaults, with the MetalLB resources and with every monitoring toggle on', async () => {
    for (const set of [[], ['--set', 'config.source=metallb-crds', ...MONITORING], ['--set', 'config.source=none']]) {
      const r = await helm(['lint', '--strict', CHART, ...set]);
      assert.equal(r.code, 0, `helm lint ${set.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('the defaults render what config/ has (but the Namespace: --create-namespace), field for field where it matters', async () => {
    const chart = await template();
    const config = configObjects().filter((o) => o.kind !== 'Namespace' && o.kind !== 'CustomResourceDefinition');
    assert.deepEqual(chart.map((o) => `${o.kind}/${o.metadata.name}`).sort(), config.map((o) => `${o.kind}/${o.metadata.name}`).sort());
    for (const c of config) {
      const h = find(chart, c.kind, c.metadata.name);
      const what = `${c.kind}/${c.metadata.name}`;
      assert.equal(h.metadata.namespace, c.metadata.namespace, `${what}: namespace`);
      assert.equal(h.metadata.labels?.['app.kubernetes.io/part-of'], 'fulcrum', `${what}: labels`);
      if (c.rules) assert.deepEqual(h.rules, c.rules, `${what}: rules`);
      if (c.roleRef) assert.deepEqual([h.roleRef, h.subjects], [c.roleRef, c.subjects], `${what}: binding`);
      if (c.kind === 'ConfigMap') assert.deepEqual(parseYaml(h.data.config), parseYaml(c.data.config), `${what}: the pools`);
      if (c.kind === 'Deployment' || c.kind === 'DaemonSet') {
        assert.equal(h.spec.replicas, c.spec.replicas, `${what}: replicas`);
        const [hp, cp] = [h.spec.template.spec, c.spec.template.spec];
        for (const k of ['serviceAccountName', 'hostNetwork', 'dnsPolicy', 'terminationGracePeriodSeconds', 'securityContext', 'tolerations']) assert.deepEqual(hp[k], cp[k], `${what}: spec.${k}`);
        const [hc, cc] = [hp.containers[0], cp.containers[0]];
        for (const k of ['name', 'image', 'env', 'ports', 'readinessProbe', 'livenessProbe', 'resources', 'securityContext']) assert.deepEqual(hc[k], cc[k], `${what}: container ${k}`);
        assert.deepEqual(hc.args, [...cc.args, '--log-level', 'info'], `${what}: args`);
        for (const [k, v] of Object.entries(h.spec.selector.matchLabels as Record<string, string>)) assert.equal(h.spec.template.metadata.labels[k], v, `${what}: the selector selects the pods (${k})`);
      }
    }
  });

  it('crds/ holds config/01-crds-metallb.yaml as it is; helm template --include-crds renders both', async () => {
    assert.equal(readFileSync(join(CHART, 'crds', 'metallb.yaml'), 'utf8'), readFileSync(join(CONFIG_DIR, '01-crds-metallb.yaml'), 'utf8'));
    const r = await helm(['template', 'fulcrum', CHART, '-n', 'fulcrum-system', '--include-crds']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(objects(r.stdout).filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name), ['ipaddresspools.metallb.io', 'l2advertisements.metallb.io']);
  });

  it('config.source=metallb-crds renders an IPAddressPool and an L2Advertisement per pool and no ConfigMap', async () => {
    const objs = await template('--set', 'config.source=metallb-crds', '--set-json', 'config.pools=[{"name":"lan","addresses":["198.51.100.0/29"],"avoidBuggyIPs":true,"interfaces":["eth1"]},{"name":"manual","addresses":["198.51.100.16-198.51.100.20"],"autoAssign":false}]');
    assert.ok(!objs.some((o) => o.kind === 'ConfigMap'));
    assert.deepEqual(find(objs, 'IPAddressPool', 'lan').spec, { addresses: ['198.51.100.0/29'], autoAssign: true, avoidBuggyIPs: true });
    assert.deepEqual(find(objs, 'IPAddressPool', 'manual').spec, { addresses: ['198.51.100.16-198.51.100.20'], autoAssign: false, avoidBuggyIPs: false });
    assert.deepEqual(find(objs, 'L2Advertisement', 'lan').spec, { ipAddressPools: ['lan'], interfaces: ['eth1'] });
    assert.deepEqual(find(objs, 'L2Advertisement', 'manual').spec, { ipAddressPools: ['manual'] });
    assert.equal(find(objs, 'IPAddressPool', 'lan').apiVersion, 'metallb.io/v1beta1');
    const none = await template('--set', 'config.source=none');
    assert.ok(!none.some((o) => ['ConfigMap', 'IPAddressPool', 'L2Advertisement'].includes(o.kind)));
  });

  it('image, log level, metrics ports, node selectors, tolerations and resources go where they should', async () => {
    const objs = await template('--set', 'image.repository=registry.example/fulcrum', '--set', 'image.tag=1.2.3', '--set', 'image.pullPolicy=Always', '--set', 'logLevel=debug',
      '--set', 'allocator.metricsPort=9472', '--set', 'speaker.metricsPort=9473', '--set', 'allocator.replicas=3',
      '--set', 'speaker.nodeSelector.fulcrum/speaker=yes', '--set', 'allocator.nodeSelector.kubernetes\\.io/os=linux',
      '--set-json', 'speaker.tolerations=[{"operator":"Exists"}]', '--set', 'speaker.resources.limits.memory=1Gi', '--set-json', 'speaker.extraArgs=["--interfaces","eth1"]');
    const a = find(objs, 'Deployment', 'fulcrum-allocator');
    const s = find(objs, 'DaemonSet', 'fulcrum-speaker');
    const [ac, sc] = [a.spec.template.spec.containers[0], s.spec.template.spec.containers[0]];
    assert.equal(ac.image, 'registry.example/fulcrum:1.2.3');
    assert.equal(sc.imagePullPolicy, 'Always');
    assert.deepEqual(ac.args, ['allocator', '--metrics', '0.0.0.0:9472', '--log-level', 'debug']);
    assert.deepEqual(sc.args, ['speaker', '--metrics', '0.0.0.0:9473', '--log-level', 'debug', '--interfaces', 'eth1']);
    assert.deepEqual([ac.ports, sc.ports], [[{ name: 'metrics', containerPort: 9472 }], [{ name: 'metrics', containerPort: 9473 }]]);
    assert.equal(a.spec.replicas, 3);
    assert.deepEqual(s.spec.template.spec.nodeSelector, { 'fulcrum/speaker': 'yes' });
    assert.deepEqual(a.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.deepEqual(s.spec.template.spec.tolerations, [{ operator: 'Exists' }]);
    assert.deepEqual(sc.resources, { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '1Gi' } });
    assert.equal((await template()).find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].image, 'ghcr.io/fulcrum-lb/fulcrum:0.1.0', 'the default tag is the appVersion');
  });

  it('monitoring toggles: two ServiceMonitors (job = fulcrum-allocator, fulcrum-speaker) over headless metrics Services, the PrometheusRule and the dashboard of config/monitoring/', async () => {
    assert.ok(!(await template()).some((o) => o.apiVersion === 'monitoring.coreos.com/v1' || o.kind === 'Service'), 'off by default');
    const objs = await template(...MONITORING, '--set', 'prometheusRule.labels.release=kube-prometheus', '--set', 'speaker.metricsPort=9473');
    for (const c of ['allocator', 'speaker']) {
      const sm = find(objs, 'ServiceMonitor', `fulcrum-${c}`);
      const svc = find(objs, 'Service', `fulcrum-${c}-metrics`);
      assert.equal(sm.spec.jobLabel, 'app.kubernetes.io/name');
      assert.equal(svc.metadata.labels?.['app.kubernetes.io/name'], `fulcrum-${c}`, `${c}: the job label the alerts select`);
      assert.deepEqual(sm.spec.selector.matchLabels, Object.fromEntries(Object.entries(svc.metadata.labels!).filter(([k]) => k in sm.spec.selector.matchLabels)), `${c}: the ServiceMonitor selects the Service`);
      assert.equal(svc.spec.clusterIP, 'None');
      const pods = find(objs, c === 'allocator' ? 'Deployment' : 'DaemonSet', `fulcrum-${c}`).spec.template.metadata.labels;
      for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) assert.equal(pods[k], v, `${c}: the Service selects the pods (${k})`);
      assert.deepEqual(sm.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '30s' }]);
    }
    assert.equal(find(objs, 'Service', 'fulcrum-speaker-metrics').spec.ports[0].port, 9473);
    const rule = find(objs, 'PrometheusRule', 'fulcrum');
    assert.equal(rule.metadata.labels?.release, 'kube-prometheus');
    const plain = parseYaml(readFileSync(join(CONFIG_DIR, 'monitoring', 'prometheus-rule.yaml'), 'utf8')) as Obj;
    assert.deepEqual(rule.spec, plain.spec, 'the chart\'s rules are config/monitoring/prometheus-rule.yaml\'s, $labels templates untouched');
    assert.match(JSON.stringify(rule.spec), /\{\{ \$labels\.pool \}\}/);
    const dash = find(objs, 'ConfigMap', 'fulcrum-grafana-dashboard');
    assert.equal(dash.metadata.labels?.grafana_dashboard, '1');
    assert.deepEqual(JSON.parse(dash.data['fulcrum.json']), JSON.parse(readFileSync(join(CONFIG_DIR, 'monitoring', 'grafana-dashboard.json'), 'utf8')));
  });

  it('values.schema.json: a wrong type, an unknown key or an unknown source fails, naming the field', async () => {
    const rows: [string[], RegExp][] = [
      [['--set', 'allocator.metricsPort=seven'], /allocator\/metricsPort.*(want integer|Expected: integer)/],
      [['--set', 'image.tag=5'], /image\/tag.*want string/],
      [['--set', 'speaker.nodeselector.a=b'], /speaker.*additional properties 'nodeselector' not allowed/],
      [['--set', 'config.source=crds'], /config\/source.*(configmap|must be one of)/],
      [['--set', 'serviceMonitor.enabled=yes'], /serviceMonitor\/enabled.*want boolean/],
      [['--set-json', 'config.pools=[{"name":"p"}]'], /config\/pools\/0.*addresses/],
    ];
    for (const [set, want] of rows) {
      const r = await helm(['template', 'fulcrum', CHART, ...set]);
      assert.notEqual(r.code, 0, `helm template ${set.join(' ')} fails`);
      assert.match(r.stderr, want, `helm template ${set.join(' ')}: ${r.stderr}`);
    }
  });
});

/**
 * The chart applied with kubectl (and installed with helm where the server allows), on the API
 * emulator and on the real control plane (kube-apiserver v1.37.2 built by test/k8s-real/build.sh,
 * which `npm run test:helm` runs first): only there does `helm install` itself run.
 */
for (const kind of ['emulator', 'real'] as const) describe(`charts/fulcrum rendered and applied with the real kubectl to ${kind === 'real' ? 'the real kube-apiserver' : 'the API emulator'}`, function () {
  this.timeout(120_000);
  let api: TestApiServer;
  let home: string;
  let kubeconfig: string;
  const applied: string[] = [];

  const kubectl = (args: readonly string[], input?: string): Promise<Run> =>
    run(process.env.KUBECTL ?? 'kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: home }, ...(input === undefined ? {} : { input }) });
  async function ok(args: readonly string[], input?: string): Promise<string> {
    const r = await kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }
  /** helm template (CRDs included) into a file, kept for the cleanup. */
  async function render(name: string, ...set: string[]): Promise<string> {
    const r = await helm(['template', 'fulcrum', CHART, '--namespace', 'fulcrum-system', '--include-crds', ...set]);
    assert.equal(r.code, 0, r.stderr);
    const path = join(home, `${name}.yaml`);
    writeFileSync(path, r.stdout);
    applied.push(path);
    return path;
  }
  /** The allocator as the chart's ServiceAccount: the address it gives a new Service. */
  async function allocatorAssigns(service: string): Promise<string> {
    const saConfig = join(home, 'allocator.kubeconfig');
    await api.writeKubeconfig(saConfig, { token: await api.serviceAccountToken('fulcrum-system', 'fulcrum-allocator') });
    const allocator = await startAllocator({
      kubeconfig: saConfig, namespace: 'fulcrum-system', configName: 'config', lbClass: undefined, metrics: undefined, identity: 'helm-test',
      leaderElection: { enabled: true, leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
    });
    try {
      await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: service, namespace: 'default' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } }));
      return await waitFor(`an address on default/${service}`, async () => (await ok(['get', 'svc', service, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])) || undefined, { timeoutMs: 20_000, intervalMs: 200 });
    } finally {
      await allocator.stop();
      await kubectl(['delete', 'svc', service, '--ignore-not-found']);
    }
  }

  before(async () => {
    api = kind === 'real' ? await startRealTarget() : await startEmulatorTarget();
    home = mkdtempSync(join(tmpdir(), 'fulcrum-helm-apply-'));
    kubeconfig = join(home, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig);
  });
  after(async () => {
    for (const path of applied.reverse()) {
      const r = await kubectl(['delete', '-f', path, '--ignore-not-found', '--wait=false']);
      assert.equal(r.code, 0, `cleanup: kubectl delete -f ${path}: ${r.stderr}`);
    }
    await api?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('the default chart: apply --dry-run=server, apply, apply again unchanged', async () => {
    const file = await render('default');
    const count = objects(readFileSync(file, 'utf8')).length;
    const dry = await ok(['apply', '--dry-run=server', '-f', file]);
    assert.equal(dry.trim().split('\n').filter((l) => /\(server dry run\)$/.test(l)).length, count, dry);
    const first = await ok(['apply', '-f', file]);
    assert.equal(first.trim().split('\n').filter((l) => / created$/.test(l)).length, count, first);
    const second = await ok(['apply', '-f', file]);
    assert.ok(second.trim().split('\n').every((l) => / unchanged$/.test(l)), second);
    assert.equal(await ok(['get', 'ds', '-n', 'fulcrum-system', 'fulcrum-speaker', '-o', 'jsonpath={.spec.template.spec.containers[0].args}']), '["speaker","--metrics","0.0.0.0:7473","--log-level","info"]');
  });

  it('the allocator, as the chart\'s ServiceAccount with the chart\'s ConfigMap, gives a Service an address', async () => {
    const ip = await allocatorAssigns('helm-web');
    const last = Number(ip.split('.')[3]);
    assert.ok(ip.startsWith('192.0.2.') && last >= 100 && last <= 149, `${ip} from the default pool 192.0.2.100-192.0.2.149`);
  });

  // A real `helm install` against the emulator stops at its first create: helm makes the release
  // Secret (and --create-namespace's Namespace) with client-go's typed clients, which send protobuf,
  // and the emulator answers 415 to protobuf. --dry-run=server goes as far as the emulator allows:
  // reachability, the server version against the chart's kubeVersion, the release list.
  it('helm install --dry-run=server (another release, in its own namespace) renders its names and NOTES.txt', async () => {
    const r = await helm(['install', 'edge', CHART, '-n', 'fulcrum-edge', '--dry-run=server', '--set', 'config.source=none'], kubeconfig);
    assert.equal(r.code, 0, `helm install --dry-run=server: ${r.stderr}`);
    assert.match(r.stdout, /^NAMESPACE: fulcrum-edge$/m);
    assert.match(r.stdout, /NOTES:\nFulcrum 0\.1\.0 is installed in namespace fulcrum-edge/);
    assert.match(r.stdout, /Pools: none rendered \(config\.source=none\)/);
    assert.match(r.stdout, /rollout status deployment\/edge-fulcrum-allocator/);
    const objs = objects(r.stdout.slice(r.stdout.indexOf('MANIFEST:') + 'MANIFEST:'.length, r.stdout.indexOf('NOTES:')));
    assert.equal(find(objs, 'ClusterRoleBinding', 'edge-fulcrum-speaker').subjects[0].namespace, 'fulcrum-edge');
    assert.equal(find(objs, 'Deployment', 'edge-fulcrum-allocator').spec.template.spec.serviceAccountName, 'edge-fulcrum-allocator');
    const list = await helm(['list', '-A', '-o', 'json'], kubeconfig);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), [], 'a dry run records no release');
  });

  (kind === 'real' ? it : it.skip)(`helm install: a release in its own namespace (--create-namespace), its objects created, listed as deployed; helm uninstall removes them${kind === 'real' ? '' : " [real kube-apiserver only: helm's typed clients send protobuf, which the emulator refuses (415)]"}`, async () => {
      const install = await helm(['install', 'edge', CHART, '-n', 'fulcrum-edge', '--create-namespace', '--set', 'config.source=none'], kubeconfig);
      assert.equal(install.code, 0, `helm install: ${install.stderr}`);
      assert.match(install.stdout, /STATUS: deployed/);
      const list = await helm(['list', '-n', 'fulcrum-edge', '-o', 'json'], kubeconfig);
      assert.deepEqual((JSON.parse(list.stdout) as { name: string; status: string }[]).map((r) => [r.name, r.status]), [['edge', 'deployed']]);
      assert.equal(await ok(['get', 'deploy', '-n', 'fulcrum-edge', 'edge-fulcrum-allocator', '-o', 'jsonpath={.spec.template.spec.serviceAccountName}']), 'edge-fulcrum-allocator');
      assert.equal(await ok(['get', 'ds', '-n', 'fulcrum-edge', 'edge-fulcrum-speaker', '-o', 'jsonpath={.spec.template.spec.containers[0].securityContext.privileged}']), 'true');
      assert.equal(await ok(['get', 'ds', '-n', 'fulcrum-edge', 'edge-fulcrum-speaker', '-o', 'jsonpath={.spec.template.spec.containers[0].securityContext.runAsUser}']), '0', 'root: the image\'s default user is nobody');
      assert.equal(await ok(['get', 'clusterrolebinding', 'edge-fulcrum-speaker', '-o', 'jsonpath={.subjects[0].namespace}']), 'fulcrum-edge');
      const uninstall = await helm(['uninstall', 'edge', '-n', 'fulcrum-edge'], kubeconfig);
      assert.equal(uninstall.code, 0, `helm uninstall: ${uninstall.stderr}`);
      assert.equal((await kubectl(['get', 'clusterrolebinding', 'edge-fulcrum-speaker'])).code, 1, 'the release\'s cluster-scoped objects are gone');
      assert.equal((await kubectl(['get', 'deploy', '-n', 'fulcrum-edge', 'edge-fulcrum-allocator'])).code, 1, 'and its namespaced ones');
    });

  it('config.source=metallb-crds: the IPAddressPool and L2Advertisement apply, and the allocator takes its pool from them', async () => {
    await ok(['delete', 'configmap', '-n', 'fulcrum-system', 'config']); // both at once are refused
    const file = await render('metallb', '--set', 'config.source=metallb-crds', '--set-json', 'config.pools=[{"name":"lan","addresses":["198.51.100.8/29"]}]');
    const out = await ok(['apply', '-f', file]);
    assert.match(out, /ipaddresspool\.metallb\.io\/lan created/);
    assert.match(out, /l2advertisement\.metallb\.io\/lan created/);
    assert.equal(await ok(['get', 'ipaddresspools', '-n', 'fulcrum-system', 'lan', '-o', 'jsonpath={.spec.autoAssign}']), 'true');
    const ip = await allocatorAssigns('helm-crd');
    const last = Number(ip.split('.')[3]);
    assert.ok(ip.startsWith('198.51.100.') && last >= 8 && last <= 15, `${ip} from the IPAddressPool lan 198.51.100.8/29`);
  });
});

after(async function () {
  this.timeout(30_000);
  await stopSharedControlPlane();
});
