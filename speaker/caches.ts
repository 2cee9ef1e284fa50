import type { KubernetesObject, V1ConfigMap, V1Endpoints, V1EndpointSlice, V1Lease, V1Node, V1Service } from '@kubernetes/client-node';
import { ALIVE_LEASE_SELECTOR } from '../src/k8s/alive-lease.js';
import type { ApiClients } from '../src/k8s/client.js';
import { Informer } from '../src/k8s/informer.js';
import { configMaps, endpointSlices, endpoints, leases, nodes, services } from '../src/k8s/resources.js';
import type { Logger } from '../src/log.js';

/** The speaker's informers: everything the plan reads. */
export class SpeakerCaches {
  readonly services: Informer<V1Service>;
  readonly slices: Informer<V1EndpointSlice>;
  readonly endpoints: Informer<V1Endpoints>;
  readonly nodes: Informer<V1Node>;
  readonly configMaps: Informer<V1ConfigMap>;
  readonly leases: Informer<V1Lease>;

  constructor(o: { clients: ApiClients; namespace: string; configName: string; logger: Logger }) {
    const base = { clients: o.clients, logger: o.logger };
    this.services = new Informer({ ...base, resource: services });
    this.slices = new Informer({ ...base, resource: endpointSlices });
    this.endpoints = new Informer({ ...base, resource: endpoints });
    this.nodes = new Informer({ ...base, resource: nodes });
    this.configMaps = new Informer({ ...base, resource: configMaps, namespace: o.namespace, fieldSelector: `metadata.name=${o.configName}` });
    this.leases = new Informer({ ...base, resource: leases, namespace: o.namespace, labelSelector: ALIVE_LEASE_SELECTOR, name: 'alive-leases' });
  }

  all(): Informer<KubernetesObject>[] {
    return [this.services, this.slices, this.endpoints, this.nodes, this.configMaps, this.leases] as unknown as Informer<KubernetesObject>[];
  }

  async start(): Promise<void> {
    for (const i of this.all()) i.start();
    await Promise.all(this.all().map((i) => i.synced));
  }

  hasSynced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  /** Whether every watch is up: false while the API is unreachable (fail static). */
  watching(): boolean {
    return this.all().every((i) => i.state() === 'watching');
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((i) => i.stop()));
  }
}
