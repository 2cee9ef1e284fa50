import type { Logger } from '../src/log.js';
import { ProxyEngine } from './proxy/engine.js';
import type { ProxyModel } from './proxy/model.js';

/**
 * What the controller needs from the data plane: apply the whole desired model as a diff
 * (unchanged binds keep their sockets, removed frontends stop accepting and drain), and stop.
 */
export interface ProxyPort {
  apply(model: ProxyModel): Promise<void>;
  /** Stop accepting everywhere; open connections get up to `drainTimeoutMs`, then are cut. */
  stop(drainTimeoutMs: number): Promise<void>;
  /** Resolves once the frontends removed from `address` have finished their connections (or the drain timeout cut them). */
  drained(address: string): Promise<void>;
}

/** speaker/proxy's engine behind the port; a frontend that fails to bind is logged and retried at the next apply. */
export class EngineProxy implements ProxyPort {
  readonly #engine: ProxyEngine;
  readonly #log: Logger;

  constructor(logger: Logger, drainTimeoutMs: number) {
    this.#log = logger.child({ part: 'proxy' });
    this.#engine = new ProxyEngine({ log: this.#log, drainTimeoutMs });
  }

  async apply(model: ProxyModel): Promise<void> {
    const r = await this.#engine.apply(model);
    if (r.kind === 'applied') {
      for (const f of r.failed) this.#log.error({ event: 'frontendBindFailed', frontend: f.frontend, listen: f.listen, err: f.error.message }, 'frontend could not bind');
    }
  }

  stop(drainTimeoutMs: number): Promise<void> {
    return this.#engine.stop({ drainTimeoutMs });
  }

  drained(address: string): Promise<void> {
    return this.#engine.drained(address);
  }
}
