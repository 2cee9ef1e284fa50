/**
 * The registry of every code Fulcrum raises or reports: code → message template, after
 * fastify's lib/errors.js. A template names its parameters in braces (`{pool}`); the type
 * `ErrorParams<code>` is read from the template, so a call that forgets or misspells one does
 * not compile. How to add a code: see the top of ./errors.ts.
 *
 * Parameter conventions: `field` is where the problem is, with the pool or file it belongs to
 * (`pool "web": addresses[2]`); `value` is the value received, as the user wrote it (quoted when
 * a string); `reason` is what is wrong with it, or the message of the underlying error.
 */
export interface ErrorCodeSpec {
  /** The message, with `{name}` for each parameter (letters, digits and `_` only). */
  readonly template: string;
  /** What the code means, for the docs and for readers of the registry. */
  readonly summary?: string;
}

export const ERROR_CODES = {
  // The command line.
  FUL_ERR_USAGE: { template: '{message}', summary: 'a bad command line: the CLI prints the message and the usage, then exits 2' },
  FUL_ERR_CONFIG_READ: { template: 'cannot read {input}: {reason}', summary: 'check-config cannot read its input (missing, a directory, too large)' },

  // Config issues (src/config): reported all at once by parseConfig, each with its code.
  FUL_ERR_CONFIG_YAML: { template: '{input} {reason}', summary: 'the text is not YAML, or not a mapping where one is needed' },
  FUL_ERR_CONFIG_MANIFEST: { template: '{input} {reason}', summary: 'a ConfigMap without data.config, several ConfigMaps, or another kind' },
  FUL_ERR_CONFIG_UNKNOWN_KEY: {
    template: '{where}unknown key {key}{suggestion}',
    summary: 'a key Fulcrum does not know (typo); `where` is empty or ends in ": ", `suggestion` is empty or " (did you mean …?)"',
  },
  FUL_ERR_CONFIG_UNSUPPORTED: {
    template: '{field}: {what} is not supported, layer2 only',
    summary: "BGP: protocol bgp, peers, bgp-communities, bgp-advertisements; MetalLB's BGPPeer, BGPAdvertisement, Community, BFDProfile",
  },
  FUL_ERR_CONFIG_UNSUPPORTED_FIELD: {
    template: '{field} is not supported: {reason}',
    summary: 'a MetalLB field or kind Fulcrum cannot honour (an L2Advertisement with serviceSelectors, the removed AddressPool kind)',
  },
  FUL_ERR_CONFIG_TYPE: { template: '{field}: {value} is not {expected}', summary: 'a field of the wrong type (bad boolean, name not a string, …)' },
  FUL_ERR_POOL_NAME: { template: '{field}: {reason}', summary: 'a missing, invalid or duplicate pool name' },
  FUL_ERR_POOL_RANGE: { template: '{field}: {value} {reason}', summary: 'an address that is not a range, start after end, mixed families' },
  FUL_ERR_POOL_OVERLAP: { template: '{field}: {value} overlaps {other}', summary: 'two ranges overlap, within a pool or across pools' },
  FUL_ERR_POOL_EMPTY: { template: '{field}: the pool has no addresses', summary: 'a pool without addresses' },
  FUL_ERR_POOL_SELECTOR: {
    template: '{field}: {value} {reason}',
    summary: 'a bad label selector (of nodes, namespaces, Services or pools): operator, values, label key or value, a repeated selector',
  },
  FUL_ERR_POOL_ALLOCATION: { template: '{field}: {value} {reason}', summary: 'a bad serviceAllocation: a priority that is not an integer of 0 or more, a bad or repeated namespace' },
  FUL_ERR_POOL_INTERFACE: { template: '{field}: {value} {reason}', summary: 'a bad or repeated interface name' },
  FUL_WARN_HOST_BITS: { template: '{field}: {value} has host bits set; it means the network {network}', summary: 'warning: a CIDR with host bits set' },
  FUL_WARN_NO_USABLE_ADDRESS: {
    template: '{field}: every address of the pool ends in .0 or .255, so it has none to give',
    summary: 'warning: avoid-buggy-ips leaves a pool without addresses',
  },
  FUL_WARN_NO_POOLS: { template: 'the config has no address pools: no Service will get an address', summary: 'warning: the config has no pools' },
  FUL_WARN_CONFIGMAP_NAME: { template: 'ConfigMap "{configMap}": Fulcrum reads {expected}', summary: 'warning: the ConfigMap is not fulcrum-system/config' },
  FUL_WARN_CONFIG_IGNORED: {
    template: '{field} is ignored: {reason}',
    summary: "warning: a MetalLB field or kind that changes nothing Fulcrum does (preferredNodeSelectors, MetalLB's status kinds)",
  },
  FUL_WARN_POOL_NOT_ANNOUNCED: {
    template: '{field}: no L2Advertisement selects the pool: its addresses are assigned but not announced',
    summary: 'warning: an IPAddressPool without an L2Advertisement (MetalLB does the same)',
  },
  FUL_WARN_UNKNOWN_POOL: { template: '{field}: {value} is not the name of any IPAddressPool', summary: 'warning: an L2Advertisement names a pool that is not there (MetalLB ignores it too)' },

  // Kubernetes API (src/k8s).
  FUL_ERR_KUBECONFIG: { template: '{source}: {reason}', summary: 'no usable kubeconfig or in-cluster configuration' },
  FUL_ERR_K8S_API: { template: '{action} of service "{service}": {reason}', summary: 'a write to the API failed (not a conflict, not a 404)' },
  FUL_ERR_K8S_CONFLICT: {
    template: 'writing status of service "{service}": still conflicting after {attempts} attempts',
    summary: 'a status write lost every optimistic-concurrency retry',
  },
  FUL_ERR_LEADER_ELECTION_CONFIG: { template: 'leader election for lease "{lease}": {problems}', summary: 'timings client-go would reject, every problem at once' },

  // Address allocation (src/ipam).
  FUL_ERR_IPAM_INCOHERENT: { template: 'incoherent ipam state: {what}', summary: 'broken internal state of the allocator: a bug, never repaired quietly' },

  // The speaker (speaker/).
  FUL_ERR_SPEAKER_INTERFACE: {
    template: 'node "{node}": no local interface holds its InternalIP ({addresses}); pass --interfaces',
    summary: 'the speaker cannot tell which interface to announce on',
  },
  FUL_ERR_ANNOUNCE_ADDRESS: { template: '{kind} "{value}": {reason}', summary: 'a MAC or IP address the ARP/NDP codec cannot read' },
  FUL_ERR_ANNOUNCE_INTERFACE: { template: 'announce {ip}: interface "{iface}" {reason}', summary: 'announcing on an interface the responder does not serve' },
  FUL_ERR_ANNOUNCER_CLOSED: { template: 'announce {ip} on "{iface}": the announcer is closed', summary: 'announcing after close()' },
  FUL_ERR_ANNOUNCER_STATE: {
    template: 'incoherent state: leaving {group} on "{iface}" that was never joined',
    summary: 'broken internal state of the responder: a bug',
  },
  FUL_ERR_NDP_SOCKET: { template: '{action} on "{iface}": {reason}', summary: 'the raw ICMPv6 socket failed (open, configure, join, leave)' },
  FUL_ERR_PACKET_ADDON: {
    template: 'loading the AF_PACKET addon "{path}": {reason} (was it built? npm ci runs node-gyp rebuild)',
    summary: 'the native AF_PACKET addon is missing or does not load',
  },
  FUL_ERR_PACKET_SOCKET: { template: 'opening an AF_PACKET socket on "{iface}": {reason}', summary: 'the AF_PACKET socket cannot be opened' },
  FUL_ERR_PACKET_SEND: { template: 'sending a frame on "{iface}": {reason}', summary: 'the AF_PACKET socket refused a frame' },
  FUL_ERR_VIP_COMMAND: { template: '{command}: {reason}', summary: 'a command of the VIP plumbing (ip, sysctl) failed' },
  FUL_ERR_VIP_SYSCTL: { template: 'setting {key}={value} for interface "{iface}": {reason}', summary: 'the ARP sysctls of an announcing interface cannot be set' },
  FUL_ERR_VIP_LIST: { template: 'listing the addresses of "{device}": {reason}', summary: 'the Service addresses on lo cannot be listed' },
  FUL_ERR_VIP_ADD: { template: 'adding service address {ip} to "{device}": {reason}', summary: 'a Service address cannot be added to lo' },
  FUL_ERR_VIP_REMOVE: { template: 'removing service address {ip} from "{device}": {reason}', summary: 'a Service address cannot be removed from lo' },
  FUL_ERR_MEMBERSHIP_OPTION: { template: 'membership options: {problems}', summary: 'bad membership timings, every problem at once' },
  FUL_ERR_MEMBERSHIP_ENCODE: { template: 'membership {field} {value}: {reason}', summary: 'a membership packet with a field the wire format cannot carry' },
  FUL_ERR_MEMBERSHIP_KEY: { template: 'membership key: Secret {secret} data "{field}": {reason}', summary: 'the memberlist Secret is missing, or a key in it is absent or too short' },
  FUL_ERR_PROXY_CONFIG: { template: 'proxy config has {count}:\n  {problems}', summary: 'an invalid proxy file: `count` is "2 problems", `problems` one per line' },
  FUL_ERR_PROXY_STOPPED: { template: 'proxy engine: apply after stop', summary: 'a plan applied to a stopped proxy engine' },
  FUL_ERR_PROXY_BIND: { template: 'frontend "{frontend}": binding {protocol} {listen}: {reason}', summary: 'a frontend cannot bind its listen address' },

  // The lab and its API server emulator (lab/).
  FUL_ERR_LAB_API: { template: '{method} {path}: {reason}', summary: 'a request of the lab to the API server failed' },
  FUL_ERR_LAB_COMMAND: { template: '{command}: {reason}', summary: 'a lab command (ip, nft, …) failed to start or exited non-zero' },
  FUL_ERR_LAB_TIMEOUT: { template: 'timed out after {timeoutMs} ms waiting for {what}', summary: 'a lab wait ran out of time' },
  FUL_ERR_LAB_PROCESS: { template: '{process} exited ({exit}) before printing {pattern}: {output}', summary: 'a lab process exited before it was ready' },
  FUL_ERR_LAB_NFT: { template: '{variable} "{value}": {reason}', summary: 'a bad FULCRUM_LAB_NFT, or nftables required and missing' },
  FUL_ERR_LAB_HOST_LINK: {
    template:
      'without nftables ({why}) a lab routes its replies by the rule "from {source} lookup <table>", and {holder} already holds it: only one such lab can run at a time. ' +
      'Stop that lab{freeHint}, or install nftables (e.g. apt-get install nftables{unsetHint}): with it, several labs run side by side.',
    summary: 'another lab without nftables holds the source rule; `freeHint` and `unsetHint` may be empty',
  },
  FUL_ERR_LAB_ROUTING_TABLE: {
    template: 'lab "{lab}": no free routing table for the host link after {attempts} attempts',
    summary: 'every routing table a lab may use for its host link is taken',
  },
  FUL_ERR_LAB_PREFIX: { template: 'lab prefix "{prefix}": {reason}', summary: 'a bad lab prefix, or one already running in this process' },
  FUL_ERR_LAB_NODES: { template: '{field} "{value}": {reason}', summary: 'a bad node count or node index, or an unknown node' },
  FUL_ERR_LAB_POD: { template: '{field} "{value}": {reason}', summary: 'a bad pod index, or a pod that already exists' },
  FUL_ERR_LAB_TOPOLOGY: { template: '{action} lab "{lab}": {reason}', summary: 'the lab topology failed to build, or was used unbuilt or destroyed' },
  FUL_ERR_APISERVER_SERVICE_CIDR: { template: 'service CIDR "{cidr}" {reason}', summary: 'a bad service CIDR for the API server emulator' },
  FUL_ERR_APISERVER_FIELD_VALIDATION: {
    template: 'field validation "{value}" ({variable}): must be Strict, Warn or Ignore',
    summary: 'a bad default field validation for the API server emulator',
  },
  FUL_ERR_APISERVER_STATUS: {
    template: '{message}',
    summary: 'a Kubernetes Status the emulator answers with; the message is the Status message, verbatim',
  },

  // Benchmarks (bench/).
  FUL_ERR_BENCH_PARSE: { template: '{tool}: {reason}', summary: 'the output of a load tool (wrk, iperf3, udp-load) cannot be read' },
  FUL_ERR_BENCH_RESULT: { template: '{source}: {reason}', summary: 'a stored bench result is not a list of workloads' },
  FUL_ERR_BENCH_CHILD: { template: '{child} {reason}', summary: 'a bench child process exited, or never became ready' },
} as const satisfies Record<`FUL_${'ERR' | 'WARN'}_${string}`, ErrorCodeSpec>;

/** Every registered code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The parameter names of a template: `'pool "{pool}": {reason}'` → `'pool' | 'reason'`. */
export type TemplateParams<T extends string> = T extends `${string}{${infer Name}}${infer Rest}` ? Name | TemplateParams<Rest> : never;

/** What a template parameter may be given: it is rendered with String(). */
export type ErrorParamValue = string | number;

/** True for a union of several types, false for one type. */
type IsUnion<T, All = T> = T extends unknown ? ([All] extends [T] ? false : true) : never;

/**
 * The parameters a code's template needs, each required. A code typed as a union (`ErrorCode`)
 * takes none (never): its parameters could not be checked, so errors are raised with one literal code.
 */
export type ErrorParams<C extends ErrorCode> =
  true extends IsUnion<C> ? never : { readonly [K in TemplateParams<(typeof ERROR_CODES)[C]['template']>]: ErrorParamValue };
