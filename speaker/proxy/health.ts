/**
 * Active health checks of one backend: every `intervalMs`, a TCP connect to each endpoint
 * (`tcp`: the connect succeeding is the check). `fall` failures in a row take an endpoint out,
 * `rise` successes in a row bring it back. Endpoints start up (Kubernetes readiness already
 * vouched for them), as haproxy's servers do after a reload with state kept.
 * One timer per backend, not per connection; probes are off the connection hot path.
 */
import net from 'node:net';
import type { Logger } from '../../src/log.js';
import type { BackendPool, EndpointRuntime } from './backend-pool.js';
import type { HealthCheck } from './model.js';

interface ProbeState {
  successes: number;
  failures: number;
  inFlight: boolean;
}

export class ActiveHealthCheck {
  readonly #pool: BackendPool;
  readonly #spec: HealthCheck;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  readonly #state = new WeakMap<EndpointRuntime, ProbeState>();
  readonly #sockets = new Set<net.Socket>();
  #stopped = false;

  constructor(pool: BackendPool, spec: HealthCheck, log: Logger) {
    this.#pool = pool;
    this.#spec = spec;
    this.#log = log;
    this.#timer = setInterval(() => this.#round(), spec.intervalMs);
    this.#timer.unref();
    this.#round();
  }

  /** The endpoint list changed: new endpoints are picked up by the next round. */
  refresh(): void {}

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  #round(): void {
    for (const e of this.#pool.endpoints) {
      let st = this.#state.get(e);
      if (st === undefined) {
        st = { successes: 0, failures: 0, inFlight: false };
        this.#state.set(e, st);
      }
      if (!st.inFlight) this.#probe(e, st);
    }
  }

  #probe(e: EndpointRuntime, st: ProbeState): void {
    st.inFlight = true;
    const socket = net.connect({ host: e.address, port: e.port });
    this.#sockets.add(socket);
    let done = false;
    const finish = (ok: boolean, why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.#sockets.delete(socket);
      socket.destroy();
      st.inFlight = false;
      if (this.#stopped || e.removed) return;
      this.#record(e, st, ok, why);
    };
    const timer = setTimeout(() => finish(false, 'timeout'), this.#spec.timeoutMs);
    timer.unref();
    socket.once('connect', () => finish(true, 'connected'));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
  }

  #record(e: EndpointRuntime, st: ProbeState, ok: boolean, why: string): void {
    if (ok) {
      st.successes++;
      st.failures = 0;
      if (!e.healthy && st.successes >= this.#spec.rise) this.#pool.setHealthy(e, true);
      return;
    }
    st.failures++;
    st.successes = 0;
    if (this.#log.debug()) this.#log.debug({ event: 'healthCheckFailed', endpoint: e.key, reason: why, failures: st.failures });
    if (e.healthy && st.failures >= this.#spec.fall) this.#pool.setHealthy(e, false);
  }
}
