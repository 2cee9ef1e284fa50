// Pure builders of the L7 suite's configurations: Fulcrum's `protocol: http` file and haproxy's
// `mode http` config for the same frontends, and the backend responder (the L4 suite's, plus a
// stats socket), so that what each proxy is asked to do is identical and visible side by side.
import { httpBackendConfig, type Topology } from '../l4/config.js';

/**
 * The frontends of the suite, all to the one keep-alive HTTP backend: `http` plain HTTP (the
 * keep-alive and new-connection workloads), `ecdsa` and `rsa` HTTPS terminated by the proxy with
 * an ECDSA P-256 and an RSA 2048 certificate (HTTPS keep-alive uses `ecdsa`).
 */
export const L7_FRONTENDS = ['http', 'ecdsa', 'rsa'] as const;
export type L7Frontend = (typeof L7_FRONTENDS)[number];
export type TlsFrontend = Exclude<L7Frontend, 'http'>;
export type FrontendPorts = Record<L7Frontend, number>;

/** The name every certificate carries (CN and SAN), and the SNI the handshake client sends. */
export const SERVER_NAME = 'bench.example.com';

/** One certificate as each proxy reads it: Fulcrum a cert and a key file, haproxy one file with both. */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  /** The certificate followed by its key (haproxy's `crt`). */
  bundleFile: string;
}
export type Certificates = Record<TlsFrontend, CertificateFiles> & { caFile: string };

export interface L7Topology {
  host: string;
  /** The keep-alive HTTP responder (a single-threaded haproxy answering "ok"). */
  backend: number;
  fulcrum: FrontendPorts;
  haproxy: FrontendPorts;
}

export function frontendName(f: L7Frontend): string {
  return f === 'http' ? 'http' : `https-${f}`;
}

export function isTls(f: L7Frontend): f is TlsFrontend {
  return f !== 'http';
}

/**
 * Fulcrum's `proxy --config` file: one `protocol: http` frontend per entry of `frontends` (the
 * TLS ones with `tls.certificates`), all to one HTTP backend with a single endpoint.
 */
export function fulcrumL7Config(t: L7Topology, workers: number, certs: Certificates, frontends: readonly L7Frontend[] = L7_FRONTENDS): string {
  const lines = [`workers: ${workers}`, 'frontends:'];
  for (const f of frontends) {
    lines.push(`  - name: ${frontendName(f)}`, `    listen: ${t.host}:${t.fulcrum[f]}`, '    protocol: http');
    if (isTls(f)) {
      lines.push('    tls:', `      certificates: [{ certFile: ${JSON.stringify(certs[f].certFile)}, keyFile: ${JSON.stringify(certs[f].keyFile)} }]`);
    }
    lines.push('    backend: http');
  }
  lines.push('backends:', '  - name: http', '    protocol: http', '    balance: roundrobin', '    endpoints:', `      - { address: ${t.host}, port: ${t.backend} }`);
  return lines.join('\n') + '\n';
}

// 2 fds per proxied connection must fit the usual 20000-fd limit; the suite opens at most 64.
const GLOBAL_MAXCONN = '  maxconn 4096';

/**
 * haproxy in HTTP mode with the same frontends: `ssl crt` on the TLS binds, `http-reuse safe`
 * towards the backend, and the three headers Fulcrum always adds to a request (X-Forwarded-For,
 * -Proto, -Port), so that both proxies rewrite the same head. Timeouts as Fulcrum's defaults
 * (http-request 5 s, keep-alive 60 s); no logging, like Fulcrum at `warn`.
 */
export function haproxyL7Config(t: L7Topology, threads: number, certs: Certificates): string {
  const lines = [
    'global',
    `  nbthread ${threads}`,
    GLOBAL_MAXCONN,
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 50s',
    '  timeout http-request 5s',
    '  timeout http-keep-alive 60s',
  ];
  for (const f of L7_FRONTENDS) {
    const bind = isTls(f) ? `  bind ${t.host}:${t.haproxy[f]} ssl crt ${certs[f].bundleFile}` : `  bind ${t.host}:${t.haproxy[f]}`;
    lines.push(`frontend ${frontendName(f)}`, bind, '  option forwardfor', `  http-request set-header X-Forwarded-Proto ${isTls(f) ? 'https' : 'http'}`, '  http-request set-header X-Forwarded-Port %[dst_port]', '  default_backend http');
  }
  lines.push('backend http', '  http-reuse safe', '  balance roundrobin', `  server e1 ${t.host}:${t.backend}`);
  return lines.join('\n') + '\n';
}

/**
 * The backend: the L4 suite's keep-alive responder (`httpBackendConfig`, a single-threaded
 * haproxy answering 200 "ok" by itself), plus a stats socket from which the suite reads how many
 * connections it accepted (how often each proxy connected to it per request). haproxy merges a
 * second `global` section into the first.
 */
export function backendL7Config(t: L7Topology, statsSocket: string): string {
  // httpBackendConfig reads only the host and the `http` backend port of an L4 topology.
  const l4: Topology = {
    host: t.host,
    backends: { conn: 0, bulk: 0, http: t.backend, udp: 0 },
    fulcrum: { conn: 0, bulk: 0, http: 0, udp: 0 },
    haproxy: { conn: 0, bulk: 0, http: 0 },
    kernel: { conn: 0, bulk: 0, http: 0, udp: 0 },
  };
  return `${httpBackendConfig(l4)}global\n  stats socket ${statsSocket} mode 600 level user\n`;
}
