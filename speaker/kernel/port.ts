import { readFileSync } from 'node:fs';
import type { Logger } from '../../src/log.js';
import { gauge, onCollect } from '../../src/metrics.js';
import type { KernelPortPlan } from '../plan/kernel-ports.js';
import type { KernelApplier } from './applier.js';
import { countKernelFlows, FLOW_STATES, type FlowPort } from './conntrack.js';
import { KernelHealth } from './health.js';
import { slotValueOf } from './ruleset.js';
import { kernelTablesOf } from './table.js';

/**
 * What the controller needs of kernel mode: make the node's nftables hold the rules and tables
 * of these ports (every address this node may own, plan/kernel-candidates.ts), and stop.
 */
export interface KernelPortsPort {
  apply(ports: readonly KernelPortPlan[]): Promise<void>;
  close(): Promise<void>;
}

const m = {
  slots: gauge('fulcrum_kernel_endpoint_slots', 'Slots of a kernel-mode port\'s Maglev table that send new flows to an endpoint (0: unhealthy, its slots lent to the others)', ['port', 'endpoint']),
  up: gauge('fulcrum_kernel_endpoint_up', 'Whether a kernel-mode port\'s endpoint is healthy (ready, not on a node the membership says is down, passing its active health checks if it has any)', ['port', 'endpoint']),
  ports: gauge('fulcrum_kernel_ports', 'Kernel-mode ports whose rules this node holds (every address it may own), and those refused (more endpoints than the largest table)', ['state']),
};

/** The node's connection tracking table, read at scrape time (per network namespace): what a SYN flood fills. */
const CONNTRACK = { count: '/proc/sys/net/netfilter/nf_conntrack_count', max: '/proc/sys/net/netfilter/nf_conntrack_max' } as const;
onCollect(gauge('fulcrum_kernel_conntrack_entries', 'Entries in this node\'s conntrack table (kind count: nf_conntrack_count) and its limit (kind max): kernel mode fails new flows when it is full', ['kind']), function () {
  this.reset();
  for (const kind of ['count', 'max'] as const) {
    try {
      this.set({ kind }, Number(readFileSync(CONNTRACK[kind], 'utf8').trim()));
    } catch {
      // nf_conntrack not loaded: nothing to show
    }
  }
});

/** Above this many entries in the node's table, the per-port counts are not read (the file is about 150 bytes an entry). */
export const FLOWS_READ_LIMIT = 200_000;
/** The ports whose rules this node holds, as last applied: what the flow counts are for. */
let heldPorts: readonly FlowPort[] = [];
onCollect(
  gauge('fulcrum_kernel_flows', `Entries of the node's conntrack table per kernel-mode port and state (opening: TCP handshakes not completed; unreplied: UDP flows without an answer), read from /proc/net/nf_conntrack while the table holds at most ${FLOWS_READ_LIMIT} entries`, ['port', 'state']),
  function () {
    this.reset();
    if (heldPorts.length === 0) return;
    try {
      if (Number(readFileSync(CONNTRACK.count, 'utf8').trim()) > FLOWS_READ_LIMIT) return;
      for (const [port, counts] of countKernelFlows(readFileSync('/proc/net/nf_conntrack', 'utf8'), heldPorts)) for (const state of FLOW_STATES) this.set({ port, state }, counts[state]);
    } catch {
      // no conntrack, or its /proc file not built into this kernel: nothing to show
    }
  },
);

/**
 * `KernelApplier` behind the port. An endpoint is healthy when the plan says so
 * (plan/kernel-ports.ts: the EndpointSlice's ready ones, serving and terminating when none is,
 * not on nodes the membership says are down) and, for a port with `health-check` annotations,
 * when the proxy's active checker passes it (health.ts). The others keep their place in the
 * table and lend their slots. A verdict that changes rebuilds the tables of the last plan.
 */
export class KernelPorts implements KernelPortsPort {
  readonly #applier: KernelApplier;
  readonly #log: Logger;
  readonly #health: KernelHealth;
  /** Ports already said to be refused, so each is logged once. */
  readonly #told = new Set<string>();
  /** The last plan, rebuilt when a health verdict changes. */
  #ports: readonly KernelPortPlan[] = [];
  /** Applies run one at a time (the controller's and the health checker's). */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(applier: KernelApplier, logger: Logger) {
    this.#applier = applier;
    this.#log = logger;
    this.#health = new KernelHealth(logger, () => {
      if (this.#closed) return;
      // A failure is logged by the applier (kernelApplyFailed); the next plan or verdict tries again.
      this.#enqueue().catch(() => undefined);
    });
  }

  apply(ports: readonly KernelPortPlan[]): Promise<void> {
    this.#ports = ports;
    this.#health.update(ports);
    return this.#enqueue();
  }

  #enqueue(): Promise<void> {
    const next = this.#queue.then(() => this.#applyNow());
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #applyNow(): Promise<void> {
    if (this.#closed) return;
    const ports = this.#ports.map((p) => ({ ...p, endpoints: p.endpoints.map((e) => ({ ...e, healthy: e.healthy && this.#health.passes(p.backend, e.key) })) }));
    const byName = new Map(ports.map((p) => [p.name, p]));
    const { tables, refused } = kernelTablesOf(ports);
    for (const r of refused) {
      const key = `${r.port} ${r.endpoints}`;
      if (this.#told.has(key)) continue;
      this.#told.add(key);
      this.#log.warn({ event: 'kernelPortRefused', port: r.port, endpoints: r.endpoints, max: r.max }, 'kernel-mode port not served: more endpoints than the largest table holds');
    }
    await this.#applier.apply(tables);
    m.slots.reset();
    m.up.reset();
    for (const t of tables) {
      const counts = new Map<string, number>();
      for (const v of t.slots) if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
      for (const e of byName.get(t.port.name)?.endpoints ?? []) {
        m.slots.set({ port: t.port.name, endpoint: e.key }, counts.get(slotValueOf(e.address, e.port)) ?? 0);
        m.up.set({ port: t.port.name, endpoint: e.key }, e.healthy ? 1 : 0);
      }
    }
    heldPorts = tables.map((t) => t.port);
    m.ports.set({ state: 'held' }, tables.length);
    m.ports.set({ state: 'refused' }, refused.length);
  }

  /** Stops the checks and empties the table, keeping its chains (KernelApplier.release: open flows keep their NAT while handed off). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#health.stop();
    await this.#queue;
    heldPorts = [];
    return this.#applier.release();
  }
}
