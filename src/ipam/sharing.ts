import { claimsOverlap, describeOverlap } from '../http-match.js';
import type { ServiceKey } from '../service/key.js';
import type { AllocationRequest, ServicePort } from './types.js';

/** One Service on an address, as the sharing rules see it. */
export interface Sharer {
  readonly service: ServiceKey;
  readonly request: Pick<AllocationRequest, 'sharingKey' | 'ports' | 'externalTrafficPolicy' | 'selector'>;
}

export type SharingVerdict = { readonly ok: true } | { readonly ok: false; readonly message: string };

function sameSelector(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** How two Services' ports with the same number and protocol can share it. */
type HttpSharing = { readonly kind: 'shared' } | { readonly kind: 'notHttp' } | { readonly kind: 'conflict'; readonly why: string };

/**
 * Both HTTP, and their claims fit on one frontend: the same TLS setting (a port is TLS or not
 * for every route), the same redirect setting, and hosts/prefixes that do not overlap
 * (src/http-match.ts: the same path prefix and the same host, one wildcard covering the other,
 * or both without hosts — one default route per prefix).
 */
function httpSharing(p: ServicePort, q: ServicePort): HttpSharing {
  if (p.http === undefined || q.http === undefined) return { kind: 'notHttp' };
  if (p.http.tls !== q.http.tls) return { kind: 'conflict', why: 'one Service terminates TLS on it and the other does not' };
  if (p.http.redirect !== q.http.redirect) return { kind: 'conflict', why: 'one Service redirects it to https and the other does not' };
  const overlap = claimsOverlap(p.http, q.http);
  if (overlap.kind === 'overlap') return { kind: 'conflict', why: `both claim ${describeOverlap(overlap)}` };
  return { kind: 'shared' };
}

/**
 * Whether `newcomer` may join `holder` on `address`. Pure.
 *
 * - Both need the same non-empty sharing key (MetalLB).
 * - Both Cluster, or both Local with identical selectors (MetalLB's "backend key"): their
 *   port/protocol pairs must not clash.
 * - Otherwise (Local with different selectors, or Local beside Cluster) — Fulcrum's relaxation —
 *   they may share when no port number is used by both, whatever the protocol: the proxy keeps
 *   Local per port, so each port keeps its own endpoints.
 * - Whatever the traffic policy, a TCP port that is HTTP in both may be used by both when
 *   `httpSharing` says so: the speaker serves it with one frontend whose routes go to each
 *   Service's own backend.
 */
export function canShareWith(newcomer: Sharer, holder: Sharer, address: string): SharingVerdict {
  const n = newcomer.request;
  const h = holder.request;
  if (h.sharingKey === undefined) return { ok: false, message: `${address} is in use by ${holder.service}, which does not allow sharing` };
  if (n.sharingKey === undefined) return { ok: false, message: `${address} is in use by ${holder.service} and ${newcomer.service} does not allow sharing` };
  if (n.sharingKey !== h.sharingKey) {
    return { ok: false, message: `${address} is in use by ${holder.service}: sharing key "${n.sharingKey}" does not match its sharing key "${h.sharingKey}"` };
  }
  const sameBackends =
    (n.externalTrafficPolicy === 'Cluster' && h.externalTrafficPolicy === 'Cluster') ||
    (n.externalTrafficPolicy === 'Local' && h.externalTrafficPolicy === 'Local' && sameSelector(n.selector, h.selector));
  for (const p of n.ports) {
    for (const q of h.ports) {
      if (p.port !== q.port) continue;
      if (sameBackends && p.protocol !== q.protocol) continue;
      const http = p.protocol === q.protocol ? httpSharing(p, q) : ({ kind: 'notHttp' } as const);
      if (http.kind === 'shared') continue;
      if (http.kind === 'conflict') return { ok: false, message: `port ${p.port}/${p.protocol} on ${address} cannot be shared with ${holder.service}: ${http.why}` };
      const why =
        p.http !== undefined || q.http !== undefined
          ? ' (only ports that are HTTP in both Services can share, by host and path prefix)'
          : sameBackends
            ? ''
            : ' (externalTrafficPolicy Local with other backends: a port number can serve one Service only)';
      return { ok: false, message: `port ${p.port}/${p.protocol} is already in use on ${address} by ${holder.service}${why}` };
    }
  }
  return { ok: true };
}

/** `canShareWith` against every other holder of the address. */
export function canShare(newcomer: Sharer, holders: Iterable<Sharer>, address: string): SharingVerdict {
  for (const holder of holders) {
    if (holder.service === newcomer.service) continue;
    const verdict = canShareWith(newcomer, holder, address);
    if (!verdict.ok) return verdict;
  }
  return { ok: true };
}

/**
 * The distinct `port/protocol` pairs of a request that nobody else may use on its address (such
 * a pair always clashes with itself, so it is in use at most once per address). HTTP ports are
 * left out: several Services may share one by host and path prefix.
 */
export function portPairs(request: Pick<AllocationRequest, 'ports'>): string[] {
  return [...new Set(request.ports.filter((p) => p.http === undefined).map((p) => `${p.port}/${p.protocol}`))];
}
