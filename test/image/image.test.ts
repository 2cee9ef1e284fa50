import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { speakerReadyz } from '../../lab/check.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { startLab, type Lab } from '../../lab/lab.js';
import { execCommand, type ExecResult } from '../../lab/netns.js';
import { FULCRUM_NAMESPACE, SAMPLE_SERVICES, sampleAddressCount } from '../../lab/samples.js';
import { hideHostAddressesFromLab, vipHolders } from '../e2e/helpers-resilience.js';
import { waitFor } from '../helpers/wait.js';

// The container image (Dockerfile), built by bin/build-image.sh with podman on bases made here
// from Debian's packages and the npm registry's Node (no registry image), then run: `--help`,
// what the image holds, and the allocator and a speaker from it against the lab (prefix `fimg`:
// one node, the API emulator, the sample Services and pods). Each container runs with the
// securityContext of its manifest in config/: the allocator as 65534 on a read-only root with no
// capability; the speaker as root with only NET_ADMIN, NET_RAW and NET_BIND_SERVICE, in the node's
// network namespace as a hostNetwork pod is in its node's. One difference: the speaker writes
// arp_ignore/arp_announce under /proc/sys at start, which every container runtime mounts
// read-only (podman here, containerd and CRI-O in Kubernetes) unless the container is privileged:
// with the manifest's securityContext alone it stops with FUL_ERR_VIP_SYSCTL (EROFS). Here
// /proc/sys is made writable (`--security-opt unmask=/proc/sys`) and nothing else is granted;
// in Kubernetes that takes `privileged: true`. The image is tagged for this run and removed
// afterwards with its containers; the bases stay cached.

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BUILD_SCRIPT = join(REPO, 'bin', 'build-image.sh');
const PREFIX = 'fimg';
/** The tag and container names carry our pid: leftovers of a killed run are recognised by a dead pid. */
const IMAGE_REPO = 'localhost/fulcrum-image-test';
const IMAGE = `${IMAGE_REPO}:${process.pid}`;
const ALLOCATOR = `${PREFIX}-allocator-${process.pid}`;
const SPEAKER = `${PREFIX}-speaker-${process.pid}`;
/** A cold build (bases, npm ci, node-gyp, tsc) took about 3 minutes here on 2 shared cores. */
const BUILD_TIMEOUT_MS = 30 * 60_000;
const SPEAKER_METRICS_PORT = 7473;

let podmanEnv: NodeJS.ProcessEnv = process.env;

function podman(args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
  return execCommand('podman', args, { env: podmanEnv, timeoutMs });
}

async function podmanOk(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const r = await podman(args, timeoutMs);
  assert.equal(r.code, 0, `podman ${args.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `podman run --rm IMAGE …` with another entry point, for looking inside the image. */
function inImage(entrypoint: string, args: readonly string[]): Promise<ExecResult> {
  return podman(['run', '--rm', '--network', 'none', '--entrypoint', entrypoint, IMAGE, ...args]);
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Containers and test images of earlier runs whose process is gone (killed before its after hook). */
async function removeLeftovers(): Promise<void> {
  const names = (await podman(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => n.startsWith(`${PREFIX}-`));
  for (const name of names) {
    const pid = Number(/-(\d+)$/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) await podman(['rm', '-f', '-t', '0', name]);
  }
  const tags = (await podman(['images', '--format', '{{.Repository}}:{{.Tag}}', IMAGE_REPO])).stdout.split('\n').filter(Boolean);
  for (const tag of tags) {
    const pid = Number(tag.split(':').pop());
    if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) await podman(['rmi', '-f', tag]);
  }
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function containerLogs(name: string): Promise<string> {
  const r = await podman(['logs', name]);
  return `${r.stdout}${r.stderr}`.trim().split('\n').slice(-30).join('\n');
}

// Capability bits (linux/capability.h).
const CAP_NET_BIND_SERVICE = 1n << 10n;
const CAP_NET_ADMIN = 1n << 12n;
const CAP_NET_RAW = 1n << 13n;

/** The effective capabilities of the container's first process (the program). */
async function effectiveCapabilities(name: string): Promise<bigint> {
  const status = await podmanOk(['exec', name, 'cat', '/proc/1/status']);
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  assert.ok(hex, `CapEff in /proc/1/status of ${name}`);
  return BigInt(`0x${hex}`);
}

async function exitCode(name: string): Promise<number> {
  return Number((await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', name])).trim());
}

describe('the container image: built with podman without a registry image, then run', function () {
  this.timeout(BUILD_TIMEOUT_MS);
  let built = false;
  const scratch: string[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (image tests skipped: debootstrap, podman and the lab need root)');
      this.skip();
    }
    const conf = await execCommand('bash', [BUILD_SCRIPT, '--containers-conf'], { timeoutMs: 30_000 });
    assert.equal(conf.code, 0, `bin/build-image.sh --containers-conf: ${conf.stderr}`);
    if (conf.stdout.trim()) podmanEnv = { ...process.env, CONTAINERS_CONF: conf.stdout.trim() };
    await removeLeftovers();
    const started = Date.now();
    const r = await execCommand('bash', [BUILD_SCRIPT], { env: { ...process.env, FULCRUM_IMAGE: IMAGE }, timeoutMs: BUILD_TIMEOUT_MS });
    const summary = r.stderr.split('\n').filter((l) => l.startsWith('[image]'));
    assert.equal(r.code, 0, `bin/build-image.sh: exit ${r.code ?? r.signal}\n${r.stderr.trim().split('\n').slice(-40).join('\n')}`);
    built = true;
    console.log(`    ${summary.join('\n    ')}\n    (build step of this test: ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  });

  after(async () => {
    if (!built) return;
    await podman(['rm', '-f', '-t', '0', ALLOCATOR, SPEAKER]);
    await podman(['rmi', IMAGE]);
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  it('`fulcrum --help` is what the image runs without arguments, and each component has its help', async () => {
    const help = await podman(['run', '--rm', '--network', 'none', IMAGE]);
    assert.equal(help.code, 0, help.stderr);
    for (const sub of ['allocator', 'speaker', 'proxy', 'status']) assert.match(help.stdout, new RegExp(`^\\s+${sub}\\b`, 'm'), `--help lists ${sub}:\n${help.stdout}`);
    const speaker = await podman(['run', '--rm', '--network', 'none', IMAGE, 'speaker', '--help']);
    assert.equal(speaker.code, 0, speaker.stderr);
    assert.match(speaker.stdout, /^Usage: fulcrum speaker/m);
    const inspect = JSON.parse(await podmanOk(['image', 'inspect', '--format', '{{json .Config}}', IMAGE])) as { Entrypoint: string[]; Cmd: string[]; User?: string };
    assert.deepEqual(inspect.Entrypoint, ['/opt/fulcrum/bin/fulcrum']);
    assert.deepEqual(inspect.Cmd, ['--help']);
    assert.equal(inspect.User, '65534:65534', 'nobody by default (the speaker\'s manifest asks for root)');
    assert.equal((await podmanOk(['run', '--rm', '--network', 'none', '--entrypoint', 'id', IMAGE, '-u'])).trim(), '65534');
  });

  it('holds Node 22, ip, nft, the addons built for its Node, and no dev dependency, test or build leftover', async () => {
    const node = await inImage('node', ['--version']);
    assert.match(node.stdout, /^v22\./);
    assert.equal((await inImage('ip', ['-V'])).code, 0, 'iproute2');
    assert.match((await inImage('nft', ['--version'])).stdout, /^nftables v/);
    // The packet addon and raw-socket are loaded by the Node of the image (a wrong ABI throws).
    const addons = await inImage('node', ['-e', "require('/opt/fulcrum/build/Release/fulcrum_packet.node'); require('/opt/fulcrum/node_modules/raw-socket'); console.log('loaded')"]);
    assert.equal(addons.stdout.trim(), 'loaded', addons.stderr);
    const absent = ['node_modules/typescript', 'node_modules/mocha', 'node_modules/fast-check', 'dist/test', 'dist/bench', 'test', 'src', 'build/Release/obj.target'];
    const present = await inImage('sh', ['-c', `cd /opt/fulcrum && for p in ${absent.join(' ')}; do [ -e "$p" ] && echo "$p"; done; true`]);
    assert.equal(present.stdout.trim(), '', `not in the image: ${present.stdout}`);
  });

  describe('the allocator and a speaker from the image against the lab', function () {
    let lab: Lab | undefined;
    let allocatorMetricsPort = 0;

    before(async () => {
      const stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-`));
      scratch.push(stateDir);
      lab = await startLab({ prefix: PREFIX, nodes: 1, stateDir, allocator: false, speakers: false });
      await hideHostAddressesFromLab(lab);
      // The kubeconfigs as the containers see them: mounted read-only, readable by 65534 (the
      // allocator), as a Pod's ServiceAccount token is.
      const mounts = mkdtempSync(join(tmpdir(), `fulcrum-${PREFIX}-mounts-`));
      scratch.push(mounts);
      chmodSync(mounts, 0o755);
      for (const [from, to] of [[lab.kubeconfigs.allocator, 'allocator.kubeconfig'], [lab.kubeconfigs.speaker, 'speaker.kubeconfig']] as const) {
        copyFileSync(from, join(mounts, to));
        chmodSync(join(mounts, to), 0o644);
      }
      allocatorMetricsPort = await freeLoopbackPort();
      const common = ['--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--volume', `${mounts}:/etc/fulcrum:ro`, '--env', `FULCRUM_NAMESPACE=${FULCRUM_NAMESPACE}`];
      await podmanOk(['run', '-d', '--name', ALLOCATOR, '--network', 'host', '--user', '65534:65534', ...common, '--env', `POD_NAME=${ALLOCATOR}`,
        IMAGE, 'allocator', '--kubeconfig', '/etc/fulcrum/allocator.kubeconfig', '--metrics', `127.0.0.1:${allocatorMetricsPort}`]);
      const node = lab.topology.nodes[0]!;
      await podmanOk(['run', '-d', '--name', SPEAKER, '--network', `ns:/run/netns/${node.namespace}`, ...common, '--security-opt', 'unmask=/proc/sys', '--user', '0:0',
        '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW', '--cap-add', 'NET_BIND_SERVICE', '--env', `NODE_NAME=${node.name}`, '--env', `POD_NAME=${SPEAKER}`,
        IMAGE, 'speaker', '--kubeconfig', '/etc/fulcrum/speaker.kubeconfig', '--metrics', `0.0.0.0:${SPEAKER_METRICS_PORT}`, '--handover', '200ms', '--drain-timeout', '1s']);
    });

    after(async () => {
      // podman first: the speaker's namespace goes with the lab
      await podman(['rm', '-f', '-t', '0', ALLOCATOR, SPEAKER]);
      await lab?.stop();
    });

    afterEach(async function () {
      if (this.currentTest?.state !== 'failed') return;
      for (const name of [ALLOCATOR, SPEAKER]) console.log(`    --- ${name} (last lines)\n${await containerLogs(name)}`);
    });

    it('the allocator, as 65534 with no capability on a read-only root, is ready and gives every sample Service its addresses', async () => {
      assert.equal((await podmanOk(['exec', ALLOCATOR, 'id', '-u'])).trim(), '65534');
      assert.equal(await effectiveCapabilities(ALLOCATOR), 0n, 'no capability');
      await waitFor('the allocator\'s /readyz', async () => {
        const res = await fetch(`http://127.0.0.1:${allocatorMetricsPort}/readyz`).catch(() => undefined);
        return res?.status === 200 || undefined;
      }, { timeoutMs: 30_000, intervalMs: 200, describe: () => containerLogs(ALLOCATOR) });
      const svcs = await lab!.waitForAddresses(30_000);
      for (const sample of SAMPLE_SERVICES) {
        const s = svcs.find((x) => x.name === sample.name);
        assert.ok(s, `Service ${sample.name}`);
        assert.equal(s.addresses.length, sampleAddressCount(sample), `${sample.name}: ${JSON.stringify(s.addresses)}`);
      }
    });

    it('the speaker, as root with NET_ADMIN, NET_RAW and NET_BIND_SERVICE only (and /proc/sys writable), becomes ready, puts every address on lo and records nodeAssigned', async () => {
      const l = lab!;
      const node = l.topology.nodes[0]!;
      assert.equal((await podmanOk(['exec', SPEAKER, 'id', '-u'])).trim(), '0');
      assert.equal(await effectiveCapabilities(SPEAKER), CAP_NET_ADMIN | CAP_NET_RAW | CAP_NET_BIND_SERVICE, 'NET_ADMIN, NET_RAW and NET_BIND_SERVICE only');
      const ready = await waitFor('the speaker\'s /readyz', async () => {
        const r = await speakerReadyz(l.topology, node.name, SPEAKER_METRICS_PORT);
        return r.ready ? r.text : undefined;
      }, { timeoutMs: 30_000, intervalMs: 200, describe: async () => (await speakerReadyz(l.topology, node.name, SPEAKER_METRICS_PORT)).text });
      assert.equal(ready, 'ok: 1 of 1 members alive');
      const addresses = (await l.services()).flatMap((s) => s.addresses).sort();
      await waitFor('every address on the node\'s lo', async () => {
        const holders = await vipHolders(l);
        return addresses.every((a) => holders.get(a)?.[0] === node.name) || undefined;
      }, { timeoutMs: 20_000, intervalMs: 100, describe: async () => Object.fromEntries(await vipHolders(l)) });
      await waitFor('a nodeAssigned Event on every Service', async () => {
        const events = (await apiRequest(l.apiTarget, 'GET', '/api/v1/events')).items as { reason?: string; message?: string; involvedObject?: { kind?: string; name?: string } }[];
        const assigned = new Set(events.filter((e) => e.reason === 'nodeAssigned' && e.message === `announcing from node "${node.name}" with protocol "layer2"`).map((e) => e.involvedObject?.name));
        return SAMPLE_SERVICES.every((s) => assigned.has(s.name)) || undefined;
      }, { timeoutMs: 20_000, intervalMs: 200 });
    });

    it('the client reaches every sample address and port through the speaker (ARP/NDP answered by the node, the proxy to the pods)', async () => {
      const l = lab!;
      const rows = await l.check();
      const failed = rows.filter((r) => !r.result.startsWith('ok'));
      assert.deepEqual(failed, [], `every check from the client passes:\n${rows.map((r) => `${r.service} ${r.address} ${r.owner}: ${r.result}`).join('\n')}`);
      assert.ok(rows.length >= SAMPLE_SERVICES.length, `${rows.length} checks`);
      const node = l.topology.nodes[0]!.name;
      assert.deepEqual([...new Set(rows.map((r) => r.owner))], [node], 'the client learnt the node\'s MAC for the addresses');
    });

    it('SIGTERM (podman stop): the speaker hands over, removes its addresses and exits 0; the allocator exits 0', async () => {
      const l = lab!;
      await podmanOk(['stop', '-t', '15', SPEAKER], 30_000);
      assert.equal(await exitCode(SPEAKER), 0, await containerLogs(SPEAKER));
      assert.deepEqual(Object.fromEntries(await vipHolders(l)), {}, 'nothing left on lo');
      await podmanOk(['stop', '-t', '15', ALLOCATOR], 30_000);
      assert.equal(await exitCode(ALLOCATOR), 0, await containerLogs(ALLOCATOR));
    });
  });
});
