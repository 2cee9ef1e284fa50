import { findResource, type ResourceDef } from './resources.js';
import { methodNotAllowed, pathNotFound } from './status.js';

export type ResourceVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export type Route =
  | { readonly kind: 'nonResource'; readonly path: string }
  | {
      readonly kind: 'resource';
      readonly def: ResourceDef;
      readonly verb: ResourceVerb;
      /** '' for cluster-scoped resources and all-namespace lists. */
      readonly namespace: string;
      readonly name: string;
      readonly subresource: '' | 'status';
    };

const NON_RESOURCE = new Set(['/version', '/version/', '/api', '/apis', '/healthz', '/livez', '/readyz']);

function verbFor(method: string, hasName: boolean, subresource: string, watch: boolean): ResourceVerb {
  if (subresource) {
    if (method === 'GET') return 'get';
    if (method === 'PUT') return 'update';
    if (method === 'PATCH') return 'patch';
    throw methodNotAllowed();
  }
  switch (method) {
    case 'GET': return hasName ? (watch ? 'watch' : 'get') : watch ? 'watch' : 'list';
    case 'POST': if (hasName) throw methodNotAllowed(); return 'create';
    case 'PUT': if (!hasName) throw methodNotAllowed(); return 'update';
    case 'PATCH': if (!hasName) throw methodNotAllowed(); return 'patch';
    case 'DELETE': return hasName ? 'delete' : 'deletecollection';
    default: throw methodNotAllowed();
  }
}

/** Maps a URL onto a served resource (fidelity spec §3 paths) or a non-resource path; unknown → 404. */
export function resolveRoute(method: string, pathname: string, watch: boolean, lookup: (apiVersion: string, resource: string) => ResourceDef | undefined = findResource): Route {
  const path = pathname.length > 1 && pathname.endsWith('/') && pathname !== '/version/' ? pathname.slice(0, -1) : pathname;
  if (NON_RESOURCE.has(path) || path.startsWith('/openapi') || /^\/apis\/[^/]+$/.test(path) || /^\/apis\/[^/]+\/[^/]+$/.test(path) || path === '/api/v1') {
    return { kind: 'nonResource', path };
  }
  const seg = path.split('/').slice(1).map((s) => decodeURIComponent(s));
  let apiVersion: string;
  let rest: string[];
  if (seg[0] === 'api' && seg[1] === 'v1') {
    apiVersion = 'v1';
    rest = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 3) {
    apiVersion = `${seg[1]}/${seg[2]}`;
    rest = seg.slice(3);
  } else throw pathNotFound();
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && rest[2] === 'status')) {
    namespace = rest[1]!;
    rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3) throw pathNotFound();
  const def = lookup(apiVersion, rest[0]!);
  if (!def) throw pathNotFound();
  const name = rest[1] ?? '';
  const sub = rest[2] ?? '';
  if (sub && !(sub === 'status' && def.statusSubresource)) throw pathNotFound();
  if (namespace && !def.namespaced) throw pathNotFound();
  if (!namespace && def.namespaced && name) throw pathNotFound();
  if (name === '' && rest.length > 1) throw pathNotFound();
  return { kind: 'resource', def, verb: verbFor(method, name !== '', sub, watch), namespace, name, subresource: sub as '' | 'status' };
}
