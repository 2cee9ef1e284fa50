import { apiRequest } from '../../lab/kube-rest.js';
import type { Lab, LabService } from '../../lab/lab.js';
import type { LabProcess } from '../../lab/netns.js';
import { SAMPLE_NAMESPACE } from '../../lab/samples.js';
import { ConnectionProber, type ProbeResult } from '../e2e/helpers-probes.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The chaos run's client load (not a test file): from the lab's client namespace, one new
 * attempt every interval on each of the samples the issue names — a TCP echo connection to
 * `echo-tcp`, an HTTP GET to `web`, a UDP echo datagram (from a new socket, so a new flow) to
 * `echo-udp` — each recorded as a ProbeResult; and a TCP echo connection to `chaos-kernel`, a
 * kernel-mode Service the chaos run creates (not a lab sample). Every prober is a process of the
 * lab's topology, so the lab's stop ends them whatever happens.
 */

// Runs in the client namespace: every interval a new UDP socket sends a token and must get it
// back within the timeout; one JSON line per attempt on stdout, as the TCP prober writes.
const UDP_PROBER = `
const dgram = require('node:dgram');
const [host, port, intervalMs, timeoutMs] = process.argv.slice(1);
let n = 0;
function attempt() {
  const t = Date.now();
  const token = 'fulcrum-chaos-' + (n++);
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let done = false;
  const finish = (ok, err) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    try { s.close(); } catch {}
    process.stdout.write(JSON.stringify({ t, ok, ms: Date.now() - t, ...(err ? { err } : {}) }) + '\\n');
  };
  const timer = setTimeout(() => finish(false, 'timeout'), Number(timeoutMs));
  s.on('message', (m) => { if (String(m) === token) finish(true); });
  s.on('error', (e) => finish(false, e.code || e.message));
  s.send(token, Number(port), host);
}
setInterval(attempt, Number(intervalMs));
attempt();
`;

export class UdpProber {
  readonly results: ProbeResult[] = [];
  readonly target: string;
  #process: LabProcess | undefined;

  constructor(lab: Lab, address: string, port: number, o: { intervalMs: number; timeoutMs: number }) {
    this.target = `${address.includes(':') ? `[${address}]` : address}:${port}/udp`;
    this.#process = lab.topology.spawn(lab.topology.client.namespace, process.execPath, ['-e', UDP_PROBER, address, String(port), String(o.intervalMs), String(o.timeoutMs)], {
      name: `udp prober ${this.target}`,
      onStdoutLine: (line) => {
        try {
          this.results.push(JSON.parse(line) as ProbeResult);
        } catch {
          // not a result line
        }
      },
    });
  }

  async stop(): Promise<void> {
    await this.#process?.stop(1000);
    this.#process = undefined;
  }
}

/** One loaded Service: its name, what the prober asks, and the prober's results so far. */
export interface LoadTarget {
  readonly service: string;
  readonly target: string;
  readonly results: ProbeResult[];
  stop(): Promise<void>;
}

export const LOAD_INTERVAL_MS = 100;
/** Long enough for a SYN retransmission (1 s) after a takeover: a slow answer is still an answer. */
const LOAD_TIMEOUT_MS = 2500;

function v4(svcs: readonly LabService[], name: string): string {
  const a = svcs.find((s) => s.name === name)?.addresses.find((x) => !x.includes(':'));
  if (!a) throw new Error(`the sample Service ${name} has no IPv4 address`);
  return a;
}

/** A new TCP echo connection (or HTTP GET) to address:port every interval. */
function tcpLoad(lab: Lab, service: string, address: string, port: number, mode: 'echo' | 'http', intervalMs: number): LoadTarget {
  const p = new ConnectionProber(lab, address, port, { intervalMs, timeoutMs: LOAD_TIMEOUT_MS, mode });
  return { service, target: p.target, results: p.results, stop: () => p.stop() };
}

/** Starts the three probers (TCP echo-tcp, HTTP web, UDP echo-udp on their IPv4 addresses). */
export function startLoad(lab: Lab, svcs: readonly LabService[], intervalMs = LOAD_INTERVAL_MS): LoadTarget[] {
  const udp = new UdpProber(lab, v4(svcs, 'echo-udp'), 5678, { intervalMs, timeoutMs: LOAD_TIMEOUT_MS });
  return [
    tcpLoad(lab, 'echo-tcp', v4(svcs, 'echo-tcp'), 5678, 'echo', intervalMs),
    tcpLoad(lab, 'web', v4(svcs, 'web'), 80, 'http', intervalMs),
    { service: 'echo-udp', target: udp.target, results: udp.results, stop: () => udp.stop() },
  ];
}

/** The addresses the load goes to (for the ARP watch). */
export function loadAddresses(svcs: readonly LabService[]): string[] {
  return ['echo-tcp', 'web', 'echo-udp'].map((n) => v4(svcs, n));
}

// ---------------------------------------------------------------- the kernel-mode Service

/** The chaos run's kernel-mode Service: created by the run, so `npm run lab` and its samples stay as they are. */
export const KERNEL_SERVICE = 'chaos-kernel';
/** Its one port, to the pods' TCP echo (`echo`, 5678). */
const KERNEL_PORT = 5678;

/** Where the kernel-mode Service answers: what the load probes and the SYN flood floods. */
export interface KernelTarget {
  readonly service: string;
  readonly address: string;
  readonly port: number;
}

/**
 * Creates `chaos-kernel` (`fulcrum-lb.io/data-plane: kernel`, externalTrafficPolicy Cluster, the
 * lab pods' TCP echo: the nodes forward it with nftables DNAT, speaker/kernel/) and waits for its
 * IPv4 address; the speakers run kernel mode by default (`--data-plane-kernel auto`).
 */
export async function createKernelService(lab: Lab, timeoutMs = 30_000): Promise<KernelTarget> {
  await apiRequest(lab.apiTarget, 'POST', `/api/v1/namespaces/${SAMPLE_NAMESPACE}/services`, {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: KERNEL_SERVICE, namespace: SAMPLE_NAMESPACE, annotations: { 'fulcrum-lb.io/data-plane': 'kernel' } },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', selector: { app: 'web' }, ports: [{ name: 'echo', port: KERNEL_PORT, targetPort: 'echo', protocol: 'TCP' }] },
  });
  const address = await waitFor(`an IPv4 address on ${KERNEL_SERVICE}`, async () => (await lab.services()).find((s) => s.name === KERNEL_SERVICE)?.addresses.find((a) => !a.includes(':')), { timeoutMs, intervalMs: 250 });
  return { service: KERNEL_SERVICE, address, port: KERNEL_PORT };
}

/** A TCP echo connection to the kernel-mode Service every interval. */
export function startKernelLoad(lab: Lab, k: KernelTarget, intervalMs = LOAD_INTERVAL_MS): LoadTarget {
  return tcpLoad(lab, k.service, k.address, k.port, 'echo', intervalMs);
}
