import type { V1Lease } from '@kubernetes/client-node';
import { componentLogger, type Logger } from '../log.js';
import { describeApiFailure } from './api-error.js';
import { noteApiFailure, type ApiClients } from './client.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { instant, microTime } from './lease-record.js';
import { k8sMetrics } from './metrics.js';

/** Label on every speaker alive Lease, so peers can list and watch just those. */
export const ALIVE_LEASE_LABEL = 'fulcrum-lb.io/lease';
export const ALIVE_LEASE_LABEL_VALUE = 'speaker-alive';
/** `labelSelector` that matches the alive Leases of every speaker. */
export const ALIVE_LEASE_SELECTOR = `${ALIVE_LEASE_LABEL}=${ALIVE_LEASE_LABEL_VALUE}`;

export function aliveLeaseName(nodeName: string): string {
  return `fulcrum-speaker-${nodeName}`;
}

export interface NodeAliveLeaseOptions {
  clients: ApiClients;
  namespace: string;
  nodeName: string;
  /** Renew this often (default 5 s): about one API write per node per period. */
  renewIntervalMs?: number;
  /** Written into the Lease; peers treat it as dead after this (default 3 renew periods). */
  leaseDurationSeconds?: number;
  clock?: Clock;
  logger?: Logger;
}

/**
 * The "I am alive" Lease of one speaker: `fulcrum-speaker-<node>`, holder = the node name,
 * renewTime rewritten every renewIntervalMs, deleted on a clean stop so peers drop the node at
 * once instead of waiting for the lease to expire. Failures are logged, counted and retried
 * at the next period; the lease is never given up while running.
 */
export class NodeAliveLease {
  readonly name: string;
  #o: Required<Omit<NodeAliveLeaseOptions, 'logger'>>;
  #log: Logger;
  #lease: V1Lease | undefined;
  #timer: TimerHandle | undefined;
  #inFlight: Promise<void> | undefined;
  #stopped = false;
  #renewals = 0;
  /** When the last write started (clock.now()). */
  #lastStartMs = 0;
  /** A shorter period asked for by hurry(), or undefined. */
  #hurryMs: number | undefined;

  constructor(opts: NodeAliveLeaseOptions) {
    const renewIntervalMs = opts.renewIntervalMs ?? 5_000;
    this.#o = {
      renewIntervalMs,
      leaseDurationSeconds: Math.max(1, Math.ceil((3 * renewIntervalMs) / 1000)),
      clock: realClock,
      ...opts,
    };
    this.name = aliveLeaseName(opts.nodeName);
    this.#log = (opts.logger ?? componentLogger('k8s')).child({ lease: `${opts.namespace}/${this.name}` });
  }

  /** Writes the Lease once (resolves after the first attempt), then renews on the period. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#renewNow();
  }

  /** Successful writes so far. */
  renewals(): number {
    return this.#renewals;
  }

  /**
   * Renews every `intervalMs` (shorter than the period) until called with undefined. The
   * Lease's duration is unchanged: peers see it fresher, never staler. The speaker hurries while
   * it hears no peer and waits for the API to show whether they are dead: each renewal that
   * comes back through the watch proves its view of their Leases current.
   */
  hurry(intervalMs: number | undefined): void {
    const next = intervalMs === undefined ? undefined : Math.min(intervalMs, this.#o.renewIntervalMs);
    if (next === this.#hurryMs) return;
    this.#hurryMs = next;
    if (this.#stopped || this.#inFlight || this.#timer === undefined) return; // the next schedule reads it
    this.#o.clock.clearTimer(this.#timer);
    this.#schedule();
  }

  /** Stops renewing and deletes the Lease. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.clock.clearTimer(this.#timer);
    await this.#inFlight;
    const { clients, namespace } = this.#o;
    try {
      await clients.coordination.deleteNamespacedLease({ namespace, name: this.name });
      this.#log.info({ event: 'aliveLeaseDeleted' }, 'alive lease deleted');
    } catch (err) {
      const f = noteApiFailure(err);
      if (!(f.kind === 'http' && f.code === 404)) {
        this.#log.warn({ event: 'aliveLeaseDeleteFailed', failure: describeApiFailure(f) }, 'deleting the alive lease failed');
      }
    }
  }

  #renewNow(): Promise<void> {
    this.#lastStartMs = this.#o.clock.now();
    this.#inFlight = this.#write().finally(() => {
      this.#inFlight = undefined;
      if (!this.#stopped) this.#schedule();
    });
    return this.#inFlight;
  }

  #schedule(): void {
    // Fixed rate: the period counts from the start of the last write, not its end.
    const delay = Math.max(0, this.#lastStartMs + (this.#hurryMs ?? this.#o.renewIntervalMs) - this.#o.clock.now());
    this.#timer = this.#o.clock.setTimer(() => void this.#renewNow(), delay);
  }

  async #write(): Promise<void> {
    const { clients, namespace, nodeName, leaseDurationSeconds, clock } = this.#o;
    for (let pass = 0; pass < 2; pass++) {
      const now = microTime(clock.now());
      try {
        if (!this.#lease) {
          this.#lease = await clients.coordination.createNamespacedLease({
            namespace,
            body: {
              metadata: { name: this.name, namespace, labels: { [ALIVE_LEASE_LABEL]: ALIVE_LEASE_LABEL_VALUE } },
              spec: { holderIdentity: nodeName, leaseDurationSeconds, acquireTime: now, renewTime: now },
            },
          });
        } else {
          const spec = { ...this.#lease.spec, holderIdentity: nodeName, leaseDurationSeconds, renewTime: now };
          this.#lease = await clients.coordination.replaceNamespacedLease({
            namespace,
            name: this.name,
            body: { ...this.#lease, spec },
          });
        }
        this.#renewals++;
        k8sMetrics.aliveLeaseRenewals.inc({ result: 'ok' });
        return;
      } catch (err) {
        const f = noteApiFailure(err);
        const code = f.kind === 'http' ? f.code : 0;
        if (pass === 0 && (code === 409 || code === 404)) {
          // 409 on create: it exists (our previous run); 409 on update: stale copy; 404: deleted.
          this.#lease = code === 404 ? undefined : await this.#read();
          continue;
        }
        k8sMetrics.aliveLeaseRenewals.inc({ result: 'failed' });
        this.#log.warn({ event: 'aliveLeaseRenewFailed', failure: describeApiFailure(f) }, 'renewing the alive lease failed');
        return;
      }
    }
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await this.#o.clients.coordination.readNamespacedLease({ namespace: this.#o.namespace, name: this.name });
    } catch (err) {
      noteApiFailure(err);
      return undefined;
    }
  }
}

/** A peer speaker as its alive Lease tells it. */
export interface PeerLease {
  node: string;
  renewTimeMs: number | undefined;
  leaseDurationSeconds: number;
}

/** The peer an alive Lease describes, or undefined if it is not one (wrong label, no holder). */
export function peerFromLease(lease: V1Lease): PeerLease | undefined {
  if (lease.metadata?.labels?.[ALIVE_LEASE_LABEL] !== ALIVE_LEASE_LABEL_VALUE) return undefined;
  const node = lease.spec?.holderIdentity;
  if (!node) return undefined;
  return { node, renewTimeMs: instant(lease.spec?.renewTime), leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? 0 };
}

/**
 * Whether a peer's Lease is still within its duration at `nowMs`. Compares the holder's
 * renewTime with our clock, so allow for clock skew between nodes with `skewToleranceMs`.
 */
export function isPeerLeaseFresh(peer: PeerLease, nowMs: number, skewToleranceMs = 0): boolean {
  if (peer.renewTimeMs === undefined) return false;
  return peer.renewTimeMs + peer.leaseDurationSeconds * 1000 + skewToleranceMs > nowMs;
}

/** One read of every speaker's alive Lease in `namespace` (use an Informer to follow them). */
export async function listPeerLeases(clients: ApiClients, namespace: string): Promise<PeerLease[]> {
  const list = await clients.coordination.listNamespacedLease({ namespace, labelSelector: ALIVE_LEASE_SELECTOR });
  return list.items.map(peerFromLease).filter((p): p is PeerLease => p !== undefined);
}
