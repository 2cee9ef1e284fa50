/**
 * The route table of an HTTP frontend, compiled once per context (pure): Host + path → the
 * route that takes the request. Precedence, as model.ts documents it:
 *   1. an exact host, then a wildcard host (`*.example.com`: one or more labels before
 *      `.example.com`; the longest suffix first), then the routes without hosts;
 *   2. within the first tier that has a route whose path prefix matches, the longest prefix
 *      (a prefix matches at a `/` boundary: `/api` matches `/api` and `/api/x`, not `/apix`);
 *   3. the order in the model.
 */
import type { Route } from './model.js';

interface Candidate<T> {
  readonly prefix: string;
  readonly order: number;
  readonly target: T;
}

export class RouteTable<T> {
  readonly #exact = new Map<string, Candidate<T>[]>();
  /** By suffix (`.example.com`), longest first. */
  readonly #wildcards: { readonly suffix: string; readonly routes: Candidate<T>[] }[] = [];
  readonly #anyHost: Candidate<T>[] = [];

  /** `target(route)` resolves each route's backend once, here. */
  constructor(routes: readonly Route[], target: (route: Route) => T) {
    routes.forEach((route, order) => {
      const c: Candidate<T> = { prefix: route.match.kind === 'http' ? normalizePrefix(route.match.pathPrefix) : '/', order, target: target(route) };
      const hosts = route.match.kind === 'http' ? route.match.hosts : [];
      if (hosts.length === 0) this.#anyHost.push(c);
      for (const raw of hosts) {
        const host = raw.toLowerCase();
        if (host.startsWith('*.')) {
          const suffix = host.slice(1);
          let w = this.#wildcards.find((x) => x.suffix === suffix);
          if (!w) this.#wildcards.push((w = { suffix, routes: [] }));
          w.routes.push(c);
        } else {
          let list = this.#exact.get(host);
          if (!list) this.#exact.set(host, (list = []));
          list.push(c);
        }
      }
    });
    const byPrefix = (a: Candidate<T>, b: Candidate<T>) => b.prefix.length - a.prefix.length || a.order - b.order;
    for (const list of this.#exact.values()) list.sort(byPrefix);
    for (const w of this.#wildcards) w.routes.sort(byPrefix);
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    this.#anyHost.sort(byPrefix);
  }

  /** The route for a request to `host` (lower case, no port) and `path` (origin-form, without the query), or undefined (404). */
  match(host: string, path: string): T | undefined {
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      const hit = firstMatching(exact, path);
      if (hit !== undefined) return hit;
    }
    for (const w of this.#wildcards) {
      if (host.length <= w.suffix.length || !host.endsWith(w.suffix)) continue;
      const hit = firstMatching(w.routes, path);
      if (hit !== undefined) return hit;
    }
    return firstMatching(this.#anyHost, path);
  }
}

function firstMatching<T>(sorted: readonly Candidate<T>[], path: string): T | undefined {
  for (const c of sorted) if (prefixMatches(c.prefix, path)) return c.target;
  return undefined;
}

/** `/api/` and `/api` are the same prefix; the empty prefix is `/`. */
export function normalizePrefix(prefix: string): string {
  if (prefix === '' || prefix === '/') return '/';
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  // the prefix ends at a segment boundary: end of the path, '/', or the query / fragment
  return Number.isNaN(next) || next === 0x2f || next === 0x3f || next === 0x23;
}
