import { done, WorkQueue, type ReconcileResult } from '../src/k8s/workqueue.js';
import type { Logger } from '../src/log.js';
import { HOST_IPV4, HOST_IPV6 } from './addressing.js';
import { componentOfSlot, componentPod, componentPodName, componentPodStatus, type ComponentAddresses, type ComponentPlace } from './component-pod-status.js';
import { ApiRequestError, type JsonObject } from './kube-rest.js';
import type { LabKubelet } from './kubelet.js';
import type { Supervisor } from './supervisor.js';
import type { Topology } from './topology.js';

/**
 * The kubelet's part for the lab's own components: each supervisor slot (the allocator, one
 * speaker per node) is a Pod in the Fulcrum namespace, and every start, exit and planned
 * restart rewrites its status, so `fulcrum status` and `kubectl get pods -n fulcrum-system` show
 * restarts and CrashLoopBackOff as on a cluster. The status is computed by
 * lab/component-pod-status.ts; this file only writes it, through the project's keyed work queue
 * (src/k8s/workqueue.ts): by slot and level-based (a change during a write runs one more write of
 * the latest state), a failed write tried again after RETRY_MS (the API may be down on purpose:
 * the outage tests stop it).
 */

/** Long enough not to hammer an API that is down, short enough for a status to catch up soon after it is back. */
const RETRY_MS = 2000;

export class ComponentPods {
  readonly #kubelet: LabKubelet;
  readonly #supervisor: Supervisor;
  readonly #topology: Topology;
  readonly #namespace: string;
  /** Slots whose Pod exists. */
  readonly #created = new Set<string>();
  readonly #queue: WorkQueue<string>;
  #stopped = false;

  constructor(o: { kubelet: LabKubelet; supervisor: Supervisor; topology: Topology; namespace: string; logger: Logger }) {
    this.#kubelet = o.kubelet;
    this.#supervisor = o.supervisor;
    this.#topology = o.topology;
    this.#namespace = o.namespace;
    this.#queue = new WorkQueue<string>({
      name: 'labComponentPods',
      reconcile: (slot) => this.#write(slot),
      backoff: { initialMs: RETRY_MS, maxMs: RETRY_MS, factor: 1, jitter: 0 },
      logger: o.logger,
    });
    o.supervisor.onChange((slot) => this.changed(slot));
  }

  /** The slot changed: write its Pod (created at the first change) with the supervisor's state of now. */
  changed(slot: string): void {
    if (!this.#stopped && componentOfSlot(slot)) this.#queue.add(slot);
  }

  async #write(slot: string): Promise<ReconcileResult> {
    const place = componentOfSlot(slot);
    if (!place || this.#stopped) return done;
    if (!this.#created.has(slot)) {
      await this.#create(place);
      this.#created.add(slot);
    }
    const status = componentPodStatus(place, this.#namespace, this.#supervisor.componentRun(slot), this.#addresses(place));
    await this.#kubelet.writePodStatus(this.#namespace, componentPodName(place), status as JsonObject);
    return done;
  }

  async #create(place: ComponentPlace): Promise<void> {
    try {
      await this.#kubelet.createPodObject(this.#namespace, componentPod(place, this.#namespace));
    } catch (err) {
      // a create whose answer was lost (timeout) and is now retried: the Pod is there
      if (!(err instanceof ApiRequestError && err.status === 409)) throw err;
    }
  }

  #addresses(place: ComponentPlace): ComponentAddresses {
    if (place.nodeName === undefined) return { hostIPs: [HOST_IPV4, HOST_IPV6], podIPs: [HOST_IPV4, HOST_IPV6] };
    const node = this.#topology.node(place.nodeName);
    // host network: the pod's addresses are its node's
    return { hostIPs: [node.ipv4, node.ipv6], podIPs: [node.ipv4, node.ipv6] };
  }

  /** No more writes (the lab is stopping); pending retries are dropped. */
  stop(): void {
    this.#stopped = true;
    void this.#queue.shutdown();
  }
}
