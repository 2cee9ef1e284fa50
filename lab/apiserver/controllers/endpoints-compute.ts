import { isIP } from 'node:net';
import type { Obj } from '../status.js';

export interface DesiredSlice {
  readonly addressType: 'IPv4' | 'IPv6';
  readonly endpoints: Obj[];
  readonly ports: Obj[];
}

export interface DesiredEndpoints {
  readonly slices: readonly DesiredSlice[];
  /** core/v1 Endpoints subsets (primary family only, as the Endpoints controller does). */
  readonly subsets: Obj[];
}

function podReady(pod: Obj): boolean {
  return (pod.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
}

function podIps(pod: Obj): string[] {
  const ips: string[] = (pod.status?.podIPs ?? []).map((p: Obj) => p.ip).filter(Boolean);
  if (ips.length === 0 && pod.status?.podIP) ips.push(pod.status.podIP);
  return ips;
}

/** A Service port's targetPort for one Pod: numbers as they are, names looked up in the Pod's container ports. */
function resolvePort(svcPort: Obj, pod: Obj): number | undefined {
  const t = svcPort.targetPort ?? svcPort.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(String(t))) return Number(t);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === t && (p.protocol ?? 'TCP') === (svcPort.protocol ?? 'TCP')) return p.containerPort;
  }
  return undefined;
}

/**
 * Pure: the slices and Endpoints subsets a Service should have given the Pods its selector
 * matches. Pods without an IP or finished (Succeeded/Failed) are left out; terminating Pods stay
 * in slices (ready false, serving from the Ready condition, terminating true) and leave Endpoints.
 */
export function computeServiceEndpoints(svc: Obj, pods: readonly Obj[]): DesiredEndpoints {
  const families: string[] = svc.spec.ipFamilies ?? ['IPv4'];
  const svcPorts: Obj[] = svc.spec.ports ?? [];
  type Group = { ports: Obj[]; endpoints: Obj[] };
  const groups = new Map<string, Group>(); // key: family|ports
  const subsetGroups = new Map<string, { ports: Obj[]; addresses: Obj[]; notReadyAddresses: Obj[] }>();
  const sorted = [...pods].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  for (const pod of sorted) {
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const ips = podIps(pod);
    if (ips.length === 0) continue;
    const ports = svcPorts.map((sp) => ({ name: sp.name ?? '', port: resolvePort(sp, pod), protocol: sp.protocol ?? 'TCP' })).filter((p) => p.port !== undefined);
    const portsKey = JSON.stringify(ports);
    const ready = podReady(pod);
    const terminating = !!pod.metadata.deletionTimestamp;
    const targetRef = { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
    for (const fam of families) {
      const ip = ips.find((a) => isIP(a) === (fam === 'IPv6' ? 6 : 4));
      if (!ip) continue;
      const key = `${fam}|${portsKey}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { ports, endpoints: [] }));
      const ep: Obj = { addresses: [ip], conditions: { ready: ready && !terminating, serving: ready, terminating }, targetRef };
      if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
      g.endpoints.push(ep);
      if (fam === families[0] && !terminating) {
        let s = subsetGroups.get(portsKey);
        if (!s) subsetGroups.set(portsKey, (s = { ports, addresses: [], notReadyAddresses: [] }));
        const addr: Obj = { ip, targetRef };
        if (pod.spec?.nodeName) addr.nodeName = pod.spec.nodeName;
        (ready ? s.addresses : s.notReadyAddresses).push(addr);
      }
    }
  }
  const slices: DesiredSlice[] = [];
  for (const fam of families) {
    const mine = [...groups.entries()].filter(([k]) => k.startsWith(`${fam}|`)).map(([, g]) => g);
    if (mine.length === 0) {
      slices.push({ addressType: fam as 'IPv4' | 'IPv6', endpoints: [], ports: [] });
      continue;
    }
    // at most 100 endpoints per slice, as the real controller's default
    for (const g of mine) {
      for (let i = 0; i < g.endpoints.length; i += 100) slices.push({ addressType: fam as 'IPv4' | 'IPv6', endpoints: g.endpoints.slice(i, i + 100), ports: g.ports.map((p) => ({ ...p })) });
    }
  }
  const subsets: Obj[] = [];
  for (const s of subsetGroups.values()) {
    const subset: Obj = {};
    if (s.addresses.length) subset.addresses = s.addresses;
    if (s.notReadyAddresses.length) subset.notReadyAddresses = s.notReadyAddresses;
    subset.ports = s.ports.map((p) => (p.name ? p : { port: p.port, protocol: p.protocol }));
    subsets.push(subset);
  }
  return { slices, subsets };
}
