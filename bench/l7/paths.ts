// Brings the L7 suite's processes up: the backend responder, haproxy in HTTP mode and
// `fulcrum proxy` with the same frontends; checks that every TLS frontend presents the right
// certificate and answers before anything is measured.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../src/errors.js';
import { distinctPorts, start, stop, waitForOutput, type Spawned } from '../lib/children.js';
import type { CpuPlan } from '../lib/cpu.js';
import { startHaproxy } from '../l4/tools.js';
import { L7_FRONTENDS, SERVER_NAME, backendL7Config, fulcrumL7Config, frontendName, haproxyL7Config, isTls, type Certificates, type FrontendPorts, type L7Frontend, type L7Topology, type TlsFrontend } from './config.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
// FULCRUM_BENCH_BIN: another executable taking the same `proxy --config FILE` (to test the harness).
const FULCRUM_BIN = process.env.FULCRUM_BENCH_BIN ?? join(REPO, 'bin', 'fulcrum');
const HOST = '127.0.0.1';

export async function allocateL7Topology(): Promise<L7Topology> {
  const take = distinctPorts();
  const ports = async (): Promise<FrontendPorts> => {
    const out = {} as FrontendPorts;
    for (const f of L7_FRONTENDS) out[f] = await take();
    return out;
  };
  return { host: HOST, backend: await take(), fulcrum: await ports(), haproxy: await ports() };
}

/** The backend responder on the load CPUs; `statsSocket` counts the connections it accepts. */
export async function startL7Backend(t: L7Topology, dir: string, statsSocket: string, cpus: CpuPlan, maxSeconds: number): Promise<Spawned> {
  const cfg = join(dir, 'backend-http.cfg');
  writeFileSync(cfg, backendL7Config(t, statsSocket));
  return startHaproxy('http backend (haproxy)', cfg, t.host, t.backend, cpus.loadCpus, maxSeconds);
}

export async function startL7Haproxy(t: L7Topology, dir: string, threads: number, certs: Certificates, cpus: CpuPlan, maxSeconds: number): Promise<Spawned> {
  const cfg = join(dir, 'haproxy-l7.cfg');
  writeFileSync(cfg, haproxyL7Config(t, threads, certs));
  return startHaproxy('haproxy (http mode)', cfg, t.host, t.haproxy.http, cpus.proxyCpus, maxSeconds);
}

export type FulcrumL7Start =
  | { kind: 'running'; process: Spawned; frontends: readonly L7Frontend[]; note: string | null }
  | { kind: 'unavailable'; reason: string };

async function tryFulcrum(t: L7Topology, dir: string, workers: number, certs: Certificates, cpus: CpuPlan, maxSeconds: number, frontends: readonly L7Frontend[]): Promise<{ process: Spawned } | { reason: string }> {
  const cfg = join(dir, 'fulcrum-l7.yaml');
  writeFileSync(cfg, fulcrumL7Config(t, workers, certs, frontends));
  const env = { ...process.env, FULCRUM_LOG_LEVEL: process.env.FULCRUM_BENCH_LOG_LEVEL ?? 'warn' };
  // FULCRUM_BENCH_NODE_ARGS: node flags for the proxy, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  const nodeArgs = (process.env.FULCRUM_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const s = start('fulcrum proxy (http)', process.execPath, [...nodeArgs, FULCRUM_BIN, 'proxy', '--config', cfg], { cpus: cpus.proxyCpus, maxSeconds, cwd: REPO, env });
  try {
    await waitForOutput(s, /fulcrum proxy: ready/, 15000);
    return { process: s };
  } catch (err) {
    await stop(s, 1000);
    const text = s.output().trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? errorMessage(err);
    return { reason: text.slice(0, 200) };
  }
}

/**
 * `fulcrum proxy` with every frontend; if it refuses the file, once more with the plain HTTP
 * frontend only (a proxy whose TLS is not there yet still gets its HTTP figures). Then each TLS
 * frontend is probed; one that does not answer a verified HTTPS request is left out, with why.
 */
export async function startL7Fulcrum(t: L7Topology, dir: string, workers: number, certs: Certificates, cpus: CpuPlan, maxSeconds: number): Promise<FulcrumL7Start> {
  let started = await tryFulcrum(t, dir, workers, certs, cpus, maxSeconds, L7_FRONTENDS);
  let frontends: readonly L7Frontend[] = L7_FRONTENDS;
  const notes: string[] = [];
  if (!('process' in started)) {
    notes.push(`refused the TLS frontends: ${started.reason}`);
    frontends = ['http'];
    started = await tryFulcrum(t, dir, workers, certs, cpus, maxSeconds, frontends);
    if (!('process' in started)) return { kind: 'unavailable', reason: started.reason };
  }
  const working: L7Frontend[] = [];
  for (const f of frontends) {
    const problem = isTls(f) ? await probeTls(t.host, t.fulcrum[f], f, certs.caFile) : null;
    if (problem === null) working.push(f);
    else notes.push(`${frontendName(f)} does not serve HTTPS yet (${problem})`);
  }
  return { kind: 'running', process: started.process, frontends: working, note: notes.length ? notes.join('; ') : null };
}

/** What the certificate of each TLS frontend must be. */
function certificateProblem(f: TlsFrontend, cert: PeerCertificate & { asn1Curve?: string }): string | null {
  if (f === 'ecdsa') return cert.asn1Curve === 'prime256v1' ? null : `expected an ECDSA P-256 certificate, got ${cert.asn1Curve ?? `${cert.bits}-bit RSA`}`;
  return cert.modulus && cert.bits === 2048 ? null : `expected an RSA 2048 certificate, got ${cert.asn1Curve ?? `${cert.bits}-bit`}`;
}

/**
 * One HTTPS request to a TLS frontend, verified against the suite's CA for bench.example.com:
 * null when it answers 200 with the expected kind of certificate, else what went wrong.
 */
export async function probeTls(host: string, port: number, f: TlsFrontend, caFile: string, timeoutMs = 3000): Promise<string | null> {
  const ca = readFileSync(caFile);
  return new Promise((resolve) => {
    let answer = '';
    let settled = false;
    const done = (problem: string | null): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(problem);
    };
    const socket = tlsConnect({ host, port, servername: SERVER_NAME, ca, minVersion: 'TLSv1.2' });
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    socket.once('secureConnect', () => {
      const wrong = certificateProblem(f, socket.getPeerCertificate());
      if (wrong) return done(wrong);
      socket.write(`GET / HTTP/1.1\r\nHost: ${SERVER_NAME}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n\r\n')) done(answer.startsWith('HTTP/1.1 200') ? null : `answered ${answer.split('\r\n')[0]}`);
    });
    socket.once('error', (err) => done(errorMessage(err).split('\n')[0]!.slice(0, 160)));
    socket.once('close', () => done(`closed before an answer${answer ? `: ${answer.slice(0, 80)}` : ''}`));
  });
}
