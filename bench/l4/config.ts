// Pure builders of the three proxies' configurations for the same topology, so that what each
// path is asked to do is identical and visible side by side (and unit-tested).

/**
 * The services of the suite: `http` is the keep-alive HTTP backend (a C responder), `conn`
 * the one for new-connection-per-request (a Node responder that lets the client close first),
 * `bulk` an iperf3 server, `udp` a UDP echo.
 */
export const SERVICES = ['conn', 'bulk', 'http', 'udp'] as const;
export type Service = (typeof SERVICES)[number];
export type PortMap<K extends string = Service> = Record<K, number>;

/** Where the backends listen and where each path's frontends listen; all on one address. */
export interface Topology {
  host: string;
  backends: PortMap;
  fulcrum: PortMap;
  /** haproxy 2.6 has no UDP proxy. */
  haproxy: PortMap<Exclude<Service, 'udp'>>;
  kernel: PortMap;
}

export function protocolOf(service: Service): 'tcp' | 'udp' {
  return service === 'udp' ? 'udp' : 'tcp';
}

/** Fulcrum's `proxy --config` file: one frontend and one single-endpoint backend per service. */
export function fulcrumConfig(t: Topology, workers: number, services: readonly Service[] = SERVICES): string {
  const lines = [`workers: ${workers}`, 'frontends:'];
  for (const s of services) {
    lines.push(`  - name: ${s}`, `    listen: ${t.host}:${t.fulcrum[s]}`, `    protocol: ${protocolOf(s)}`, `    backend: ${s}`);
  }
  lines.push('backends:');
  for (const s of services) {
    lines.push(`  - name: ${s}`, '    balance: roundrobin', '    endpoints:', `      - { address: ${t.host}, port: ${t.backends[s]} }`);
  }
  return lines.join('\n') + '\n';
}

// 2 fds per proxied connection must fit the usual 20000-fd limit; the suite opens at most 64.
const GLOBAL_MAXCONN = '  maxconn 4096';

/**
 * haproxy in TCP mode with the same frontends and backends. Defaults kept as shipped (no
 * splice, no option tweaks); no logging, like Fulcrum at `warn`.
 */
export function haproxyProxyConfig(t: Topology, threads: number): string {
  const lines = ['global', `  nbthread ${threads}`, GLOBAL_MAXCONN, 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s'];
  for (const s of SERVICES) {
    if (s === 'udp') continue;
    lines.push(`frontend ${s}`, `  bind ${t.host}:${t.haproxy[s]}`, `  default_backend ${s}`);
    lines.push(`backend ${s}`, '  balance roundrobin', `  server e1 ${t.host}:${t.backends[s]}`);
  }
  return lines.join('\n') + '\n';
}

/** A single-threaded haproxy answering `200 ok` by itself on `bind` (`HOST:PORT` or `:PORT`): the keep-alive HTTP backend. */
export function haproxyResponderConfig(bind: string): string {
  return [
    'global',
    '  nbthread 1',
    GLOBAL_MAXCONN,
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
    'frontend backend_http',
    `  bind ${bind}`,
    '  http-request return status 200 content-type text/plain string ok',
    '',
  ].join('\n');
}

/** The keep-alive HTTP backend of the L4 suite. */
export function httpBackendConfig(t: Topology): string {
  return haproxyResponderConfig(`${t.host}:${t.backends.http}`);
}

export const NFT_TABLE = 'fulcrum_bench';

/** Source address of the kernel path's connections after SNAT (any 127/8 address is on lo). */
export const KERNEL_SNAT_SOURCE = '127.0.0.2';

/**
 * The kernel path: DNAT in the `output` nat hook (on loopback the client's packets are locally
 * generated and never pass `prerouting`), then SNAT to another loopback address, as kube-proxy
 * masquerades for `externalTrafficPolicy: Cluster`. Without the SNAT, a conntrack entry this path
 * leaves behind (reply tuple backend → 127.0.0.1:port) clashes with a later direct or proxied
 * connection from the same port to the backend, and the kernel drops its SYNs.
 */
export function nftRuleset(t: Topology): string {
  const dnat = SERVICES.map((s) => `    ip daddr ${t.host} ${protocolOf(s)} dport ${t.kernel[s]} dnat to ${t.host}:${t.backends[s]}`);
  const snat = SERVICES.map((s) => `    ct status dnat ip daddr ${t.host} ${protocolOf(s)} dport ${t.backends[s]} snat to ${KERNEL_SNAT_SOURCE}`);
  return [
    `table ip ${NFT_TABLE} {`,
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    ...dnat,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority 100; policy accept;',
    ...snat,
    '  }',
    '}',
    '',
  ].join('\n');
}
