import { componentLogger, type Logger } from '../src/log.js';
import type { NodePlan, PodPlan } from './addressing.js';
import { apiRequest, MERGE_PATCH, type ApiTarget, type JsonObject } from './kube-rest.js';

/**
 * The kubelet's part, against the API emulator or the real kube-apiserver: registers the lab's
 * Node objects (labels, InternalIP addresses, Ready condition with a heartbeat, and on the real
 * server a node Lease renewed as a kubelet does) and publishes Pods with the status a kubelet
 * writes through the status subresource (podIP(s), hostIP(s), conditions, container statuses
 * with named ports). The EndpointSlice controller (the emulator's, or kube-controller-manager's)
 * turns ready pods into slices, as in a cluster; the lab never writes a slice.
 */

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export interface LabPodSpec {
  readonly namespace: string;
  readonly name: string;
  readonly node: NodePlan;
  readonly pod: PodPlan;
  readonly labels?: Readonly<Record<string, string>>;
  readonly ports?: readonly ContainerPort[];
  readonly image?: string;
}

export interface KubeletOptions {
  /** Node heartbeat period (Ready condition's lastHeartbeatTime); default 10 s, like kubelet's nodeStatusUpdateFrequency. */
  readonly heartbeatMs?: number;
  /**
   * Also hold a Lease per node in kube-node-lease, renewed every heartbeat (a kubelet renews it
   * every 10 s for 40 s), which the node lifecycle controller reads as the node's heartbeat.
   * Default false: the emulator has no node lifecycle controller, and its write counts stay as
   * the tests expect.
   */
  readonly nodeLeases?: boolean;
  readonly logger?: Logger;
}

const DEFAULT_HEARTBEAT_MS = 10_000;
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** kubelet's default (--node-lease-duration-seconds). */
const NODE_LEASE_SECONDS = 40;
export const LAB_NODE_LABEL = 'fulcrum-lb.io/lab-node';
const CONTAINER_NAME = 'server';
const DEFAULT_IMAGE = 'fulcrum-lab/pod-server:dev';

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A MicroTime (Lease renewTime): kube-apiserver parses exactly six fractional digits. */
function microNow(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function readyCondition(ready: boolean, transition: string): JsonObject {
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready ? 'KubeletReady' : 'KubeletNotReady',
    message: ready ? 'kubelet is posting ready status' : 'lab: node marked not ready',
    lastHeartbeatTime: now(),
    lastTransitionTime: transition,
  };
}

function podConditions(ready: boolean, at: string): JsonObject[] {
  const s = ready ? 'True' : 'False';
  return [
    { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: at },
    { type: 'Initialized', status: 'True', lastTransitionTime: at },
    { type: 'Ready', status: s, lastTransitionTime: at },
    { type: 'ContainersReady', status: s, lastTransitionTime: at },
    { type: 'PodScheduled', status: 'True', lastTransitionTime: at },
  ];
}

export class LabKubelet {
  readonly #api: ApiTarget;
  readonly #heartbeatMs: number;
  readonly #nodeLeases: boolean;
  readonly #log: Logger;
  readonly #nodes = new Map<string, { ready: boolean; since: string }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(api: ApiTarget, options: KubeletOptions = {}) {
    this.#api = api;
    this.#heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.#nodeLeases = options.nodeLeases ?? false;
    this.#log = options.logger ?? componentLogger('lab-kubelet');
  }

  /** Creates the Node object and its Ready status, and starts heartbeating it. */
  async registerNode(node: NodePlan, labels: Readonly<Record<string, string>> = {}): Promise<void> {
    const created = await apiRequest(this.#api, 'POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: node.name,
        labels: {
          'kubernetes.io/hostname': node.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': process.arch === 'arm64' ? 'arm64' : 'amd64',
          [LAB_NODE_LABEL]: String(node.index),
          ...labels,
        },
      },
      spec: { podCIDR: node.podCidrV4, podCIDRs: [node.podCidrV4, node.podCidrV6] },
    });
    const since = now();
    this.#nodes.set(node.name, { ready: true, since });
    await apiRequest(this.#api, 'PATCH', `/api/v1/nodes/${node.name}/status`, {
      status: {
        addresses: [
          { type: 'InternalIP', address: node.ipv4 },
          { type: 'InternalIP', address: node.ipv6 },
          { type: 'Hostname', address: node.name },
        ],
        conditions: [readyCondition(true, since)],
        nodeInfo: { kubeletVersion: 'v1.31.0-fulcrum-lab', osImage: 'fulcrum lab', operatingSystem: 'linux', architecture: process.arch, machineID: '', systemUUID: '', bootID: '', kernelVersion: '', containerRuntimeVersion: '', kubeProxyVersion: '' },
      },
    }, MERGE_PATCH);
    if (this.#nodeLeases) await this.#createNodeLease(node.name, String((created.metadata as { uid?: unknown } | undefined)?.uid ?? ''));
    this.#startHeartbeat();
    this.#log.debug({ event: 'nodeRegistered', node: node.name }, 'node registered');
  }

  /** The node's Lease, owned by its Node (so it goes with it), as a kubelet creates it. */
  async #createNodeLease(nodeName: string, nodeUid: string): Promise<void> {
    await apiRequest(this.#api, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }] },
      spec: { holderIdentity: nodeName, leaseDurationSeconds: NODE_LEASE_SECONDS, renewTime: microNow() },
    });
  }

  async #renewNodeLease(nodeName: string): Promise<void> {
    await apiRequest(this.#api, 'PATCH', `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases/${nodeName}`, { spec: { renewTime: microNow() } }, MERGE_PATCH);
  }

  /**
   * Flips the node's Ready condition, as a kubelet reports its node not ready. On the real server
   * the node lifecycle controller then taints the node (not-ready, NoSchedule and NoExecute) and
   * leaves its pods' readiness alone (the emulator does neither).
   */
  async setNodeReady(nodeName: string, ready: boolean): Promise<void> {
    const prev = this.#nodes.get(nodeName);
    const since = prev && prev.ready === ready ? prev.since : now();
    this.#nodes.set(nodeName, { ready, since });
    await this.#postNodeStatus(nodeName);
  }

  async #postNodeStatus(nodeName: string): Promise<void> {
    const s = this.#nodes.get(nodeName);
    if (!s) return;
    await apiRequest(this.#api, 'PATCH', `/api/v1/nodes/${nodeName}/status`, { status: { conditions: [readyCondition(s.ready, s.since)] } }, MERGE_PATCH);
  }

  #startHeartbeat(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      for (const name of this.#nodes.keys()) {
        this.#postNodeStatus(name).catch((err: unknown) => this.#log.warn({ event: 'heartbeatFailed', node: name, err }, 'node heartbeat failed'));
        if (this.#nodeLeases) this.#renewNodeLease(name).catch((err: unknown) => this.#log.warn({ event: 'nodeLeaseRenewFailed', node: name, err }, 'node lease renewal failed'));
      }
    }, this.#heartbeatMs);
    this.#timer.unref();
  }

  /** Creates the Pod bound to its node (as the scheduler would) and publishes its status. */
  async createPod(spec: LabPodSpec, ready: boolean): Promise<void> {
    const ports = (spec.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, protocol: p.protocol ?? 'TCP' }));
    await this.createPodObject(spec.namespace, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: spec.name, namespace: spec.namespace, labels: { ...(spec.labels ?? {}) } },
      spec: {
        nodeName: spec.node.name,
        containers: [{ name: CONTAINER_NAME, image: spec.image ?? DEFAULT_IMAGE, ports }],
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 5,
      },
    });
    await this.setPodReady(spec, ready);
  }

  /** Creates a Pod as given (bound to a node when its spec says so); its status comes with `writePodStatus`. */
  async createPodObject(namespace: string, pod: JsonObject): Promise<void> {
    await apiRequest(this.#api, 'POST', `/api/v1/namespaces/${namespace}/pods`, pod);
  }

  /** Writes a Pod's status through the status subresource (a merge patch: lists such as containerStatuses are replaced whole). */
  async writePodStatus(namespace: string, name: string, status: JsonObject): Promise<void> {
    await apiRequest(this.#api, 'PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, { status }, MERGE_PATCH);
  }

  /** Writes the pod's status: Running, its addresses, and Ready/ContainersReady as asked. */
  async setPodReady(spec: LabPodSpec, ready: boolean): Promise<void> {
    const at = now();
    await this.writePodStatus(spec.namespace, spec.name, {
      phase: 'Running',
      hostIP: spec.node.ipv4,
      hostIPs: [{ ip: spec.node.ipv4 }, { ip: spec.node.ipv6 }],
      podIP: spec.pod.ipv4,
      podIPs: [{ ip: spec.pod.ipv4 }, { ip: spec.pod.ipv6 }],
      startTime: at,
      qosClass: 'BestEffort',
      conditions: podConditions(ready, at),
      containerStatuses: [{
        name: CONTAINER_NAME,
        image: spec.image ?? DEFAULT_IMAGE,
        imageID: '',
        ready,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: at } },
      }],
    });
  }

  /**
   * Deletes the pod as a user would: a pod bound to a node is only marked (deletionTimestamp),
   * so its endpoints turn terminating (serving while it stays Ready), until `removePod`.
   */
  async deletePod(namespace: string, name: string): Promise<void> {
    await apiRequest(this.#api, 'DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`);
  }

  /** What the kubelet does once the containers have stopped: the final delete, grace period 0. */
  async removePod(namespace: string, name: string): Promise<void> {
    await apiRequest(this.#api, 'DELETE', `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
