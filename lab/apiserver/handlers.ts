import type { ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import type { Registry } from './registry.js';
import type { ResourceDef } from './resources.js';
import type { Route } from './routes.js';
import { parseFieldSelector, parseLabelSelector, pinnedName, fieldsMatch, labelsMatch } from './selectors.js';
import { applyJsonPatch, applyMergePatch, applyStrategicPatch, clone, patchTypeOf } from './patch.js';
import { ApiStatusError, badRequest, expired, invalid, cause, notFound, unsupportedMediaType, type Obj } from './status.js';
import { toWire, WatchStream, type WatchHost } from './watch.js';
import { wantsTable } from './table.js';
import { checkBody, checkPatch, fieldValidationOf, type FieldValidation } from './field-validation.js';

/** `warnings` become `Warning` headers (field validation Warn). */
export type Reply = { readonly code: number; readonly body: Obj; readonly warnings?: readonly string[] } | { readonly code: 'streaming' };

export interface HandlerContext {
  readonly registry: Registry;
  readonly watchHost: WatchHost;
  /** The directive of writes without a `fieldValidation` parameter (kube-apiserver: Warn). */
  readonly fieldValidation: FieldValidation;
}

type ResourceRoute = Extract<Route, { kind: 'resource' }>;

function parseJson(body: Buffer, def: ResourceDef): Obj {
  try {
    return JSON.parse(body.toString('utf8')) as Obj;
  } catch (err) {
    throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${(err as Error).message}`);
  }
}

function bodyObject(contentType: string, body: Buffer, def: ResourceDef): Obj {
  const ct = contentType.split(';')[0]!.trim().toLowerCase();
  if (ct.includes('protobuf')) throw unsupportedMediaType('protobuf');
  if (ct === 'application/yaml') return parseYaml(body.toString('utf8')) as Obj;
  if (ct !== '' && ct !== 'application/json' && ct !== '*/*') throw unsupportedMediaType('body');
  return parseJson(body, def);
}

function fromWire(def: ResourceDef, wire: Obj): Obj {
  if (typeof wire !== 'object' || wire === null) return wire;
  return def.view ? def.view.fromWire(wire) : wire;
}

/** dryRun=All, or nothing; any other value is a 422 on the request's options, as ValidateDryRun. */
function isDryRun(q: URLSearchParams, options: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions' | 'DeleteOptions', def: ResourceDef): boolean {
  const values = q.getAll('dryRun');
  if (values.some((v) => v !== 'All')) {
    throw invalid(options, '', def, [{ reason: 'FieldValueNotSupported', field: 'dryRun', message: `Unsupported value: [${values.map((v) => JSON.stringify(v)).join(' ')}]: supported values: "All"` }]);
  }
  return values.length > 0;
}

/** ListOptions: resourceVersionMatch needs a resourceVersion and is Exact or NotOlderThan (ValidateListOptions). */
function checkListOptions(q: URLSearchParams, def: ResourceDef): void {
  const match = q.get('resourceVersionMatch');
  if (match === null || match === '') return;
  if (!q.get('resourceVersion')) throw invalid('ListOptions', '', def, [cause.forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided')]);
  if (match !== 'Exact' && match !== 'NotOlderThan') throw invalid('ListOptions', '', def, [cause.notSupported('resourceVersionMatch', match, ['Exact', 'NotOlderThan', ''])]);
}

function parseRv(raw: string | null): number | undefined {
  if (raw === null || raw === '' || raw === '0') return undefined;
  if (!/^\d+$/.test(raw)) throw badRequest(`invalid resource version "${raw}": strconv.ParseUint: parsing ${JSON.stringify(raw)}: invalid syntax`);
  return Number(raw);
}

function list(route: ResourceRoute, q: URLSearchParams, ctx: HandlerContext): Reply {
  const { def } = route;
  const labels = parseLabelSelector(q.get('labelSelector'));
  const fields = parseFieldSelector(q.get('fieldSelector'), def);
  checkListOptions(q, def);
  const store = ctx.registry.store;
  const current = store.resourceVersion;
  const rv = parseRv(q.get('resourceVersion'));
  if (rv !== undefined && rv > current) {
    throw new ApiStatusError(504, 'Timeout', `Timeout: Too large resource version: ${rv}, current: ${current}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
  }
  if (rv !== undefined && q.get('resourceVersionMatch') === 'Exact' && rv < store.compactedRv) {
    throw expired('The resourceVersion for the provided list is too old.');
  }
  const ns = def.namespaced && route.namespace ? route.namespace : def.namespaced ? undefined : '';
  const pinned = pinnedName(fields);
  let objects: Obj[];
  if (pinned !== undefined && ns !== undefined) {
    const o = store.get(def.storeKey, ns, pinned);
    objects = o ? [o] : [];
  } else objects = store.list(def.storeKey, ns);
  const items: Obj[] = [];
  for (const o of objects) {
    if (!labelsMatch(labels, o.metadata.labels) || !fieldsMatch(fields, o)) continue;
    // unstructured lists (custom resources) keep kind and apiVersion on their items
    items.push(def.custom ? toWire(def, o) : def.view ? def.view.toWire(o) : o);
  }
  const metadata = def.custom ? { continue: '', resourceVersion: String(current) } : { resourceVersion: String(current) };
  return { code: 200, body: { kind: `${def.kind}List`, apiVersion: def.apiVersion, metadata, items } };
}

function watch(route: ResourceRoute, q: URLSearchParams, res: ServerResponse, ctx: HandlerContext, accept: string | undefined): Reply {
  const { def } = route;
  const labels = parseLabelSelector(q.get('labelSelector'));
  let fields = parseFieldSelector(q.get('fieldSelector'), def);
  if (route.name) fields = [...fields, ...parseFieldSelector(`metadata.name=${route.name}`, def)];
  const rv = parseRv(q.get('resourceVersion'));
  const t = q.get('timeoutSeconds');
  // without timeoutSeconds the real server picks 30–60 minutes
  // 0 or unset: the server's own 30–60 minutes, as kube-apiserver does
  const timeoutMs = t !== null && /^\d+$/.test(t) && Number(t) > 0 ? Number(t) * 1000 : (1800 + Math.floor(Math.random() * 1800)) * 1000;
  const ns = def.namespaced && route.namespace ? route.namespace : def.namespaced ? undefined : '';
  const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
  const tableVersion = wantsTable(accept);
  const table = tableVersion ? { version: tableVersion, includeObject: q.get('includeObject') } : undefined;
  new WatchStream(res, { def, namespace: ns, labels, fields, bookmarks, timeoutMs, ...(table ? { table } : {}) }, ctx.registry.store, ctx.watchHost).start(rv);
  return { code: 'streaming' };
}

function wireReply(code: number, def: ResourceDef, stored: Obj, warnings: readonly string[] = []): Reply {
  return warnings.length ? { code, body: toWire(def, stored), warnings } : { code, body: toWire(def, stored) };
}

function patch(route: ResourceRoute, q: URLSearchParams, contentType: string, body: Buffer, ctx: HandlerContext): Reply {
  const { def, namespace, name } = route;
  const type = patchTypeOf(contentType);
  if (!type) throw unsupportedMediaType('patch');
  if (type === 'strategic' && def.custom) throw unsupportedMediaType('customPatch');
  const opts = { dryRun: isDryRun(q, 'PatchOptions', def), ...(route.subresource ? { subresource: 'status' as const } : {}) };
  const directive = fieldValidationOf(q, ctx.fieldValidation, 'PatchOptions');
  if (type === 'apply') {
    if (!q.get('fieldManager')) throw invalid('PatchOptions', '', def, [cause.required('fieldManager', 'is required for apply patch')]);
    const applied = parseYaml(body.toString('utf8')) as Obj;
    if (typeof applied !== 'object' || applied === null) throw badRequest('apply patch must be an object');
    const current = ctx.registry.store.get(def.storeKey, def.namespaced ? namespace : '', name);
    if (!current) {
      if (route.subresource) throw notFound(def, name);
      const warnings = checkPatch(def, directive, type, body, applied);
      return wireReply(201, def, ctx.registry.create(def, namespace, fromWire(def, { ...applied, metadata: { ...(applied.metadata ?? {}), name } }), opts), warnings);
    }
    const merged = applyStrategicPatch(toWire(def, current), applied, def.mergeKeys);
    const warnings = checkPatch(def, directive, type, body, merged);
    return updateReply(route, fromWire(def, merged), opts, ctx, warnings);
  }
  const current = toWire(def, ctx.registry.get(def, namespace, name));
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch (err) {
    // kube-apiserver: "invalid JSON patch" for a merge patch that is not JSON
    throw badRequest(type === 'merge' ? 'invalid JSON patch' : `error decoding patch: ${(err as Error).message}`);
  }
  let patched: Obj;
  if (type === 'json') patched = applyJsonPatch(current, raw);
  else if (type === 'merge') {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest('invalid JSON patch');
    patched = applyMergePatch(current, raw) as Obj;
  } else patched = applyStrategicPatch(current, raw, def.mergeKeys);
  const warnings = checkPatch(def, directive, type, body, patched);
  return updateReply(route, fromWire(def, patched), opts, ctx, warnings);
}

function updateReply(route: ResourceRoute, stored: Obj, opts: { dryRun: boolean; subresource?: 'status' }, ctx: HandlerContext, warnings: readonly string[] = []): Reply {
  const r = ctx.registry.update(route.def, route.namespace, route.name, stored, opts);
  return wireReply(r.kind === 'created' ? 201 : 200, route.def, r.object, warnings);
}

function deleteOptions(q: URLSearchParams, body: Buffer): { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string } } {
  let opts: Obj = {};
  if (body.length > 0) {
    try {
      opts = JSON.parse(body.toString('utf8')) as Obj;
    } catch {
      opts = {};
    }
  }
  const g = q.get('gracePeriodSeconds') ?? (opts.gracePeriodSeconds !== undefined ? String(opts.gracePeriodSeconds) : null);
  const out: { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string } } = {};
  if (g !== null && /^\d+$/.test(g)) out.gracePeriodSeconds = Number(g);
  if (opts.preconditions && typeof opts.preconditions === 'object') out.preconditions = opts.preconditions;
  return out;
}

function remove(route: ResourceRoute, q: URLSearchParams, body: Buffer, ctx: HandlerContext): Reply {
  const { def, namespace, name } = route;
  const r = ctx.registry.delete(def, namespace, name, { ...deleteOptions(q, body), dryRun: isDryRun(q, 'DeleteOptions', def) });
  if (r.kind === 'marked' || def.deleteReturnsObject) return wireReply(200, def, r.object);
  const details: Obj = { name };
  if (def.group) details.group = def.group;
  details.kind = def.resource;
  details.uid = r.object.metadata.uid;
  return { code: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details } };
}

function removeCollection(route: ResourceRoute, q: URLSearchParams, body: Buffer, ctx: HandlerContext): Reply {
  const listed = list(route, q, ctx);
  if (listed.code === 'streaming') return listed;
  const items: Obj[] = [];
  for (const o of listed.body.items as Obj[]) {
    const r = ctx.registry.delete(route.def, o.metadata.namespace ?? '', o.metadata.name, { ...deleteOptions(q, body), dryRun: isDryRun(q, 'DeleteOptions', route.def) });
    items.push(r.object);
  }
  return { code: 200, body: { ...listed.body, items } };
}

/** Serves one resource request once authentication and authorization passed. */
export function handleResource(route: ResourceRoute, q: URLSearchParams, contentType: string, body: Buffer, res: ServerResponse, ctx: HandlerContext, accept?: string): Reply {
  const { def, namespace, name } = route;
  switch (route.verb) {
    case 'get': return wireReply(200, def, ctx.registry.get(def, namespace, name));
    case 'list': return list(route, q, ctx);
    case 'watch': return watch(route, q, res, ctx, accept);
    case 'create': {
      const directive = fieldValidationOf(q, ctx.fieldValidation, 'CreateOptions');
      const wire = bodyObject(contentType, body, def);
      const warnings = checkBody(def, directive, contentType, body, wire);
      return wireReply(201, def, ctx.registry.create(def, namespace, fromWire(def, wire), { dryRun: isDryRun(q, 'CreateOptions', def) }), warnings);
    }
    case 'update': {
      const directive = fieldValidationOf(q, ctx.fieldValidation, 'UpdateOptions');
      const wire = bodyObject(contentType, body, def);
      const warnings = checkBody(def, directive, contentType, body, wire);
      return updateReply(route, fromWire(def, clone(wire)), { dryRun: isDryRun(q, 'UpdateOptions', def), ...(route.subresource ? { subresource: 'status' as const } : {}) }, ctx, warnings);
    }
    case 'patch': return patch(route, q, contentType, body, ctx);
    case 'delete': return remove(route, q, body, ctx);
    case 'deletecollection': return removeCollection(route, q, body, ctx);
  }
}
