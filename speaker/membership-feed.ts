import { peerFromLease } from '../src/k8s/alive-lease.js';
import { internalIp, nodeReady } from '../src/k8s/nodes.js';
import type { SpeakerCaches } from './caches.js';
import type { MemberLease } from './membership/liveness.js';
import type { MembershipTransport } from './membership-transport.js';

/** Lease freshness and our view of the API change with time alone: look again this often. */
const REFRESH_MS = 1_000;

/**
 * What the membership needs from the caches, fed to the transport: the alive Leases with when
 * each was last seen to change (on our monotonic clock: a renewal is judged by when we saw it,
 * not by its holder's clock), each Node's address on the node network and whether it is Ready.
 * Fed on every Lease and Node event, and every second.
 */
export class MembershipFeed {
  readonly #caches: SpeakerCaches;
  readonly #transport: MembershipTransport;
  #seen = new Map<string, { renewTime: string; observedMs: number }>();
  #timer: NodeJS.Timeout | undefined;
  readonly #feed = (): void => this.feed();

  constructor(caches: SpeakerCaches, transport: MembershipTransport) {
    this.#caches = caches;
    this.#transport = transport;
  }

  start(): void {
    this.#caches.leases.onKey(this.#feed);
    this.#caches.nodes.onKey(this.#feed);
    this.#timer = setInterval(this.#feed, REFRESH_MS);
    this.feed();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  feed(): void {
    const addresses = new Map<string, string>();
    const ready = new Map<string, boolean>();
    for (const n of this.#caches.nodes.list()) {
      const name = n.metadata?.name;
      if (!name) continue;
      ready.set(name, nodeReady(n));
      const ip = internalIp(n);
      if (ip) addresses.set(name, ip);
    }
    this.#transport.setNodes(addresses, ready);
    this.#transport.setLeases(this.#memberLeases(), this.#caches.leases.state() === 'watching');
  }

  /** Alive Leases, ours included, with when we saw each one change (for membership/liveness.ts). */
  #memberLeases(): Map<string, MemberLease> {
    const seen = new Map<string, { renewTime: string; observedMs: number }>();
    const out = new Map<string, MemberLease>();
    for (const lease of this.#caches.leases.list()) {
      const peer = peerFromLease(lease);
      if (!peer) continue;
      const renewTime = String(peer.renewTimeMs);
      const before = this.#seen.get(peer.node);
      const observedMs = before && before.renewTime === renewTime ? before.observedMs : performance.now();
      seen.set(peer.node, { renewTime, observedMs });
      const durationMs = peer.leaseDurationSeconds * 1000;
      const expiresMs = peer.renewTimeMs === undefined ? undefined : peer.renewTimeMs + durationMs;
      // An alive Lease lasts three renew periods (src/k8s/alive-lease.ts).
      out.set(peer.node, { expiresMs, observedMs, renewIntervalMs: durationMs / 3 });
    }
    this.#seen = seen;
    return out;
  }
}
