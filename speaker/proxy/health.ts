/**
 * Active health checks of one backend: every `intervalMs`, a probe of each endpoint:
 *   - `tcp`: a connect (TLS handshake too, for `tls`/`https` backends) is the check;
 *   - `http`: `GET path` with `Connection: close`; the check passes when the status is within
 *     `expectStatus` (default 200-399), read from the status line alone.
 * `fall` failures in a row take an endpoint out, `rise` successes in a row bring it back.
 * Endpoints start up (Kubernetes readiness already vouched for them), as haproxy's servers do
 * after a reload with state kept. One timer per backend; probes are off the connection hot path.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../../src/log.js';
import { localResourceError } from './limits.js';
import { countResourceError } from './metrics.js';
import { DEFAULT_EXPECT_STATUS, type HealthCheck } from './model.js';

/** What a probe needs of an endpoint, and where its verdicts go (BackendPool; kernel mode's KernelHealth). */
export interface ProbedEndpoint {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly healthy: boolean;
  readonly removed: boolean;
}

export interface HealthTarget<E extends ProbedEndpoint> {
  /** A `tls`/`https` backend's client options (the check completes a handshake); null: plain. */
  readonly upstreamTls: tls.ConnectionOptions | null;
  readonly endpoints: readonly E[];
  setHealthy(e: E, healthy: boolean): void;
}

interface ProbeState {
  successes: number;
  failures: number;
  inFlight: boolean;
}

/** A status line longer than this is not one (the probe fails). */
const MAX_STATUS_LINE = 1024;

export class ActiveHealthCheck<E extends ProbedEndpoint> {
  readonly #target: HealthTarget<E>;
  readonly #spec: HealthCheck;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  readonly #state = new WeakMap<E, ProbeState>();
  readonly #sockets = new Set<net.Socket>();
  #stopped = false;

  constructor(target: HealthTarget<E>, spec: HealthCheck, log: Logger) {
    this.#target = target;
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
    for (const e of this.#target.endpoints) {
      let st = this.#state.get(e);
      if (st === undefined) {
        st = { successes: 0, failures: 0, inFlight: false };
        this.#state.set(e, st);
      }
      if (!st.inFlight) this.#probe(e, st);
    }
  }

  #probe(e: E, st: ProbeState): void {
    st.inFlight = true;
    const secure = this.#target.upstreamTls;
    const socket: net.Socket = secure !== null
      ? tls.connect({ ...secure, host: e.address, port: e.port })
      : net.connect({ host: e.address, port: e.port });
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
      // Out of descriptors or memory here says nothing about the endpoint: no verdict this round.
      const local = ok ? undefined : localResourceError(why);
      if (local !== undefined) return countResourceError('healthCheck', local);
      this.#record(e, st, ok, why);
    };
    const timer = setTimeout(() => finish(false, 'timeout'), this.#spec.timeoutMs);
    timer.unref();
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      if (this.#spec.type === 'tcp') {
        finish(true, 'connected');
        return;
      }
      socket.write(`GET ${this.#spec.path ?? '/'} HTTP/1.1\r\nHost: ${e.key}\r\nUser-Agent: fulcrum-health-check\r\nConnection: close\r\n\r\n`);
      let line = '';
      socket.on('data', (chunk: Buffer) => {
        line += chunk.toString('latin1');
        const end = line.indexOf('\r\n');
        if (end < 0 && line.length < MAX_STATUS_LINE) return;
        const status = statusOf(end < 0 ? '' : line.slice(0, end));
        const expect = this.#spec.expectStatus ?? DEFAULT_EXPECT_STATUS;
        finish(status !== undefined && status >= expect.min && status <= expect.max, status === undefined ? 'badStatusLine' : `status ${status}`);
      });
      socket.once('end', () => finish(false, 'closedBeforeStatus'));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
  }

  #record(e: E, st: ProbeState, ok: boolean, why: string): void {
    if (ok) {
      st.successes++;
      st.failures = 0;
      if (!e.healthy && st.successes >= this.#spec.rise) this.#target.setHealthy(e, true);
      return;
    }
    st.failures++;
    st.successes = 0;
    if (this.#log.debug()) this.#log.debug({ event: 'healthCheckFailed', endpoint: e.key, reason: why, failures: st.failures });
    if (e.healthy && st.failures >= this.#spec.fall) this.#target.setHealthy(e, false);
  }
}

/** The status of an `HTTP/1.x NNN reason` line, or undefined. */
export function statusOf(line: string): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(line);
  return m ? Number(m[1]) : undefined;
}
