/**
 * Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): kubectl asks
 * every `get` for a meta.k8s.io/v1 Table and, when it gets a plain list instead, prints only
 * NAME and AGE. The columns below follow kube-apiserver's printers for the kinds the lab shows;
 * other kinds get kube-apiserver's default (Name, Created At). Pure: objects in, Table out.
 */
import { age, arr, get, NAME, AGE, str, type Obj, type Printer } from './table-cells.js';
import { KIND_PRINTERS } from './table-printers.js';

export { humanDuration, NAME, type Cell, type Column, type Printer } from './table-cells.js';

function serviceExternalIp(svc: Obj): string {
  const type = str(svc, 'spec', 'type') || 'ClusterIP';
  const external = (get(svc, 'spec', 'externalIPs') as string[] | undefined) ?? [];
  if (type === 'LoadBalancer') {
    const ingress = arr(svc, 'status', 'loadBalancer', 'ingress').map((i) => (i.ip as string) || (i.hostname as string) || '').filter(Boolean);
    const all = [...ingress, ...external];
    return all.length ? all.join(',') : '<pending>';
  }
  if (type === 'ExternalName') return str(svc, 'spec', 'externalName');
  return external.length ? external.join(',') : '<none>';
}

function servicePorts(svc: Obj): string {
  const ports = arr(svc, 'spec', 'ports').map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${(p.protocol as string) || 'TCP'}`);
  return ports.length ? ports.join(',') : '<none>';
}

function selector(o: Obj, ...path: string[]): string {
  const sel = get(o, ...path) as Record<string, string> | undefined;
  const parts = Object.entries(sel ?? {}).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(',') : '<none>';
}

const PRINTERS: Readonly<Record<string, Printer>> = {
  services: {
    columns: [
      NAME,
      { name: 'Type', type: 'string', description: 'The type of the service.' },
      { name: 'Cluster-IP', type: 'string', description: 'The cluster IP of the service.' },
      { name: 'External-IP', type: 'string', description: 'The external IPs of the service.' },
      { name: 'Port(s)', type: 'string', description: 'The ports of the service.' },
      AGE,
      { name: 'Selector', type: 'string', priority: 1, description: 'The selector of the service.' },
    ],
    cells: (s, now) => [str(s, 'metadata', 'name'), str(s, 'spec', 'type') || 'ClusterIP', str(s, 'spec', 'clusterIP') || '<none>', serviceExternalIp(s), servicePorts(s), age(s, now), selector(s, 'spec', 'selector')],
  },
  configmaps: {
    // kube-apiserver declares the column a string and sends a number in it
    columns: [NAME, { name: 'Data', type: 'string', description: 'Number of data keys.' }, AGE],
    cells: (c, now) => [str(c, 'metadata', 'name'), Object.keys((get(c, 'data') as Obj | undefined) ?? {}).length + Object.keys((get(c, 'binaryData') as Obj | undefined) ?? {}).length, age(c, now)],
  },
  secrets: {
    columns: [NAME, { name: 'Type', type: 'string', description: 'The type of the secret.' }, { name: 'Data', type: 'string', description: 'Number of data keys.' }, AGE],
    cells: (s, now) => [str(s, 'metadata', 'name'), str(s, 'type'), Object.keys((get(s, 'data') as Obj | undefined) ?? {}).length, age(s, now)],
  },
  ...KIND_PRINTERS,
};

const DEFAULT_PRINTER: Printer = { columns: [NAME, AGE], cells: (o, now) => [str(o, 'metadata', 'name'), age(o, now)] };

/** True when the Accept header asks for a meta.k8s.io/v1 (or v1beta1) Table. */
export function wantsTable(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  if (!accept || !accept.includes('as=Table')) return undefined;
  for (const part of accept.split(',')) {
    if (!part.includes('as=Table') || !part.includes('g=meta.k8s.io')) continue;
    if (/;\s*v=v1(\s*;|\s*$)/.test(part)) return 'v1';
    if (/;\s*v=v1beta1/.test(part)) return 'v1beta1';
  }
  return undefined;
}

/**
 * A Table of `objects` (wire form) for the resource `plural`; rows carry the object as
 * PartialObjectMetadata, as kubectl asks by default (`includeObject=Metadata`), or whole
 * (`includeObject=Object`), or none (`None`).
 */
export function toTable(plural: string, objects: readonly Obj[], opts: { version: 'v1' | 'v1beta1'; resourceVersion: string; includeObject?: string | null; nowMs: number; printer?: Printer }): Obj {
  const printer = opts.printer ?? PRINTERS[plural] ?? DEFAULT_PRINTER;
  const include = opts.includeObject ?? 'Metadata';
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${opts.version}`,
    metadata: { resourceVersion: opts.resourceVersion },
    columnDefinitions: printer.columns.map((c) => ({ priority: 0, format: '', ...c })),
    rows: objects.map((o) => ({
      cells: printer.cells(o, opts.nowMs),
      ...(include === 'None'
        ? {}
        : { object: include === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${opts.version}`, metadata: o.metadata ?? {} } }),
    })),
  };
}

/**
 * The reply body as a Table when the client asked for one (kubectl get): lists and single
 * objects of a GET; everything else is returned unchanged.
 */
export function asTableIfAsked(route: { verb: string; def: { resource: string; printer?: Printer } }, accept: string | undefined, q: URLSearchParams, code: number, body: Obj): Obj {
  if (code !== 200 || (route.verb !== 'get' && route.verb !== 'list')) return body;
  const version = wantsTable(accept);
  if (!version) return body;
  const items = route.verb === 'list' ? ((body.items as Obj[] | undefined) ?? []) : [body];
  const rv = String(get(body, 'metadata', 'resourceVersion') ?? '');
  return toTable(route.def.resource, items, { version, resourceVersion: rv, includeObject: q.get('includeObject'), nowMs: Date.now(), ...(route.def.printer ? { printer: route.def.printer } : {}) });
}
