import type { BuildWarning } from './plan/service-proxy.js';

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
      return `${w.annotation}: ${JSON.stringify(w.value)} ${w.reason}; the default is used`;
    case 'unsupportedProtocol':
      return `port ${w.port}: protocol ${JSON.stringify(w.protocol)} is not supported; the port is not served`;
    case 'badSourceRange':
      return `loadBalancerSourceRanges: ${JSON.stringify(w.value)} ${w.reason}; the entry is ignored (when every entry is bad, the port serves no one)`;
    case 'proxyProtocolOnUdp':
      return `port ${w.port}: the PROXY protocol is for TCP only; the UDP port is served without it`;
  }
}
