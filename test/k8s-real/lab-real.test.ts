import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { checkAddress, formatTable, ownerSeenByClient } from '../../lab/check.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { defaultStateDir, startLab, type Lab, type LabService } from '../../lab/lab.js';
import { findLeftovers, killProcessesMentioning, removeLeftovers } from '../../lab/leftovers.js';
import { sampleCheckCount, SAMPLE_NAMESPACE, SAMPLE_SERVICES } from '../../lab/samples.js';
import type { LabState } from '../../lab/state.js';
import { hideHostAddressesFromLab, skipUnlessRoot, waitForOneHolderEach } from '../e2e/helpers-resilience.js';
import { waitFor } from '../helpers/wait.js';

// `fulcrum lab --apiserver real` as a library: the whole lab (3 nodes, allocator, speakers) on
// etcd + kube-apiserver + kube-controller-manager built from source, instead of the emulator.
const PREFIX = 'flr';
const NODES = 3;
/** kube-controller-manager's --node-monitor-grace-period default (50 s since v1.32), plus a margin. */
const NODE_GRACE_MS = 55_000;
/** A failover is the peers' detection (about a second) plus a gratuitous ARP; this much allows for a busy machine. */
const FAILOVER_BOUND_MS = 15_000;

interface NodeJson {
  metadata: { name: string };
  spec?: { taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string; lastHeartbeatTime?: string }[] };
}

interface SliceJson {
  metadata: { labels?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] };
  endpoints?: { nodeName?: string; targetRef?: { kind?: string; name?: string }; conditions?: { ready?: boolean } }[];
}

/** Who a kubeconfig's token authenticates as, asked of the server itself (SelfSubjectReview). */
async function whoAmI(lab: Lab, kubeconfig: string): Promise<string> {
  const config = parse(readFileSync(kubeconfig, 'utf8')) as { users: { user: { token: string } }[] };
  const token = config.users[0]!.user.token;
  const review = await apiRequest({ ...lab.apiTarget, token }, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  return String((review.status as { userInfo?: { username?: string } } | undefined)?.userInfo?.username);
}

function addressOf(svcs: readonly LabService[], name: string): string {
  const a = svcs.find((s) => s.name === name)?.addresses.find((x) => !x.includes(':'));
  assert.ok(a, `${name} has an IPv4 address`);
  return a;
}

describe('the lab on the real control plane (fulcrum lab --apiserver real)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let stateDir: string;
  let svcs: LabService[];
  let registeredAt = 0;

  before(async function () {
    skipUnlessRoot(this, 'the lab on the real control plane');
    this.timeout(240_000); // a cold kube-apiserver on 2 busy cores takes up to 30 s, each part is bounded at 120 s
    stateDir = mkdtempSync(join(tmpdir(), 'fulcrum-lab-real-'));
    const started = Date.now();
    lab = await startLab({ prefix: PREFIX, nodes: NODES, stateDir, apiserver: 'real', onProgress: (m) => { if (m.startsWith('registering')) registeredAt = Date.now(); } });
    await hideHostAddressesFromLab(lab);
    svcs = await lab.waitForAddresses(60_000);
    assert.deepEqual(await lab.waitForSpeakers(10_000), [], 'every speaker ready, seeing all alive');
    process.stdout.write(`      [k8s-real] lab up on ${lab.controlPlane.url} in ${Date.now() - started} ms\n`);
  });

  after(async () => {
    await lab?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('runs on kube-apiserver, not the emulator', async () => {
    assert.equal(lab.controlPlane.kind, 'real');
    assert.equal(lab.controlPlane.emulator, undefined);
    assert.throws(() => lab.api, /real control plane/);
    const version = await apiRequest(lab.apiTarget, 'GET', '/version');
    assert.match(String(version.gitVersion), /^v1\.\d+\.\d+$/);
    const state = JSON.parse(readFileSync(lab.statePath, 'utf8')) as { apiServer: string; apiServerKind: string };
    assert.deepEqual([state.apiServer, state.apiServerKind], [lab.controlPlane.url, 'real']);
  });

  it('every check of the table passes', async () => {
    const rows = await waitFor('every sample Service to answer', async () => {
      const r = await lab.check();
      return r.every((x) => x.result.startsWith('ok')) ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, describe: async () => formatTable(await lab.check()) });
    process.stdout.write(`${formatTable(rows).replace(/^/gm, '      ')}\n`);
    assert.equal(rows.length, sampleCheckCount(), 'one check per address and port');
    assert.ok(rows.some((r) => r.address.includes('[2001:db8::')), 'an IPv6 address was checked');
  });

  it('kube-controller-manager made the EndpointSlices of every sample Service from the lab pods', async () => {
    const slices = (await apiRequest(lab.apiTarget, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${SAMPLE_NAMESPACE}/endpointslices`)).items as SliceJson[];
    const pods = new Map(lab.pods.map((p) => [p.name, p.nodeName]));
    for (const sample of SAMPLE_SERVICES) {
      const mine = slices.filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === sample.name);
      assert.ok(mine.length > 0, `${sample.name} has EndpointSlices`);
      for (const s of mine) {
        assert.equal(s.metadata.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io', `${sample.name}: made by kube-controller-manager`);
        assert.deepEqual(s.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`), [`Service/${sample.name}`]);
        for (const e of s.endpoints ?? []) {
          assert.equal(e.targetRef?.kind, 'Pod');
          assert.equal(e.nodeName, pods.get(e.targetRef?.name ?? ''), `${sample.name}: endpoint ${e.targetRef?.name} is on its pod's node`);
          assert.equal(e.conditions?.ready, true);
        }
      }
    }
  });

  it('the allocator and the speakers authenticate with their own ServiceAccount tokens', async () => {
    assert.equal(await whoAmI(lab, lab.kubeconfigs.allocator), 'system:serviceaccount:fulcrum-system:fulcrum-allocator');
    assert.equal(await whoAmI(lab, lab.kubeconfigs.speaker), 'system:serviceaccount:fulcrum-system:fulcrum-speaker');
  });

  it('failover: SIGKILL of the owner speaker of an address, and another node answers for it', async () => {
    const address = addressOf(svcs, 'echo-tcp');
    // right after start-up a node that lost the address keeps it while it hands over
    const [owner] = (await waitForOneHolderEach(lab)).get(address) ?? [];
    assert.ok(owner, `a node holds ${address}`);
    assert.equal((await checkAddress(lab.topology, 'tcp-echo', address, 5678)).ok, true);
    const speaker = lab.speakers.get(owner)!;
    const killedAt = Date.now();
    speaker.signal('SIGKILL');
    await speaker.exited;
    const next = await waitFor(`another node to answer for ${address}`, async () => {
      const r = await checkAddress(lab.topology, 'tcp-echo', address, 5678);
      const seen = await ownerSeenByClient(lab.topology, address);
      return r.ok && seen && seen !== owner ? seen : undefined;
    }, { timeoutMs: FAILOVER_BOUND_MS, intervalMs: 100, describe: () => ownerSeenByClient(lab.topology, address) });
    const failoverMs = Date.now() - killedAt;
    process.stdout.write(`      [k8s-real] ${address}: ${owner} killed, ${next} answered after ${failoverMs} ms\n`);
    assert.notEqual(next, owner);
    // Back to three: the restarted speaker removes its stale address and the election settles.
    lab.startSpeaker(owner);
    assert.deepEqual(await lab.waitForSpeakers(15_000), [], 'every speaker ready again, seeing all three alive');
  });

  it('the nodes stay Ready past the node-monitor grace period: the kubelet stand-in renews their Leases and Ready heartbeats', async function () {
    this.timeout(NODE_GRACE_MS + 30_000);
    const wait = registeredAt + NODE_GRACE_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const nodes = (await apiRequest(lab.apiTarget, 'GET', '/api/v1/nodes')).items as NodeJson[];
    assert.deepEqual(nodes.map((n) => n.metadata.name).sort(), lab.topology.nodes.map((n) => n.name));
    for (const n of nodes) {
      assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', `${n.metadata.name} Ready`);
      // TaintNodesByCondition put not-ready on at registration; the node lifecycle controller took it off and put nothing else.
      assert.deepEqual(n.spec?.taints ?? [], [], `${n.metadata.name} has no taints`);
    }
    const leases = (await apiRequest(lab.apiTarget, 'GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases')).items as { metadata: { name: string }; spec: { renewTime: string } }[];
    for (const n of lab.topology.nodes) {
      const renewed = Date.parse(leases.find((l) => l.metadata.name === n.name)?.spec.renewTime ?? '');
      assert.ok(Date.now() - renewed < 20_000, `${n.name}: node Lease renewed within 20 s (${new Date(renewed).toISOString()})`);
    }
    // retried: the speaker restarted above may still be taking its address back
    await waitFor('every check to pass still', async () => (await lab.check()).every((r) => r.result.startsWith('ok')), { timeoutMs: 15_000, intervalMs: 500, describe: async () => formatTable(await lab.check()) });
  });
});

// The command as a user runs it, as a child process. Prefix `flk`.
describe('fulcrum lab --apiserver real (the command)', function () {
  this.timeout(120_000);
  const prefix = 'flk';
  const bin = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));
  const env = { ...process.env, FULCRUM_LOG_LEVEL: 'silent' };
  const stateDir = defaultStateDir(prefix);
  /** Every process started with a file of this lab's state directory: its allocator, its control plane. */
  const processesOfTheLab = (): number[] => {
    const out: number[] = [];
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${stateDir}/`)) out.push(Number(pid));
      } catch {
        // gone meanwhile
      }
    }
    return out;
  };
  let child: ChildProcess | undefined;

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    killProcessesMentioning([`${stateDir}/`]);
    await removeLeftovers(prefix);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('--apiserver with another value is a usage error (exit 2)', () => {
    const r = spawnSync(process.execPath, [bin, 'lab', '--apiserver', 'kind', '--prefix', prefix], { encoding: 'utf8', env });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--apiserver "kind": expected emulator or real/);
  });

  it('without built binaries: exit 1 before building anything, naming the build command', async function () {
    skipUnlessRoot(this, 'the lab command');
    const emptyCache = mkdtempSync(join(tmpdir(), 'fulcrum-k8s-cache-'));
    try {
      const noBinaries = { ...env, FULCRUM_K8S_CACHE: emptyCache, FULCRUM_K8S_BIN: '' };
      const r = spawnSync(process.execPath, [bin, 'lab', '--apiserver', 'real', '--no-wait', '--prefix', prefix], { encoding: 'utf8', env: noBinaries, timeout: 60_000 });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^fulcrum lab --apiserver real: .*not built.*`bash test\/k8s-real\/build\.sh`.*FULCRUM_K8S_BIN/);
      assert.equal(r.stdout, '', 'no progress: nothing was built');
      assert.deepEqual(await findLeftovers(prefix), { namespaces: [], rootLinks: [] });
    } finally {
      rmSync(emptyCache, { recursive: true, force: true });
    }
  });

  it('a lab killed with SIGKILL leaves its control plane running; the next start removes it, and --no-wait passes every check and leaves nothing', async function () {
    skipUnlessRoot(this, 'the lab command');
    const statePath = join(stateDir, 'state.json');
    child = spawn(process.execPath, [bin, 'lab', '--apiserver', 'real', '--prefix', prefix, '--nodes', '2'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const state = await waitFor('state.json to say ready', () => {
      if (child!.exitCode !== null) throw new Error(`the lab exited: ${out}`);
      if (!existsSync(statePath)) return undefined;
      const s = JSON.parse(readFileSync(statePath, 'utf8')) as LabState;
      return s.phase === 'ready' ? s : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    assert.equal(state.apiServerKind, 'real');
    assert.match(state.apiServer, /^https:\/\/192\.0\.2\.254:\d+$/);
    assert.match(out, /All \d+ checks passed/, out);
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    const left = processesOfTheLab();
    assert.ok(left.length >= 4, `etcd, kube-apiserver, kube-controller-manager and the allocator outlive the lab (pids ${left.join(', ')})`);

    const r = spawnSync(process.execPath, [bin, 'lab', '--apiserver', 'real', '--no-wait', '--prefix', prefix, '--nodes', '2'], { encoding: 'utf8', env, timeout: 100_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /All \d+ checks passed/);
    assert.match(r.stdout, /kube-apiserver v1\.\d+\.\d+ on https:\/\/192\.0\.2\.254:\d+/);
    assert.deepEqual(processesOfTheLab(), [], 'no process of the lab is left');
    assert.deepEqual(readdirSync(stateDir).filter((d) => d.startsWith('fulcrum-k8s-real-')), [], 'the control plane directories are gone');
    assert.deepEqual(await findLeftovers(prefix), { namespaces: [], rootLinks: [] });
  });
});
