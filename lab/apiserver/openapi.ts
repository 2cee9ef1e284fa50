import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { RESOURCES, type ResourceDef } from './resources.js';
import type { FieldSpec } from './schema/fields.js';
import { kindFields } from './schema/kinds.js';
import type { Obj } from './status.js';

/**
 * OpenAPI v3 as kube-apiserver serves it (k8s.io/kube-openapi handler3): `/openapi/v3` lists one
 * document per group-version with a `hash` (the document's ETag, SHA-512 in upper-case hex), and
 * `/openapi/v3/api/v1?hash=…` serves it. What kubectl reads there: every PATCH operation carries
 * `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter, so kubectl leaves
 * validation to the server (`--validate=strict` sends `fieldValidation=Strict`) instead of
 * validating client-side against schemas it would need in full.
 *
 * The component schemas list field names only (from lab/apiserver/schema/kinds.ts) and carry no
 * `x-kubernetes-group-version-kind`: kubectl apply then finds no v3 schema to compute a strategic
 * merge patch from and uses its compiled-in types, exactly as with no OpenAPI at all.
 * `/openapi/v2` stays unserved (404): kubectl only falls back to it when v3 is missing.
 */

const PATCH_TYPES = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

interface Doc {
  readonly json: string;
  /** SHA-512 of `json`, upper-case hex: the ETag and the `hash` parameter. */
  readonly etag: string;
}

function gvPath(def: ResourceDef): string {
  return def.group ? `apis/${def.group}/${def.version}` : `api/${def.version}`;
}

/** `Core`, `Apps`, `RbacAuthorization`: the group part of kube's operation ids and tags. */
function groupWord(group: string): string {
  if (!group) return 'Core';
  return group.replace(/\.k8s\.io$/, '').split('.').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

function schemaName(def: ResourceDef, suffix = ''): string {
  // custom resources: the group reversed, as apiextensions-apiserver names them (io.metallb.v1beta1.IPAddressPool)
  if (def.custom) return `${def.group.split('.').reverse().join('.')}.${def.version}.${def.kind}${suffix}`;
  const pkg = def.group ? def.group.split('.')[0]! : 'core';
  return `io.k8s.api.${pkg}.${def.version}.${def.kind}${suffix}`;
}

const ref = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });

function schemaOf(spec: FieldSpec): Obj {
  switch (spec.kind) {
    case 'any': return {};
    case 'list': return { type: 'array', items: schemaOf(spec.items) };
    case 'struct': return { type: 'object', properties: Object.fromEntries(Object.entries(spec.fields).map(([k, v]) => [k, schemaOf(v)])) };
  }
}

const str = { type: 'string', uniqueItems: true };
function query(name: string, description: string, schema: Obj = str): Obj {
  return { name, in: 'query', description, schema };
}

const PARAM = {
  dryRun: query('dryRun', 'When present, indicates that modifications should not be persisted. Valid value: All.'),
  fieldManager: query('fieldManager', 'A name associated with the actor or entity that is making these changes; required for apply patches.'),
  fieldValidation: query('fieldValidation', 'How the server handles an object containing unknown or duplicate fields: Ignore (drop them silently), Warn (drop them with a Warning header per field; the default) or Strict (fail with 400 BadRequest naming every one).'),
  force: query('force', 'Force is going to "force" Apply requests; ignored by the emulator, which detects no conflicts.', { type: 'boolean', uniqueItems: true }),
  gracePeriodSeconds: query('gracePeriodSeconds', 'The duration in seconds before the object should be deleted.', { type: 'integer', uniqueItems: true }),
  list: ['allowWatchBookmarks', 'continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'resourceVersionMatch', 'timeoutSeconds', 'watch'].map((n) => query(n, `See https://kubernetes.io/docs/reference/using-api/api-concepts/ (${n}).`)),
  name: { name: 'name', in: 'path', description: 'name of the object', required: true, schema: str },
  namespace: { name: 'namespace', in: 'path', description: 'object name and auth scope, such as for teams and projects', required: true, schema: str },
  pretty: query('pretty', "If 'true', then the output is pretty printed."),
};

type Action = 'list' | 'post' | 'get' | 'put' | 'patch' | 'delete' | 'deletecollection';
const VERB_WORD: Record<Action, string> = { list: 'list', post: 'create', get: 'read', put: 'replace', patch: 'patch', delete: 'delete', deletecollection: 'delete' };

function operation(def: ResourceDef, action: Action, scope: 'namespaced' | 'cluster' | 'all', status: boolean): Obj {
  const g = `${groupWord(def.group)}${def.version[0]!.toUpperCase()}${def.version.slice(1)}`;
  const ns = scope === 'namespaced' ? 'Namespaced' : '';
  const id = `${VERB_WORD[action]}${g}${action === 'deletecollection' ? 'Collection' : ''}${ns}${def.kind}${status ? 'Status' : ''}${scope === 'all' ? 'ForAllNamespaces' : ''}`;
  const object = { 'application/json': { schema: ref(schemaName(def)) }, 'application/yaml': { schema: ref(schemaName(def)) } };
  const listed = { 'application/json': { schema: ref(schemaName(def, 'List')) }, 'application/yaml': { schema: ref(schemaName(def, 'List')) } };
  const ok = { description: 'OK', content: action === 'list' || action === 'deletecollection' ? listed : object };
  const responses: Obj = { 200: ok, 401: { description: 'Unauthorized' } };
  if (action === 'post' || action === 'put' || action === 'patch') responses[201] = { description: 'Created', content: object };
  const word = groupWord(def.group);
  const tag = `${word[0]!.toLowerCase()}${word.slice(1)}_${def.version}`; // core_v1, rbacAuthorization_v1
  const op: Obj = { tags: [tag], description: `${VERB_WORD[action]} ${def.kind}${status ? ' status' : ''}`, operationId: id };
  switch (action) {
    case 'list': op.parameters = PARAM.list; break;
    case 'post': case 'put': op.parameters = [PARAM.dryRun, PARAM.fieldManager, PARAM.fieldValidation]; op.requestBody = { content: object, required: true }; break;
    case 'patch':
      op.parameters = [PARAM.dryRun, PARAM.fieldManager, PARAM.fieldValidation, PARAM.force];
      op.requestBody = { content: Object.fromEntries(PATCH_TYPES.map((t) => [t, { schema: ref(`${META}.Patch`) }])), required: true };
      break;
    case 'delete': case 'deletecollection': op.parameters = [PARAM.dryRun, PARAM.gracePeriodSeconds]; op.requestBody = { content: { 'application/json': { schema: ref(`${META}.DeleteOptions`) } } }; break;
    case 'get': break;
  }
  op.responses = responses;
  op['x-kubernetes-action'] = action;
  op['x-kubernetes-group-version-kind'] = { group: def.group, kind: def.kind, version: def.version };
  return op;
}

function pathsOf(def: ResourceDef): Record<string, Obj> {
  const root = def.group ? `/apis/${def.group}/${def.version}` : `/api/${def.version}`;
  const base = def.namespaced ? `${root}/namespaces/{namespace}/${def.resource}` : `${root}/${def.resource}`;
  const scope = def.namespaced ? 'namespaced' : 'cluster';
  const params = (named: boolean): Obj[] => [...(named ? [PARAM.name] : []), ...(def.namespaced ? [PARAM.namespace] : []), PARAM.pretty];
  const paths: Record<string, Obj> = {
    [base]: { get: operation(def, 'list', scope, false), post: operation(def, 'post', scope, false), delete: operation(def, 'deletecollection', scope, false), parameters: params(false) },
    [`${base}/{name}`]: { get: operation(def, 'get', scope, false), put: operation(def, 'put', scope, false), patch: operation(def, 'patch', scope, false), delete: operation(def, 'delete', scope, false), parameters: params(true) },
  };
  if (def.statusSubresource) {
    paths[`${base}/{name}/status`] = { get: operation(def, 'get', scope, true), put: operation(def, 'put', scope, true), patch: operation(def, 'patch', scope, true), parameters: params(true) };
  }
  if (def.namespaced) paths[`${root}/${def.resource}`] = { get: operation(def, 'list', 'all', false), parameters: [PARAM.pretty] };
  return paths;
}

function schemasOf(def: ResourceDef): Record<string, Obj> {
  const fields = def.fields ?? kindFields(def.apiVersion, def.kind);
  if (!fields) throw new Error(`incoherent state: no field table for ${def.apiVersion} ${def.kind}`);
  const description = `${def.kind} (${def.apiVersion}): field names as the emulator validates them; no types or merge metadata.`;
  return {
    [schemaName(def)]: { ...schemaOf(fields), description },
    [schemaName(def, 'List')]: { type: 'object', required: ['items'], properties: { apiVersion: { type: 'string' }, items: { type: 'array', items: ref(schemaName(def)) }, kind: { type: 'string' }, metadata: {} } },
  };
}

const SHARED_SCHEMAS: Record<string, Obj> = {
  [`${META}.Patch`]: { type: 'object', description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.' },
  [`${META}.DeleteOptions`]: { type: 'object', properties: { apiVersion: {}, dryRun: {}, gracePeriodSeconds: {}, kind: {}, preconditions: {}, propagationPolicy: {} } },
  [`${META}.Status`]: { type: 'object', properties: { apiVersion: {}, code: {}, details: {}, kind: {}, message: {}, metadata: {}, reason: {}, status: {} } },
};

function docOf(json: string): Doc {
  return { json, etag: createHash('sha512').update(json).digest('hex').toUpperCase() };
}

function serverRelativeUrl(gv: string, etag: string): string {
  return `/openapi/v3/${gv}?hash=${etag}`;
}

type Built = { root: Doc; byPath: ReadonlyMap<string, Doc> };
let built: Built | undefined;
const builtWithCustom = new WeakMap<readonly ResourceDef[], Built>();

/**
 * The documents, built once per set of served resources: the built-in ones, plus the custom
 * resources of established CRDs (`custom`, a new array whenever they change).
 */
export function openApiDocuments(custom: readonly ResourceDef[] = []): Built {
  if (custom.length === 0 && built) return built;
  const cached = builtWithCustom.get(custom);
  if (cached) return cached;
  const groups = new Map<string, ResourceDef[]>();
  for (const def of [...RESOURCES, ...custom]) groups.set(gvPath(def), [...(groups.get(gvPath(def)) ?? []), def]);
  const byPath = new Map<string, Doc>();
  for (const [gv, defs] of groups) {
    const paths = Object.assign({}, ...defs.map(pathsOf)) as Obj;
    const schemas = Object.assign({ ...SHARED_SCHEMAS }, ...defs.map(schemasOf)) as Obj;
    byPath.set(gv, docOf(JSON.stringify({
      openapi: '3.0.0',
      info: { title: 'Kubernetes (Fulcrum API emulator)', version: 'v1.31.0' },
      paths,
      components: { schemas, securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } } },
    })));
  }
  const root = docOf(JSON.stringify({ paths: Object.fromEntries([...byPath].map(([gv, d]) => [gv, { serverRelativeURL: serverRelativeUrl(gv, d.etag) }])) }));
  const out = { root, byPath };
  if (custom.length === 0) built = out;
  else builtWithCustom.set(custom, out);
  return out;
}

export interface OpenApiReply {
  readonly code: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** handler3 serves JSON (and protobuf, not emulated) by the Accept header; anything else → 406. */
function acceptsJson(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((clause) => {
    const [type, ...params] = clause.split(';').map((s) => s.trim().toLowerCase());
    if (params.some((p) => /^q=0(\.0*)?$/.test(p))) return false;
    return type === '*/*' || type === 'application/*' || type === 'application/json';
  });
}

function notModified(etag: string, ifNoneMatch: string | undefined): boolean {
  return ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => { const v = t.trim().replace(/^W\//, ''); return v === '*' || v === `"${etag}"`; });
}

function answer(doc: Doc, req: IncomingHttpHeaders, headers: Record<string, string>): OpenApiReply {
  const h = { ...headers, ETag: `"${doc.etag}"` };
  if (notModified(doc.etag, req['if-none-match'])) return { code: 304, headers: h, body: '' };
  return { code: 200, headers: { ...h, 'Content-Type': 'application/json' }, body: doc.json };
}

/**
 * `GET /openapi/v3[/GV]`: the root, or a group-version document — 301 to the current URL when
 * `hash` is stale, `Cache-Control: public, immutable` when it is current, 304 for a matching
 * `If-None-Match`. Undefined for anything else (404, `/openapi/v2` included).
 */
export function serveOpenApi(path: string, query: URLSearchParams, req: IncomingHttpHeaders, now: Date, custom: readonly ResourceDef[] = []): OpenApiReply | undefined {
  const docs = openApiDocuments(custom);
  if (path === '/openapi/v3') return answer(docs.root, req, {});
  const gv = /^\/openapi\/v3\/(.+)$/.exec(path)?.[1];
  const doc = gv === undefined ? undefined : docs.byPath.get(gv);
  if (!doc || gv === undefined) return undefined;
  if (!acceptsJson(req.accept)) return { code: 406, headers: { Vary: 'Accept' }, body: '' };
  const hash = query.get('hash');
  if (hash && hash !== doc.etag) return { code: 301, headers: { Location: serverRelativeUrl(gv, doc.etag), Vary: 'Accept' }, body: '' };
  const cache: Record<string, string> = hash ? { 'Cache-Control': 'public, immutable', Expires: new Date(now.getTime() + 365 * 86_400_000).toUTCString() } : {};
  return answer(doc, req, { Vary: 'Accept', ...cache });
}
