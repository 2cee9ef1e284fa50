import { FulcrumError } from '../src/errors.js';
import { fnv1a } from '../src/hash.js';

/**
 * The lab's address plan and naming scheme: pure, no I/O, so tests and docs (lab/README.md) can
 * rely on it. Documentation ranges only (RFC 5737, RFC 3849).
 *
 * Node network   192.0.2.0/24, 2001:db8::/64 (one bridge)
 *   client       192.0.2.2, 2001:db8::2
 *   node i       192.0.2.(10+i), 2001:db8::(10+i)   (i = 1..7, written in decimal: ::11, ::12, …)
 *   lab host     192.0.2.254, 2001:db8::fe         (root namespace: the API emulator listens here)
 *   Service pools 192.0.2.64/26, 2001:db8::100-2001:db8::1ff (nothing in the topology uses them)
 * Pod network    198.51.100.0/24, 2001:db8:1::/64
 *   node i slice 198.51.100.(32·i)/27, 2001:db8:1::i:0/112
 *   gateway      198.51.100.(32·i+1), 2001:db8:1::i:1  (on the node side of every pod veth)
 *   pod j        198.51.100.(32·i+1+j), 2001:db8:1::i:(1+j) in hex  (j = 1..29)
 * Node i = 8 would leave 198.51.100.0/24, hence at most 7 nodes.
 */

export const MAX_NODES = 7;
export const MAX_PODS_PER_NODE = 29;
/** Longest prefix that keeps every interface name within Linux's 15 characters (`abcdef-n7p29`). */
export const MAX_PREFIX_LENGTH = 6;
export const DEFAULT_PREFIX = 'ful';

export const NODE_NETWORK_V4 = '192.0.2.0/24';
export const NODE_NETWORK_V6 = '2001:db8::/64';
export const HOST_IPV4 = '192.0.2.254';
export const HOST_IPV6 = '2001:db8::fe';
export const CLIENT_IPV4 = '192.0.2.2';
export const CLIENT_IPV6 = '2001:db8::2';
export const POD_NETWORK_V4 = '198.51.100.0/24';
export const POD_NETWORK_V6 = '2001:db8:1::/64';
/** Service pools of the lab's example ConfigMap; nothing in the topology takes these. */
export const SERVICE_POOL_V4 = '192.0.2.64/26';
export const SERVICE_POOL_V6 = '2001:db8::100-2001:db8::1ff';
/** The same addresses in two halves: the two pools of `--config-from metallb-crds` (lab/samples.ts). */
export const SERVICE_POOL_V4_LOW = '192.0.2.64/27';
export const SERVICE_POOL_V4_HIGH = '192.0.2.96/27';
export const SERVICE_POOL_V6_LOW = '2001:db8::100-2001:db8::17f';
export const SERVICE_POOL_V6_HIGH = '2001:db8::180-2001:db8::1ff';

export interface NodePlan {
  /** 1-based. */
  readonly index: number;
  /** Kubernetes Node name, equal to the namespace name. */
  readonly name: string;
  readonly namespace: string;
  /** The node's interface on the node network (inside its namespace). */
  readonly interface: 'eth0';
  /** The switch's port for this node (inside the switch namespace). */
  readonly switchPort: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** Locally administered, fixed, so tests can name the owner by MAC. */
  readonly mac: string;
  readonly podCidrV4: string;
  readonly podCidrV6: string;
  readonly podGatewayV4: string;
  readonly podGatewayV6: string;
}

export interface PodPlan {
  readonly nodeIndex: number;
  /** 1-based, per node. */
  readonly index: number;
  readonly namespace: string;
  /** The pod's end of the veth, inside the node namespace. */
  readonly nodeSideInterface: string;
  readonly interface: 'eth0';
  readonly ipv4: string;
  readonly ipv6: string;
  readonly gatewayV4: string;
  readonly gatewayV6: string;
}

export interface LabNames {
  readonly prefix: string;
  readonly switchNamespace: string;
  readonly bridge: string;
  readonly clientNamespace: string;
  readonly clientSwitchPort: string;
  /** Root-namespace end of the lab-host veth. */
  readonly hostLink: string;
  /** Switch-namespace end of the lab-host veth. */
  readonly hostSwitchPort: string;
  /** nftables table (family inet) in the root namespace, for the host link's reply routing. */
  readonly nftTable: string;
}

const PREFIX_RE = /^[a-z][a-z0-9]*$/;

/** Checks a name prefix; all lab names are `<prefix>-…`, so the prefix itself has no dash. */
export function validatePrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix) || prefix.length > MAX_PREFIX_LENGTH) {
    throw new FulcrumError('FUL_ERR_LAB_PREFIX', { prefix, reason: `must be 1-${MAX_PREFIX_LENGTH} lower-case letters or digits, starting with a letter` });
  }
  return prefix;
}

export function validateNodeCount(count: number): number {
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
    throw new FulcrumError('FUL_ERR_LAB_NODES', { field: 'lab nodes', value: count, reason: `must be a whole number from 1 to ${MAX_NODES} (one /27 pod slice each)` });
  }
  return count;
}

export function labNames(prefix: string): LabNames {
  validatePrefix(prefix);
  return {
    prefix,
    switchNamespace: `${prefix}-sw`,
    bridge: `${prefix}-br`,
    clientNamespace: `${prefix}-cl`,
    clientSwitchPort: `${prefix}-cl`,
    hostLink: `${prefix}-host`,
    hostSwitchPort: `${prefix}-hp`,
    nftTable: `fulcrum-lab-${prefix}`,
  };
}

export const CLIENT_MAC = '02:1a:b0:00:02:01';
export const HOST_MAC = '02:1a:b0:00:fe:01';

export function nodePlan(prefix: string, index: number): NodePlan {
  validatePrefix(prefix);
  if (!Number.isInteger(index) || index < 1 || index > MAX_NODES) {
    throw new FulcrumError('FUL_ERR_LAB_NODES', { field: 'lab node index', value: index, reason: `must be from 1 to ${MAX_NODES}` });
  }
  const base = 32 * index;
  const hex = index.toString(16);
  const name = `${prefix}-n${index}`;
  return {
    index,
    name,
    namespace: name,
    interface: 'eth0',
    switchPort: name,
    ipv4: `192.0.2.${10 + index}`,
    ipv6: `2001:db8::${10 + index}`,
    mac: `02:1a:b0:00:01:${index.toString(16).padStart(2, '0')}`,
    podCidrV4: `198.51.100.${base}/27`,
    podCidrV6: `2001:db8:1::${hex}:0/112`,
    podGatewayV4: `198.51.100.${base + 1}`,
    podGatewayV6: `2001:db8:1::${hex}:1`,
  };
}

export function podPlan(prefix: string, nodeIndex: number, podIndex: number): PodPlan {
  const node = nodePlan(prefix, nodeIndex);
  if (!Number.isInteger(podIndex) || podIndex < 1 || podIndex > MAX_PODS_PER_NODE) {
    throw new FulcrumError('FUL_ERR_LAB_POD', { field: `lab node ${nodeIndex} pod index`, value: podIndex, reason: `must be from 1 to ${MAX_PODS_PER_NODE}` });
  }
  return {
    nodeIndex,
    index: podIndex,
    namespace: `${node.namespace}-p${podIndex}`,
    nodeSideInterface: `${prefix}-n${nodeIndex}p${podIndex}`,
    interface: 'eth0',
    ipv4: `198.51.100.${32 * nodeIndex + 1 + podIndex}`,
    ipv6: `2001:db8:1::${nodeIndex.toString(16)}:${(1 + podIndex).toString(16)}`,
    gatewayV4: node.podGatewayV4,
    gatewayV6: node.podGatewayV6,
  };
}

/** Does this namespace or link name belong to the lab with this prefix? */
export function ownedByPrefix(prefix: string, name: string): boolean {
  return name.startsWith(`${prefix}-`);
}

/**
 * Routing table id and firewall mark for the host link of this lab, in [0x4c00, 0x4fff]:
 * replies from the root namespace to a lab carry the mark and use that lab's table, so several
 * labs (all using 192.0.2.0/24) can run side by side. FNV-1a of the prefix; `attempt` steps past
 * a collision with another live lab.
 */
export function hostRoutingTable(prefix: string, attempt = 0): number {
  return 0x4c00 + ((fnv1a(prefix) + attempt) % 0x400);
}
