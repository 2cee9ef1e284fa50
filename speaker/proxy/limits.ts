/**
 * The proxy's limits, pure (no sockets, `fs`, timers or logger; `now` comes in as an argument):
 * the process defaults derived from the descriptor limit (RLIMIT_NOFILE), the parse of
 * `/proc/self/limits` text, the per-source connection rate (a token bucket per client address),
 * the admission of a new UDP flow, the classification of errors that are the proxy's own
 * trouble (descriptors, memory, local ports) rather than an endpoint's, and a throttle for the
 * "limit reached" log. process-limits.ts holds the live counters; the frontends apply these.
 */

/** What a process may hold: TCP/HTTP client connections (2 descriptors each) and UDP flow sockets. */
export interface ProcessLimits {
  /** Open TCP and HTTP client connections of every frontend together (haproxy's global maxconn). */
  readonly maxconn: number;
  /** UDP flows of every frontend together: one connected socket each. */
  readonly udpFlowSockets: number;
}

/** Used when the descriptor limit cannot be read (not Linux): the usual soft limit of a shell is 1024, a service's often 4096+. */
export const FALLBACK_OPEN_FILES = 4096;
/** "unlimited", or absurd values, are treated as this many descriptors. */
export const MAX_OPEN_FILES = 1_048_576;
/** Descriptors kept for everything that is not a proxied connection: listeners, health checks, the API client, the announcer, membership, metrics scrapes, certificate reads. */
export const MIN_RESERVED_DESCRIPTORS = 64;
/** The UDP flow sockets default to a quarter of the usable descriptors, at most this many. */
export const MAX_DEFAULT_UDP_FLOW_SOCKETS = 65_536;

/** The descriptors kept out of the proxy's budgets: 1/16 of the limit, at least 64. */
export function reservedDescriptors(openFiles: number): number {
  return Math.max(MIN_RESERVED_DESCRIPTORS, Math.floor(openFiles / 16));
}

/**
 * The process defaults for a descriptor limit: what is left after the reserve, a quarter of it
 * (at most 65,536) for UDP flow sockets, and the rest for TCP/HTTP connections at 2 descriptors
 * each (client + endpoint), as haproxy derives its maxconn from `ulimit -n`. Always at least 1.
 */
export function defaultProcessLimits(openFiles: number | undefined): ProcessLimits {
  const n = Math.min(openFiles ?? FALLBACK_OPEN_FILES, MAX_OPEN_FILES);
  const usable = Math.max(0, n - reservedDescriptors(n));
  const udpFlowSockets = Math.max(1, Math.min(MAX_DEFAULT_UDP_FLOW_SOCKETS, Math.floor(usable / 4)));
  const maxconn = Math.max(1, Math.floor((usable - Math.min(usable, udpFlowSockets)) / 2));
  return { maxconn, udpFlowSockets };
}

/**
 * The soft "Max open files" of `/proc/self/limits` text (Node has no getrlimit; at start it
 * raises the soft limit to the hard one, so this is what the process may use). `unlimited`
 * reads as MAX_OPEN_FILES; undefined when the line is missing or unreadable.
 */
export function parseOpenFilesLimit(procLimits: string): number | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(procLimits);
  if (!m) return undefined;
  if (m[1] === 'unlimited') return MAX_OPEN_FILES;
  const n = Number(m[1]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** A connection rate: `count` new connections per `perMs`, with a burst of `count`. */
export interface ConnectionRate {
  readonly count: number;
  readonly perMs: number;
}

/** `20/s`, `600/m`, `5/10s`: a whole count from 1 to 1,000,000 per a period from 1 s to 1 h. */
export function parseConnectionRate(text: string): ConnectionRate | undefined {
  const m = /^(\d{1,7})\s*\/\s*(\d{0,4})\s*(s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const count = Number(m[1]);
  const periods = m[2] === '' ? 1 : Number(m[2]);
  const perMs = periods * (m[3] === 'h' ? 3_600_000 : m[3] === 'm' ? 60_000 : 1000);
  if (count < 1 || count > 1_000_000 || perMs < 1000 || perMs > 3_600_000) return undefined;
  return { count, perMs };
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Sources tracked by one rate limiter; beyond this (after a prune) new sources are not limited. */
export const MAX_RATE_SOURCES = 65_536;

/**
 * Per-source connection rate, a token bucket per client address: `count` tokens, refilled at
 * `count` per `perMs`; a connection takes one, none left is a refusal. A source whose bucket
 * is full again carries no state and is pruned when the table reaches its bound; if every
 * tracked source is still limited, a new source is let through untracked (a flood from more
 * addresses than the table holds is not a per-source problem, and refusing unknown sources
 * would lock everyone out).
 */
export class SourceRateLimiter {
  readonly rate: ConnectionRate;
  readonly #maxSources: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(rate: ConnectionRate, maxSources = MAX_RATE_SOURCES) {
    this.rate = rate;
    this.#maxSources = maxSources;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Whether `source` may open a connection now (and takes a token if so). */
  allow(source: string, nowMs: number): boolean {
    let b = this.#buckets.get(source);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxSources && this.prune(nowMs) === 0) return true;
      b = { tokens: this.rate.count, atMs: nowMs };
      this.#buckets.set(source, b);
    } else if (nowMs > b.atMs) {
      b.tokens = Math.min(this.rate.count, b.tokens + ((nowMs - b.atMs) * this.rate.count) / this.rate.perMs);
      b.atMs = nowMs;
    }
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  /** Forgets the sources whose bucket is full again; returns how many. */
  prune(nowMs: number): number {
    let n = 0;
    for (const [source, b] of this.#buckets) {
      if (b.tokens + ((nowMs - b.atMs) * this.rate.count) / this.rate.perMs < this.rate.count) continue;
      this.#buckets.delete(source);
      n++;
    }
    return n;
  }
}

/** Why a new UDP flow cannot simply be made, in the order they are checked. */
export type FlowScope = 'source' | 'frontend' | 'process';

export interface FlowCounts {
  /** Flows of this client address in this frontend, and their bound (the fair share). */
  readonly sourceFlows: number;
  readonly maxPerSource: number;
  /** Flows of this frontend, and its bound (`maxconn` of a udp frontend). */
  readonly frontendFlows: number;
  readonly maxFlows: number;
  /** Flow sockets of the whole process, and their bound. */
  readonly processSockets: number;
  readonly maxProcessSockets: number;
}

export type FlowAdmission = { readonly kind: 'admit' } | { readonly kind: 'full'; readonly scope: FlowScope };

/**
 * Whether a new flow fits: the source's fair share first (a source at its share competes with
 * itself only), then the frontend's table, then the process's sockets. `full` names the first
 * bound reached; the frontend then evicts a flow of that scope (oldest unanswered first, never
 * one that is established) or refuses the datagram.
 */
export function admitFlow(c: FlowCounts): FlowAdmission {
  // A share as large as the table is no share: the frontend's bound says it.
  if (c.sourceFlows >= c.maxPerSource && c.maxPerSource < c.maxFlows) return { kind: 'full', scope: 'source' };
  if (c.frontendFlows >= c.maxFlows) return { kind: 'full', scope: 'frontend' };
  if (c.processSockets >= c.maxProcessSockets) return { kind: 'full', scope: 'process' };
  return { kind: 'admit' };
}

/** The per-source share of a udp frontend's flows: 1/64 of its table, at least 16 (a resolver or NAT behind one address needs some). */
export function defaultFlowsPerSource(maxFlows: number): number {
  return Math.min(maxFlows, Math.max(16, Math.floor(maxFlows / 64)));
}

/**
 * A flow that had a client datagram after a reply is "assured" (conntrack's word): a
 * conversation, not a probe. It is established while its last reply is younger than this, and
 * then no new flow may evict it; older, it may go once no unassured flow is left.
 */
export const ESTABLISHED_REPLY_MS = 10_000;

/**
 * A flow with any traffic (either way) in the last two coarse ticks is never evicted: a new
 * flow lives at least this long, time for its first answer to come back through it, and a
 * datagram just answered is not cut off. Two ticks, since the coarse clock may step once right
 * after the traffic (`nowMs - lastActiveMs` is then 250 while the real idle time is ~0).
 */
export const MIN_EVICTABLE_IDLE_MS = 500;

export interface FlowActivity {
  /** A client datagram came after a reply (conntrack's ASSURED). */
  readonly assured: boolean;
  readonly lastActiveMs: number;
  /** 0: never answered. */
  readonly lastReplyMs: number;
}

/**
 * Which flows a new one may push out, in this order: `unassured` (no conversation: a probe, a
 * forged source, a one-shot query already answered) idle for MIN_EVICTABLE_IDLE_MS, oldest
 * first; then `stale` (assured, but no reply for ESTABLISHED_REPLY_MS). An established flow
 * (assured, answered recently) and a flow younger than MIN_EVICTABLE_IDLE_MS never: undefined.
 */
export function evictability(f: FlowActivity, nowMs: number): 'unassured' | 'stale' | undefined {
  if (nowMs - f.lastActiveMs < MIN_EVICTABLE_IDLE_MS) return undefined;
  if (!f.assured) return 'unassured';
  return nowMs - f.lastReplyMs >= ESTABLISHED_REPLY_MS ? 'stale' : undefined;
}

/** Errors that say the proxy itself ran out of something, never the endpoint: they do not count against its health. */
export const LOCAL_RESOURCE_ERRORS = ['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL'] as const;
export type LocalResourceError = (typeof LOCAL_RESOURCE_ERRORS)[number];

export function localResourceError(code: string | undefined): LocalResourceError | undefined {
  return (LOCAL_RESOURCE_ERRORS as readonly (string | undefined)[]).includes(code) ? (code as LocalResourceError) : undefined;
}

/** "Limit reached" logs: at most one per interval, saying how many refusals it stands for. */
export const LIMIT_LOG_INTERVAL_MS = 10_000;

export class LogThrottle {
  readonly #intervalMs: number;
  #lastMs = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(intervalMs = LIMIT_LOG_INTERVAL_MS) {
    this.#intervalMs = intervalMs;
  }

  /** 0: stay quiet; otherwise log now, for this many events (this one and those kept quiet since the last log). */
  due(nowMs: number): number {
    this.#suppressed++;
    if (nowMs - this.#lastMs < this.#intervalMs) return 0;
    this.#lastMs = nowMs;
    const n = this.#suppressed;
    this.#suppressed = 0;
    return n;
  }
}
