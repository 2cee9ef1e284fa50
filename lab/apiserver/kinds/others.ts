import { isIP } from 'node:net';
import { badRequest, cause, invalid, type Cause, type Obj } from '../status.js';
import type { ResourceDef } from '../resources.js';
import { dns1123Label, dns1123Subdomain, parseMicroTime, parseTime, qualifiedName, validIp } from './common.js';

/** Name rules per kind (Services are checked with the Service rules). */
export function validateName(def: ResourceDef, name: string): Cause[] {
  switch (def.resource) {
    case 'services': return [];
    case 'namespaces': return dns1123Label('metadata.name', name);
    case 'roles': case 'clusterroles': case 'rolebindings': case 'clusterrolebindings':
      return name === '.' || name === '..' || /[/%]/.test(name) || name === '' ? [cause.invalid('metadata.name', name, 'may not contain "/" or "%"')] : [];
    default: return dns1123Subdomain('metadata.name', name);
  }
}

function leaseSpec(spec: Obj | undefined, def: ResourceDef, name: string): void {
  if (!spec) return;
  for (const f of ['acquireTime', 'renewTime']) {
    if (!(f in spec)) continue;
    const t = parseMicroTime('Lease', spec[f]);
    // omitempty: a null time is stored as absent, as the real server returns it
    if (t === null) delete spec[f];
    else spec[f] = t;
  }
  const errs: Cause[] = [];
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds !== null && !(Number.isInteger(spec.leaseDurationSeconds) && spec.leaseDurationSeconds > 0)) {
    errs.push(cause.invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (spec.leaseTransitions !== undefined && spec.leaseTransitions !== null && !(Number.isInteger(spec.leaseTransitions) && spec.leaseTransitions >= 0)) {
    errs.push(cause.invalid('spec.leaseTransitions', spec.leaseTransitions, 'must be greater than or equal to 0'));
  }
  if (errs.length) throw invalid(def.kind, name, def, errs);
}

/** Core Event: parse times; the server fills eventTime/reportingComponent/reportingInstance. */
function coreEvent(ev: Obj): void {
  ev.eventTime = parseMicroTime('Event', ev.eventTime ?? null);
  for (const f of ['firstTimestamp', 'lastTimestamp']) if (f in ev) ev[f] = parseTime('Event', ev[f]);
  if (ev.series?.lastObservedTime) ev.series.lastObservedTime = parseMicroTime('Event', ev.series.lastObservedTime);
  ev.reportingComponent ??= '';
  ev.reportingInstance ??= '';
}

/** events.k8s.io/v1 requires what core/v1 leaves optional (fidelity spec §11), checked on its own shape. */
export function validateEventsV1(wire: Obj, def: ResourceDef): void {
  const errs: Cause[] = [];
  const name = wire.metadata?.name ?? '';
  if (!wire.eventTime) errs.push(cause.required('eventTime'));
  if (!wire.reportingController) errs.push(cause.required('reportingController'));
  else errs.push(...qualifiedName('reportingController', wire.reportingController));
  if (!wire.reportingInstance) errs.push(cause.required('reportingInstance'));
  if (!wire.action) errs.push(cause.required('action'));
  if (!wire.reason) errs.push(cause.required('reason'));
  if (wire.type !== 'Normal' && wire.type !== 'Warning') errs.push(cause.invalid('type', wire.type ?? '', 'has invalid value, must be Normal or Warning'));
  if (errs.length) throw invalid(def.kind, name, def, errs);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function secret(s: Obj, old: Obj | undefined, def: ResourceDef): void {
  const name = s.metadata.name;
  for (const [k, v] of Object.entries(s.data ?? {})) {
    if (typeof v !== 'string' || !BASE64.test(v)) throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0 (key "${k}")`);
  }
  if (s.stringData) {
    s.data = { ...(s.data ?? {}) };
    for (const [k, v] of Object.entries(s.stringData)) s.data[k] = Buffer.from(String(v)).toString('base64');
    delete s.stringData;
  }
  s.type ??= 'Opaque';
  const errs: Cause[] = [];
  if (old && old.type !== s.type) errs.push(cause.invalid('type', s.type, 'field is immutable'));
  if (s.type === 'kubernetes.io/tls') {
    for (const k of ['tls.crt', 'tls.key']) if (!(s.data && k in s.data)) errs.push(cause.required(`data[${k}]`));
  }
  if (old?.immutable === true && (JSON.stringify(old.data) !== JSON.stringify(s.data))) errs.push(cause.forbidden('data', 'field is immutable when `immutable` is set'));
  if (errs.length) throw invalid(def.kind, name, def, errs);
}

function endpointSlice(es: Obj, def: ResourceDef): void {
  const errs: Cause[] = [];
  const t = es.addressType;
  if (!['IPv4', 'IPv6', 'FQDN'].includes(t)) errs.push(t ? cause.notSupported('addressType', t, ['FQDN', 'IPv4', 'IPv6']) : cause.required('addressType'));
  (es.endpoints ?? []).forEach((ep: Obj, i: number) => {
    const addrs = ep.addresses;
    if (!Array.isArray(addrs) || addrs.length === 0) errs.push(cause.required(`endpoints[${i}].addresses`, 'must contain at least 1 address'));
    else if (addrs.length > 100) errs.push(cause.invalid(`endpoints[${i}].addresses`, addrs.length, 'must have at most 100 items'));
    else addrs.forEach((a: unknown, j: number) => {
      const f = `endpoints[${i}].addresses[${j}]`;
      if (t === 'IPv4' && (typeof a !== 'string' || isIP(a) !== 4)) errs.push(cause.invalid(f, a, 'must be a valid IPv4 address'));
      if (t === 'IPv6' && (typeof a !== 'string' || isIP(a) !== 6)) errs.push(cause.invalid(f, a, 'must be a valid IPv6 address'));
    });
  });
  (es.ports ?? []).forEach((p: Obj, i: number) => {
    if (p.port !== undefined && p.port !== null && !(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535)) errs.push(cause.invalid(`ports[${i}].port`, p.port, 'must be between 1 and 65535, inclusive'));
    p.protocol ??= 'TCP';
  });
  if (errs.length) throw invalid(def.kind, es.metadata.name, def, errs);
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

function endpoints(ep: Obj, def: ResourceDef): void {
  const errs: Cause[] = [];
  (ep.subsets ?? []).forEach((s: Obj, i: number) => {
    for (const list of ['addresses', 'notReadyAddresses']) {
      (s[list] ?? []).forEach((a: Obj, j: number) => {
        const f = `subsets[${i}].${list}[${j}].ip`;
        if (!validIp(a.ip)) errs.push(cause.invalid(f, a.ip, 'must be a valid IP address'));
        else if (isLoopback(a.ip)) errs.push(cause.invalid(f, a.ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
      });
    }
    for (const p of s.ports ?? []) p.protocol ??= 'TCP';
  });
  if (errs.length) throw invalid(def.kind, ep.metadata.name, def, errs);
}

function podDefaults(pod: Obj): void {
  const spec = (pod.spec ??= {});
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  for (const c of spec.containers ?? []) for (const p of c.ports ?? []) p.protocol ??= 'TCP';
}

/** Kind-specific work on a create body (already a private copy). Throws 400/422 Status errors. */
export function prepareOtherCreate(def: ResourceDef, o: Obj): void {
  switch (def.storeKey) {
    case 'leases.coordination.k8s.io': leaseSpec(o.spec, def, o.metadata.name); break;
    case 'events': coreEvent(o); break;
    case 'secrets': secret(o, undefined, def); break;
    case 'endpointslices.discovery.k8s.io': endpointSlice(o, def); break;
    case 'endpoints': endpoints(o, def); break;
    case 'pods':
      podDefaults(o);
      o.status = { phase: 'Pending', qosClass: 'BestEffort' };
      break;
    case 'namespaces':
      o.spec = { finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
      break;
    case 'nodes':
      // Nodes may set status on create (the kubelet registers itself with it).
      o.status ??= {};
      prepareOtherStatus(def, o);
      o.status.daemonEndpoints ??= { kubeletEndpoint: { Port: 10250 } };
      o.spec ??= {};
      break;
    case 'deployments.apps': case 'daemonsets.apps':
      o.status = {};
      break;
  }
}

/** Kind-specific work on an update through the main resource. */
export function prepareOtherUpdate(def: ResourceDef, o: Obj, old: Obj): void {
  switch (def.storeKey) {
    case 'leases.coordination.k8s.io': leaseSpec(o.spec, def, o.metadata.name); break;
    case 'events': coreEvent(o); break;
    case 'secrets': secret(o, old, def); break;
    case 'endpointslices.discovery.k8s.io': endpointSlice(o, def); break;
    case 'endpoints': endpoints(o, def); break;
    case 'namespaces':
      o.spec = old.spec;
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
      break;
    case 'pods': for (const c of o.spec?.containers ?? []) for (const p of c.ports ?? []) p.protocol ??= 'TCP'; break;
    case 'configmaps':
      if (old.immutable === true && (JSON.stringify(old.data) !== JSON.stringify(o.data) || JSON.stringify(old.binaryData) !== JSON.stringify(o.binaryData))) {
        throw invalid(def.kind, o.metadata.name, def, [cause.forbidden('data', 'field is immutable when `immutable` is set')]);
      }
      break;
  }
}

/** Node conditions' times are metav1.Time; a kubelet heartbeat writes them through /status. */
export function prepareOtherStatus(def: ResourceDef, o: Obj): void {
  if (def.storeKey === 'nodes') {
    for (const c of o.status?.conditions ?? []) {
      for (const f of ['lastHeartbeatTime', 'lastTransitionTime']) if (c[f]) c[f] = parseTime('Node', c[f]);
    }
  }
}

