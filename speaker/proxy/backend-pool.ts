/**
 * The runtime side of one backend: its endpoints with their live state (connections, health,
 * passive ejection), the balancing algorithm, and the ClientIP affinity table. Updated in place
 * by `update(spec)` when the model changes, keeping each endpoint's state by address:port, so
 * leastconn counts and health survive a reload and open connections keep their endpoint object.
 */
import { fnv1a } from '../../src/hash.js';
import type { Logger } from '../../src/log.js';
import { createBalancer, type Balancer, type RandomSource } from './balancers/index.js';
import { ActiveHealthCheck } from './health.js';
import { localResourceError } from './limits.js';
import { countResourceError, EndpointStats, forgetBackendHttp, forgetEndpoint, HttpStats, httpRequestSeconds, trackBackendHttp, trackEndpoint, connectSeconds, type EndpointError } from './metrics.js';
import type tls from 'node:tls';
import { hostPort, type Backend, type Endpoint } from './model.js';
import { upstreamTlsOptions } from './tls.js';
import { UpstreamPool, type Pooled } from './upstream-pool.js';

/** Affinity entries beyond this are not recorded (a flood of clients must not grow memory unbounded). */
export const MAX_AFFINITY_ENTRIES = 65536;

export class EndpointRuntime extends EndpointStats {
  readonly key: string;
  /** The endpoint's name in a sticky cookie: a hash of its address and port (the address itself is not shown to clients). */
  readonly cookieId: string;
  readonly address: string;
  readonly port: number;
  weight: number;
  /** Healthy and not ejected and still in the model: new connections may go here. */
  available = true;
  balanceScore = 0;
  removed = false;
  /** 0 when not ejected. */
  ejectedUntilMs = 0;
  ejections = 0;
  /** Length of the current (or last) ejection. */
  ejectMs = 0;
  consecutiveFailures = 0;

  constructor(backend: string, spec: Endpoint) {
    const key = hostPort(spec.address, spec.port);
    super(backend, key);
    this.key = key;
    this.cookieId = fnv1a(key).toString(16).padStart(8, '0');
    this.address = spec.address;
    this.port = spec.port;
    this.weight = spec.weight;
  }
}

interface AffinityEntry {
  endpoint: EndpointRuntime;
  expiresMs: number;
}

export class BackendPool {
  readonly name: string;
  spec: Backend;
  endpoints: EndpointRuntime[] = [];
  /** Bumped whenever the endpoint list or any endpoint's `available` changes. */
  version = 0;
  readonly connectHistogram: ReturnType<typeof connectSeconds.labels>;
  /** HTTP backends: responses by status class, request latency, idle keep-alive connections. */
  readonly http = new HttpStats();
  readonly requestHistogram: ReturnType<typeof httpRequestSeconds.labels>;
  readonly upstreams = new UpstreamPool<EndpointRuntime, Pooled>();
  /** `tls`/`https` backends: how every connection to an endpoint (and its health check) speaks TLS; null: plain. */
  upstreamTls: tls.ConnectionOptions | null = null;
  readonly #log: Logger;
  readonly #random: RandomSource;
  #balancer: Balancer;
  #affinity = new Map<string, AffinityEntry>();
  #health: ActiveHealthCheck<EndpointRuntime> | undefined;

  constructor(spec: Backend, log: Logger, random: RandomSource = Math.random) {
    this.name = spec.name;
    this.spec = spec;
    this.#log = log.child({ backend: spec.name });
    this.#random = random;
    this.#balancer = createBalancer(spec.balance, random);
    this.connectHistogram = connectSeconds.labels({ backend: spec.name });
    this.requestHistogram = httpRequestSeconds.labels({ backend: spec.name });
    trackBackendHttp(this);
    this.update(spec);
  }

  /** Applies a new spec of the same backend in place; open connections are not touched. */
  update(spec: Backend): void {
    const old = this.spec;
    this.spec = spec;
    if (old !== spec || this.upstreamTls === null) {
      const before = this.upstreamTls;
      this.upstreamTls = upstreamTlsOf(spec, old === spec ? null : old, before);
      // Idle connections were made (and verified) under the old settings: new requests open new ones
      if (before !== this.upstreamTls && old !== spec) this.upstreams.close();
    }
    if (old.balance !== spec.balance) this.#balancer = createBalancer(spec.balance, this.#random);
    if (!spec.affinity.clientIP) this.#affinity.clear();
    const byKey = new Map(this.endpoints.map((e) => [e.key, e]));
    const next: EndpointRuntime[] = [];
    for (const es of spec.endpoints) {
      const key = hostPort(es.address, es.port);
      let e = byKey.get(key);
      if (e === undefined || next.includes(e)) {
        e = new EndpointRuntime(spec.name, es);
        trackEndpoint(e);
      }
      byKey.delete(key);
      e.weight = es.weight;
      next.push(e);
    }
    for (const gone of byKey.values()) {
      gone.removed = true;
      gone.available = false;
      forgetEndpoint(gone);
    }
    this.endpoints = next;
    for (const e of next) this.#refreshAvailable(e);
    this.version++;
    if (JSON.stringify(old.healthCheck) !== JSON.stringify(spec.healthCheck) || this.#health === undefined) {
      this.#health?.stop();
      this.#health = spec.healthCheck ? new ActiveHealthCheck(this, spec.healthCheck, this.#log) : undefined;
      if (!spec.healthCheck) for (const e of next) this.setHealthy(e, true);
    } else {
      this.#health.refresh();
    }
  }

  /**
   * The endpoint for a new connection from `clientAddress`, or undefined when none is usable.
   * `exclude` lists the endpoints this connection already failed on.
   */
  pick(clientAddress: string, exclude: readonly EndpointRuntime[] | null, nowMs: number): EndpointRuntime | undefined {
    const affinity = this.spec.affinity.clientIP;
    if (affinity) {
      const entry = this.#affinity.get(clientAddress);
      if (entry !== undefined && entry.expiresMs > nowMs && entry.endpoint.available && (exclude === null || !exclude.includes(entry.endpoint))) {
        entry.expiresMs = nowMs + this.spec.affinity.timeoutSeconds * 1000;
        return entry.endpoint;
      }
    }
    const e = this.#balancer.pick(this.endpoints, this.version, clientAddress, exclude);
    if (affinity && e !== undefined) {
      const entry = this.#affinity.get(clientAddress);
      const expiresMs = nowMs + this.spec.affinity.timeoutSeconds * 1000;
      if (entry !== undefined) {
        entry.endpoint = e;
        entry.expiresMs = expiresMs;
      } else if (this.#affinity.size < MAX_AFFINITY_ENTRIES) {
        this.#affinity.set(clientAddress, { endpoint: e, expiresMs });
      }
    }
    return e;
  }

  /** The endpoint a sticky cookie names, when it still takes requests and is not excluded. */
  byCookie(id: string, exclude: readonly EndpointRuntime[] | null): EndpointRuntime | undefined {
    for (const e of this.endpoints) if (e.cookieId === id) return e.available && (exclude === null || !exclude.includes(e)) ? e : undefined;
    return undefined;
  }

  onConnected(e: EndpointRuntime): void {
    e.connectionsTotal++;
    e.consecutiveFailures = 0;
    e.ejections = 0;
  }

  /**
   * A connect to `e` failed with `code`: the proxy's own trouble (EMFILE, ENFILE, ENOBUFS,
   * ENOMEM, EADDRNOTAVAIL) is counted apart and never held against the endpoint; anything else
   * is a connect failure of the endpoint. Returns whether it was the endpoint's.
   */
  onConnectError(e: EndpointRuntime, code: string | undefined, nowMs: number): boolean {
    const local = localResourceError(code);
    if (local !== undefined) {
      countResourceError('connect', local);
      return false;
    }
    this.onConnectFailed(e, code === 'ECONNREFUSED' ? 'connectRefused' : 'connectError', nowMs);
    return true;
  }

  onConnectFailed(e: EndpointRuntime, reason: EndpointError, nowMs: number): void {
    e.errors[reason]++;
    e.consecutiveFailures++;
    const p = this.spec.passiveEjection;
    if (e.ejectedUntilMs !== 0 || e.consecutiveFailures < p.consecutiveFailures) return;
    // Backoff doubles with each ejection in a row: base, 2×base, 4×base… up to max.
    const ejectMs = Math.min(p.baseEjectMs * 2 ** Math.min(e.ejections, 20), p.maxEjectMs);
    e.ejections++;
    e.ejectMs = ejectMs;
    e.ejectedUntilMs = nowMs + ejectMs;
    e.ejected = true;
    this.#refreshAvailable(e);
    this.version++;
    this.#log.warn({ event: 'endpointEjected', endpoint: e.key, reason, consecutiveFailures: e.consecutiveFailures, ejectMs });
  }

  /** Called by the active health check when an endpoint crosses rise or fall. */
  setHealthy(e: EndpointRuntime, healthy: boolean): void {
    if (e.healthy === healthy) return;
    e.healthy = healthy;
    this.#refreshAvailable(e);
    this.version++;
    this.#log.info({ event: healthy ? 'endpointUp' : 'endpointDown', endpoint: e.key });
  }

  /** Ends ejections that are due and forgets expired affinity entries. */
  sweep(nowMs: number): void {
    for (const e of this.endpoints) {
      if (e.ejectedUntilMs === 0 || e.ejectedUntilMs > nowMs) continue;
      e.ejectedUntilMs = 0;
      e.ejected = false;
      // Half-open: one more failure ejects again, for twice as long.
      e.consecutiveFailures = Math.max(0, this.spec.passiveEjection.consecutiveFailures - 1);
      this.#refreshAvailable(e);
      this.version++;
      this.#log.info({ event: 'endpointEjectionEnded', endpoint: e.key });
    }
    if (this.#affinity.size > 0) for (const [client, entry] of this.#affinity) if (entry.expiresMs <= nowMs) this.#affinity.delete(client);
    if (this.upstreams.size > 0) this.upstreams.sweep(nowMs);
  }

  get affinityEntries(): number {
    return this.#affinity.size;
  }

  /** Stops health checks and unregisters metrics; open connections keep their endpoint objects. */
  close(): void {
    this.#health?.stop();
    this.#health = undefined;
    this.upstreams.close();
    forgetBackendHttp(this);
    for (const e of this.endpoints) forgetEndpoint(e);
  }

  #refreshAvailable(e: EndpointRuntime): void {
    e.available = !e.removed && e.healthy && e.ejectedUntilMs === 0 && e.weight > 0;
  }
}

/** The TLS client options of a re-encrypting backend, rebuilt only when its protocol or TLS settings change. */
function upstreamTlsOf(spec: Backend, old: Backend | null, current: tls.ConnectionOptions | null): tls.ConnectionOptions | null {
  if (spec.protocol !== 'tls' && spec.protocol !== 'https') return null;
  if (current !== null && old !== null && old.protocol === spec.protocol && old.tls?.caPem === spec.tls?.caPem && old.tls?.serverName === spec.tls?.serverName) return current;
  return upstreamTlsOptions(spec.tls, spec.protocol === 'https' ? ['http/1.1'] : []);
}
