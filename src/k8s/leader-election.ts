import type { V1Lease } from '@kubernetes/client-node';
import { FulcrumError } from '../errors.js';
import { componentLogger, type Logger } from '../log.js';
import { describeApiFailure, type ApiFailure } from './api-error.js';
import { noteApiFailure, timeoutOptions, type ApiClients } from './client.js';
import { Sleeper } from './sleeper.js';
import { realClock, type Clock } from './clock.js';
import { Informer } from './informer.js';
import { planLease, releasedLeaseSpec, sameLeaseRecord } from './lease-record.js';
import { k8sMetrics } from './metrics.js';
import { leases } from './resources.js';

export interface LeaderCallbacks {
  /** This process now leads; `signal` aborts when it stops leading. */
  onStartedLeading?(signal: AbortSignal): void;
  onStoppedLeading?(): void;
  /** The observed holder changed ('' = released, nobody holds it). */
  onNewLeader?(identity: string): void;
}

export interface LeaderElectionOptions {
  clients: ApiClients;
  namespace: string;
  /** Lease name, e.g. `fulcrum-allocator`. */
  name: string;
  /** Unique per process, e.g. the pod name. */
  identity: string;
  /** How long a non-renewed Lease stays valid for the others (client-go default 15 s). */
  leaseDurationMs?: number;
  /** The leader gives up if it could not renew for this long (client-go default 10 s). */
  renewDeadlineMs?: number;
  /** Pause between attempts (client-go default 2 s). */
  retryPeriodMs?: number;
  /** Write an empty holder on stop() so a standby takes over at once (default true). */
  releaseOnStop?: boolean;
  /**
   * Also watch the Lease and try at once when it changes (released, or a holder we wait on
   * renewed) instead of only every retryPeriod. One watch per elector. Default true.
   */
  watchLease?: boolean;
  callbacks?: LeaderCallbacks;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
}

/** client-go's JitterFactor for the acquire loop: wait retryPeriod × (1 + random × 1.2). */
const JITTER_FACTOR = 1.2;

/**
 * Lease-based leader election with client-go's semantics: GET the Lease; create it if absent;
 * wait while another holder's record last changed (on our clock) less than its duration ago;
 * otherwise PUT ourselves as holder with the resourceVersion read, so of two candidates exactly
 * one wins. The leader renews every retryPeriod and steps down if it could not renew within
 * renewDeadline. Unlike client-go's Run, losing the lease is not the end: the elector goes
 * back to trying to acquire, and reports every change through the callbacks.
 */
export class LeaderElector {
  #o: Required<Omit<LeaderElectionOptions, 'callbacks' | 'logger'>> & { callbacks: LeaderCallbacks };
  #log: Logger;
  #leading = false;
  #leadingAbort: AbortController | undefined;
  #observed: V1Lease | undefined;
  #observedAtMs = 0;
  #reportedLeader: string | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #sleeper: Sleeper;
  #watcher: Informer<V1Lease> | undefined;
  #watcherFailure: ((f: ApiFailure) => void) | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnStop: true,
      watchLease: true,
      clock: realClock,
      random: Math.random,
      ...opts,
      callbacks: opts.callbacks ?? {},
    };
    this.#sleeper = new Sleeper(this.#o.clock);
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.#o;
    const problems: string[] = [];
    if (!opts.identity) problems.push('identity must not be empty');
    if (leaseDurationMs <= renewDeadlineMs) {
      problems.push(`leaseDurationMs (${leaseDurationMs}) must be greater than renewDeadlineMs (${renewDeadlineMs})`);
    }
    if (renewDeadlineMs <= retryPeriodMs * JITTER_FACTOR) {
      problems.push(`renewDeadlineMs (${renewDeadlineMs}) must be greater than retryPeriodMs × ${JITTER_FACTOR} (${retryPeriodMs * JITTER_FACTOR})`);
    }
    if (leaseDurationMs < 1000) problems.push(`leaseDurationMs (${leaseDurationMs}) must be at least 1000: the Lease counts whole seconds`);
    if (problems.length) {
      throw new FulcrumError('FUL_ERR_LEADER_ELECTION_CONFIG', { lease: `${opts.namespace}/${opts.name}`, problems: problems.join('; ') });
    }
    this.#log = (opts.logger ?? componentLogger('k8s')).child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** The holder last observed ('' when released, undefined before the first read). */
  leader(): string | undefined {
    return this.#reportedLeader;
  }

  start(): this {
    if (this.#loop) return this;
    if (this.#o.watchLease) {
      this.#watcher = new Informer<V1Lease>({
        clients: this.#o.clients,
        resource: leases,
        namespace: this.#o.namespace,
        fieldSelector: `metadata.name=${this.#o.name}`,
        name: `lease/${this.#o.name}`,
        clock: this.#o.clock,
        logger: this.#log,
        onFailure: (f) => this.#watcherFailure?.(f),
      });
      // Only a release or a deletion is worth an early attempt; an expiry is a matter of time.
      const poke = (l: V1Lease): void => {
        if (!this.#leading && (l.spec?.holderIdentity ?? '') === '') this.#sleeper.wake();
      };
      this.#watcher.on({ add: poke, update: poke, delete: () => this.#sleeper.wake() });
      // Without list/watch permission on Leases the watch can never work: fall back to
      // polling every retryPeriod (hand-over then takes up to 2.2 retry periods) and say so once.
      const watcher = this.#watcher;
      const onFailure = (f: ApiFailure): void => {
        if (f.kind !== 'http' || f.code !== 403 || this.#watcher !== watcher) return;
        this.#watcher = undefined;
        this.#log.warn({ event: 'leaseWatchForbidden', failure: describeApiFailure(f) }, 'no list/watch permission on leases: polling only');
        void watcher.stop();
      };
      this.#watcherFailure = onFailure;
      watcher.start();
    }
    this.#loop = this.#run();
    return this;
  }

  /** Stops trying; if leading, releases the Lease (unless releaseOnStop is false) and steps down. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#sleeper.wake();
    await this.#loop;
    await this.#watcher?.stop();
    if (this.#leading && this.#o.releaseOnStop) await this.#release();
    this.#stepDown('stopped');
  }

  async #run(): Promise<void> {
    const { clock, retryPeriodMs, renewDeadlineMs } = this.#o;
    while (!this.#stopped) {
      if ((await this.#tryAcquireOrRenew()) !== 'held') {
        if (!this.#stopped) await this.#sleeper.sleep(retryPeriodMs * (1 + this.#o.random() * JITTER_FACTOR));
        continue;
      }
      this.#becomeLeader();
      let lastRenewMs = clock.now();
      while (!this.#stopped) {
        if (!this.#stopped) await this.#sleeper.sleep(retryPeriodMs);
        if (this.#stopped) break;
        const attempt = await this.#tryAcquireOrRenew();
        if (attempt === 'held') {
          lastRenewMs = clock.now();
          continue;
        }
        if (attempt === 'heldByOther') break; // we read a valid record of another holder
        if (clock.now() - lastRenewMs >= renewDeadlineMs) {
          this.#log.warn({ event: 'renewDeadlineExceeded', sinceRenewMs: clock.now() - lastRenewMs }, 'could not renew the lease in time');
          break;
        }
      }
      if (!this.#stopped) this.#stepDown('lost');
    }
  }

  /** One attempt: do we hold the Lease afterwards? Never throws. */
  async #tryAcquireOrRenew(): Promise<'held' | 'heldByOther' | 'failed'> {
    const { clients, namespace, name, identity, clock } = this.#o;
    // A request must not outlive the renew deadline, or a hung call would keep us "leading".
    const opts = timeoutOptions(Math.max(this.#o.retryPeriodMs, this.#o.renewDeadlineMs - this.#o.retryPeriodMs));
    const leaseDurationSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    let current = this.#leading ? this.#observed : undefined; // a leader renews without a GET first
    for (let pass = 0; pass < 2; pass++) {
      if (!current) {
        try {
          current = await clients.coordination.readNamespacedLease({ namespace, name }, opts);
        } catch (err) {
          const f = noteApiFailure(err);
          if (!(f.kind === 'http' && f.code === 404)) {
            this.#log.debug({ event: 'leaseReadFailed', failure: describeApiFailure(f) }, 'reading the lease failed');
            return 'failed';
          }
        }
        if (current) this.#observe(current);
      }
      const now = clock.now();
      const plan = planLease({ current: current?.spec, identity, leaseDurationSeconds, observedAtMs: this.#observedAtMs, nowMs: now });
      if (plan.kind === 'wait') {
        if (this.#leading) this.#log.warn({ event: 'leaseHeldByOther', holder: plan.holder }, 'another holder has the lease');
        return 'heldByOther';
      }
      try {
        const written =
          plan.kind === 'create'
            ? await clients.coordination.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: plan.spec } }, opts)
            : await clients.coordination.replaceNamespacedLease({ namespace, name, body: { ...current, spec: plan.spec } }, opts);
        this.#observe(written);
        if (plan.kind === 'takeover') this.#log.info({ event: 'leaseTakenOver', reason: plan.reason }, 'took over the lease');
        return 'held';
      } catch (err) {
        const f = noteApiFailure(err);
        if (f.kind === 'http' && f.code === 409 && pass === 0 && this.#leading) {
          current = undefined; // our cached copy was stale: read and decide again
          continue;
        }
        this.#log.debug({ event: 'leaseWriteFailed', plan: plan.kind, failure: describeApiFailure(f) }, 'writing the lease failed');
        return 'failed';
      }
    }
    return 'failed';
  }

  #observe(lease: V1Lease): void {
    if (!sameLeaseRecord(lease.spec, this.#observed?.spec)) this.#observedAtMs = this.#o.clock.now();
    this.#observed = lease;
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== this.#reportedLeader) {
      this.#reportedLeader = holder;
      this.#log.info({ event: 'newLeader', holder }, 'lease holder changed');
      this.#safe(() => this.#o.callbacks.onNewLeader?.(holder));
    }
  }

  async #release(): Promise<void> {
    const { clients, namespace, name } = this.#o;
    const current = this.#observed;
    if (!current?.spec) return;
    try {
      const written = await clients.coordination.replaceNamespacedLease(
        { namespace, name, body: { ...current, spec: releasedLeaseSpec(current.spec, this.#o.clock.now()) } },
        timeoutOptions(this.#o.retryPeriodMs),
      );
      this.#observe(written);
      k8sMetrics.leaderTransitions.inc({ lease: name, event: 'released' });
      this.#log.info({ event: 'leaseReleased' }, 'released the lease');
    } catch (err) {
      this.#log.warn({ event: 'leaseReleaseFailed', failure: describeApiFailure(noteApiFailure(err)) }, 'releasing the lease failed');
    }
  }

  #becomeLeader(): void {
    if (this.#leading) return;
    this.#leading = true;
    this.#leadingAbort = new AbortController();
    k8sMetrics.leader.set({ lease: this.#o.name }, 1);
    k8sMetrics.leaderTransitions.inc({ lease: this.#o.name, event: 'started' });
    this.#log.info({ event: 'startedLeading' }, 'started leading');
    const signal = this.#leadingAbort.signal;
    this.#safe(() => this.#o.callbacks.onStartedLeading?.(signal));
  }

  #stepDown(why: 'lost' | 'stopped'): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#leadingAbort?.abort();
    k8sMetrics.leader.set({ lease: this.#o.name }, 0);
    k8sMetrics.leaderTransitions.inc({ lease: this.#o.name, event: why });
    this.#log.info({ event: 'stoppedLeading', why }, 'stopped leading');
    this.#safe(() => this.#o.callbacks.onStoppedLeading?.());
  }

  #safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ event: 'callbackFailed', err }, 'leader election callback threw');
    }
  }

}
