/**
 * Active health checks of kernel-mode endpoints, with the proxy's checker
 * (speaker/proxy/health.ts): the same probes, intervals, rise and fall as a proxy backend with
 * the same `health-check` annotations. One checker per backend (a Service port), over the union
 * of its kernel-mode ports' endpoints (one per address family and VIP). Endpoints start up, as
 * in the proxy; a verdict is kept by endpoint (`address:port`) while the endpoint stays.
 *
 * Every node that holds the port's rules checks, not only the owner, so a new owner has its
 * verdicts when it takes the address over: (nodes that may own it) × endpoints probes per interval.
 */
import type { Logger } from '../../src/log.js';
import { ActiveHealthCheck, type HealthTarget, type ProbedEndpoint } from '../proxy/health.js';
import type { HealthCheck } from '../proxy/model.js';
import type { KernelPortPlan } from '../plan/kernel-ports.js';

interface Probed extends ProbedEndpoint {
  healthy: boolean;
  removed: boolean;
}

interface Checked extends HealthTarget<Probed> {
  endpoints: Probed[];
  byKey: Map<string, Probed>;
  readonly spec: string;
  readonly checker: ActiveHealthCheck<Probed>;
}

export class KernelHealth {
  readonly #log: Logger;
  readonly #changed: () => void;
  readonly #backends = new Map<string, Checked>();

  /** `changed` is called after a verdict changes (the tables are rebuilt then). */
  constructor(log: Logger, changed: () => void) {
    this.#log = log;
    this.#changed = changed;
  }

  /** Checkers for the backends of `ports` that have a health check; the others stop. */
  update(ports: readonly KernelPortPlan[]): void {
    const wanted = new Map<string, { spec: HealthCheck; endpoints: Map<string, { address: string; port: number }> }>();
    for (const p of ports) {
      if (p.healthCheck === undefined) continue;
      const w = wanted.get(p.backend) ?? { spec: p.healthCheck, endpoints: new Map() };
      for (const e of p.endpoints) w.endpoints.set(e.key, { address: e.address, port: e.port });
      wanted.set(p.backend, w);
    }
    for (const [name, c] of this.#backends) {
      const w = wanted.get(name);
      if (w !== undefined && JSON.stringify(w.spec) === c.spec) continue;
      c.checker.stop();
      for (const e of c.endpoints) e.removed = true;
      this.#backends.delete(name);
    }
    for (const [name, w] of wanted) {
      const c = this.#backends.get(name);
      const before = new Map((c?.endpoints ?? []).map((e) => [e.key, e]));
      const endpoints = [...w.endpoints].map(([key, e]) => before.get(key) ?? { key, address: e.address, port: e.port, healthy: true, removed: false });
      for (const [key, e] of before) if (!w.endpoints.has(key)) e.removed = true;
      if (c === undefined) this.#start(name, w.spec, endpoints);
      else {
        c.endpoints = endpoints; // the checker reads the list each round
        c.byKey = new Map(endpoints.map((e) => [e.key, e]));
      }
    }
  }

  /** False when the backend's checker took the endpoint out; true otherwise (no check, or not probed yet). */
  passes(backend: string, key: string): boolean {
    return this.#backends.get(backend)?.byKey.get(key)?.healthy !== false;
  }

  stop(): void {
    for (const c of this.#backends.values()) c.checker.stop();
    this.#backends.clear();
  }

  #start(backend: string, spec: HealthCheck, endpoints: Probed[]): void {
    const log = this.#log.child({ backend });
    const target = {
      endpoints,
      byKey: new Map(endpoints.map((e) => [e.key, e])),
      spec: JSON.stringify(spec),
      upstreamTls: null,
      setHealthy: (e: Probed, healthy: boolean): void => {
        if (e.healthy === healthy || e.removed) return;
        e.healthy = healthy;
        log.info({ event: healthy ? 'endpointUp' : 'endpointDown', endpoint: e.key, dataPlane: 'kernel' });
        this.#changed();
      },
    };
    // The checker's first round runs in its constructor, over the endpoints as given.
    this.#backends.set(backend, Object.assign(target, { checker: new ActiveHealthCheck<Probed>(target, spec, log) }));
  }
}
