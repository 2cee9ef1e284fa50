import type { ServiceKey } from '../service/key.js';
import type { AllocationRequest } from './types.js';

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

/**
 * Whether `newcomer` may join `holder` on `address`. Pure.
 *
 * - Both need the same non-empty sharing key (MetalLB).
 * - Both Cluster, or both Local with identical selectors (MetalLB's "backend key"): their
 *   port/protocol pairs must not clash.
 * - Otherwise (Local with different selectors, or Local beside Cluster) — Fulcrum's relaxation —
 *   they may share when no port number is used by both, whatever the protocol: the proxy keeps
 *   Local per port, so each port keeps its own endpoints.
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
      const why = sameBackends ? '' : ' (externalTrafficPolicy Local with other backends: a port number can serve one Service only)';
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

/** The distinct `port/protocol` pairs of a request (a pair always clashes with itself). */
export function portPairs(request: Pick<AllocationRequest, 'ports'>): string[] {
  return [...new Set(request.ports.map((p) => `${p.port}/${p.protocol}`))];
}
