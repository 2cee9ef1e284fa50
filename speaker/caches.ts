import type { KubernetesObject, V1ConfigMap, V1Endpoints, V1EndpointSlice, V1Lease, V1Node, V1Secret, V1Service } from '@kubernetes/client-node';
import { ALIVE_LEASE_SELECTOR } from '../src/k8s/alive-lease.js';
import type { ApiClients } from '../src/k8s/client.js';
import { Informer } from '../src/k8s/informer.js';
import { configMaps, endpointSlices, endpoints, ipAddressPools, l2Advertisements, leases, nodes, objectKey, secrets, services, type CustomObject } from '../src/k8s/resources.js';
import type { Logger } from '../src/log.js';
import { MEMBERLIST_SECRET } from './membership/keys.js';

/** Only these Secrets are read: the certificates of TLS ports, and cert-manager style CA Secrets (`ca.crt`). */
export const TLS_SECRETS_SELECTOR = 'type=kubernetes.io/tls';

/** The speaker's informers: everything the plan reads. */
export class SpeakerCaches {
  readonly services: Informer<V1Service>;
  readonly slices: Informer<V1EndpointSlice>;
  readonly endpoints: Informer<V1Endpoints>;
  readonly nodes: Informer<V1Node>;
  readonly configMaps: Informer<V1ConfigMap>;
  /** MetalLB's resources in the config namespace; `optional`: without the CRDs, none (the ConfigMap alone works as before). */
  readonly ipAddressPools: Informer<CustomObject>;
  readonly l2Advertisements: Informer<CustomObject>;
  readonly leases: Informer<V1Lease>;
  /** `kubernetes.io/tls` Secrets: one cluster-wide informer, or one per namespace of `secretNamespaces`. */
  readonly secrets: readonly Informer<V1Secret>[];
  /** The memberlist Secret (membership keys) of the speaker's namespace, by name: no other Secret of any type is read through it. */
  readonly memberlist: Informer<V1Secret>;
  /** `namespace/name` of the pool ConfigMap (for messages: it may not exist). */
  readonly configMapName: string;
  /** Empty: every namespace. */
  readonly #secretNamespaces: ReadonlySet<string>;

  /**
   * `secretNamespaces`: read Secrets in these namespaces only (RBAC may then grant them per
   * namespace, with RoleBindings); absent or empty: cluster-wide.
   */
  constructor(o: { clients: ApiClients; namespace: string; configName: string; logger: Logger; secretNamespaces?: readonly string[] }) {
    const base = { clients: o.clients, logger: o.logger };
    this.configMapName = `${o.namespace}/${o.configName}`;
    this.services = new Informer({ ...base, resource: services });
    this.slices = new Informer({ ...base, resource: endpointSlices });
    this.endpoints = new Informer({ ...base, resource: endpoints });
    this.nodes = new Informer({ ...base, resource: nodes });
    this.configMaps = new Informer({ ...base, resource: configMaps, namespace: o.namespace, fieldSelector: `metadata.name=${o.configName}` });
    this.ipAddressPools = new Informer({ ...base, resource: ipAddressPools, namespace: o.namespace, optional: true });
    this.l2Advertisements = new Informer({ ...base, resource: l2Advertisements, namespace: o.namespace, optional: true });
    this.leases = new Informer({ ...base, resource: leases, namespace: o.namespace, labelSelector: ALIVE_LEASE_SELECTOR, name: 'alive-leases' });
    this.#secretNamespaces = new Set(o.secretNamespaces ?? []);
    this.secrets = this.#secretNamespaces.size === 0
      ? [new Informer({ ...base, resource: secrets, fieldSelector: TLS_SECRETS_SELECTOR, name: 'tls-secrets' })]
      : [...this.#secretNamespaces].map((ns) => new Informer({ ...base, resource: secrets, namespace: ns, fieldSelector: TLS_SECRETS_SELECTOR, name: `${ns}/tls-secrets` }));
    this.memberlist = new Informer({ ...base, resource: secrets, namespace: o.namespace, fieldSelector: `metadata.name=${MEMBERLIST_SECRET}`, name: 'memberlist-secret' });
  }

  /** A `kubernetes.io/tls` Secret from the cache (the plan's `SecretLookup`); undefined in a namespace that is not read. */
  tlsSecret(namespace: string, name: string): V1Secret | undefined {
    if (this.#secretNamespaces.size > 0 && !this.#secretNamespaces.has(namespace)) return undefined;
    const key = objectKey({ metadata: { namespace, name } });
    for (const i of this.secrets) {
      const s = i.get(key);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  all(): Informer<KubernetesObject>[] {
    return [this.services, this.slices, this.endpoints, this.nodes, this.configMaps, this.ipAddressPools, this.l2Advertisements, this.leases, ...this.secrets, this.memberlist] as unknown as Informer<KubernetesObject>[];
  }

  async start(): Promise<void> {
    for (const i of this.all()) i.start();
    await Promise.all(this.all().map((i) => i.synced));
  }

  hasSynced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  /** Whether every watch is up: false while the API is unreachable (fail static). A kind not served (no CRD) counts as up. */
  watching(): boolean {
    return this.all().every((i) => i.state() === 'watching' || i.state() === 'absent');
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((i) => i.stop()));
  }
}
