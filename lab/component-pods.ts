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
 * lab/component-pod-status.ts; this file only writes it. Writes are by slot and level-based: a
 * change during a write schedules one more write of the latest state; a failed write is tried
 * again after RETRY_MS (the API may be down on purpose: the outage tests stop it).
 */

/** Long enough not to hammer an API that is down, short enough for a status to catch up soon after it is back. */
const RETRY_MS = 2000;

interface PodSlot {
  readonly place: ComponentPlace;
  created: boolean;
  writing: boolean;
  dirty: boolean;
  retry: NodeJS.Timeout | undefined;
}

export class ComponentPods {
  readonly #kubelet: LabKubelet;
  readonly #supervisor: Supervisor;
  readonly #topology: Topology;
  readonly #namespace: string;
  readonly #log: Logger;
  readonly #slots = new Map<string, PodSlot>();
  #stopped = false;

  constructor(o: { kubelet: LabKubelet; supervisor: Supervisor; topology: Topology; namespace: string; logger: Logger }) {
    this.#kubelet = o.kubelet;
    this.#supervisor = o.supervisor;
    this.#topology = o.topology;
    this.#namespace = o.namespace;
    this.#log = o.logger;
    o.supervisor.onChange((slot) => this.changed(slot));
  }

  /** The slot changed: write its Pod (created at the first change) with the supervisor's state of now. */
  changed(slot: string): void {
    if (this.#stopped) return;
    let s = this.#slots.get(slot);
    if (!s) {
      const place = componentOfSlot(slot);
      if (!place) return;
      s = { place, created: false, writing: false, dirty: false, retry: undefined };
      this.#slots.set(slot, s);
    }
    s.dirty = true;
    if (!s.writing && !s.retry) void this.#write(slot, s);
  }

  async #write(slot: string, s: PodSlot): Promise<void> {
    s.writing = true;
    try {
      while (s.dirty && !this.#stopped) {
        s.dirty = false;
        if (!s.created) await this.#create(s.place);
        s.created = true;
        const status = componentPodStatus(s.place, this.#namespace, this.#supervisor.componentRun(slot), this.#addresses(s.place));
        await this.#kubelet.writePodStatus(this.#namespace, componentPodName(s.place), status as JsonObject);
      }
    } catch (err) {
      s.dirty = true;
      if (!this.#stopped) {
        this.#log.warn({ event: 'componentPodWriteFailed', slot, pod: componentPodName(s.place), retryMs: RETRY_MS, err }, 'component pod status write failed');
        s.retry = setTimeout(() => {
          s.retry = undefined;
          void this.#write(slot, s);
        }, RETRY_MS);
        s.retry.unref();
      }
    } finally {
      s.writing = false;
    }
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
    for (const s of this.#slots.values()) clearTimeout(s.retry);
  }
}
