import { formatAddress, parseAddress, type Address, type Family } from '../address.js';
import { readAnnotation, type AnnotationName } from '../service/annotations.js';
import { serviceHttpTerms } from '../service/http.js';
import type { AllocationRequest, IpFamilyPolicy, PortProtocol, ServicePort, TrafficPolicy } from './types.js';

/**
 * The fields of a Kubernetes Service that allocation reads. A `V1Service` of
 * @kubernetes/client-node is assignable to it; tests pass plain objects.
 */
export interface ServiceLike {
  readonly metadata?: { readonly namespace?: string; readonly name?: string; readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: {
    readonly type?: string;
    readonly loadBalancerIP?: string;
    readonly loadBalancerClass?: string;
    readonly ports?: readonly { readonly port: number; readonly protocol?: string; readonly name?: string; readonly appProtocol?: string }[];
    readonly externalTrafficPolicy?: string;
    readonly selector?: Readonly<Record<string, string>>;
    readonly ipFamilyPolicy?: string;
    readonly ipFamilies?: readonly string[];
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
  };
}


export type ServiceRequestResult =
  | { readonly kind: 'request'; readonly request: AllocationRequest }
  | { readonly kind: 'ignored'; readonly reason: 'notLoadBalancer' | 'otherLoadBalancerClass'; readonly message: string }
  | {
      readonly kind: 'invalid';
      readonly reason: 'badRequestedAddress' | 'conflictingRequests' | 'tooManyRequestedAddresses' | 'familyMismatch' | 'badSpec';
      readonly message: string;
    };

export interface ServiceRequestOptions {
  /** The `spec.loadBalancerClass` Fulcrum answers to besides "unset" (default: none). */
  readonly loadBalancerClass?: string;
}

type Invalid = Extract<ServiceRequestResult, { kind: 'invalid' }>;

function invalid(reason: Invalid['reason'], message: string): Invalid {
  return { kind: 'invalid', reason, message };
}

/** One annotation under each of its prefixes (src/service/annotations.ts); prefixes that disagree are an error, since either could be meant. */
function annotation(svc: ServiceLike, name: AnnotationName): { value: string | undefined } | Invalid {
  const a = readAnnotation(svc, name);
  if (a.kind === 'conflict') return invalid('conflictingRequests', a.message);
  return { value: a.kind === 'set' ? a.value : undefined };
}

function isInvalid(x: unknown): x is Invalid {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'invalid';
}

function familyName(text: string): Family | undefined {
  return text === 'IPv4' || text === 'IPv6' ? text : undefined;
}

function otherFamily(f: Family): Family {
  return f === 'IPv4' ? 'IPv6' : 'IPv4';
}

/** The Service's family order: `ipFamilies`, else the families of its cluster IPs, else IPv4. */
function declaredFamilies(spec: NonNullable<ServiceLike['spec']>): Family[] | Invalid {
  if (spec.ipFamilies && spec.ipFamilies.length > 0) {
    const families: Family[] = [];
    for (const f of spec.ipFamilies) {
      const family = familyName(f);
      if (!family || families.includes(family)) return invalid('badSpec', `spec.ipFamilies: "${spec.ipFamilies.join(',')}" is not a list of distinct IPv4/IPv6`);
      families.push(family);
    }
    return families;
  }
  const clusterIPs = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
  const fromClusterIPs = clusterIPs.map((ip) => parseAddress(ip)).flatMap((p) => (p.ok ? [p.address.family] : []));
  return fromClusterIPs.length > 0 ? [...new Set(fromClusterIPs)] : [];
}

function requestedAddresses(svc: ServiceLike, spec: NonNullable<ServiceLike['spec']>): Address[] | Invalid {
  const fromAnnotation = annotation(svc, 'loadBalancerIPs');
  if (isInvalid(fromAnnotation)) return fromAnnotation;
  const fromSpec = spec.loadBalancerIP?.trim() || undefined;
  if (fromAnnotation.value !== undefined && fromSpec !== undefined) {
    return invalid('conflictingRequests', `spec.loadBalancerIP ("${fromSpec}") and the loadBalancerIPs annotation ("${fromAnnotation.value}") cannot be used together`);
  }
  const texts = fromSpec !== undefined ? [fromSpec] : (fromAnnotation.value?.split(',').map((s) => s.trim()) ?? []);
  const addresses: Address[] = [];
  for (const text of texts) {
    const parsed = parseAddress(text);
    if (!parsed.ok) return invalid('badRequestedAddress', `requested address "${text}" is not an IP address`);
    if (addresses.some((a) => a.family === parsed.address.family)) {
      return invalid('tooManyRequestedAddresses', `requested addresses "${texts.join(',')}": at most one per family`);
    }
    addresses.push(parsed.address);
  }
  return addresses;
}

/**
 * The ports, each HTTP one with its claim (hosts, path prefix, TLS, redirect) read by
 * src/service/http.ts as the speaker reads it; bad HTTP annotation values read as their
 * fallbacks here too (the speaker reports them).
 */
function ports(svc: ServiceLike, spec: NonNullable<ServiceLike['spec']>): ServicePort[] | Invalid {
  const out: ServicePort[] = [];
  const terms = serviceHttpTerms(svc);
  for (const p of spec.ports ?? []) {
    const protocol = (p.protocol ?? 'TCP') as PortProtocol;
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') return invalid('badSpec', `spec.ports: protocol "${p.protocol}" is not TCP, UDP or SCTP`);
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) return invalid('badSpec', `spec.ports: port ${p.port} is not between 1 and 65535`);
    const t = protocol === 'TCP' ? terms.ports.get(p.port) : undefined;
    if (t?.mode === 'http') out.push({ port: p.port, protocol, http: { hosts: [...terms.hosts], pathPrefix: terms.pathPrefix, tls: t.tls, redirect: t.redirect } });
    else out.push({ port: p.port, protocol });
  }
  return out;
}

/**
 * The families to serve, in the Service's family order (the order its status lists them in).
 * SingleStack: the first of `ipFamilies` (else of the cluster IPs' families, else the requested
 * address's, else IPv4). RequireDualStack: both; a Service the cluster gave one family is
 * refused, as MetalLB does. PreferDualStack: the families the cluster gave it (one or both, as
 * MetalLB does); both when no family is given. Requested addresses fix the families: one per
 * family, each of a family the Service has; SingleStack takes one, RequireDualStack two,
 * PreferDualStack one or two.
 */
function servedFamilies(policy: IpFamilyPolicy, declared: readonly Family[], requested: readonly Address[]): Family[] | Invalid {
  const primary = declared[0] ?? requested[0]?.family ?? 'IPv4';
  if (policy === 'RequireDualStack' && declared.length === 1) {
    return invalid('badSpec', `spec.ipFamilyPolicy RequireDualStack, but the cluster gave the Service only ${primary} (spec.ipFamilies, spec.clusterIPs)`);
  }
  const families: Family[] = policy === 'SingleStack' || declared.length === 1 ? [primary] : [primary, declared[1] ?? otherFamily(primary)];
  if (requested.length === 0) return families;
  const texts = requested.map(formatAddress).join(',');
  if (policy === 'SingleStack' && (requested.length > 1 || requested[0]!.family !== primary)) {
    return invalid('familyMismatch', `requested addresses "${texts}" do not match the SingleStack ${primary} Service`);
  }
  if (policy === 'RequireDualStack' && requested.length < 2) {
    return invalid('familyMismatch', `requested address "${texts}": a RequireDualStack Service needs one per family`);
  }
  const foreign = requested.find((a) => !families.includes(a.family));
  if (foreign) {
    return invalid('familyMismatch', `requested address ${formatAddress(foreign)} is ${foreign.family}, and the cluster gave the ${policy} Service only ${primary} (spec.ipFamilies, spec.clusterIPs)`);
  }
  return families.filter((f) => requested.some((a) => a.family === f));
}

/** Everything allocation needs from a Service, or why it cannot be served. Pure. */
export function serviceRequest(service: ServiceLike, options: ServiceRequestOptions = {}): ServiceRequestResult {
  const spec = service.spec ?? {};
  if (spec.type !== 'LoadBalancer') return { kind: 'ignored', reason: 'notLoadBalancer', message: `type is ${spec.type ?? 'ClusterIP'}, not LoadBalancer` };
  if (spec.loadBalancerClass !== undefined && spec.loadBalancerClass !== options.loadBalancerClass) {
    return { kind: 'ignored', reason: 'otherLoadBalancerClass', message: `loadBalancerClass "${spec.loadBalancerClass}" belongs to another provider` };
  }
  const pool = annotation(service, 'address-pool');
  if (isInvalid(pool)) return pool;
  const sharing = annotation(service, 'allow-shared-ip');
  if (isInvalid(sharing)) return sharing;
  const requested = requestedAddresses(service, spec);
  if (isInvalid(requested)) return requested;
  const servicePorts = ports(service, spec);
  if (isInvalid(servicePorts)) return servicePorts;
  const declared = declaredFamilies(spec);
  if (isInvalid(declared)) return declared;

  const policyText = spec.ipFamilyPolicy ?? (declared.length > 1 ? 'PreferDualStack' : 'SingleStack');
  if (policyText !== 'SingleStack' && policyText !== 'PreferDualStack' && policyText !== 'RequireDualStack') {
    return invalid('badSpec', `spec.ipFamilyPolicy: "${policyText}" is not SingleStack, PreferDualStack or RequireDualStack`);
  }
  const familyPolicy: IpFamilyPolicy = policyText;
  const families = servedFamilies(familyPolicy, declared, requested);
  if (isInvalid(families)) return families;
  const ordered = families.flatMap((f) => requested.filter((a) => a.family === f));
  const traffic: TrafficPolicy = spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  return {
    kind: 'request',
    request: {
      pool: pool.value,
      requestedAddresses: ordered.map(formatAddress),
      families,
      familyPolicy,
      sharingKey: sharing.value,
      ports: servicePorts,
      externalTrafficPolicy: traffic,
      selector: { ...(spec.selector ?? {}) },
      ...(service.metadata?.labels !== undefined ? { labels: { ...service.metadata.labels } } : {}),
    },
  };
}

/**
 * What a Service whose request is invalid holds after a restart: the addresses its status
 * shows, shared with nobody, so that no other Service is given them while it waits to be fixed
 * (before a restart the allocator keeps its assignment as it was). Adopt these after every
 * valid Service, so that a valid sharer of the address is never the one refused.
 */
export function holdingRequest(svc: ServiceLike, addresses: readonly string[]): AllocationRequest {
  const families = addresses.map((a) => parseAddress(a)).flatMap((p): Family[] => (p.ok ? [p.address.family] : []));
  return {
    pool: undefined,
    requestedAddresses: [],
    families,
    familyPolicy: families.length > 1 ? 'RequireDualStack' : 'SingleStack',
    sharingKey: undefined,
    ports: [],
    externalTrafficPolicy: svc.spec?.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    selector: { ...(svc.spec?.selector ?? {}) },
    ...(svc.metadata?.labels !== undefined ? { labels: { ...svc.metadata.labels } } : {}),
  };
}
