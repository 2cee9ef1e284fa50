import { rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, FulcrumError } from '../src/errors.js';
import { componentLogger, type Logger } from '../src/log.js';
import { DEFAULT_PREFIX, HOST_IPV4, type PodPlan } from './addressing.js';
import type { ApiServer } from './apiserver/index.js';
import { makeLabTls, type LabTls } from './certificates.js';
import { ComponentPods } from './component-pods.js';
import { checkAddress, membersAlive, ownerSeenByClient, speakerReadyz, type TableRow } from './check.js';
import { startLabControlPlane, type ApiServerKind, type LabControlPlane } from './control-plane.js';
import { applyCrds, applyManifest, componentStatus, memberlistSecret, startAllocator, startSpeaker, writeKubeconfigs, type ComponentOptions, type Kubeconfigs } from './components.js';
import { describeReplyRouting } from './host-link.js';
import { killProcessesMentioning } from './leftovers.js';
import { apiRequest, type ApiTarget } from './kube-rest.js';
import { LabKubelet, type LabPodSpec } from './kubelet.js';
import { waitFor, type LabProcess } from './netns.js';
import { FULCRUM_NAMESPACE, LAB_CONFIGMAP, labMetalLBResources, type ConfigSource, POD_CONTAINER_PORTS, POD_PORTS, SAMPLE_NAMESPACE, SAMPLE_SERVICES, sampleAddressCount, samplePods, type CheckKind, type CheckSpec } from './samples.js';
import { removeState, writeState, type LabPhase, type LabStateComponent, type LabStateService } from './state.js';
import { Supervisor } from './supervisor.js';
import { Topology } from './topology.js';
import { labServices, type LabService, type ServiceJson, type SliceJson } from './lab-services.js';

/**
 * The whole lab as a library: topology, a control plane on the lab host address (the in-process
 * API emulator, or the real one built from source), kubeconfigs, nodes and sample pods through
 * the kubelet role, the pool ConfigMap and sample Services, then the allocator and one speaker
 * per node. `npm run lab` and the e2e tests of the speaker both start it through `startLab`.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const POD_SERVER = fileURLToPath(new URL('./pod-server.js', import.meta.url));

export interface LabOptions {
  readonly prefix?: string;
  readonly nodes?: number;
  /** The in-process API emulator (default), or etcd + kube-apiserver + kube-controller-manager built from source. */
  readonly apiserver?: ApiServerKind;
  /** Where kubeconfigs, logs and state.json go (default `.lab/`, or `.lab/<prefix>/` for another prefix). */
  readonly stateDir?: string;
  /** Start the allocator / the speakers (default true); tests may start their own. */
  readonly allocator?: boolean;
  readonly speakers?: boolean;
  /** Apply the pool config, sample pods and Services (default true). */
  readonly samples?: boolean;
  /**
   * Where the pools come from: the legacy ConfigMap (default), or MetalLB's IPAddressPool and
   * L2Advertisement resources (the CRDs of config/ applied first; lab/samples.ts
   * labMetalLBResources: two pools announced by different nodes).
   */
  readonly configFrom?: ConfigSource;
  readonly allocatorArgs?: readonly string[];
  readonly speakerArgs?: readonly string[];
  /** Extra environment for the allocator and speakers. */
  readonly componentEnv?: NodeJS.ProcessEnv;
  /** Node runtime options for the allocator and the speakers (the soak's `--trace-gc`). */
  readonly componentNodeArgs?: readonly string[];
  /** Called at each step, for the command's progress lines (and each component restart). */
  readonly onProgress?: (message: string) => void;
  /** Restart a component that dies, with a back-off (lab/supervisor.ts); default false, `fulcrum lab` true. */
  readonly restart?: boolean;
  readonly logger?: Logger;
}

export interface LabPod {
  readonly namespace: string;
  readonly name: string;
  readonly nodeName: string;
  readonly plan: PodPlan;
  readonly process: LabProcess;
}

export type { LabService } from './lab-services.js';

/** state.json of labs alive in this process: removed if it exits without stop() (the topology removes itself). */
const liveStatePaths = new Set<string>();
process.on('exit', () => {
  for (const p of liveStatePaths) rmSync(p, { force: true });
});

export class Lab {
  readonly topology: Topology;
  readonly controlPlane: LabControlPlane;
  readonly apiTarget: ApiTarget;
  readonly kubelet: LabKubelet;
  readonly stateDir: string;
  readonly statePath: string;
  readonly kubeconfigs: Kubeconfigs;
  readonly pods: LabPod[] = [];
  readonly speakers = new Map<string, LabProcess>();
  /** Restarts of the allocator and speakers (lab/supervisor.ts); slots `allocator`, `speaker <node>`. */
  readonly supervisor: Supervisor;
  /** The allocator and speakers as Pods of FULCRUM_NAMESPACE with kubelet-style status (restarts, CrashLoopBackOff). */
  readonly componentPods: ComponentPods;
  allocator: LabProcess | undefined;
  /** The lab CA (HTTPS samples are signed by it) and the Secret applied, once the samples are applied. */
  tls: LabTls | undefined;
  readonly #components: ComponentOptions;
  readonly #owners = new Map<string, string>();
  #phase: LabPhase = 'starting';
  #services: LabService[] = [];
  #stopping: Promise<void> | undefined;

  constructor(parts: { topology: Topology; controlPlane: LabControlPlane; apiTarget: ApiTarget; kubelet: LabKubelet; stateDir: string; kubeconfigs: Kubeconfigs; components: ComponentOptions; supervisor?: Supervisor }) {
    this.topology = parts.topology;
    this.controlPlane = parts.controlPlane;
    this.apiTarget = parts.apiTarget;
    this.kubelet = parts.kubelet;
    this.stateDir = parts.stateDir;
    this.statePath = join(parts.stateDir, 'state.json');
    this.kubeconfigs = parts.kubeconfigs;
    this.#components = parts.components;
    this.supervisor = parts.supervisor ?? new Supervisor({ enabled: false });
    this.componentPods = new ComponentPods({ kubelet: this.kubelet, supervisor: this.supervisor, topology: this.topology, namespace: FULCRUM_NAMESPACE, logger: componentLogger('lab').child({ role: 'kubelet' }) });
    liveStatePaths.add(this.statePath);
  }

  /** The API emulator (faults, request counts, stop/start); only a lab on the emulator has one. */
  get api(): ApiServer {
    const api = this.controlPlane.emulator;
    if (!api) throw new FulcrumError('FUL_ERR_LAB_COMMAND', { command: 'lab.api', reason: `this lab runs on the real control plane (${this.controlPlane.url}), not the emulator: use lab.controlPlane` });
    return api;
  }

  /** The lab CA's certificate file, for clients that verify the HTTPS samples. */
  get caFile(): string | undefined {
    return this.tls?.caFile;
  }

  get phase(): LabPhase {
    return this.#phase;
  }

  /** Starts a pod namespace behind a node, its pod server, and its Pod object (ready). */
  async runPod(name: string, nodeIndex: number, labels: Readonly<Record<string, string>>): Promise<LabPod> {
    const node = this.topology.node(nodeIndex);
    const plan = await this.topology.addPod(nodeIndex);
    const args = [POD_SERVER, '--name', name, '--http', String(POD_PORTS.http), '--tcp-echo', String(POD_PORTS.tcpEcho), '--tcp-tick', String(POD_PORTS.tcpTick), '--udp-echo', String(POD_PORTS.udpEcho), '--accept-proxy'];
    const proc = this.topology.spawn(plan.namespace, process.execPath, args, { name: `pod ${name}` });
    await proc.waitForOutput(/"event":"ready"/, 10_000);
    const spec: LabPodSpec = { namespace: SAMPLE_NAMESPACE, name, node, pod: plan, labels, ports: POD_CONTAINER_PORTS };
    await this.kubelet.createPod(spec, true);
    const pod = { namespace: SAMPLE_NAMESPACE, name, nodeName: node.name, plan, process: proc };
    this.pods.push(pod);
    return pod;
  }

  /** (Re)starts the speaker of a node, e.g. after a test killed it. */
  startSpeaker(nodeName: string): LabProcess {
    const node = this.topology.node(nodeName).name;
    return this.supervisor.run(`speaker ${node}`, () => startSpeaker(this.topology, node, this.kubeconfigs.speaker, this.#components), (p) => this.speakers.set(node, p));
  }

  startAllocator(): LabProcess {
    return this.supervisor.run('allocator', () => startAllocator(this.topology, this.kubeconfigs.allocator, this.#components), (p) => (this.allocator = p));
  }

  /** Every LoadBalancer Service with its addresses, ports and ready endpoints, read from the API. */
  async services(): Promise<LabService[]> {
    const svcs = (await apiRequest(this.apiTarget, 'GET', '/api/v1/services')).items as ServiceJson[];
    const slices = (await apiRequest(this.apiTarget, 'GET', '/apis/discovery.k8s.io/v1/endpointslices')).items as SliceJson[];
    const out = labServices(svcs, slices);
    this.#services = out;
    return out;
  }

  /** Polls until every LoadBalancer Service has an address (one per family asked for) or the time is up. */
  async waitForAddresses(timeoutMs: number): Promise<LabService[]> {
    const wanted = (s: LabService) => {
      const sample = SAMPLE_SERVICES.find((x) => x.name === s.name && s.namespace === SAMPLE_NAMESPACE);
      return sample ? sampleAddressCount(sample) : 1;
    };
    try {
      return await waitFor('addresses on every LoadBalancer Service', async () => {
        const svcs = await this.services();
        return svcs.every((s) => s.addresses.length >= wanted(s)) ? svcs : undefined;
      }, timeoutMs, 250);
    } catch {
      return this.services();
    }
  }

  /**
   * Polls every running speaker's /readyz until each is ready and sees every speaker alive: the
   * first one up claims every address until it hears of the others, and a connection caught in
   * that handover would fail the check for a reason a user never meets after startup. Returns
   * what is still not ready when the time is up (empty: all ready).
   */
  async waitForSpeakers(timeoutMs: number): Promise<string[]> {
    const port = speakerMetricsPort(this.#components.speakerArgs ?? []);
    if (port === undefined) return [];
    let problems: string[] = [];
    try {
      await waitFor('every speaker ready', async () => {
        const running = [...this.speakers.entries()].filter(([, p]) => p.running);
        const answers = await Promise.all(running.map(async ([node]) => ({ node, ...(await speakerReadyz(this.topology, node, port)) })));
        problems = answers.filter((a) => !a.ready || membersAlive(a.text)?.alive !== running.length).map((a) => `speaker ${a.node}: ${a.text}`);
        for (const [node, p] of this.speakers) if (!p.running) problems.push(`speaker ${node}: ${componentStatus(p)}`);
        return problems.length === 0;
      }, timeoutMs, 200);
    } catch {
      // the caller shows `problems` and goes on: the check table says what works
    }
    return problems;
  }

  /** Real connections from the client to every address and port (in parallel); one table row each. */
  async check(): Promise<TableRow[]> {
    const jobs: Promise<TableRow>[] = [];
    for (const s of await this.services()) {
      const kinds = SAMPLE_SERVICES.find((x) => x.name === s.name && s.namespace === SAMPLE_NAMESPACE)?.checks ?? {};
      const service = `${s.namespace}/${s.name}`;
      if (s.addresses.length === 0) {
        jobs.push(Promise.resolve({ service, address: '-', owner: '-', endpoints: s.endpoints, result: `FAIL no address (allocator: ${componentStatus(this.allocator)})` }));
        continue;
      }
      for (const address of s.addresses) {
        for (const p of s.ports) {
          const kind: CheckKind | CheckSpec = kinds[p.port] ?? (p.protocol === 'UDP' ? 'udp-echo' : 'tcp-echo');
          const shown = address.includes(':') ? `[${address}]:${p.port}/${p.protocol}` : `${address}:${p.port}/${p.protocol}`;
          jobs.push(checkAddress(this.topology, kind, address, p.port, this.caFile).then(async (r) => {
            const owner = await ownerSeenByClient(this.topology, address);
            if (owner) this.#owners.set(address, owner);
            return { service, address: shown, owner: owner ?? '-', endpoints: s.endpoints, result: `${r.ok ? 'ok' : 'FAIL'} ${r.detail}${r.ok ? '' : this.#speakerHint()}` };
          }));
        }
      }
    }
    return Promise.all(jobs);
  }

  #speakerHint(): string {
    const down = [...this.speakers.entries()].filter(([, p]) => !p.running);
    if (down.length === 0) return '';
    return ` (speaker ${down[0]![0]}: ${componentStatus(down[0]![1])})`;
  }

  /**
   * Re-reads the Services, takes owners from the client's neighbour table (one `ip neigh`: an
   * address the client has talked to maps to the MAC that answered), and rewrites state.json.
   */
  async refresh(): Promise<void> {
    const svcs = await this.services();
    const neigh = await this.topology.neighbours(this.topology.client.namespace);
    for (const address of svcs.flatMap((s) => s.addresses)) {
      const mac = neigh.find((n) => n.ip === address && n.mac)?.mac;
      const node = mac ? this.topology.nodes.find((n) => n.mac === mac) : undefined;
      if (node) this.#owners.set(address, node.name);
    }
    await this.writeState();
  }

  /** Rewrites state.json from what is known now. */
  async writeState(phase: LabPhase = this.#phase): Promise<void> {
    this.#phase = phase;
    const services: LabStateService[] = this.#services.map((s) => ({
      namespace: s.namespace,
      name: s.name,
      addresses: s.addresses,
      ports: s.ports.map((p) => ({ port: p.port, protocol: p.protocol })),
      owner: s.addresses.map((a) => this.#owners.get(a)).find(Boolean) ?? null,
    }));
    const components: Record<string, LabStateComponent> = {};
    if (this.allocator) components.allocator = { pid: this.allocator.pid, status: componentStatus(this.allocator), ...this.supervisor.record('allocator') };
    for (const [node, p] of this.speakers) components[`speaker ${node}`] = { pid: p.pid, status: componentStatus(p), ...this.supervisor.record(`speaker ${node}`) };
    await writeState(this.statePath, {
      phase,
      prefix: this.topology.prefix,
      clientNamespace: this.topology.client.namespace,
      kubeconfig: this.kubeconfigs.admin,
      apiServer: this.controlPlane.url,
      apiServerKind: this.controlPlane.kind,
      nodes: this.topology.nodes.map((n) => ({ name: n.name, namespace: n.namespace, addresses: [n.ipv4, n.ipv6], mac: n.mac })),
      services,
      components,
    });
  }

  /** Stops the programs, the emulator and the topology; removes state.json. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await this.writeState('stopping').catch(() => undefined);
    this.supervisor.stop();
    this.componentPods.stop();
    const programs = [...this.speakers.values(), ...(this.allocator ? [this.allocator] : [])];
    await Promise.all(programs.map((p) => p.stop(3000)));
    this.kubelet.stop();
    await this.controlPlane.stop().catch(() => undefined);
    await this.topology.destroy();
    await removeState(this.statePath);
    liveStatePaths.delete(this.statePath);
  }
}

/** The port of the speakers' /readyz (their --metrics flag, default 7473); undefined when off. */
function speakerMetricsPort(args: readonly string[]): number | undefined {
  const i = args.lastIndexOf('--metrics');
  const value = i >= 0 ? args[i + 1] : undefined;
  if (value === 'off') return undefined;
  const port = value === undefined ? 7473 : Number(/:(\d+)$/.exec(value)?.[1]);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

export function defaultStateDir(prefix: string): string {
  return prefix === DEFAULT_PREFIX ? join(REPO_ROOT, '.lab') : join(REPO_ROOT, '.lab', prefix);
}

/** Builds and starts the whole lab; on any failure, removes what was made and rethrows. */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const progress = options.onProgress ?? (() => undefined);
  const log = options.logger ?? componentLogger('lab');
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const stateDir = options.stateDir ?? defaultStateDir(prefix);
  const logDir = join(stateDir, 'logs');
  await mkdir(logDir, { recursive: true });

  progress(`removing leftovers of prefix "${prefix}" and building the topology`);
  // an allocator left by a lab killed with SIGKILL: it runs in the root namespace, outside the topology
  killProcessesMentioning([join(stateDir, 'allocator.kubeconfig')]);
  const topology = await Topology.create({ prefix, nodes: options.nodes ?? 3, logger: log });
  progress(describeReplyRouting(topology.host));
  const kind = options.apiserver ?? 'emulator';
  let plane: LabControlPlane | undefined;
  let lab: Lab | undefined;
  try {
    progress(kind === 'emulator' ? `starting the API emulator on ${HOST_IPV4}` : `starting the real control plane (etcd, kube-apiserver, kube-controller-manager) with kube-apiserver on ${HOST_IPV4}`);
    plane = await startLabControlPlane(kind, stateDir);
    if (kind === 'real') progress(`  ${plane.description}`);
    const target: ApiTarget = { url: plane.url, token: plane.adminToken, ...(plane.caPem ? { caPem: plane.caPem } : {}) };
    await applyManifest(target, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: FULCRUM_NAMESPACE } });
    await applyManifest(target, memberlistSecret(FULCRUM_NAMESPACE)); // the speakers join their peers only with it
    progress('writing kubeconfigs');
    const kubeconfigs = await writeKubeconfigs(plane, target, stateDir, join(REPO_ROOT, 'config'));
    progress(`  ${kubeconfigs.identity}`);
    // The real node lifecycle controller reads node Leases; see LabKubelet's nodeLeases.
    const kubelet = new LabKubelet(target, { logger: log.child({ role: 'kubelet' }), nodeLeases: kind === 'real' });
    lab = new Lab({
      topology, controlPlane: plane, apiTarget: target, kubelet, stateDir, kubeconfigs,
      components: { fulcrumBin: join(REPO_ROOT, 'bin', 'fulcrum'), logDir, allocatorArgs: options.allocatorArgs, speakerArgs: options.speakerArgs, env: options.componentEnv, nodeArgs: options.componentNodeArgs },
      supervisor: new Supervisor({ enabled: options.restart ?? false, onLine: progress }),
    });
    await lab.writeState('starting');
    progress(`registering ${topology.nodes.length} nodes`);
    for (const node of topology.nodes) await kubelet.registerNode(node);
    if (options.samples !== false) {
      const pods = samplePods(topology.nodes.length);
      progress(`starting ${pods.length} backend pods`);
      await Promise.all(pods.map((p) => lab!.runPod(p.name, p.node, p.labels)));
      lab.pods.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
      if (options.configFrom === 'metallb-crds') {
        const crds = await applyCrds(target, join(REPO_ROOT, 'config'));
        progress(`applied ${crds.join(', ')}; applying IPAddressPools lab and lab-edge and their L2Advertisements, the sample TLS Secret (a fresh lab CA) and the sample Services`);
        for (const r of labMetalLBResources(topology.nodes.map((n) => n.name))) await applyManifest(target, r);
      } else {
        progress('applying the pool ConfigMap, the sample TLS Secret (a fresh lab CA) and the sample Services');
        await applyManifest(target, LAB_CONFIGMAP);
      }
      const tls = await makeLabTls(stateDir);
      await applyManifest(target, tls.secret);
      lab.tls = tls;
      for (const s of SAMPLE_SERVICES) await applyManifest(target, s.manifest);
    }
    if (options.allocator !== false) {
      progress('starting the allocator');
      lab.startAllocator();
    }
    if (options.speakers !== false) {
      progress(`starting ${topology.nodes.length} speakers`);
      for (const node of topology.nodes) lab.startSpeaker(node.name);
    }
    await lab.services();
    await lab.writeState('starting');
    return lab;
  } catch (err) {
    log.error({ event: 'labStartFailed', err: errorMessage(err) }, 'lab start failed');
    if (lab) await lab.stop();
    else {
      await plane?.stop().catch(() => undefined);
      await topology.destroy();
    }
    throw err;
  }
}
