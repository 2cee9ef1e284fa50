import { isIP } from 'node:net';
import { ApiStatusError, cause, invalid, type Cause, type Obj } from '../status.js';
import type { ResourceDef } from '../resources.js';
import { deepEqual } from '../patch.js';
import { dns1123Label, dns1123Subdomain, qualifiedName, validCidr, validIp } from './common.js';
import type { IpRange, PortRange } from './service-ranges.js';

/** The cluster's service network: one range per family (IPv6 absent = single-stack) and the node-port range. */
export interface ServiceNetwork {
  readonly v4: IpRange;
  readonly v6: IpRange | undefined;
  readonly nodePorts: PortRange;
}

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
const POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack']; // sorted, as kube-apiserver lists them
const FAMILY_OF: Record<string, 4 | 6> = { IPv4: 4, IPv6: 6 };

const isExternal = (spec: Obj): boolean => spec.type === 'NodePort' || spec.type === 'LoadBalancer';
const needsNodePorts = (spec: Obj): boolean => spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
const needsHealthCheck = (spec: Obj): boolean => spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
const isHeadless = (spec: Obj): boolean => spec.clusterIP === 'None';

function rangeFor(net: ServiceNetwork, family: string): IpRange | undefined {
  return family === 'IPv4' ? net.v4 : family === 'IPv6' ? net.v6 : undefined;
}

function internalError(message: string): ApiStatusError {
  return new ApiStatusError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
}

/** Copies what the server allocated when an update leaves it out (kube's patchAllocatedValues). */
function patchAllocatedValues(spec: Obj, old: Obj): void {
  if (spec.type !== 'ExternalName' && old.type !== 'ExternalName') {
    if (!spec.clusterIP && old.clusterIP) spec.clusterIP = old.clusterIP;
    if ((!spec.clusterIPs || spec.clusterIPs.length === 0) && spec.clusterIP === old.clusterIP && old.clusterIPs) spec.clusterIPs = [...old.clusterIPs];
    if (!spec.ipFamilies && old.ipFamilies) spec.ipFamilies = [...old.ipFamilies];
    if (!spec.ipFamilyPolicy && old.ipFamilyPolicy) spec.ipFamilyPolicy = old.ipFamilyPolicy;
  }
  if (needsNodePorts(old) && needsNodePorts(spec)) {
    const inNew = new Set((spec.ports ?? []).map((p: Obj) => p.nodePort).filter(Boolean));
    const used = new Set((old.ports ?? []).map((p: Obj) => p.nodePort).filter((n: number) => inNew.has(n)));
    const byName = new Map<string, number>((old.ports ?? []).map((p: Obj) => [p.name ?? '', p.nodePort]));
    for (const p of spec.ports ?? []) {
      if (!p.nodePort) {
        const v = byName.get(p.name ?? '');
        if (v && !used.has(v)) p.nodePort = v;
      }
    }
  }
  if (needsHealthCheck(old) && needsHealthCheck(spec) && !spec.healthCheckNodePort) spec.healthCheckNodePort = old.healthCheckNodePort;
}

/** Defaults applied at decode time, before validation. */
function applyDefaults(spec: Obj): void {
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None'; // ExternalName Services get it too
  if (spec.type === 'ExternalName') return;
  spec.internalTrafficPolicy ??= 'Cluster';
  for (const p of spec.ports ?? []) {
    if (typeof p !== 'object' || p === null) continue;
    p.protocol ??= 'TCP';
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (isExternal(spec)) spec.externalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
}

/** Drops what belongs to the old type when an update changes it (kube's dropTypeDependentFields). */
function dropTypeDependentFields(spec: Obj, old: Obj, status: Obj): void {
  if (isExternal(old) && !isExternal(spec)) {
    for (const p of spec.ports ?? []) delete p.nodePort;
    delete spec.externalTrafficPolicy;
    delete spec.healthCheckNodePort;
  }
  if (old.type === 'LoadBalancer' && spec.type !== 'LoadBalancer') {
    delete spec.allocateLoadBalancerNodePorts;
    delete spec.loadBalancerClass;
    status.loadBalancer = {};
  }
  if (needsHealthCheck(old) && !needsHealthCheck(spec)) delete spec.healthCheckNodePort;
}

function validateIpFamilies(spec: Obj, old: Obj | undefined, net: ServiceNetwork, errs: Cause[]): void {
  if (spec.type === 'ExternalName') {
    delete spec.ipFamilies;
    delete spec.ipFamilyPolicy;
    return;
  }
  const ips: string[] = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((ip: string) => ip !== 'None' && ip !== '');
  if (spec.ipFamilyPolicy === undefined) {
    // A headless Service without a selector gets every family the cluster has (kube's initIPFamilyFields).
    const headlessWithoutSelector = isHeadless(spec) && Object.keys(spec.selector ?? {}).length === 0 && net.v6 !== undefined;
    spec.ipFamilyPolicy = headlessWithoutSelector || (spec.ipFamilies?.length ?? 0) === 2 || ips.length === 2 ? 'RequireDualStack' : 'SingleStack';
  }
  if (!POLICIES.includes(spec.ipFamilyPolicy)) {
    errs.push(cause.notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, POLICIES));
    return;
  }
  let families: string[] = Array.isArray(spec.ipFamilies) ? [...spec.ipFamilies] : [];
  families.forEach((f, i) => {
    if (!(f in FAMILY_OF)) errs.push(cause.notSupported(`spec.ipFamilies[${i}]`, f, ['IPv4', 'IPv6']));
  });
  if (new Set(families).size !== families.length) errs.push(cause.duplicate('spec.ipFamilies[1]', families[1]));
  if (families.length === 0) families = ips.length > 0 ? ips.map((ip) => (isIP(ip) === 6 ? 'IPv6' : 'IPv4')) : ['IPv4'];
  if (spec.ipFamilyPolicy !== 'SingleStack' && families.length === 1 && net.v6) families.push(families[0] === 'IPv4' ? 'IPv6' : 'IPv4');
  if (spec.ipFamilyPolicy === 'SingleStack' && families.length > 1) {
    errs.push(cause.invalid('spec.ipFamilies', families, 'when spec.ipFamilyPolicy is SingleStack, only one ipFamily may be specified'));
  }
  if (spec.ipFamilyPolicy === 'RequireDualStack' && families.length < 2) {
    errs.push(cause.invalid('spec.ipFamilyPolicy', 'RequireDualStack', 'this cluster is not configured for dual-stack services'));
  }
  if (families.some((f) => f === 'IPv6') && !net.v6) errs.push(cause.invalid('spec.ipFamilies', families, 'not configured on this cluster'));
  if (old?.ipFamilies?.[0] && families[0] !== old.ipFamilies[0] && old.type !== 'ExternalName') {
    errs.push(cause.invalid('spec.ipFamilies[0]', families[0], 'may not change once set'));
  }
  spec.ipFamilies = families;
}

function validatePorts(spec: Obj, errs: Cause[]): void {
  const ports = spec.ports;
  if (ports !== undefined && !Array.isArray(ports)) {
    errs.push(cause.invalid('spec.ports', ports, 'must be a list'));
    return;
  }
  if ((!ports || ports.length === 0) && spec.type !== 'ExternalName' && !isHeadless(spec)) {
    errs.push(cause.required('spec.ports'));
    return;
  }
  const names = new Set<string>();
  const keys = new Set<string>();
  (ports ?? []).forEach((p: Obj, i: number) => {
    const f = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) errs.push(cause.required(`${f}.name`));
    if (p.name) {
      if (names.has(p.name)) errs.push(cause.duplicate(`${f}.name`, p.name));
      names.add(p.name);
    }
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) errs.push(cause.invalid(`${f}.port`, p.port, 'must be between 1 and 65535, inclusive'));
    if (!PROTOCOLS.includes(p.protocol)) errs.push(cause.notSupported(`${f}.protocol`, p.protocol, PROTOCOLS));
    const key = `${p.port}/${p.protocol}`;
    if (keys.has(key)) errs.push(cause.duplicate(f, { port: p.port, protocol: p.protocol }));
    keys.add(key);
    if (p.nodePort !== undefined && p.nodePort !== 0 && !isExternal(spec)) errs.push(cause.forbidden(`${f}.nodePort`, `may not be used when \`type\` is '${spec.type}'`));
    if (typeof p.targetPort === 'number' && (p.targetPort < 1 || p.targetPort > 65535)) errs.push(cause.invalid(`${f}.targetPort`, p.targetPort, 'must be between 1 and 65535, inclusive'));
  });
}

function validateExternalFields(spec: Obj, old: Obj | undefined, errs: Cause[]): void {
  const etp = spec.externalTrafficPolicy;
  if (isExternal(spec)) {
    if (!['Cluster', 'Local'].includes(etp)) errs.push(cause.notSupported('spec.externalTrafficPolicy', etp, ['Cluster', 'Local']));
  } else if (etp !== undefined && etp !== '') {
    errs.push(cause.invalid('spec.externalTrafficPolicy', etp, 'may only be set for externally-accessible services'));
  }
  if (spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort !== 0 && !needsHealthCheck(spec)) {
    errs.push(cause.invalid('spec.healthCheckNodePort', spec.healthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.type !== 'LoadBalancer') {
    errs.push(cause.forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  const cls = spec.loadBalancerClass;
  if (cls !== undefined && cls !== null) {
    if (spec.type !== 'LoadBalancer') errs.push(cause.forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'"));
    else errs.push(...qualifiedName('spec.loadBalancerClass', String(cls)));
  }
  if (old && old.type === 'LoadBalancer' && spec.type === 'LoadBalancer' && (old.loadBalancerClass ?? null) !== (cls ?? null)) {
    errs.push(cause.invalid('spec.loadBalancerClass', cls ?? null, 'may not change once set'));
  }
  (spec.loadBalancerSourceRanges ?? []).forEach((r: unknown, i: number) => {
    if (!validCidr(r)) errs.push(cause.invalid(`spec.loadBalancerSourceRanges[${i}]`, r, 'must be a valid CIDR (e.g. 10.0.0.0/8 or 2001:db8::/64)'));
  });
  if (spec.loadBalancerSourceRanges !== undefined && spec.type !== 'LoadBalancer') {
    errs.push(cause.forbidden('spec.loadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (spec.type === 'ExternalName' && !spec.externalName) errs.push(cause.required('spec.externalName'));
  if (isHeadless(spec) && isExternal(spec)) errs.push(cause.invalid('spec.clusterIPs[0]', ['None'], `may not be set to 'None' for ${spec.type} services`));
}

/** Checks the addresses a write asks for against the ranges, before anything is taken. */
function validateClusterIps(spec: Obj, old: Obj | undefined, net: ServiceNetwork, errs: Cause[]): void {
  if (spec.type === 'ExternalName') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
    return;
  }
  if (spec.clusterIP && spec.clusterIPs && spec.clusterIPs[0] !== spec.clusterIP) {
    errs.push(cause.invalid('spec.clusterIPs', spec.clusterIPs, 'element [0] must match clusterIP'));
    return;
  }
  const oldIps: string[] = old && old.type !== 'ExternalName' ? old.clusterIPs ?? [] : [];
  const wanted: string[] = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
  if (oldIps.length > 0 && wanted[0] !== undefined && wanted[0] !== oldIps[0]) {
    errs.push(cause.invalid('spec.clusterIPs[0]', wanted, 'may not change once set'));
    return;
  }
  if (isHeadless(spec)) return;
  wanted.forEach((ip, i) => {
    if (oldIps[i] === ip) return;
    const fam = spec.ipFamilies?.[i];
    const range = fam ? rangeFor(net, fam) : undefined;
    if (!validIp(ip)) errs.push(cause.invalid(`spec.clusterIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
    else if (!range || !range.contains(ip)) errs.push(cause.invalid(`spec.clusterIPs`, wanted, `failed to allocate IP ${ip}: provided IP is not in the valid range. The range of valid IPs is ${range?.cidr ?? 'not configured'}`));
    else if (range.isUsed(ip)) errs.push(cause.invalid(`spec.clusterIPs`, wanted, `failed to allocate IP ${ip}: provided IP is already allocated`));
  });
}

function validateNodePorts(spec: Obj, old: Obj | undefined, net: ServiceNetwork, errs: Cause[]): void {
  const mine = new Set<number>(old ? allocatedPorts(old) : []);
  const seen = new Set<number>();
  (spec.ports ?? []).forEach((p: Obj, i: number) => {
    if (!p.nodePort) return;
    const f = `spec.ports[${i}].nodePort`;
    if (!net.nodePorts.inRange(p.nodePort)) errs.push(cause.invalid(f, p.nodePort, `provided port is not in the valid range. The range of valid ports is ${net.nodePorts.min}-${net.nodePorts.max}`));
    else if ((net.nodePorts.isUsed(p.nodePort) && !mine.has(p.nodePort)) || (seen.has(p.nodePort) && p.protocol === 'TCP')) errs.push(cause.invalid(f, p.nodePort, 'provided port is already allocated'));
    seen.add(p.nodePort);
  });
  const hc = spec.healthCheckNodePort;
  if (hc && needsHealthCheck(spec)) {
    if (!net.nodePorts.inRange(hc)) errs.push(cause.invalid('spec.healthCheckNodePort', hc, `provided port is not in the valid range. The range of valid ports is ${net.nodePorts.min}-${net.nodePorts.max}`));
    else if ((net.nodePorts.isUsed(hc) && !mine.has(hc)) || seen.has(hc)) errs.push(cause.invalid('spec.healthCheckNodePort', hc, 'provided port is already allocated'));
  }
}

/** Every node port a stored Service holds (ports and health check). */
function allocatedPorts(spec: Obj): number[] {
  const out: number[] = [];
  for (const p of spec.ports ?? []) if (p.nodePort) out.push(p.nodePort);
  if (spec.healthCheckNodePort) out.push(spec.healthCheckNodePort);
  return out;
}

function allocatedIps(spec: Obj): string[] {
  return (spec.clusterIPs ?? []).filter((ip: string) => ip && ip !== 'None');
}

/** Takes what the validated spec asks for and fills the rest in; releases what the old spec held and the new does not. */
function allocate(spec: Obj, old: Obj | undefined, net: ServiceNetwork): void {
  const taken: (() => void)[] = [];
  try {
    if (spec.type !== 'ExternalName' && !isHeadless(spec)) {
      const oldIps = old && old.type !== 'ExternalName' ? old.clusterIPs ?? [] : [];
      const given: string[] = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
      const ips: string[] = [];
      (spec.ipFamilies as string[]).forEach((fam, i) => {
        const range = rangeFor(net, fam)!;
        const want = given[i];
        if (want && oldIps[i] === want) ips.push(want);
        else if (want) {
          range.take(want);
          taken.push(() => range.release(want));
          ips.push(want);
        } else {
          const ip = range.allocate();
          if (ip === undefined) throw internalError(`failed to allocate a serviceIP: range is full (the emulator's ${fam} service range is ${range.cidr})`);
          taken.push(() => range.release(ip));
          ips.push(ip);
        }
      });
      spec.clusterIP = ips[0];
      spec.clusterIPs = ips;
    } else if (isHeadless(spec)) spec.clusterIPs = ['None'];
    const mine = new Set<number>(old ? allocatedPorts(old) : []);
    const takePort = (p: number): void => {
      if (mine.has(p)) return;
      net.nodePorts.take(p);
      taken.push(() => net.nodePorts.release(p));
    };
    const newPort = (): number => {
      const p = net.nodePorts.allocate();
      if (p === undefined) throw internalError('failed to allocate a nodePort: range is full');
      taken.push(() => net.nodePorts.release(p));
      return p;
    };
    for (const p of spec.ports ?? []) {
      if (p.nodePort) takePort(p.nodePort);
      else if (needsNodePorts(spec)) p.nodePort = newPort();
    }
    if (needsHealthCheck(spec)) {
      if (spec.healthCheckNodePort) takePort(spec.healthCheckNodePort);
      else spec.healthCheckNodePort = newPort();
    }
  } catch (err) {
    for (const undo of taken) undo();
    throw err;
  }
  if (old) releaseUnused(old, spec, net);
}

function releaseUnused(old: Obj, spec: Obj | undefined, net: ServiceNetwork): void {
  const keepPorts = new Set(spec ? allocatedPorts(spec) : []);
  for (const p of allocatedPorts(old)) if (!keepPorts.has(p)) net.nodePorts.release(p);
  const keepIps = new Set(spec ? allocatedIps(spec) : []);
  for (const ip of allocatedIps(old)) if (!keepIps.has(ip)) (isIP(ip) === 6 ? net.v6 : net.v4)?.release(ip);
}

/**
 * Defaults, validates and allocates a Service being created (`old` undefined) or updated
 * through the main resource. Mutates `svc` (a fresh copy); throws 422/500 Status errors, in
 * which case nothing stays allocated.
 */
export function prepareService(svc: Obj, old: Obj | undefined, net: ServiceNetwork, def: ResourceDef): void {
  const spec: Obj = (svc.spec ??= {});
  applyDefaults(spec);
  if (old) {
    patchAllocatedValues(spec, old.spec);
    dropTypeDependentFields(spec, old.spec, (svc.status ??= {}));
  }
  const errs: Cause[] = [];
  // RFC 1123 label since RelaxedServiceNameValidation (GA by v1.37; v1.31 wanted a DNS-1035 label).
  if (!old) errs.push(...dns1123Label('metadata.name', svc.metadata.name));
  if (!TYPES.includes(spec.type)) errs.push(cause.notSupported('spec.type', spec.type, TYPES));
  validatePorts(spec, errs);
  validateExternalFields(spec, old?.spec, errs);
  validateIpFamilies(spec, old?.spec, net, errs);
  if (errs.length === 0) validateClusterIps(spec, old?.spec, net, errs);
  if (errs.length === 0) validateNodePorts(spec, old?.spec, net, errs);
  if (spec.externalName) errs.push(...dns1123Subdomain('spec.externalName', spec.externalName));
  if (errs.length > 0) throw invalid(def.kind, svc.metadata.name, def, errs);
  allocate(spec, old?.spec, net);
  if (!old) svc.status = { loadBalancer: {} };
}

/** Frees everything a deleted Service held. */
export function releaseService(svc: Obj, net: ServiceNetwork): void {
  releaseUnused(svc.spec ?? {}, undefined, net);
}

/**
 * Validates a `/status` write as kube's ValidateLoadBalancerStatus: ingress only on a LoadBalancer
 * Service, IPs, hostnames and `ipMode` (filled with VIP where an ingress has an IP but no mode).
 * Ingress ports are not validated: a missing port or protocol is stored as Go's zero value.
 */
export function prepareServiceStatus(svc: Obj, def: ResourceDef): void {
  const errs: Cause[] = [];
  const lb = (svc.status ??= {}).loadBalancer ?? (svc.status.loadBalancer = {});
  const ingress: Obj[] = lb.ingress ?? [];
  if (ingress.length > 0 && svc.spec?.type !== 'LoadBalancer') {
    errs.push(cause.forbidden('status.loadBalancer.ingress', "may only be used when `spec.type` is 'LoadBalancer'"));
  }
  if (errs.length === 0) ingress.forEach((ing: Obj, i: number) => {
    const f = `status.loadBalancer.ingress[${i}]`;
    if (ing.ip !== undefined && ing.ip !== '' && !validIp(ing.ip)) errs.push(cause.invalid(`${f}.ip`, ing.ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
    if (ing.hostname !== undefined && ing.hostname !== '') {
      if (validIp(ing.hostname)) errs.push(cause.invalid(`${f}.hostname`, ing.hostname, 'must be a DNS name, not an IP address'));
      else errs.push(...dns1123Subdomain(`${f}.hostname`, ing.hostname));
    }
    if (ing.ipMode !== undefined && ing.ipMode !== null) {
      if (!ing.ip) errs.push(cause.forbidden(`${f}.ipMode`, 'may not be specified when `ip` is not set'));
      else if (!['VIP', 'Proxy'].includes(ing.ipMode)) errs.push(cause.notSupported(`${f}.ipMode`, ing.ipMode, ['Proxy', 'VIP']));
    } else if (ing.ip) ing.ipMode = 'VIP';
    for (const p of ing.ports ?? []) {
      if (typeof p !== 'object' || p === null) continue;
      p.port ??= 0;
      p.protocol ??= '';
    }
  });
  if (errs.length > 0) throw invalid(def.kind, svc.metadata.name, def, errs);
}

/** True when the spec asks for nothing new, so callers can skip allocation work. */
export function sameServiceSpec(a: Obj, b: Obj): boolean {
  return deepEqual(a.spec, b.spec);
}
