import { createSocket, type Socket } from 'node:dgram';
import { errorMessage } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { counter } from '../src/metrics.js';
import { decodeHeartbeat, encodeHeartbeat, livenessView, sameView, type LivenessView, type MemberLease } from './plan-liveness.js';

/**
 * Interim membership transport (until speaker/membership/ lands): every speaker sends a small
 * UDP heartbeat to every member every `probeIntervalMs` over the node network and tells them
 * "leave" when it stops cleanly. The verdict is plan-liveness.ts's; this class only feeds it
 * (Leases from the cache, heartbeats from the socket) and calls `onChange` the moment the view
 * changes: a peer going down is acted on at once, not at the next cache event.
 *
 * Cost: (members − 1) datagrams of ~20 bytes per interval per node: at 100 ms, 90/s at 10
 * nodes, 990/s at 100, 4,990/s at 500 — linear per node, quadratic for the cluster; SWIM's
 * constant per-node fan-out replaces it.
 */

const heartbeats = counter('fulcrum_speaker_heartbeats_total', 'Heartbeat datagrams sent and received', ['direction', 'kind']);

export interface LivenessOptions {
  readonly me: string;
  readonly port: number;
  readonly probeIntervalMs: number;
  readonly failAfterMs: number;
  readonly skewToleranceMs: number;
  readonly logger: Logger;
  readonly onChange: (view: LivenessView) => void;
  /** This process was frozen (SIGSTOP, a long GC, a starved CPU) longer than failAfterMs. */
  readonly onStall: (stalledMs: number) => void;
}

export class Liveness {
  readonly #o: LivenessOptions;
  readonly #log: Logger;
  #sockets: Socket[] = [];
  #timer: NodeJS.Timeout | undefined;
  #leases = new Map<string, MemberLease>();
  #addresses = new Map<string, string>();
  #heard = new Map<string, number>();
  #left = new Set<string>();
  #apiHealthy = true;
  #view: LivenessView | undefined;
  #message: Buffer;

  constructor(o: LivenessOptions) {
    this.#o = o;
    this.#log = o.logger.child({ part: 'liveness' });
    this.#message = encodeHeartbeat({ kind: 'alive', node: o.me });
  }

  async start(): Promise<void> {
    for (const type of ['udp4', 'udp6'] as const) {
      const s = createSocket({ type, ipv6Only: type === 'udp6' });
      s.on('message', (msg) => this.#onMessage(msg));
      s.on('error', (err) => this.#log.warn({ event: 'heartbeatSocketError', err: errorMessage(err) }));
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(this.#o.port, type === 'udp4' ? '0.0.0.0' : '::', () => {
            s.off('error', reject);
            resolve();
          });
        });
        this.#sockets.push(s);
      } catch (err) {
        s.close();
        // A node without IPv6 still probes over IPv4; without any socket we fall back to Leases.
        this.#log.warn({ event: 'heartbeatBindFailed', family: type, port: this.#o.port, err: errorMessage(err) });
      }
    }
    this.#lastTickMs = performance.now();
    this.#tick();
  }

  view(): LivenessView {
    return (this.#view ??= this.#compute());
  }

  /** The alive Leases of the other nodes (from the cache), and whether the API view is healthy. */
  setLeases(leases: ReadonlyMap<string, MemberLease>, apiHealthy: boolean): void {
    this.#leases = new Map(leases);
    this.#apiHealthy = apiHealthy;
    for (const node of this.#heard.keys()) if (!leases.has(node)) this.#heard.delete(node);
    this.#evaluate();
  }

  /** Where to send heartbeats: node → address on the node network (the Node's InternalIP). */
  setAddresses(addresses: ReadonlyMap<string, string>): void {
    this.#addresses = new Map(addresses);
  }

  /** Says goodbye to every member (a few times: UDP may lose one) and stops probing. */
  leave(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const bye = encodeHeartbeat({ kind: 'leave', node: this.#o.me });
    for (let i = 0; i < 3; i++) this.#sendAll(bye, 'leave');
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const s of this.#sockets) s.close();
    this.#sockets = [];
  }

  #tick(): void {
    const now = performance.now();
    const stalledMs = now - this.#lastTickMs;
    this.#lastTickMs = now;
    if (stalledMs > this.#o.failAfterMs) {
      // We, not our peers, were silent: nothing heard meanwhile was processed yet, so judge
      // nobody on it (Lifeguard's local health awareness); restart every peer's clock instead.
      for (const node of this.#heard.keys()) this.#heard.set(node, now);
      this.#log.warn({ event: 'stalled', stalledMs: Math.round(stalledMs) }, 'this process was not running; peers get a fresh timeout');
      this.#o.onStall(stalledMs);
    }
    this.#sendAll(this.#message, 'alive');
    // Timers run before the poll phase: after a slow turn of the event loop, heartbeats that
    // already arrived are still queued. Judge after them (check phase), or a busy node declares
    // everyone down at once.
    setImmediate(() => this.#evaluate());
    // Half the interval: a verdict is at most that late after failAfterMs.
    this.#timer = setTimeout(() => this.#tick(), Math.max(10, this.#o.probeIntervalMs / 2));
    this.#timer.unref();
    this.#half = !this.#half;
  }

  #half = false;
  #lastTickMs = performance.now();

  #sendAll(msg: Buffer, kind: 'alive' | 'leave'): void {
    if (kind === 'alive' && this.#half) return;
    for (const [node, address] of this.#addresses) {
      if (node === this.#o.me || !this.#leases.has(node)) continue;
      const s = this.#sockets.find((x) => x.address().family === (address.includes(':') ? 'IPv6' : 'IPv4'));
      if (!s) continue;
      s.send(msg, this.#o.port, address, (err) => {
        if (err && this.#log.debug()) this.#log.debug({ event: 'heartbeatSendFailed', node, err: errorMessage(err) });
      });
      heartbeats.inc({ direction: 'sent', kind });
    }
  }

  #onMessage(msg: Buffer): void {
    const h = decodeHeartbeat(msg);
    if (!h || h.node === this.#o.me) return;
    heartbeats.inc({ direction: 'received', kind: h.kind });
    if (h.kind === 'leave') {
      if (this.#left.has(h.node)) return;
      this.#left.add(h.node);
      this.#log.info({ event: 'peerLeft', node: h.node }, 'peer left');
    } else {
      const wasDown = !this.#heard.has(h.node) || this.#left.has(h.node) || this.view().down.has(h.node);
      this.#heard.set(h.node, performance.now());
      this.#left.delete(h.node);
      if (!wasDown) return;
    }
    this.#evaluate();
  }

  #compute(): LivenessView {
    return livenessView({
      me: this.#o.me,
      nowMs: performance.now(),
      wallNowMs: Date.now(),
      failAfterMs: this.#o.failAfterMs,
      leases: this.#leases,
      heardMs: this.#heard,
      left: this.#left,
      apiHealthy: this.#apiHealthy,
      skewToleranceMs: this.#o.skewToleranceMs,
    });
  }

  #evaluate(): void {
    const next = this.#compute();
    if (sameView(this.#view, next)) {
      this.#view = next;
      return;
    }
    const before = this.#view;
    this.#view = next;
    for (const [node, state] of next.peers) {
      if (before?.peers.get(node) !== state) this.#log.info({ event: 'peerState', node, state }, `peer ${node} is ${state}`);
    }
    if (next.isolated !== (before?.isolated ?? false)) this.#log.warn({ event: next.isolated ? 'isolated' : 'rejoined' }, next.isolated ? 'cut off from peers that the API shows alive: withdrawing' : 'peers reachable again');
    this.#o.onChange(next);
  }
}
