import type { BuildWarning, SharedPortConflictReason } from './plan/service-annotations.js';

/** Why a Service lost a shared address and port, for the Event text. */
const SHARED_REASON: Record<SharedPortConflictReason, string> = {
  notHttp: 'only HTTP Services can share a port',
  routeOverlap: 'both claim the same host and path prefix',
  tlsDiffers: 'one terminates TLS and the other does not',
  redirectDiffers: 'one redirects to https and the other does not',
  sourceRangesDiffer: 'their loadBalancerSourceRanges differ',
};

/** The text of the speaker's Events, pure (the controller records them). */

/** MetalLB's nodeAssigned message, word for word: `fulcrum status` and MetalLB's tooling parse it. */
export function nodeAssignedMessage(node: string): string {
  return `announcing from node "${node}" with protocol "layer2"`;
}

/** The node a nodeAssigned message names (ours or MetalLB's), or undefined. */
export function assignedNode(message: string): string | undefined {
  return /announcing from node "([^"]+)"/.exec(message)?.[1];
}

/** One line for a ProxySettingIgnored Event: what was ignored, with the field and the value. */
export function describeBuildWarning(w: BuildWarning): string {
  switch (w.kind) {
    case 'badAnnotation':
      return `${w.annotation}: ${JSON.stringify(w.value)} ${w.reason}; ${w.effect ?? 'the default is used'}`;
    case 'unsupportedProtocol':
      return `port ${w.port}: protocol ${JSON.stringify(w.protocol)} is not supported; the port is not served`;
    case 'badSourceRange':
      return `loadBalancerSourceRanges: ${JSON.stringify(w.value)} ${w.reason}; the entry is ignored (when every entry is bad, the port serves no one)`;
    case 'proxyProtocolOnUdp':
      return `port ${w.port}: the PROXY protocol is for TCP only; the UDP port is served without it`;
    case 'tlsSecretProblem':
      return `fulcrum-lb.io/tls-secret: Secret ${JSON.stringify(w.secret)} ${w.reason}; the other certificates, and its last good one if any, are served`;
    case 'tlsUnavailable':
      return w.secrets.length === 0
        ? `port ${w.port}: meant for TLS (fulcrum-lb.io/tls-ports) but fulcrum-lb.io/tls-secret names no Secret; the port is not served (never in plain text)`
        : `port ${w.port}: no usable certificate in fulcrum-lb.io/tls-secret ${JSON.stringify(w.secrets.join(','))}; the port is not served (never in plain text)`;
    case 'backendCaUnavailable':
      return `port ${w.port}: fulcrum-lb.io/backend-ca-secret ${JSON.stringify(w.secret)} ${w.reason}; the port is not served (it never connects to the pods unverified)`;
    case 'sharedPortConflict':
      return `port ${w.port} on ${w.address} is kept by ${w.winner}, which takes precedence (created first, then by namespace/name): ${SHARED_REASON[w.reason]} (${w.detail}); this Service is not served on that port`;
    case 'sharedSettingIgnored':
      return `port ${w.port} on ${w.address} is shared with ${w.winner}: this Service's ${w.setting} differ from its, and ${w.winner}'s are used`;
  }
}
