/**
 * The replay window of authenticated membership datagrams (pure). Every sender numbers its
 * datagrams with a counter that starts at 0 in each life of the process; a life is named by an
 * `epoch`, 8 random bytes drawn at start. A receiver keeps, per sender and epoch, the highest
 * counter seen and a bitmap of the REPLAY_WINDOW counters below it (RFC 4303 §3.4.3, the IPsec
 * anti-replay window, as a ring: RFC 6479): a counter seen before is `replayed`, one below the
 * window `tooOld`, anything else is taken once.
 *
 * Why a random epoch and not a time or an ordered incarnation: a restarted sender must not be
 * refused because its counter starts again, and must not need to remember anything across
 * restarts or trust its clock to move forward. Its new epoch simply opens a new window. What
 * stops a recorded datagram of an earlier life (or of this one, once its window entry is gone)
 * from being played again is the freshness check of auth.ts: a datagram carries its sender's
 * wall-clock time and is refused once FRESHNESS_MS old, so a window only has to be kept that
 * long after its last datagram (RETAIN_MS), and a receiver that just restarted (no windows) can
 * be fooled only by a datagram it never received that is younger than FRESHNESS_MS.
 */

/**
 * Counters below the highest seen that are still told apart. One sender's counter runs over all
 * its peers, so this is about 1,024 datagrams of that sender (a second at 40/s with bursts to
 * spare): far more than a LAN ever reorders.
 */
export const REPLAY_WINDOW = 1024;
/** Lives of one sender remembered at once (restarts within RETAIN_MS); the least recent goes first. */
export const MAX_EPOCHS_PER_SENDER = 4;

export type ReplayVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: 'replayed' | 'tooOld' };

const WORDS = REPLAY_WINDOW / 32;

class CounterWindow {
  /** Highest counter taken; -1: none yet. */
  top = -1;
  lastSeenMs: number;
  readonly bits = new Uint32Array(WORDS);
  constructor(nowMs: number) {
    this.lastSeenMs = nowMs;
  }

  verdict(counter: number): ReplayVerdict {
    if (counter > this.top) return { ok: true };
    if (counter <= this.top - REPLAY_WINDOW) return { ok: false, reason: 'tooOld' };
    const bit = counter % REPLAY_WINDOW;
    return (this.bits[bit >>> 5] >>> (bit & 31)) & 1 ? { ok: false, reason: 'replayed' } : { ok: true };
  }

  take(counter: number): void {
    if (counter > this.top) {
      // Slide: the bits of the counters between the old top and this one were never seen.
      if (this.top < 0 || counter - this.top >= REPLAY_WINDOW) this.bits.fill(0);
      else for (let c = this.top + 1; c < counter; c++) this.#clear(c % REPLAY_WINDOW);
      this.top = counter;
    }
    const bit = counter % REPLAY_WINDOW;
    this.bits[bit >>> 5] |= 1 << (bit & 31);
  }

  #clear(bit: number): void {
    this.bits[bit >>> 5] &= ~(1 << (bit & 31));
  }
}

export class ReplayGuard {
  /** sender → epoch (hex) → window. Only authenticated senders get an entry. */
  readonly #senders = new Map<string, Map<string, CounterWindow>>();
  readonly #retainMs: number;

  /** `retainMs`: forget a life this long after its last datagram (its datagrams are stale by then). */
  constructor(retainMs: number) {
    this.#retainMs = retainMs;
  }

  /** Takes `counter` of `sender`'s life `epoch` once; call only for a datagram whose tag and freshness were checked. */
  admit(sender: string, epoch: string, counter: number, nowMs: number): ReplayVerdict {
    let lives = this.#senders.get(sender);
    if (!lives) this.#senders.set(sender, (lives = new Map()));
    for (const [e, w] of lives) if (e !== epoch && nowMs - w.lastSeenMs > this.#retainMs) lives.delete(e);
    let window = lives.get(epoch);
    if (!window) {
      if (lives.size >= MAX_EPOCHS_PER_SENDER) lives.delete(leastRecent(lives));
      lives.set(epoch, (window = new CounterWindow(nowMs)));
    }
    const v = window.verdict(counter);
    if (!v.ok) return v;
    window.take(counter);
    window.lastSeenMs = nowMs;
    return v;
  }

  /** Lives remembered for `sender` (tests). */
  epochsOf(sender: string): number {
    return this.#senders.get(sender)?.size ?? 0;
  }
}

function leastRecent(lives: ReadonlyMap<string, CounterWindow>): string {
  let out = '';
  let oldest = Infinity;
  for (const [e, w] of lives) {
    if (w.lastSeenMs < oldest) {
      oldest = w.lastSeenMs;
      out = e;
    }
  }
  return out;
}
