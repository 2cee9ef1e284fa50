import { GROUP_VERSIONS, RESOURCES, RESOURCE_VERBS } from './resources.js';
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

export function apiGroupList(): Obj {
  const byGroup = new Map<string, string[]>();
  for (const gv of GROUP_VERSIONS) byGroup.set(gv.group, [...(byGroup.get(gv.group) ?? []), gv.version]);
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...byGroup.entries()].map(([name, versions]) => {
      const vs = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: vs, preferredVersion: vs[0] };
    }),
  };
}

export function apiGroup(group: string): Obj | undefined {
  const g = (apiGroupList().groups as Obj[]).find((x) => x.name === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...g } : undefined;
}

/** `GET /api/v1` or `/apis/G/V`; undefined when that group-version is not served. */
export function apiResourceList(apiVersion: string): Obj | undefined {
  const defs = RESOURCES.filter((r) => r.apiVersion === apiVersion);
  if (defs.length === 0) return undefined;
  const resources: Obj[] = [];
  for (const d of defs) {
    const entry: Obj = { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: [...RESOURCE_VERBS] };
    if (d.shortNames.length) entry.shortNames = [...d.shortNames];
    if (d.resource === 'services' || d.resource === 'pods' || d.resource === 'deployments' || d.resource === 'daemonsets') entry.categories = ['all'];
    resources.push(entry);
    if (d.statusSubresource) resources.push({ name: `${d.resource}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
  }
  return apiVersion === 'v1' ? { kind: 'APIResourceList', groupVersion: apiVersion, resources } : { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersion, resources };
}
