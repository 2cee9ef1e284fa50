/**
 * Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): kubectl asks
 * every `get` for a meta.k8s.io/v1 Table and, when it gets a plain list instead, prints only
 * NAME and AGE. The columns below follow kube-apiserver's printers for the kinds the lab shows;
 * other kinds get kube-apiserver's default (Name, Created At). Pure: objects in, Table out.
 */
type Obj = Record<string, unknown>;

export interface Column {
  name: string;
  type: 'string' | 'integer' | 'date' | 'number' | 'boolean';
  format?: string;
  description: string;
  priority?: number;
}

export type Cell = string | number | boolean | null;

export const NAME: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.' };
const AGE: Column = { name: 'Age', type: 'string', description: 'Time since the object was created.' };

/** kube's duration.HumanDuration, as kubectl shows ages: 45s, 7m30s, 3h12m, 5d, 2y. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Obj)[p] : undefined;
  return cur;
}

function arr(o: unknown, ...path: string[]): Obj[] {
  const v = get(o, ...path);
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function str(o: unknown, ...path: string[]): string {
  const v = get(o, ...path);
  return typeof v === 'string' ? v : '';
}

function age(obj: Obj, nowMs: number): string {
  const created = Date.parse(str(obj, 'metadata', 'creationTimestamp'));
  return Number.isFinite(created) ? humanDuration(nowMs - created) : '<unknown>';
}

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

function nodeStatus(node: Obj): string {
  const ready = arr(node, 'status', 'conditions').find((c) => c.type === 'Ready');
  const base = ready?.status === 'True' ? 'Ready' : ready?.status === 'False' ? 'NotReady' : 'Unknown';
  return get(node, 'spec', 'unschedulable') === true ? `${base},SchedulingDisabled` : base;
}

function nodeRoles(node: Obj): string {
  const labels = (get(node, 'metadata', 'labels') as Record<string, string> | undefined) ?? {};
  const roles = Object.keys(labels).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice('node-role.kubernetes.io/'.length));
  return roles.length ? roles.sort().join(',') : '<none>';
}

function podReady(pod: Obj): string {
  const statuses = arr(pod, 'status', 'containerStatuses');
  const total = arr(pod, 'spec', 'containers').length || statuses.length;
  return `${statuses.filter((c) => c.ready === true).length}/${total}`;
}

function podStatus(pod: Obj): string {
  if (get(pod, 'metadata', 'deletionTimestamp')) return 'Terminating';
  return str(pod, 'status', 'reason') || str(pod, 'status', 'phase') || 'Unknown';
}

function sliceEndpoints(slice: Obj): string {
  const addrs = arr(slice, 'endpoints').flatMap((e) => (e.addresses as string[] | undefined) ?? []);
  if (addrs.length === 0) return '<unset>';
  return addrs.length > 3 ? `${addrs.slice(0, 3).join(',')} + ${addrs.length - 3} more...` : addrs.join(',');
}

export interface Printer {
  columns: Column[];
  cells(o: Obj, nowMs: number): Cell[];
}

const PRINTERS: Record<string, Printer> = {
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
  nodes: {
    columns: [
      NAME,
      { name: 'Status', type: 'string', description: 'The status of the node.' },
      { name: 'Roles', type: 'string', description: 'The roles of the node.' },
      AGE,
      { name: 'Version', type: 'string', description: 'Kubelet version.' },
      { name: 'Internal-IP', type: 'string', priority: 1, description: 'The node internal IP.' },
    ],
    cells: (n, now) => [
      str(n, 'metadata', 'name'), nodeStatus(n), nodeRoles(n), age(n, now), str(n, 'status', 'nodeInfo', 'kubeletVersion'),
      (arr(n, 'status', 'addresses').find((a) => a.type === 'InternalIP')?.address as string | undefined) ?? '<none>',
    ],
  },
  pods: {
    columns: [
      NAME,
      { name: 'Ready', type: 'string', description: 'Ready containers / all containers.' },
      { name: 'Status', type: 'string', description: 'The aggregate status of the pod.' },
      { name: 'Restarts', type: 'integer', description: 'Container restarts.' },
      AGE,
      { name: 'IP', type: 'string', priority: 1, description: 'The pod IP.' },
      { name: 'Node', type: 'string', priority: 1, description: 'The node of the pod.' },
    ],
    cells: (p, now) => [
      str(p, 'metadata', 'name'), podReady(p), podStatus(p),
      arr(p, 'status', 'containerStatuses').reduce((n, c) => n + (typeof c.restartCount === 'number' ? c.restartCount : 0), 0),
      age(p, now), str(p, 'status', 'podIP') || '<none>', str(p, 'spec', 'nodeName') || '<none>',
    ],
  },
  endpointslices: {
    columns: [
      NAME,
      { name: 'AddressType', type: 'string', description: 'The address type.' },
      { name: 'Ports', type: 'string', description: 'The ports.' },
      { name: 'Endpoints', type: 'string', description: 'The endpoint addresses.' },
      AGE,
    ],
    cells: (s, now) => [
      str(s, 'metadata', 'name'), str(s, 'addressType'),
      arr(s, 'ports').map((p) => String(p.port ?? '')).join(',') || '<unset>', sliceEndpoints(s), age(s, now),
    ],
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
  leases: {
    columns: [NAME, { name: 'Holder', type: 'string', description: 'The holder of the lease.' }, AGE],
    cells: (l, now) => [str(l, 'metadata', 'name'), str(l, 'spec', 'holderIdentity'), age(l, now)],
  },
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
