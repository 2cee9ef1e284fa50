import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { V1Service } from '@kubernetes/client-node';
import { createApiClients, type ApiClients } from '../../src/k8s/client.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { waitFor } from '../../lab/netns.js';
import { startRealControlPlane, type RealControlPlane } from '../../lab/real-control-plane.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CONFIG_DIR = `${REPO}config/`;
const SPEAKER = 'system:serviceaccount:fulcrum-system:fulcrum-speaker';

/** The k8s.io/kubernetes version test/k8s-real/go.mod pins. */
function pinnedVersion(): string {
  const m = /^\s*k8s\.io\/kubernetes (v\S+)$/m.exec(readFileSync(`${REPO}test/k8s-real/go.mod`, 'utf8'));
  assert.ok(m, 'test/k8s-real/go.mod requires k8s.io/kubernetes');
  return m[1]!;
}

interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** kubectl with `kubeconfig`, in the control plane's directory as HOME (no shared discovery cache). */
function kubectl(cp: RealControlPlane, kubeconfig: string, args: readonly string[]): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: cp.dir };
    execFile(process.env.KUBECTL ?? 'kubectl', [...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function clientsFor(kubeconfig: string): ApiClients {
  return createApiClients(loadKubeConfig(kubeconfig).kubeConfig);
}

function lbService(name: string): V1Service {
  return {
    metadata: { name, namespace: 'default' },
    spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
}

/** client-node returns class instances; compare plain JSON (absent: {}). */
function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? {})) as unknown;
}

/** client-node's ApiException: the HTTP code and the Status body the server sent. */
function apiError(err: unknown): { code: number; body: { reason?: string; message?: string } } {
  const e = err as { code?: number; body?: unknown };
  const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { reason?: string; message?: string }) : ((e.body ?? {}) as { reason?: string; message?: string });
  return { code: e.code ?? 0, body };
}

describe('real control plane: etcd, kube-apiserver and kube-controller-manager built from source', function () {
  this.timeout(120_000);
  let cp: RealControlPlane;
  let admin: ApiClients;

  before(async function () {
    this.timeout(400_000); // three starts of at most 120 s each, plus the PKI
    const started = Date.now();
    cp = await startRealControlPlane();
    admin = clientsFor(cp.kubeconfig);
    process.stdout.write(`      [k8s-real] ${cp.version} up in ${Date.now() - started} ms (${cp.url}, ${cp.dir})\n`);
  });

  after(async () => {
    await cp?.stop();
  });

  it('serves the version go.mod pins', () => {
    assert.equal(cp.version, pinnedVersion());
  });

  it('kubectl apply -f config/ creates every object, and a second apply changes nothing', async () => {
    const first = await kubectl(cp, cp.kubeconfig, ['apply', '-f', CONFIG_DIR]);
    assert.equal(first.code, 0, `kubectl apply: ${first.stderr}${first.stdout}`);
    const created = first.stdout.trim().split('\n');
    assert.ok(created.length > 0 && created.every((l) => / created$/.test(l)), first.stdout);
    const second = await kubectl(cp, cp.kubeconfig, ['apply', '-f', CONFIG_DIR]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(second.stdout.trim().split('\n').filter((l) => !/ unchanged$/.test(l)), [], second.stdout);
    const got = await kubectl(cp, cp.kubeconfig, ['get', '-f', CONFIG_DIR, '-o', 'name']);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim().split('\n').length, created.length, got.stdout);
  });

  it('a LoadBalancer Service: allocations from our ranges, and ipMode Proxy written through the status subresource and read back', async () => {
    const svc = await admin.core.createNamespacedService({ namespace: 'default', body: lbService('smoke-lb') });
    assert.match(svc.spec?.clusterIP ?? '', /^203\.0\.113\.\d+$/);
    const nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
    assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort}`);
    assert.deepEqual(plain(svc.status?.loadBalancer), {});

    const ingress = [{ ip: '192.0.2.10', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] }];
    const written = await admin.core.replaceNamespacedServiceStatus({ namespace: 'default', name: 'smoke-lb', body: { ...svc, status: { loadBalancer: { ingress } } } });
    assert.deepEqual(plain(written.status?.loadBalancer?.ingress), ingress);
    const read = await admin.core.readNamespacedService({ namespace: 'default', name: 'smoke-lb' });
    assert.deepEqual(plain(read.status?.loadBalancer?.ingress), ingress);

    // The main resource ignores status: a PUT there keeps what the status write stored.
    const relabelled = await admin.core.replaceNamespacedService({
      namespace: 'default',
      name: 'smoke-lb',
      body: { ...read, metadata: { ...read.metadata, labels: { smoke: 'yes' } }, status: { loadBalancer: {} } },
    });
    assert.equal(relabelled.status?.loadBalancer?.ingress?.[0]?.ipMode, 'Proxy');
  });

  it(`${SPEAKER} can list Services and gets a real 403 when it updates one`, async () => {
    // Idempotent: the RBAC of config/ is in place whatever ran before.
    const applied = await kubectl(cp, cp.kubeconfig, ['apply', '-f', `${CONFIG_DIR}00-namespace.yaml`, '-f', `${CONFIG_DIR}11-rbac-speaker.yaml`]);
    assert.equal(applied.code, 0, applied.stderr);
    await admin.core.createNamespacedService({ namespace: 'default', body: lbService('smoke-rbac') });
    const speaker = clientsFor(await cp.serviceAccountKubeconfig('fulcrum-system', 'fulcrum-speaker'));

    const list = await speaker.core.listServiceForAllNamespaces();
    assert.ok(list.items.some((s) => s.metadata?.name === 'smoke-rbac'), 'the speaker sees smoke-rbac');

    const svc = await speaker.core.readNamespacedService({ namespace: 'default', name: 'smoke-rbac' });
    const denied = (verb: string, resource: string) => (err: unknown) => {
      const { code, body } = apiError(err);
      assert.equal(code, 403, JSON.stringify(body));
      assert.equal(body.reason, 'Forbidden');
      assert.equal(body.message, `services "smoke-rbac" is forbidden: User "${SPEAKER}" cannot ${verb} resource "${resource}" in API group "" in the namespace "default"`);
      return true;
    };
    await assert.rejects(speaker.core.replaceNamespacedService({ namespace: 'default', name: 'smoke-rbac', body: { ...svc, metadata: { ...svc.metadata, labels: { x: 'y' } } } }), denied('update', 'services'));
    await assert.rejects(
      speaker.core.replaceNamespacedServiceStatus({ namespace: 'default', name: 'smoke-rbac', body: { ...svc, status: { loadBalancer: { ingress: [{ ip: '192.0.2.11' }] } } } }),
      denied('update', 'services/status'),
    );
    const after = await admin.core.readNamespacedService({ namespace: 'default', name: 'smoke-rbac' });
    assert.equal(after.metadata?.labels?.x, undefined);
    assert.deepEqual(plain(after.status?.loadBalancer), {});
  });

  it('a client-certificate user is who its certificate says, with its groups', async () => {
    const kubeconfig = await cp.userKubeconfig('jane', ['fulcrum-readers', 'team:a']);
    const who = await kubectl(cp, kubeconfig, ['auth', 'whoami', '-o', 'json']);
    assert.equal(who.code, 0, who.stderr);
    const status = (JSON.parse(who.stdout) as { status: { userInfo: { username: string; groups: string[] } } }).status.userInfo;
    assert.equal(status.username, 'jane');
    assert.deepEqual(status.groups, ['fulcrum-readers', 'team:a', 'system:authenticated']);
    await assert.rejects(clientsFor(kubeconfig).core.listNamespacedService({ namespace: 'default' }), (err: unknown) => apiError(err).code === 403);
  });

  it('the controller-manager builds an EndpointSlice and Endpoints for a Service, and the garbage collector deletes the slice after it', async () => {
    await admin.core.createNamespacedService({ namespace: 'default', body: lbService('smoke-slices') });
    const slicesOf = async () => (await admin.discovery.listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=smoke-slices' })).items;
    const slice = await waitFor('an EndpointSlice for smoke-slices', async () => (await slicesOf())[0], 30_000, 200);
    assert.equal(slice.metadata?.ownerReferences?.[0]?.kind, 'Service');
    assert.equal(slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
    await waitFor('Endpoints smoke-slices', () => admin.core.readNamespacedEndpoints({ namespace: 'default', name: 'smoke-slices' }).catch(() => undefined), 30_000, 200);
    await admin.core.deleteNamespacedService({ namespace: 'default', name: 'smoke-slices' });
    await waitFor('the EndpointSlice of deleted smoke-slices to go', async () => (await slicesOf()).length === 0, 30_000, 200);
  });
});
