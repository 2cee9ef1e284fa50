/**
 * Every Service annotation Fulcrum reads or writes, with the prefixes it answers to, pure.
 * Fulcrum's own prefix first; MetalLB's two prefixes are accepted for the four annotations
 * MetalLB has, so a cluster switching from MetalLB keeps its manifests. A Service that sets one
 * annotation under two prefixes with different values is asking two things: `readAnnotation`
 * says so instead of choosing (MetalLB silently takes `metallb.io/`).
 */

export const FULCRUM_PREFIX = 'fulcrum-lb.io/';
/** MetalLB's prefix since v0.14.9 (`AnnotationPrefix` in MetalLB's controller/service.go). */
export const METALLB_PREFIX = 'metallb.io/';
/** MetalLB's prefix until v0.14.8, deprecated but still read by MetalLB. */
export const METALLB_LEGACY_PREFIX = 'metallb.universe.tf/';
/** MetalLB's prefixes, newest first. */
export const METALLB_PREFIXES = [METALLB_PREFIX, METALLB_LEGACY_PREFIX] as const;
/** The prefixes of an annotation MetalLB has too: ours first, then MetalLB's, newest first. */
const WITH_METALLB = [FULCRUM_PREFIX, ...METALLB_PREFIXES] as const;
/** Kubernetes' own annotation for source ranges, read when `spec.loadBalancerSourceRanges` is empty. */
export const K8S_SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';

export interface AnnotationSpec {
  /** The prefixes it is read under, in order of precedence. */
  readonly prefixes: readonly string[];
  readonly meaning: string;
}

/** The annotations, by name (without prefix). */
export const ANNOTATIONS = {
  // MetalLB's four (controller/service.go); it has no others.
  'address-pool': { prefixes: WITH_METALLB, meaning: 'take the address from this pool' },
  loadBalancerIPs: { prefixes: WITH_METALLB, meaning: 'request these addresses' },
  'allow-shared-ip': { prefixes: WITH_METALLB, meaning: 'sharing key' },
  'ip-allocated-from-pool': { prefixes: WITH_METALLB, meaning: 'written by the allocator: the pool the address came from' },
  balance: { prefixes: [FULCRUM_PREFIX], meaning: 'balancing algorithm' },
  'proxy-protocol': { prefixes: [FULCRUM_PREFIX], meaning: 'PROXY protocol version sent to the backends' },
  'health-check': { prefixes: [FULCRUM_PREFIX], meaning: 'active health checks of the endpoints' },
  'health-check-interval': { prefixes: [FULCRUM_PREFIX], meaning: 'time between two checks' },
  'health-check-rise': { prefixes: [FULCRUM_PREFIX], meaning: 'passed checks that make an endpoint healthy' },
  'health-check-fall': { prefixes: [FULCRUM_PREFIX], meaning: 'failed checks that make an endpoint unhealthy' },
  'health-check-status': { prefixes: [FULCRUM_PREFIX], meaning: 'the statuses an http health check accepts (default 200-399)' },
  // HTTP and TLS (wave 2): Fulcrum's prefix only, MetalLB has no such annotations.
  protocol: { prefixes: [FULCRUM_PREFIX], meaning: 'tcp (default) or http: how TCP ports without an appProtocol are served' },
  'tls-secret': { prefixes: [FULCRUM_PREFIX], meaning: 'kubernetes.io/tls Secrets of the namespace that terminate TLS (comma-separated; the first is the default certificate)' },
  'tls-ports': { prefixes: [FULCRUM_PREFIX], meaning: 'the ports (numbers or names) that terminate TLS (default: 443 and ports named https, when tls-secret is set)' },
  'backend-protocol': { prefixes: [FULCRUM_PREFIX], meaning: 'http, https, tcp or tls towards the pods: https and tls re-encrypt' },
  'backend-ca-secret': { prefixes: [FULCRUM_PREFIX], meaning: 'a Secret whose ca.crt verifies the pods when re-encrypting (default: not verified)' },
  'redirect-http-to-https': { prefixes: [FULCRUM_PREFIX], meaning: 'true: port 80 answers every request with a 308 to https (default false)' },
  'http-hosts': { prefixes: [FULCRUM_PREFIX], meaning: 'the hosts the HTTP ports answer for (a.example.com, *.example.com; default: any host)' },
  'http-path-prefix': { prefixes: [FULCRUM_PREFIX], meaning: 'the path prefix the HTTP ports answer for (default /)' },
  'sticky-cookie': { prefixes: [FULCRUM_PREFIX], meaning: 'cookie name that keeps an HTTP client on its endpoint (default: none)' },
  'http-request-timeout': { prefixes: [FULCRUM_PREFIX], meaning: 'time a client has to send the request headers (default 5s)' },
  'http-keepalive-timeout': { prefixes: [FULCRUM_PREFIX], meaning: 'how long an idle keep-alive connection waits for the next request (default 1m)' },
  'timeout-server': { prefixes: [FULCRUM_PREFIX], meaning: 'time an endpoint has to answer, and between two reads of its answer (default 50s)' },
  'timeout-tunnel': { prefixes: [FULCRUM_PREFIX], meaning: 'idle time after which an upgraded (WebSocket) connection is closed (default 1h)' },
  'forwarded-header': { prefixes: [FULCRUM_PREFIX], meaning: 'true: also send an RFC 7239 Forwarded header (default false)' },
  'trust-forwarded-from': { prefixes: [FULCRUM_PREFIX], meaning: 'CIDRs whose X-Forwarded-For is kept and appended to (default: none, it is replaced)' },
  // Limits (README "Limits and protection").
  maxconn: { prefixes: [FULCRUM_PREFIX], meaning: 'open connections (TCP ports) or flows (UDP ports) per port and address; more are refused (default: TCP the process bound only, UDP 16384 flows)' },
  'max-connection-rate-per-source': { prefixes: [FULCRUM_PREFIX], meaning: 'new TCP connections per client address, e.g. 20/s; more are reset (default: no limit)' },
  // Kernel mode (issue 19): speaker/plan/kernel-ports.ts.
  'data-plane': { prefixes: [FULCRUM_PREFIX], meaning: 'proxy (default), kernel (every plain TCP/UDP port forwarded by nftables), or kernel:80,dns (those ports, by number or name)' },
} as const satisfies Record<string, AnnotationSpec>;

export type AnnotationName = keyof typeof ANNOTATIONS;

/** The annotation the allocator writes under Fulcrum's prefix (and MetalLB's: `allocatedPoolKeys`). */
export const ALLOCATED_POOL_ANNOTATION = `${FULCRUM_PREFIX}ip-allocated-from-pool`;

/** The annotations that MetalLB has too (those read under MetalLB's prefixes). */
const METALLB_NAMES = (Object.keys(ANNOTATIONS) as AnnotationName[]).filter((n) => (ANNOTATIONS[n].prefixes as readonly string[]).includes(METALLB_PREFIX));

export type AnnotationValue =
  | { readonly kind: 'absent' }
  /** `key` is the full annotation it was read from. */
  | { readonly kind: 'set'; readonly value: string; readonly key: string }
  | { readonly kind: 'conflict'; readonly keys: readonly string[]; readonly values: readonly string[]; readonly message: string };

type Annotated = { readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> } };

/**
 * One annotation under each of its prefixes, trimmed; an empty value counts as absent. Two
 * prefixes that disagree (an empty one included) are a conflict, whose message names every
 * prefix set with its value; the same value under several prefixes is fine.
 */
export function readAnnotation(obj: Annotated, name: AnnotationName): AnnotationValue {
  const all = obj.metadata?.annotations ?? {};
  const found: { key: string; value: string }[] = [];
  for (const prefix of ANNOTATIONS[name].prefixes) {
    const raw = all[prefix + name];
    if (raw !== undefined) found.push({ key: prefix + name, value: raw.trim() });
  }
  if (found.some((f) => f.value !== found[0]!.value)) {
    const named = found.map((f) => `${f.key} ("${all[f.key]}")`);
    const list = `${named.slice(0, -1).join(', ')} and ${named[named.length - 1]}`;
    return { kind: 'conflict', keys: found.map((f) => f.key), values: found.map((f) => f.value), message: `annotations ${list} disagree: keep one, or give each the same value` };
  }
  return found.length === 0 || found[0]!.value === '' ? { kind: 'absent' } : { kind: 'set', value: found[0]!.value, key: found[0]!.key };
}

/**
 * The full keys the allocator writes the pool under: ours always, and `ip-allocated-from-pool`
 * under each MetalLB prefix the Service uses, that is, under which it has any of MetalLB's
 * annotations (its requests, or a pool MetalLB or Fulcrum wrote there). A Service that never
 * used a MetalLB prefix gets ours only; one migrated from MetalLB keeps MetalLB's copy true.
 */
export function allocatedPoolKeys(obj: Annotated): string[] {
  const all = obj.metadata?.annotations ?? {};
  const used = METALLB_PREFIXES.filter((prefix) => METALLB_NAMES.some((n) => all[prefix + n] !== undefined));
  return [ALLOCATED_POOL_ANNOTATION, ...used.map((prefix) => `${prefix}ip-allocated-from-pool`)];
}

/** The value, or undefined when absent; a conflict reads as the first prefix's value (for readers that only display it). */
export function annotationText(obj: Annotated, name: AnnotationName): string | undefined {
  const a = readAnnotation(obj, name);
  return a.kind === 'set' ? a.value : a.kind === 'conflict' ? a.values[0] : undefined;
}
