import type { Logger } from '../../src/log.js';
import type { KernelPortPlan } from '../plan/kernel-ports.js';
import type { KernelApplier } from './applier.js';
import { kernelTablesOf } from './table.js';

/**
 * What the controller needs of kernel mode: make the node's nftables hold the rules and tables
 * of these ports (every address this node may own, plan/kernel-candidates.ts), and stop.
 */
export interface KernelPortsPort {
  apply(ports: readonly KernelPortPlan[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * `KernelApplier` behind the port. Endpoint health: the plan's (plan/kernel-ports.ts): the
 * EndpointSlice's ready ones (serving and terminating when none is), not on nodes the membership
 * says are down, are healthy; the others keep their place in the table and lend their slots. The
 * proxy's health checker has no handle the controller can read yet (speaker/kernel/README.md).
 */
export class KernelPorts implements KernelPortsPort {
  readonly #applier: KernelApplier;
  readonly #log: Logger;
  /** Ports already said to be refused, so each is logged once. */
  readonly #told = new Set<string>();

  constructor(applier: KernelApplier, logger: Logger) {
    this.#applier = applier;
    this.#log = logger;
  }

  async apply(ports: readonly KernelPortPlan[]): Promise<void> {
    const healthy = new Map(ports.map((p) => [p.name, new Set(p.endpoints.filter((e) => e.healthy).map((e) => e.key))]));
    const { tables, refused } = kernelTablesOf(ports, (port, key) => healthy.get(port)?.has(key) === true);
    for (const r of refused) {
      const key = `${r.port} ${r.endpoints}`;
      if (this.#told.has(key)) continue;
      this.#told.add(key);
      this.#log.warn({ event: 'kernelPortRefused', port: r.port, endpoints: r.endpoints, max: r.max }, 'kernel-mode port not served: more endpoints than the largest table holds');
    }
    await this.#applier.apply(tables);
  }

  /** Empties the table, keeping its chains (KernelApplier.release: open flows keep their NAT while handed off). */
  close(): Promise<void> {
    return this.#applier.release();
  }
}
