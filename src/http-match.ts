/**
 * HTTP route matches as text, pure: host patterns (`a.example.com`, `*.example.com`) and path
 * prefixes, validated and normalised the same way wherever they are read (Service annotations,
 * the proxy file, the allocator's sharing rule), and when two matches overlap. The runtime's
 * precedence (exact host, then the longest wildcard suffix, then no host; then the longest
 * prefix) is in `speaker/proxy/http-routes.ts`; this module only says what is valid and what
 * clashes.
 */

export type ParsedText = { readonly kind: 'ok'; readonly value: string } | { readonly kind: 'invalid'; readonly reason: string };

/** A DNS label (RFC 1123), lower case. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * `a.example.com` or `*.example.com` (the `*` stands for one or more labels), lower-cased. No
 * port, no trailing dot, no `*` elsewhere; at most 253 characters.
 */
export function parseHostPattern(text: string): ParsedText {
  const host = text.trim().toLowerCase();
  if (host === '') return { kind: 'invalid', reason: 'is empty' };
  if (host.length > 253) return { kind: 'invalid', reason: 'is longer than 253 characters' };
  if (/:\d+$/.test(host)) return { kind: 'invalid', reason: 'has a port (a host pattern matches the Host without its port)' };
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name.includes('*')) return { kind: 'invalid', reason: 'has a "*" that is not the whole first label ("*.example.com")' };
  if (!name.split('.').every((l) => LABEL.test(l))) return { kind: 'invalid', reason: 'is not a DNS name (labels of a-z, 0-9 and "-", separated by dots)' };
  return { kind: 'ok', value: host };
}

/**
 * A path prefix: starts with `/`, no query, fragment, spaces or control characters. One
 * trailing `/` is dropped (`/api/` is `/api`, as the runtime reads it); `/` is every path.
 */
export function parsePathPrefix(text: string): ParsedText {
  const prefix = text.trim();
  if (!prefix.startsWith('/')) return { kind: 'invalid', reason: 'does not start with "/"' };
  if (/[\s?#\u0000-\u001f\u007f]/.test(prefix)) return { kind: 'invalid', reason: 'has a space, "?", "#" or a control character' };
  return { kind: 'ok', value: prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix };
}

/** One `*.suffix` pattern covers a name, or a narrower pattern, that ends in `.suffix`. */
function covers(wildcard: string, host: string): boolean {
  return wildcard.startsWith('*.') && host.length > wildcard.length - 1 && host.endsWith(wildcard.slice(1));
}

/** The same host, or a wildcard covering the other (`*.example.com` covers `a.example.com` and `*.b.example.com`). */
export function hostsOverlap(a: string, b: string): boolean {
  return a === b || covers(a, b) || covers(b, a);
}

/** What one Service (or one file route) claims on an HTTP port. `hosts` empty: the default route (any host). */
export interface HttpClaim {
  readonly hosts: readonly string[];
  readonly pathPrefix: string;
}

export type ClaimOverlap =
  | { readonly kind: 'distinct' }
  /** `hosts` is the first overlapping pair; absent when both are default routes. */
  | { readonly kind: 'overlap'; readonly hosts?: readonly [string, string]; readonly pathPrefix: string };

/**
 * Two claims overlap when their path prefixes are the same (after normalisation) and they
 * claim the same host: an equal host, a wildcard covering the other, or both no host at all
 * (two default routes). A default route and a route with hosts never overlap (the hosts win).
 */
export function claimsOverlap(a: HttpClaim, b: HttpClaim): ClaimOverlap {
  if (a.pathPrefix !== b.pathPrefix) return { kind: 'distinct' };
  if (a.hosts.length === 0 && b.hosts.length === 0) return { kind: 'overlap', pathPrefix: a.pathPrefix };
  for (const h of a.hosts) for (const k of b.hosts) if (hostsOverlap(h, k)) return { kind: 'overlap', hosts: [h, k], pathPrefix: a.pathPrefix };
  return { kind: 'distinct' };
}

/** `host "a.example.com" / "*.example.com", path prefix "/api"`, or `the default route (no hosts), path prefix "/"`. */
export function describeOverlap(o: Extract<ClaimOverlap, { kind: 'overlap' }>): string {
  const hosts = o.hosts === undefined ? 'the default route (no hosts)' : o.hosts[0] === o.hosts[1] ? `host "${o.hosts[0]}"` : `hosts "${o.hosts[0]}" and "${o.hosts[1]}"`;
  return `${hosts}, path prefix "${o.pathPrefix}"`;
}
