// `npm run bench:failover [-- --quick]`: how long a client sees no new connection succeed when
// the owner of a Service address goes away, in the lab (3 nodes, allocator, one speaker per
// node, default speaker settings). A prober in the client namespace opens a new TCP connection
// every 10 ms to the address and counts one a success when its echo comes back; the figure of a
// trial is the longest gap between the start times of two successive successful connections,
// from just before the fault until service is back (≥ 30 successes after the new owner holds
// the address). Cases:
//   (a) crash: the owner node's cable is pulled (switch port down) and its speaker frozen (SIGSTOP)
//   (b) the owner's speaker gets SIGKILL (its VIP stays on lo, nothing answers ARP for it)
//   (c) the owner's speaker gets SIGTERM (clean hand-over)
//   (d) a Local Service with endpoints on every node: the owner crashes as in (a) with the
//       endpoint on it, whose EndpointSlice still says ready (no kubelet noticed); another node
//       with a ready local endpoint must take over
//   (e) two of three speakers get SIGKILL, the owner's among them: the survivor hears no peer
//       and serves once the API shows their Leases stale (speaker/membership/README.md); fewer
//       trials, each waits for a Lease period
// Between trials the fault is undone and the lab settles (every speaker up, one holder).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyManifest, componentStatus } from '../lab/components.js';
import { startLab, type Lab } from '../lab/lab.js';
import { execCommand, waitFor, type LabProcess } from '../lab/netns.js';
import type { BenchRun, Workload } from './lib/report.js';
import { runIfMain } from './lib/standalone.js';

const PREFIX = 'fleb';
const ECHO_PORT = 5678;
const PROBE_EVERY_MS = 10;
const SUCCESSES_AFTER = 30;

// Runs in the client namespace: a new connection every 10 ms, prints the start time of each one
// whose echo came back. A connection that does not complete within 1 s is abandoned.
const PROBER = `
const net = require('node:net');
const [host, port, everyMs] = process.argv.slice(1);
setInterval(() => {
  const t = Date.now();
  const s = net.connect({ host, port: Number(port) });
  s.setTimeout(1000, () => s.destroy());
  s.on('connect', () => s.write('x'));
  s.on('data', () => { process.stdout.write('ok ' + t + '\\n'); s.destroy(); });
  s.on('error', () => undefined);
}, Number(everyMs));
`;

type Case = 'crash' | 'sigkill' | 'sigterm' | 'localCrash' | 'twoDie';

const LOCAL_SERVICE = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'bench-local', namespace: 'default' },
  spec: { type: 'LoadBalancer', selector: { app: 'web' }, externalTrafficPolicy: 'Local', ports: [{ name: 'echo', port: ECHO_PORT, targetPort: 'echo', protocol: 'TCP' }] },
};

async function holders(lab: Lab, address: string): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(lab.topology.nodes.map(async (n) => {
    const r = await lab.topology.exec(n.namespace, 'ip', ['-j', 'addr', 'show', 'dev', 'lo']);
    const infos = (JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[]).flatMap((l) => l.addr_info ?? []);
    if (infos.some((i) => i.local === address)) out.push(n.name);
  }));
  return out.sort();
}

class Prober {
  readonly successes: number[] = [];
  readonly process: LabProcess;
  constructor(lab: Lab, address: string) {
    this.process = lab.topology.spawn(lab.topology.client.namespace, process.execPath, ['-e', PROBER, address, String(ECHO_PORT), String(PROBE_EVERY_MS)], {
      name: `prober ${address}`,
      onStdoutLine: (line) => {
        const t = Number(line.slice(3));
        if (line.startsWith('ok ') && Number.isFinite(t)) this.successes.push(t);
      },
    });
  }
  countSince(t: number): number {
    let n = 0;
    for (let i = this.successes.length - 1; i >= 0 && this.successes[i]! > t; i--) n++;
    return n;
  }
  /** Longest gap between successive successes whose later one started after `from`. */
  gapAfter(from: number, until: number): number {
    const s = [...this.successes].sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < s.length; i++) if (s[i]! > from && s[i - 1]! < until) gap = Math.max(gap, s[i]! - s[i - 1]!);
    return gap;
  }
}

/** Every speaker running, exactly one holder, and the client being served: ready for a trial. */
async function settle(lab: Lab, address: string, prober: Prober): Promise<string> {
  let last = '';
  return waitFor(`${address} to settle`, async () => {
    for (const [node, p] of lab.speakers) {
      if (p.running) continue;
      // A speaker that died on its own is a finding: say so, and restart it so the run goes on.
      process.stderr.write(`speaker ${node} is not running (${componentStatus(p)}); restarting it\n${p.output().slice(-1500)}\n`);
      lab.startSpeaker(node);
    }
    const h = await holders(lab, address);
    const t = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const settled = h.length === 1 && prober.countSince(t) >= 20 && (await holders(lab, address)).join() === h[0];
    last = `holders ${h.join(',') || 'none'}, ${prober.countSince(t)} successes in 300 ms`;
    return settled ? h[0] : undefined;
  }, 30_000, 50).catch((err: unknown) => {
    throw new Error(`${(err as Error).message} (last seen: ${last})`, { cause: err });
  });
}

async function trial(lab: Lab, c: Case, address: string, prober: Prober): Promise<number> {
  const owner = await settle(lab, address, prober);
  const speaker = lab.speakers.get(owner)!;
  // (e): the owner and the next node by name die; the third survives.
  const alsoKilled = c === 'twoDie' ? lab.topology.nodes.map((n) => n.name).find((n) => n !== owner) : undefined;
  const t0 = Date.now();
  if (c === 'crash' || c === 'localCrash') {
    await lab.topology.setNodeLink(owner, 'down');
    speaker.signal('SIGSTOP');
  } else {
    speaker.signal(c === 'sigterm' ? 'SIGTERM' : 'SIGKILL');
    if (alsoKilled) lab.speakers.get(alsoKilled)!.signal('SIGKILL');
  }
  await waitFor(`service on ${address} back after ${c}`, async () => {
    const h = await holders(lab, address);
    return h.some((n) => n !== owner) && prober.countSince(Date.now() - 2000) > 0 ? true : undefined;
  }, 30_000, 20);
  const tMoved = Date.now();
  await waitFor(`${SUCCESSES_AFTER} successes on ${address}`, () => prober.countSince(tMoved) >= SUCCESSES_AFTER || undefined, 30_000, 20);
  const gap = prober.gapAfter(t0, Date.now());
  if (c === 'crash' || c === 'localCrash') {
    speaker.signal('SIGCONT');
    await lab.topology.setNodeLink(owner, 'up');
  } else {
    for (const n of [owner, ...(alsoKilled ? [alsoKilled] : [])]) {
      await lab.speakers.get(n)!.exited;
      lab.startSpeaker(n);
    }
  }
  return gap;
}

/** After a failed trial: every cable plugged, nothing frozen, every speaker running. */
async function restore(lab: Lab): Promise<void> {
  for (const n of lab.topology.nodes) {
    await lab.topology.setNodeLink(n.name, 'up');
    const p = lab.speakers.get(n.name);
    if (p?.running) p.signal('SIGCONT');
    else lab.startSpeaker(n.name);
  }
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

const TITLES: Record<Case, string> = {
  crash: '(a) owner node crash (link down + SIGSTOP)',
  sigkill: '(b) owner speaker SIGKILL',
  sigterm: '(c) owner speaker SIGTERM',
  localCrash: '(d) Local Service: owner crashes with its endpoint',
  twoDie: '(e) two of three speakers SIGKILL (the owner\'s among them)',
};

export const run: BenchRun = async ({ quick }) => {
  if (process.getuid?.() !== 0) throw new Error('bench:failover needs root (network namespaces)');
  const caseTrials = quick ? 5 : 20;
  const stateDir = mkdtempSync(join(tmpdir(), 'fulcrum-failover-'));
  // Speakers log at info to their files whatever this process's level, so a failed trial can be read.
  const lab = await startLab({ prefix: PREFIX, nodes: 3, stateDir, componentEnv: { FULCRUM_LOG_LEVEL: 'info' } });
  const workloads: Workload[] = [];
  try {
    // The host's own address may be the lab client's: keep the root namespace out of its ARP.
    await execCommand('sysctl', ['-qw', `net.ipv4.conf.${lab.topology.names.hostLink}.arp_ignore=1`]);
    for (const n of lab.topology.nodes) await lab.topology.exec(n.namespace, 'ip', ['neigh', 'flush', 'to', lab.topology.client.ipv4]);
    await applyManifest(lab.apiTarget, LOCAL_SERVICE);
    const svcs = await lab.waitForAddresses(30_000);
    const v4 = (name: string) => svcs.find((s) => s.name === name)?.addresses.find((a) => !a.includes(':'));
    const echo = v4('echo-tcp');
    const local = await waitFor('bench-local address', async () => (await lab.services()).find((s) => s.name === 'bench-local')?.addresses[0], 30_000, 100);
    if (!echo) throw new Error('echo-tcp got no IPv4 address');
    // FULCRUM_FAILOVER_CASES=sigterm,crash runs only those (when chasing one case).
    const only = process.env.FULCRUM_FAILOVER_CASES?.split(',');
    for (const c of (['crash', 'sigkill', 'sigterm', 'localCrash', 'twoDie'] as const).filter((x) => !only || only.includes(x))) {
      const address = c === 'localCrash' ? local : echo;
      const trials = c === 'twoDie' ? (quick ? 2 : 5) : caseTrials;
      const prober = new Prober(lab, address);
      const gaps: number[] = [];
      const failed: string[] = [];
      try {
        // A trial that cannot settle or recover is reported, not fatal: the run goes on.
        for (let i = 0; i < trials + failed.length && failed.length < trials; i++) {
          try {
            gaps.push(await trial(lab, c, address, prober));
          } catch (err) {
            failed.push((err as Error).message);
            process.stderr.write(`${TITLES[c]}: trial failed: ${(err as Error).message}\n`);
            await restore(lab);
          }
        }
      } finally {
        await prober.process.stop(500);
      }
      if (gaps.length === 0) throw new Error(`${TITLES[c]}: every trial failed: ${failed[0]}`);
      const note = `${gaps.length} trials${failed.length ? ` (${failed.length} could not run: ${failed[0]})` : ''}, gap in successful new connections (one every ${PROBE_EVERY_MS} ms)`;
      for (const [p, v] of [['p50', percentile(gaps, 50)], ['p95', percentile(gaps, 95)], ['max', Math.max(...gaps)]] as const) {
        workloads.push({ name: `failover ${TITLES[c]} ${p}`, unit: 'ms', lowerIsBetter: true, fulcrum: Math.round(v), haproxy: null, kernel: null, direct: null, notes: p === 'p50' ? note : undefined });
      }
      process.stderr.write(`${TITLES[c]}: ${gaps.map((g) => Math.round(g)).join(' ')}\n`);
    }
  } catch (err) {
    await lab.stop();
    process.stderr.write(`bench:failover: speaker logs kept in ${stateDir}/logs\n`);
    throw err;
  }
  await lab.stop();
  rmSync(stateDir, { recursive: true, force: true });
  return workloads;
};

runIfMain(import.meta.url, run);
