import { peerFromLease } from '../src/k8s/alive-lease.js';
import { internalIp, nodeReady } from '../src/k8s/nodes.js';
import type { Logger } from '../src/log.js';
import { gauge } from '../src/metrics.js';
import type { SpeakerCaches } from './caches.js';
import { keyRingFromSecret, MEMBERLIST_SECRET, sameRing, type KeyRing, type KeyRingResult } from './membership/keys.js';
import type { MemberLease } from './membership/liveness.js';
import type { MembershipTransport } from './membership-transport.js';

/** Lease freshness and our view of the API change with time alone: look again this often. */
const REFRESH_MS = 1_000;
/** While the memberlist Secret is missing or invalid at start, say so again this often. */
const KEY_REMINDER_MS = 30_000;

const keyStale = gauge('fulcrum_speaker_membership_key_stale', '1 while the memberlist Secret is missing or invalid: at start the speaker waits for it; once running it keeps the last good keys');

/** The keys of the memberlist Secret in the cache (membership/keys.ts), or why there are none. */
export function memberlistKeys(caches: SpeakerCaches, namespace: string): KeyRingResult {
  const secret = caches.memberlist.list().find((s) => s.metadata?.name === MEMBERLIST_SECRET);
  return keyRingFromSecret(`${namespace}/${MEMBERLIST_SECRET}`, secret?.data, secret !== undefined);
}

/**
 * Waits, without joining the membership, until the memberlist Secret holds a valid key: a
 * speaker never talks to its peers unauthenticated. `problem` is called at once and every
 * KEY_REMINDER_MS while it waits (the program logs it, records a Warning Event and answers it on
 * /readyz); creating or fixing the Secret ends the wait on its watch event.
 */
export async function awaitMemberlistKeys(caches: SpeakerCaches, namespace: string, problem: (message: string | undefined) => void): Promise<KeyRing> {
  for (;;) {
    const r = memberlistKeys(caches, namespace);
    if (r.ok) {
      keyStale.set(0);
      problem(undefined);
      return r.ring;
    }
    keyStale.set(1);
    problem(r.error.message);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, KEY_REMINDER_MS);
      const unsubscribe = caches.memberlist.onKey(done);
      function done(): void {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }
    });
  }
}

/**
 * What the membership needs from the caches, fed to the transport: the alive Leases with when
 * each was last seen to change (on our monotonic clock: a renewal is judged by when we saw it,
 * not by its holder's clock), each Node's address on the node network and whether it is Ready.
 * Fed on every Lease and Node event, and every second.
 */
export class MembershipFeed {
  readonly #caches: SpeakerCaches;
  readonly #transport: MembershipTransport;
  readonly #namespace: string;
  readonly #log: Logger;
  #keys: KeyRing;
  #seen = new Map<string, { renewTime: string; observedMs: number }>();
  #timer: NodeJS.Timeout | undefined;
  readonly #feed = (): void => this.feed();
  readonly #feedKeys = (): void => this.#keysChanged();

  /** `keys`: those the transport started with (awaitMemberlistKeys). */
  constructor(caches: SpeakerCaches, transport: MembershipTransport, o: { namespace: string; keys: KeyRing; logger: Logger }) {
    this.#caches = caches;
    this.#transport = transport;
    this.#namespace = o.namespace;
    this.#keys = o.keys;
    this.#log = o.logger.child({ part: 'membership' });
  }

  start(): void {
    this.#caches.memberlist.onKey(this.#feedKeys);
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

  /** A changed memberlist Secret: new keys to the transport; a deleted or broken one keeps the last good keys (fail static). */
  #keysChanged(): void {
    const r = memberlistKeys(this.#caches, this.#namespace);
    keyStale.set(r.ok ? 0 : 1);
    if (!r.ok) {
      this.#log.warn({ event: 'membershipKeyStale', err: r.error.message }, 'the memberlist Secret is missing or invalid: keeping the last good keys');
      return;
    }
    if (sameRing(this.#keys, r.ring)) return;
    this.#keys = r.ring;
    this.#transport.setKeys(r.ring);
    // Key ids are one-way functions of the keys, not secret: they say which key a peer signs with.
    this.#log.info({ event: 'membershipKeys', keys: r.ring.accept.map((k) => `${k.slot}:${k.id.toString(16).padStart(8, '0')}`) }, 'new memberlist keys: both accepted now, the new one signs after the rotation grace');
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
