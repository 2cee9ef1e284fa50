import { FulcrumError } from '../src/errors.js';
import { componentLogger, type Logger } from '../src/log.js';
import {
  CLIENT_IPV4, CLIENT_IPV6, CLIENT_MAC, DEFAULT_PREFIX, labNames, MAX_PODS_PER_NODE, nodePlan, podPlan, validateNodeCount, validatePrefix,
  type LabNames, type NodePlan, type PodPlan,
} from './addressing.js';
import { NEIGHBOUR_FILTER, NeighbourCapture } from './capture.js';
import { createHostLink, type HostLink } from './host-link.js';
import { removeLeftovers, removeLeftoversSync } from './leftovers.js';
import { deleteNamespace, execCommand, ip, LabProcess, nsExec, nsRun, nsSysctl, type ExecOptions, type ExecResult, type SpawnOptions } from './netns.js';

/**
 * The lab's network: a bridge in a namespace of its own (`<prefix>-sw`), N node namespaces and a
 * client namespace on it, the lab host link from the root namespace, and routed per-pod
 * namespaces behind each node (a tiny static CNI). See lab/addressing.ts for the address plan
 * and lab/README.md for the picture.
 *
 * Everything built is removed by `destroy()`, by the next `create()` with the same prefix (after
 * a crash), and, synchronously, when the process exits without calling `destroy()`.
 */

export interface TopologyOptions {
  /** Name prefix of every namespace and link (default `ful`); see validatePrefix. */
  readonly prefix?: string;
  /** Node namespaces (default 3, at most 7). */
  readonly nodes?: number;
  readonly logger?: Logger;
}

export interface LabClient {
  readonly namespace: string;
  readonly interface: 'eth0';
  readonly switchPort: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly mac: string;
}

export interface Neighbour {
  readonly ip: string;
  readonly dev: string;
  /** Absent while the entry is INCOMPLETE or FAILED. */
  readonly mac: string | undefined;
  /** e.g. ['REACHABLE'], ['STALE'], ['PERMANENT']. */
  readonly state: string[];
}

const PROCESS_STOP_GRACE_MS = 2000;

/** Topologies alive in this process, removed synchronously if it exits without destroy(). */
const live = new Map<string, Topology>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const topo of live.values()) topo.destroySync();
  });
}

export class Topology {
  readonly prefix: string;
  readonly names: LabNames;
  readonly nodes: readonly NodePlan[];
  readonly client: LabClient;
  #host: HostLink | undefined;
  readonly #pods = new Map<string, PodPlan>();
  readonly #processes = new Set<LabProcess>();
  readonly #log: Logger;
  #destroyed = false;

  private constructor(prefix: string, nodeCount: number, logger: Logger) {
    this.prefix = prefix;
    this.names = labNames(prefix);
    this.nodes = Array.from({ length: nodeCount }, (_, i) => nodePlan(prefix, i + 1));
    this.client = { namespace: this.names.clientNamespace, interface: 'eth0', switchPort: this.names.clientSwitchPort, ipv4: CLIENT_IPV4, ipv6: CLIENT_IPV6, mac: CLIENT_MAC };
    this.#log = logger;
  }

  /** Removes leftovers of an earlier run with the same prefix, then builds the topology. */
  static async create(options: TopologyOptions = {}): Promise<Topology> {
    const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
    const count = validateNodeCount(options.nodes ?? 3);
    if (live.has(prefix)) throw new FulcrumError('FUL_ERR_LAB_PREFIX', { prefix, reason: 'a topology with this prefix is already running in this process' });
    const topo = new Topology(prefix, count, options.logger ?? componentLogger('lab', { prefix }));
    const found = await removeLeftovers(prefix);
    if (found.namespaces.length + found.rootLinks.length > 0) topo.#log.info({ event: 'leftoversRemoved', ...found }, 'removed leftovers of an earlier run');
    installExitHook();
    live.set(prefix, topo);
    try {
      await topo.#build();
    } catch (err) {
      await topo.destroy();
      throw new FulcrumError('FUL_ERR_LAB_TOPOLOGY', { action: 'building', lab: prefix, reason: (err as Error).message }, { cause: err });
    }
    return topo;
  }

  get host(): HostLink {
    if (!this.#host) throw new FulcrumError('FUL_ERR_LAB_TOPOLOGY', { action: 'using', lab: this.prefix, reason: 'its host link is not built' });
    return this.#host;
  }

  async #build(): Promise<void> {
    const n = this.names;
    await ip(['netns', 'add', n.switchNamespace]);
    // The switch has no addresses: no IPv6 on it, so it adds no NDP of its own to captures.
    await nsSysctl(n.switchNamespace, { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 });
    // No STP and no multicast snooping: a dumb, instant switch that floods NDP multicast everywhere.
    await ip(['link', 'add', n.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0'], n.switchNamespace);
    await ip(['link', 'set', n.bridge, 'up'], n.switchNamespace);
    await Promise.all([
      this.#attach(this.client.namespace, this.client.switchPort, this.client.mac, [`${this.client.ipv4}/24`], [`${this.client.ipv6}/64`], false),
      ...this.nodes.map((node) => this.#attach(node.namespace, node.switchPort, node.mac, [`${node.ipv4}/24`], [`${node.ipv6}/64`], true)),
    ]);
    // Every node routes the other nodes' pod slices via their node-network address.
    await Promise.all(this.nodes.map(async (node) => {
      for (const other of this.nodes) {
        if (other === node) continue;
        await ip(['route', 'add', other.podCidrV4, 'via', other.ipv4], node.namespace);
        await ip(['-6', 'route', 'add', other.podCidrV6, 'via', other.ipv6], node.namespace);
      }
    }));
    this.#host = await createHostLink(n);
    await ip(['link', 'set', n.hostSwitchPort, 'master', n.bridge, 'up'], n.switchNamespace);
    this.#log.info({ event: 'topologyBuilt', nodes: this.nodes.length }, 'lab topology built');
  }

  /** A namespace with `eth0` on the switch. Nodes also forward (they route their pods). */
  async #attach(namespace: string, port: string, mac: string, v4: string[], v6: string[], router: boolean): Promise<void> {
    await ip(['netns', 'add', namespace]);
    await nsSysctl(namespace, {
      'net.ipv6.conf.all.accept_dad': 0,
      'net.ipv6.conf.default.accept_dad': 0,
      'net.ipv6.conf.all.keep_addr_on_down': 1,
      'net.ipv6.conf.default.keep_addr_on_down': 1,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.default.rp_filter': 0,
      ...(router ? { 'net.ipv4.ip_forward': 1, 'net.ipv6.conf.all.forwarding': 1 } : {}),
    });
    await ip(['link', 'set', 'lo', 'up'], namespace);
    await ip(['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'address', mac, 'netns', namespace], this.names.switchNamespace);
    await ip(['link', 'set', port, 'master', this.names.bridge, 'up'], this.names.switchNamespace);
    for (const a of v4) await ip(['addr', 'add', a, 'dev', 'eth0'], namespace);
    for (const a of v6) await ip(['-6', 'addr', 'add', a, 'dev', 'eth0', 'nodad'], namespace);
    await ip(['link', 'set', 'eth0', 'up'], namespace);
  }

  /** A node by name (`<prefix>-n1`), namespace or 1-based index. */
  node(which: string | number): NodePlan {
    const node = this.nodes.find((n) => n.index === which || n.name === which || n.namespace === which);
    if (!node) throw new FulcrumError('FUL_ERR_LAB_NODES', { field: `lab "${this.prefix}": node`, value: which, reason: `not one of ${this.nodes.map((n) => n.name).join(', ')}` });
    return node;
  }

  pods(): PodPlan[] {
    return [...this.#pods.values()];
  }

  /**
   * Creates a pod namespace behind a node: a veth routed by the node (pod /32 and /128, default
   * route via the node's slice gateway). Takes the lowest free pod index unless one is given.
   */
  async addPod(which: string | number, index?: number): Promise<PodPlan> {
    const node = this.node(which);
    const used = new Set(this.pods().filter((p) => p.nodeIndex === node.index).map((p) => p.index));
    let j = index;
    if (j === undefined) for (j = 1; used.has(j) && j <= MAX_PODS_PER_NODE; j++);
    const pod = podPlan(this.prefix, node.index, j);
    if (used.has(pod.index)) throw new FulcrumError('FUL_ERR_LAB_POD', { field: `lab "${this.prefix}": pod`, value: pod.namespace, reason: 'already exists' });
    this.#pods.set(pod.namespace, pod);
    const ns = pod.namespace;
    await ip(['netns', 'add', ns]);
    await nsSysctl(ns, { 'net.ipv6.conf.all.accept_dad': 0, 'net.ipv6.conf.default.accept_dad': 0 });
    await ip(['link', 'set', 'lo', 'up'], ns);
    await ip(['link', 'add', pod.nodeSideInterface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns], node.namespace);
    const side = pod.nodeSideInterface;
    await ip(['link', 'set', side, 'up'], node.namespace);
    await ip(['addr', 'add', `${pod.gatewayV4}/32`, 'dev', side], node.namespace);
    await ip(['-6', 'addr', 'add', `${pod.gatewayV6}/128`, 'dev', side, 'nodad'], node.namespace);
    await ip(['route', 'add', `${pod.ipv4}/32`, 'dev', side], node.namespace);
    await ip(['-6', 'route', 'add', `${pod.ipv6}/128`, 'dev', side], node.namespace);
    await ip(['addr', 'add', `${pod.ipv4}/32`, 'dev', 'eth0'], ns);
    await ip(['-6', 'addr', 'add', `${pod.ipv6}/128`, 'dev', 'eth0', 'nodad'], ns);
    await ip(['link', 'set', 'eth0', 'up'], ns);
    await ip(['route', 'add', pod.gatewayV4, 'dev', 'eth0', 'scope', 'link'], ns);
    await ip(['route', 'add', 'default', 'via', pod.gatewayV4, 'dev', 'eth0'], ns);
    await ip(['-6', 'route', 'add', `${pod.gatewayV6}/128`, 'dev', 'eth0'], ns);
    await ip(['-6', 'route', 'add', 'default', 'via', pod.gatewayV6, 'dev', 'eth0'], ns);
    this.#log.debug({ event: 'podAdded', pod: ns, ipv4: pod.ipv4, ipv6: pod.ipv6 }, 'pod added');
    return pod;
  }

  /** Stops the pod's processes and removes its namespace (its veth and routes go with it). */
  async removePod(pod: PodPlan | string): Promise<void> {
    const ns = typeof pod === 'string' ? pod : pod.namespace;
    const plan = this.#pods.get(ns);
    await this.#stopProcesses((p) => p.namespace === ns);
    // The kernel destroys a deleted namespace's links later, in the background: delete the veth
    // now so the pod's address is gone when this returns.
    if (plan) await execCommand('ip', ['-n', nodePlan(this.prefix, plan.nodeIndex).namespace, 'link', 'delete', plan.nodeSideInterface]);
    await deleteNamespace(ns);
    this.#pods.delete(ns);
  }

  /** Pulls or plugs the node's cable: its switch port goes down/up; the node's own addresses stay. */
  async setNodeLink(which: string | number, state: 'up' | 'down'): Promise<void> {
    await ip(['link', 'set', this.node(which).switchPort, state], this.names.switchNamespace);
  }

  /** `ip neigh` of a namespace (IPv4 and IPv6). */
  async neighbours(namespace: string): Promise<Neighbour[]> {
    const out = await ip(['-j', 'neigh', 'show'], namespace);
    return (JSON.parse(out || '[]') as { dst: string; dev: string; lladdr?: string; state?: string[] }[]).map((e) => ({
      ip: e.dst,
      dev: e.dev,
      mac: e.lladdr?.toLowerCase(),
      state: e.state ?? [],
    }));
  }

  /** Starts tcpdump on every port of the switch; resolves once it is capturing. */
  async captureNeighbourTraffic(): Promise<NeighbourCapture> {
    const capture = new NeighbourCapture(this.names.bridge);
    // -i any -Q in: each frame once, as it enters the switch from a port
    const p = this.spawn(this.names.switchNamespace, 'tcpdump', ['-i', 'any', '-Q', 'in', '-l', '-n', '-e', '-tt', NEIGHBOUR_FILTER], {
      name: 'tcpdump',
      onStdoutLine: capture.onLine,
    });
    capture.attach(p);
    await p.waitForOutput(/listening on/, 5000);
    return capture;
  }

  /** Runs a command in a namespace and returns its status and output. */
  exec(namespace: string, file: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return nsExec(namespace, file, args, options);
  }

  /** Runs a command in a namespace; throws FUL_ERR_LAB_COMMAND unless it exits 0. */
  run(namespace: string, file: string, args: readonly string[], options?: ExecOptions): Promise<string> {
    return nsRun(namespace, file, args, options);
  }

  /** Starts a long-running process in a namespace (root namespace when undefined); stopped by destroy(). */
  spawn(namespace: string | undefined, file: string, args: readonly string[], options?: SpawnOptions): LabProcess {
    if (this.#destroyed) throw new FulcrumError('FUL_ERR_LAB_TOPOLOGY', { action: 'using', lab: this.prefix, reason: 'it is destroyed' });
    const p = new LabProcess(namespace, file, args, options);
    this.#processes.add(p);
    void p.exited.then(() => this.#processes.delete(p));
    return p;
  }

  processes(): LabProcess[] {
    return [...this.#processes];
  }

  async #stopProcesses(which: (p: LabProcess) => boolean): Promise<void> {
    await Promise.all([...this.#processes].filter(which).map((p) => p.stop(PROCESS_STOP_GRACE_MS)));
  }

  /** Stops every process, removes every namespace, link, rule and table. Idempotent. */
  async destroy(): Promise<void> {
    this.#destroyed = true;
    await this.#stopProcesses(() => true);
    await removeLeftovers(this.prefix);
    this.#pods.clear();
    live.delete(this.prefix);
    this.#log.info({ event: 'topologyRemoved' }, 'lab topology removed');
  }

  /** For process exit: SIGKILL to our processes, then the same removal, synchronously. */
  destroySync(): void {
    for (const p of this.#processes) p.signal('SIGKILL');
    removeLeftoversSync(this.prefix);
    live.delete(this.prefix);
  }
}
