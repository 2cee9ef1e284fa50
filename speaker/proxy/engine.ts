/**
 * The data plane: makes a ProxyModel real as a diff (house rule 10). `apply` computes the plan
 * purely (plan.ts) and carries it out in one place, in a fixed order:
 *   1. backend pools are created or updated in place (endpoint state kept by address:port);
 *   2. frontends to drain stop accepting (their listening sockets close first, so a frontend
 *      that moves to another bind, or a new one on a freed bind, can bind next);
 *   3. frontends with a changed config and the same bind get a new context in place;
 *   4. new frontends bind (warming → active);
 *   5. pools no frontend uses any more stop their health checks.
 * Open connections are never dropped by a backend, algorithm or timeout change; they keep the
 * context that accepted them. Every path is counted in `fulcrum_proxy_frontend_changes_total`.
 */
import { FulcrumError } from '../../src/errors.js';
import { componentLogger, type Logger } from '../../src/log.js';
import { BackendPool } from './backend-pool.js';
import type { RandomSource } from './balancers/index.js';
import { addSweeper, removeSweeper, type Sweeper } from './coarse-timer.js';
import { FrontendContext } from './context.js';
import { FrontendStats, forgetFrontend, frontendChanges, trackFrontend } from './metrics.js';
import { hostPort, type Frontend, type ProxyModel } from './model.js';
import { derivedProcessLimits, processBudget, setFileMaxconn } from './process-limits.js';
import { bindKey, configHash, planProxy, usedBackends, type ProxyPlan } from './plan.js';
import { HttpFrontend } from './http-frontend.js';
import { TcpFrontend } from './tcp-frontend.js';
import { UdpFrontend } from './udp-frontend.js';

export interface ProxyEngineOptions {
  log?: Logger;
  /** For `random` balancing; tests pass a seeded source. */
  random?: RandomSource;
  /** How long a removed frontend's connections may go on (default 30 s). */
  drainTimeoutMs?: number;
  /** The flows of a udp frontend without `maxconn` (default DEFAULT_MAX_FLOWS). */
  maxUdpFlows?: number;
  /** The flows one client address may hold in a udp frontend (default: 1/64 of its bound, at least 16). */
  maxUdpFlowsPerSource?: number;
}

export type FrontendRuntime = TcpFrontend | UdpFrontend | HttpFrontend;

export interface BindFailure {
  readonly frontend: string;
  readonly listen: string;
  readonly error: FulcrumError;
}

export type ApplyResult =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'applied'; readonly plan: ProxyPlan; readonly failed: readonly BindFailure[] };

const EMPTY: ProxyModel = { workers: 1, frontends: [], backends: [] };

export class ProxyEngine implements Sweeper {
  readonly #log: Logger;
  readonly #random: RandomSource;
  readonly #drainTimeoutMs: number;
  readonly #maxUdpFlows: number | undefined;
  readonly #maxUdpFlowsPerSource: number | undefined;
  /** The model set the process's maxconn (the file's top-level key): undone when it goes. */
  #setsMaxconn = false;
  readonly #frontends = new Map<string, FrontendRuntime>();
  readonly #generations = new Map<string, number>();
  /** Frontends finishing their connections after removal: the promise of each, with its listen address. */
  readonly #draining = new Map<Promise<void>, string>();
  /** Draining UDP frontends by bind: they hold their socket until their flows end. */
  readonly #drainingUdp = new Map<string, UdpFrontend>();
  readonly #pools = new Map<string, BackendPool>();
  #current: ProxyModel = EMPTY;
  #hash = configHash(EMPTY);
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(opts: ProxyEngineOptions = {}) {
    this.#log = opts.log ?? componentLogger('proxy');
    this.#random = opts.random ?? Math.random;
    this.#drainTimeoutMs = opts.drainTimeoutMs ?? 30_000;
    this.#maxUdpFlows = opts.maxUdpFlows;
    this.#maxUdpFlowsPerSource = opts.maxUdpFlowsPerSource;
    addSweeper(this);
  }

  /** Applies `model` as a diff against what runs. Calls are serialised. */
  apply(model: ProxyModel): Promise<ApplyResult> {
    const run = this.#queue.then(() => this.#apply(model));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** The port a frontend is bound to (differs from the model's when it asked for port 0). */
  frontendPort(name: string): number | undefined {
    return this.#frontends.get(name)?.port;
  }

  frontend(name: string): FrontendRuntime | undefined {
    return this.#frontends.get(name);
  }

  pool(name: string): BackendPool | undefined {
    return this.#pools.get(name);
  }

  /** Frontends still finishing connections after removal. */
  get drainingCount(): number {
    return this.#draining.size;
  }

  /** Resolves once no frontend removed from `address` is still finishing connections. */
  async drained(address: string): Promise<void> {
    await Promise.all([...this.#draining].filter(([, a]) => a === address).map(([done]) => done));
  }

  /** Stops accepting everywhere, lets connections finish up to the deadline, then closes the rest. */
  async stop(opts: { drainTimeoutMs?: number } = {}): Promise<void> {
    await this.#queue;
    this.#stopped = true;
    const timeoutMs = opts.drainTimeoutMs ?? this.#drainTimeoutMs;
    for (const [name, f] of this.#frontends) this.#startDrain(name, f, timeoutMs);
    this.#frontends.clear();
    await Promise.all([...this.#draining.keys()]);
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
    removeSweeper(this);
    if (this.#setsMaxconn) setFileMaxconn(undefined);
    this.#setsMaxconn = false;
  }

  sweep(nowMs: number): void {
    for (const p of this.#pools.values()) p.sweep(nowMs);
  }

  async #apply(model: ProxyModel): Promise<ApplyResult> {
    if (this.#stopped) throw new FulcrumError('FUL_ERR_PROXY_STOPPED', {});
    const hash = configHash(model);
    if (hash === this.#hash) {
      frontendChanges.inc({ kind: 'unchanged' });
      return { kind: 'unchanged' };
    }
    if (model.maxconn !== undefined || this.#setsMaxconn) {
      setFileMaxconn(model.maxconn);
      this.#setsMaxconn = model.maxconn !== undefined;
      const fits = derivedProcessLimits();
      // haproxy warns alike: past this, accepts and connects run into EMFILE (counted, never held against endpoints)
      if (model.maxconn !== undefined && model.maxconn > fits.maxconn) this.#log.warn({ event: 'maxconnAboveDescriptorLimit', maxconn: model.maxconn, openFiles: processBudget.openFiles, fits: fits.maxconn });
    }
    const plan = planProxy(this.#current, model);
    const used = usedBackends(model);
    for (const b of used) {
      const pool = this.#pools.get(b.name);
      if (pool === undefined) this.#pools.set(b.name, new BackendPool(b, this.#log, this.#random));
      else pool.update(b);
    }
    for (const name of plan.drain) {
      const f = this.#frontends.get(name);
      if (f === undefined) continue; // it had failed to bind
      this.#frontends.delete(name);
      this.#startDrain(name, f, this.#drainTimeoutMs);
      frontendChanges.inc({ kind: 'drained' });
    }
    const add = [...plan.add];
    const updateFailed: BindFailure[] = [];
    const kept = new Map<string, Frontend>();
    for (const spec of plan.update) {
      const f = this.#frontends.get(spec.name);
      if (f === undefined) {
        add.push(spec); // failed to bind last time: try again
        continue;
      }
      try {
        f.update(this.#context(spec, f.ctx.stats));
      } catch (err) {
        // TLS appeared with no certificate that can be served: the frontend goes on as it was
        this.#log.error({ event: 'frontendUpdateFailed', frontend: spec.name, err });
        updateFailed.push({ frontend: spec.name, listen: hostPort(spec.listen.address, spec.listen.port), error: asFulcrumError(err) });
        kept.set(spec.name, f.ctx.spec);
        continue;
      }
      frontendChanges.inc({ kind: 'updatedInPlace' });
      this.#log.info({ event: 'frontendUpdated', frontend: spec.name, generation: f.ctx.generation });
    }
    const failed: BindFailure[] = [...updateFailed];
    await Promise.all(add.map(async (spec) => {
      const failure = await this.#add(spec);
      if (failure !== undefined) failed.push(failure);
    }));
    if (plan.keep.length > 0) frontendChanges.inc({ kind: 'kept' }, plan.keep.length);
    const usedNames = new Set(used.map((b) => b.name));
    for (const [name, pool] of this.#pools) {
      if (usedNames.has(name)) continue;
      pool.close();
      this.#pools.delete(name);
    }
    // Generations count the contexts of a frontend that runs; a removed one starts again at 1.
    for (const name of [...this.#generations.keys()]) if (!this.#frontends.has(name)) this.#generations.delete(name);
    const failedNames = new Set(failed.map((f) => f.frontend));
    // A frontend that failed to start is not current; one whose update failed runs on as it was.
    this.#current = { ...model, frontends: model.frontends.flatMap((f) => kept.get(f.name) ?? (failedNames.has(f.name) ? [] : [f])) };
    this.#hash = failed.length === 0 ? hash : configHash(this.#current);
    return { kind: 'applied', plan: add.length === plan.add.length ? plan : { ...plan, add }, failed };
  }

  async #add(spec: Frontend): Promise<BindFailure | undefined> {
    const stats = new FrontendStats(spec.name, spec.protocol);
    const ctx = this.#context(spec, stats);
    const listen = hostPort(spec.listen.address, spec.listen.port);
    let f: FrontendRuntime;
    try {
      f = spec.protocol === 'udp' ? new UdpFrontend(ctx, this.#maxUdpFlows, this.#maxUdpFlowsPerSource) : spec.protocol === 'http' ? new HttpFrontend(ctx) : new TcpFrontend(ctx);
    } catch (err) {
      // TLS without a certificate that can be served (tls.ts says which and why)
      this.#log.error({ event: 'frontendFailed', frontend: spec.name, listen, err });
      frontendChanges.inc({ kind: 'bindFailed' });
      return { frontend: spec.name, listen, error: asFulcrumError(err) };
    }
    const holder = this.#drainingUdp.get(bindKey(spec));
    if (holder !== undefined && spec.listen.port !== 0) {
      this.#log.info({ event: 'drainCutForBind', frontend: holder.ctx.spec.name, by: spec.name, listen, flows: holder.flows.size });
      await holder.releaseBind();
    }
    try {
      await f.listen();
    } catch (err) {
      const error = new FulcrumError('FUL_ERR_PROXY_BIND', { frontend: spec.name, protocol: spec.protocol, listen, reason: (err as Error).message }, { cause: err });
      this.#log.error({ event: 'frontendBindFailed', frontend: spec.name, listen, err });
      frontendChanges.inc({ kind: 'bindFailed' });
      return { frontend: spec.name, listen, error };
    }
    trackFrontend(stats);
    this.#frontends.set(spec.name, f);
    frontendChanges.inc({ kind: 'added' });
    this.#log.info({ event: 'frontendAdded', frontend: spec.name, protocol: spec.protocol, listen, port: f.port });
    return undefined;
  }

  #context(spec: Frontend, stats: FrontendStats): FrontendContext {
    const poolOf = (backend: string): BackendPool => {
      const pool = this.#pools.get(backend);
      if (pool === undefined) throw new Error(`incoherent state: frontend "${spec.name}" routes to backend "${backend}" that has no pool`);
      return pool;
    };
    const generation = (this.#generations.get(spec.name) ?? 0) + 1;
    this.#generations.set(spec.name, generation);
    return new FrontendContext(spec, poolOf, stats, this.#log.child({ frontend: spec.name }), generation);
  }

  #startDrain(name: string, f: FrontendRuntime, timeoutMs: number): void {
    this.#log.info({ event: 'frontendDraining', frontend: name, open: f instanceof TcpFrontend ? f.sessions.size : f instanceof HttpFrontend ? f.connections.size : f.flows.size, timeoutMs });
    const key = bindKey(f.ctx.spec);
    if (f instanceof UdpFrontend) this.#drainingUdp.set(key, f);
    const done = f.drain(timeoutMs).then(() => {
      this.#draining.delete(done);
      if (this.#drainingUdp.get(key) === f) this.#drainingUdp.delete(key);
      forgetFrontend(f.ctx.stats);
      this.#log.info({ event: 'frontendDrained', frontend: name });
    });
    this.#draining.set(done, f.ctx.spec.listen.address);
  }
}

function asFulcrumError(err: unknown): FulcrumError {
  return err instanceof FulcrumError ? err : new FulcrumError('FUL_ERR_PROXY_CONFIG', { count: '1 problem', problems: (err as Error).message });
}
