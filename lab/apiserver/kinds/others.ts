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

function leaseSpec(spec: Obj, def: ResourceDef, name: string): void {
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

/**
 * A core-shaped Event (both API shapes are stored as core/v1): parse the times, fill what the
 * server serialises for an absent field (Go zero values: null times, an empty source, empty
 * reporting strings), then validate as kube's ValidateEventCreate/Update.
 */
function coreEvent(ev: Obj, def: ResourceDef, creating: boolean): void {
  ev.eventTime = parseMicroTime('Event', ev.eventTime ?? null);
  for (const f of ['firstTimestamp', 'lastTimestamp']) ev[f] = parseTime('Event', ev[f] ?? null);
  if (ev.series?.lastObservedTime) ev.series.lastObservedTime = parseMicroTime('Event', ev.series.lastObservedTime);
  ev.reportingComponent ??= '';
  ev.reportingInstance ??= '';
  ev.source ??= {};
  const errs = legacyEventErrors(ev, def);
  // events.k8s.io/v1 adds strict checks on create (its update checks immutability, not emulated).
  if (def.group === 'events.k8s.io' && creating) {
    if (!ev.eventTime) errs.push(cause.required('eventTime'));
    if (ev.type !== 'Normal' && ev.type !== 'Warning') errs.push(cause.invalid('type', '', `has invalid value: ${ev.type ?? ''}`));
  }
  if (errs.length) throw invalid(def.kind, ev.metadata.name, def, errs);
}

// kube's event validation limits
const REPORTING_INSTANCE_MAX = 128;
const ACTION_MAX = 128;
const REASON_MAX = 128;
const NOTE_MAX = 1024;

/** kube's legacyValidateEvent: every Event, whichever API wrote it. */
function legacyEventErrors(ev: Obj, def: ResourceDef): Cause[] {
  const errs: Cause[] = [];
  const ns: string = ev.metadata.namespace ?? '';
  const involvedNs: string = ev.involvedObject?.namespace ?? '';
  if (!ev.eventTime) {
    // an "old" Event: its namespace and the involved object's must agree
    const ok = involvedNs === '' ? ns === '' || ns === 'default' : ns === involvedNs;
    if (!ok) errs.push(cause.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
    return errs;
  }
  const controllerField = def.group === 'events.k8s.io' ? 'reportingController' : 'reportingComponent';
  if (involvedNs === '' && ns !== 'default' && ns !== 'kube-system') errs.push(cause.invalid('involvedObject.namespace', involvedNs, 'does not match event.namespace'));
  if (!ev.reportingComponent) errs.push(cause.required(controllerField));
  errs.push(...qualifiedName(controllerField, ev.reportingComponent ?? ''));
  if (!ev.reportingInstance) errs.push(cause.required('reportingInstance'));
  if (String(ev.reportingInstance ?? '').length > REPORTING_INSTANCE_MAX) errs.push(cause.invalid('reportingInstance', '', `can have at most ${REPORTING_INSTANCE_MAX} characters`));
  if (!ev.action) errs.push(cause.required('action'));
  if (String(ev.action ?? '').length > ACTION_MAX) errs.push(cause.invalid('action', '', `can have at most ${ACTION_MAX} characters`));
  if (!ev.reason) errs.push(cause.required('reason'));
  if (String(ev.reason ?? '').length > REASON_MAX) errs.push(cause.invalid('reason', '', `can have at most ${REASON_MAX} characters`));
  if (String(ev.message ?? '').length > NOTE_MAX) errs.push(cause.invalid('message', '', `can have at most ${NOTE_MAX} characters`));
  return errs;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function secret(s: Obj, old: Obj | undefined, def: ResourceDef): void {
  const name = s.metadata.name;
  for (const v of Object.values(s.data ?? {})) {
    if (typeof v !== 'string' || !BASE64.test(v)) throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte ${firstBadBase64Byte(v)}`);
  }
  if (s.stringData) {
    s.data = { ...(s.data ?? {}) };
    for (const [k, v] of Object.entries(s.stringData)) s.data[k] = Buffer.from(String(v)).toString('base64');
    delete s.stringData;
  }
  s.type ??= 'Opaque';
  if (s.data !== undefined && Object.keys(s.data).length === 0) delete s.data; // omitempty
  const errs: Cause[] = [];
  if (old && old.type !== s.type) errs.push(cause.invalid('type', s.type, 'field is immutable'));
  if (s.type === 'kubernetes.io/tls') {
    for (const k of ['tls.crt', 'tls.key']) if (!(s.data && k in s.data)) errs.push(cause.required(`data[${k}]`));
  }
  if (old?.immutable === true && (JSON.stringify(old.data) !== JSON.stringify(s.data))) errs.push(cause.forbidden('data', 'field is immutable when `immutable` is set'));
  if (errs.length) throw invalid(def.kind, name, def, errs);
}

/** The byte Go's base64 decoder stops at (it reports the first character outside the alphabet or padding). */
function firstBadBase64Byte(v: unknown): number {
  if (typeof v !== 'string') return 0;
  const i = v.search(/[^A-Za-z0-9+/=]/);
  return i >= 0 ? i : Math.max(0, v.length - (v.length % 4 || 4));
}

/** kube's ValidateNonSpecialIP: no unspecified, loopback, link-local or link-local multicast address. */
function specialIpReason(ip: string): string | undefined {
  if (ip === '0.0.0.0' || ip === '::') return 'may not be unspecified (0.0.0.0, ::)';
  if (isLoopback(ip)) return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
  const lower = ip.toLowerCase();
  if (ip.startsWith('169.254.') || /^fe[89ab][0-9a-f]:/.test(lower)) return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
  if (ip.startsWith('224.0.0.') || lower.startsWith('ff02:')) return 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)';
  return undefined;
}

function endpointSlice(es: Obj, def: ResourceDef): void {
  const errs: Cause[] = [];
  const t = es.addressType;
  if (!['IPv4', 'IPv6', 'FQDN'].includes(t)) errs.push(t ? cause.notSupported('addressType', t, ['FQDN', 'IPv4', 'IPv6']) : cause.required('addressType'));
  (es.endpoints ?? []).forEach((ep: Obj, i: number) => {
    const addrs = ep.addresses;
    const f = `endpoints[${i}].addresses`;
    if (!Array.isArray(addrs) || addrs.length === 0) errs.push(cause.required(f));
    else if (addrs.length > 100) errs.push(cause.invalid(f, addrs.length, 'must have at most 100 items'));
    else addrs.forEach((a: unknown, j: number) => {
      const family = t === 'IPv4' ? 4 : t === 'IPv6' ? 6 : 0;
      if (family === 0) return;
      // a wrong family is reported on the list, a special address on the item (as kube does)
      if (typeof a !== 'string' || isIP(a) !== family) errs.push(cause.invalid(f, a, `must be an ${t} address`));
      else {
        const special = specialIpReason(a);
        if (special) errs.push(cause.invalid(`${f}[${j}]`, a, special));
      }
    });
  });
  (es.ports ?? []).forEach((p: Obj, i: number) => {
    if (p.port !== undefined && p.port !== null && !(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535)) errs.push(cause.invalid(`ports[${i}].port`, p.port, 'must be between 1 and 65535, inclusive'));
    p.protocol ??= 'TCP';
  });
  if (errs.length) throw invalid(def.kind, es.metadata.name, def, errs);
  // Stored through protobuf: an empty or absent list comes back as null (the fields are not omitempty).
  if (!Array.isArray(es.endpoints) || es.endpoints.length === 0) es.endpoints = null;
  if (!Array.isArray(es.ports) || es.ports.length === 0) es.ports = null;
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
  if (Array.isArray(ep.subsets) && ep.subsets.length === 0) delete ep.subsets; // omitempty
}

/** Role and ClusterRole `rules` is not omitempty: an empty list is stored and served as null. */
function rbacRules(r: Obj): void {
  if (!Array.isArray(r.rules) || r.rules.length === 0) r.rules = null;
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
    case 'leases.coordination.k8s.io': leaseSpec((o.spec ??= {}), def, o.metadata.name); break;
    case 'events': coreEvent(o, def, true); break;
    case 'secrets': secret(o, undefined, def); break;
    case 'roles.rbac.authorization.k8s.io': case 'clusterroles.rbac.authorization.k8s.io': rbacRules(o); break;
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
    case 'leases.coordination.k8s.io': leaseSpec((o.spec ??= {}), def, o.metadata.name); break;
    case 'events': coreEvent(o, def, false); break;
    case 'secrets': secret(o, old, def); break;
    case 'roles.rbac.authorization.k8s.io': case 'clusterroles.rbac.authorization.k8s.io': rbacRules(o); break;
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

