import { GROUP_VERSIONS, RESOURCES, RESOURCE_VERBS, type ResourceDef } from './resources.js';
import type { Obj } from './status.js';

/** `GET /version`: a v1.31 server (fidelity spec §2). */
export function versionInfo(): Obj {
  return {
    major: '1',
    minor: '31',
    gitVersion: 'v1.31.0',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2024-08-13T00:00:00Z',
    goVersion: 'go1.22.5',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function apiVersions(serverAddress: string): Obj {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

/** kube's version priority: GA before beta before alpha, higher numbers first; anything else last, by name. */
function versionRank(v: string): [number, number, number, string] {
  const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
  if (!m) return [3, 0, 0, v];
  return [m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2, -Number(m[1]), -Number(m[3] ?? 0), v];
}

function byVersionPriority(a: string, b: string): number {
  const x = versionRank(a);
  const y = versionRank(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return x[3].localeCompare(y[3]);
}

/** The built-in groups, then the groups of custom resources (`custom`), as the aggregator lists CRD groups after the built-in ones. */
export function apiGroupList(custom: readonly ResourceDef[] = []): Obj {
  const byGroup = new Map<string, string[]>();
  for (const gv of GROUP_VERSIONS) byGroup.set(gv.group, [...(byGroup.get(gv.group) ?? []), gv.version]);
  const customGroups = new Map<string, Set<string>>();
  for (const d of custom) customGroups.set(d.group, (customGroups.get(d.group) ?? new Set()).add(d.version));
  for (const [g, vs] of [...customGroups].sort(([a], [b]) => a.localeCompare(b))) {
    if (!byGroup.has(g)) byGroup.set(g, [...vs].sort(byVersionPriority));
  }
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...byGroup.entries()].map(([name, versions]) => {
      const vs = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: vs, preferredVersion: vs[0] };
    }),
  };
}

export function apiGroup(group: string, custom: readonly ResourceDef[] = []): Obj | undefined {
  const g = (apiGroupList(custom).groups as Obj[]).find((x) => x.name === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...g } : undefined;
}

/** `GET /api/v1` or `/apis/G/V`; undefined when that group-version is not served. */
export function apiResourceList(apiVersion: string, custom: readonly ResourceDef[] = []): Obj | undefined {
  const defs = [...RESOURCES, ...custom].filter((r) => r.apiVersion === apiVersion);
  if (defs.length === 0) return undefined;
  const resources: Obj[] = [];
  for (const d of defs) {
    const entry: Obj = { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: [...(d.verbs ?? RESOURCE_VERBS)] };
    if (d.shortNames.length) entry.shortNames = [...d.shortNames];
    if (d.resource === 'services' || d.resource === 'pods' || d.resource === 'deployments' || d.resource === 'daemonsets') entry.categories = ['all'];
    if (d.categories?.length) entry.categories = [...d.categories];
    resources.push(entry);
    if (d.statusSubresource) resources.push({ name: `${d.resource}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
  }
  return apiVersion === 'v1' ? { kind: 'APIResourceList', groupVersion: apiVersion, resources } : { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersion, resources };
}
