import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NeighbourCapture } from '../../lab/capture.js';
import { apiRequest } from '../../lab/kube-rest.js';
import { startLab, type Lab, type LabService } from '../../lab/lab.js';
import { execCommand, type LabProcess } from '../../lab/netns.js';
import { canonicalAddress } from '../../src/address.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Helpers of the speaker resilience e2e tests (not a test file): a ready lab, the speakers' own
 * view of ownership (metrics, VIPs on lo, their membership log lines), a peer partition with
 * nftables inside a node namespace, CPU load, and the emulator's write counts.
 */

/**
 * Lab prefix `fr<n>`: fr1 soak, fr2 API outage, fr3 partition, fr4 writes. FULCRUM_RESILIENCE_PREFIX
 * replaces "fr" (1–5 letters), so a second run of these suites (by hand, while `npm test` runs
 * them) does not sweep the first one's namespaces away.
 */
export function labPrefix(n: number): string {
  const base = process.env.FULCRUM_RESILIENCE_PREFIX ?? 'fr';
  if (!/^[a-z]{1,5}$/.test(base)) throw new Error(`FULCRUM_RESILIENCE_PREFIX "${base}": 1 to 5 lower-case letters`);
  return `${base}${n}`;
}

/** Skips the suite with a visible line when not root (network namespaces need it). */
export function skipUnlessRoot(ctx: Mocha.Context, what: string): void {
  if (process.getuid?.() === 0) return;
  console.log(`    (${what} skipped: needs root for network namespaces)`);
  ctx.skip();
}

/**
 * On hosts whose own address is the lab client's (192.0.2.2), the root namespace answers ARP
 * for it on the lab host link (arp_ignore 0) and nodes then send the client's replies to the
 * host. arp_ignore=1 on our own host link (it carries our prefix, gone with the lab) stops that.
 */
export async function hideHostAddressesFromLab(lab: Lab): Promise<void> {
  await execCommand('sysctl', ['-qw', `net.ipv4.conf.${lab.topology.names.hostLink}.arp_ignore=1`]);
  for (const n of lab.topology.nodes) await lab.topology.exec(n.namespace, 'ip', ['neigh', 'flush', 'to', lab.topology.client.ipv4]);
}

/** address → the nodes that have it on lo (where the speaker's VIP plumbing puts owned ones). */
export async function vipHolders(lab: Lab): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  await Promise.all(lab.topology.nodes.map(async (n) => {
    const r = await lab.topology.exec(n.namespace, 'ip', ['-j', 'addr', 'show', 'dev', 'lo']);
    const infos = (JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[]).flatMap((l) => l.addr_info ?? []);
    for (const i of infos) {
      if (!i.local || i.local === '127.0.0.1' || i.local === '::1') continue;
      out.set(i.local, [...(out.get(i.local) ?? []), n.name].sort());
    }
  }));
  return out;
}

/**
 * Every address on exactly one node's lo. A node that lost an address keeps it while it hands
 * over (`--handover`) and while its proxy drains, so right after start-up or a move two may hold it.
 */
export async function waitForOneHolderEach(lab: Lab, timeoutMs = 20_000): Promise<Map<string, string[]>> {
  return waitFor('every address on one node', async () => {
    const h = await vipHolders(lab);
    return [...h.values()].every((nodes) => nodes.length === 1) ? h : undefined;
  }, { timeoutMs, intervalMs: 100, describe: async () => holdersText(await vipHolders(lab)) });
}

export function holdersText(h: ReadonlyMap<string, string[]>): string {
  return [...h.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([ip, nodes]) => `${ip}=${nodes.join('+')}`).join(' ');
}

const METRICS_PORT = 7473;

/** The Prometheus text of a node's speaker, fetched inside the node namespace (local, API-independent). */
export async function speakerMetrics(lab: Lab, node: string): Promise<string> {
  const ns = lab.topology.node(node).namespace;
  const r = await lab.topology.exec(ns, 'curl', ['-sf', '--max-time', '3', `http://127.0.0.1:${METRICS_PORT}/metrics`], { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`metrics of ${node}: curl exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Every sample of a metric: its labels and value. */
export function metricSamples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of every sample of a metric (all label sets). */
export function metricSum(text: string, name: string): number {
  return metricSamples(text, name).reduce((sum, x) => sum + x.value, 0);
}

/** Per node: owner changes its speaker has seen (`fulcrum_speaker_elections_total`) and whether it calls itself isolated. */
export interface SpeakerCounters {
  readonly elections: number;
  readonly isolated: number;
  readonly owned: number;
  /** Longest event-loop stall since the previous scrape (prom-client resets it on each), seconds. */
  readonly loopLagMaxS: number;
}

export async function electionCounts(lab: Lab): Promise<Map<string, SpeakerCounters>> {
  const out = new Map<string, SpeakerCounters>();
  await Promise.all(lab.topology.nodes.map(async (n) => {
    const text = await speakerMetrics(lab, n.name);
    out.set(n.name, {
      elections: metricSum(text, 'fulcrum_speaker_elections_total'),
      isolated: metricSum(text, 'fulcrum_speaker_isolated'),
      owned: metricSum(text, 'fulcrum_speaker_addresses_owned'),
      loopLagMaxS: metricSum(text, 'fulcrum_nodejs_eventloop_lag_max_seconds'),
    });
  }));
  return out;
}

/** Total `count` of the Events with this reason (the speakers aggregate repeats into one Event). */
export async function eventCount(lab: Lab, reason: string): Promise<number> {
  const list = (await apiRequest(lab.apiTarget, 'GET', '/api/v1/events')).items as { reason?: string; count?: number; series?: { count?: number } }[];
  return list.filter((e) => e.reason === reason).reduce((sum, e) => sum + (e.series?.count ?? e.count ?? 1), 0);
}

// ---------------------------------------------------------------- load and partitions

/** Busy loops in the root namespace (nice 0), stopped with the lab's topology. */
export function startCpuLoad(lab: Lab, processes: number): LabProcess[] {
  return Array.from({ length: processes }, (_, i) => lab.topology.spawn(undefined, process.execPath, ['-e', 'for (;;) {}'], { name: `busy-loop ${i + 1}` }));
}

const PARTITION_TABLE = 'fulcrum-resilience-partition';

/**
 * Cuts a node off from its peers but not from the API nor the client: nftables in the node's
 * namespace drops IP traffic to and from the other nodes' addresses and pod slices (both
 * families). The lab host (API) and the client stay reachable; ARP is not IP and still flows.
 */
export async function partitionNode(lab: Lab, node: string): Promise<void> {
  const me = lab.topology.node(node);
  const others = lab.topology.nodes.filter((n) => n.name !== me.name);
  const v4 = others.flatMap((n) => [n.ipv4, n.podCidrV4]).join(', ');
  const v6 = others.flatMap((n) => [n.ipv6, n.podCidrV6]).join(', ');
  const rules = (dir: 'saddr' | 'daddr') => `ip ${dir} @peers4 drop; ip6 ${dir} @peers6 drop;`;
  const script = `
table inet ${PARTITION_TABLE} {
  set peers4 { type ipv4_addr; flags interval; elements = { ${v4} } }
  set peers6 { type ipv6_addr; flags interval; elements = { ${v6} } }
  chain input { type filter hook input priority -300; policy accept; ${rules('saddr')} }
  chain output { type filter hook output priority -300; policy accept; ${rules('daddr')} }
  chain forward { type filter hook forward priority -300; policy accept; ${rules('saddr')} ${rules('daddr')} }
}
`;
  await lab.topology.run(me.namespace, 'nft', ['-f', '-'], { input: script });
}

export async function healPartition(lab: Lab, node: string): Promise<void> {
  await lab.topology.run(lab.topology.node(node).namespace, 'nft', ['delete', 'table', 'inet', PARTITION_TABLE]);
}

// ---------------------------------------------------------------- API writes

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** The emulator's write requests by "verb resource" (reads and watches left out). */
export function writeCounts(lab: Lab): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, n] of Object.entries(lab.api.requestCounts())) if (WRITE_VERBS.has(key.split(' ')[0]!)) out.set(key, n);
  return out;
}

/** Pure: `after - before` by key, zero deltas dropped. */
export function countDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, n] of after) {
    const d = n - (before.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

// ---------------------------------------------------------------- a ready lab and what the speakers say

export function addressOf(svcs: readonly LabService[], name: string, family: 4 | 6 = 4): string {
  const a = svcs.find((s) => s.name === name)?.addresses.find((x) => x.includes(':') === (family === 6));
  assert.ok(a, `${name} has an IPv${family} address`);
  return a;
}

export interface Started {
  lab: Lab;
  stateDir: string;
  svcs: LabService[];
}

/** The lab (3 nodes unless told) with its sample Services, every address answering from the client. */
export async function startReadyLab(prefix: string, nodes = 3): Promise<Started> {
  const stateDir = mkdtempSync(join(tmpdir(), `fulcrum-${prefix}-`));
  let lab: Lab | undefined;
  try {
    // info logs in the speakers' log files, whatever the test runner's level: a failure quotes their liveness verdicts
    lab = await startLab({ prefix, nodes, stateDir, componentEnv: { FULCRUM_LOG_LEVEL: 'info' } });
    await hideHostAddressesFromLab(lab);
    const svcs = await lab.waitForAddresses(30_000);
    // Every speaker has heard every other and applied that view: no start-up move is pending.
    assert.deepEqual(await lab.waitForSpeakers(30_000), [], 'every speaker ready');
    const l = lab;
    await waitFor('every sample Service to answer from the client', async () => {
      const rows = await l.check();
      return rows.every((r) => r.result.startsWith('ok')) ? rows : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, describe: () => l.check() });
    return { lab, stateDir, svcs };
  } catch (err) {
    await lab?.stop();
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
}

export async function stopLab(s: Started | undefined): Promise<void> {
  if (!s) return;
  await s.lab.stop();
  // FULCRUM_RESILIENCE_LOGS=DIR keeps the component logs (DIR/<prefix>/) for a post-mortem.
  const keep = process.env.FULCRUM_RESILIENCE_LOGS;
  if (keep) cpSync(join(s.stateDir, 'logs'), join(keep, s.lab.topology.prefix), { recursive: true });
  rmSync(s.stateDir, { recursive: true, force: true });
}

export function nodeByMac(lab: Lab): Map<string, string> {
  return new Map(lab.topology.nodes.map((n) => [n.mac, n.name]));
}

/** Gratuitous ARP / unsolicited NA sent by nodes (takeover announcements) in [fromS, toS). */
export function gratuitousFromNodes(lab: Lab, capture: NeighbourCapture, fromS: number, toS = Infinity): number {
  const macs = nodeByMac(lab);
  return capture.events().filter((e) => e.gratuitous && macs.has(e.srcMac) && e.time >= fromS && e.time < toS).length;
}

/**
 * Gratuitous ARP / unsolicited NA in [fromS, ∞), split by sender: `takeovers` from a node that did
 * not hold the announced address in `holders`, `reclaims` from the node that did (a speaker whose
 * event loop stalled past --fail-after claims its addresses again, by design: peers may have
 * taken them over meanwhile). Addresses compared in one spelling.
 */
export function announcementsBySender(lab: Lab, capture: NeighbourCapture, holders: ReadonlyMap<string, readonly string[]>, fromS: number): { takeovers: string[]; reclaims: number } {
  const macs = nodeByMac(lab);
  const held = new Map([...holders].map(([a, nodes]) => [canonicalAddress(a) ?? a, nodes]));
  const takeovers: string[] = [];
  let reclaims = 0;
  for (const e of capture.events()) {
    const node = macs.get(e.srcMac);
    if (!e.gratuitous || node === undefined || e.time < fromS) continue;
    if (held.get(canonicalAddress(e.targetIp) ?? e.targetIp)?.includes(node)) reclaims++;
    else takeovers.push(`${node} announced ${e.targetIp}`);
  }
  return { takeovers, reclaims };
}

/**
 * Start-up is over: no takeover announcement on the bridge for 3 s and the speakers' election
 * counters unchanged between two looks, so what is counted afterwards is steady state.
 */
export async function waitForQuiet(lab: Lab, capture: NeighbourCapture): Promise<void> {
  let last = '';
  await waitFor('the speakers to be quiet (no takeover announcement for 3 s, election counters unchanged, every address on one node)', async () => {
    const counts = JSON.stringify([...(await electionCounts(lab)).entries()].map(([n, c]) => [n, c.elections]));
    const same = counts === last;
    last = counts;
    // A node that lost an address at start-up keeps it on lo until its proxy has drained it.
    const settled = [...(await vipHolders(lab)).values()].every((nodes) => nodes.length === 1);
    return same && settled && gratuitousFromNodes(lab, capture, Date.now() / 1000 - 3) === 0;
  }, { timeoutMs: 60_000, intervalMs: 1000 });
}

/** Per node: election counter increase between two looks. */
export function electionDelta(before: Map<string, { elections: number }>, after: Map<string, { elections: number }>): Map<string, number> {
  return new Map([...after.entries()].map(([n, c]) => [n, c.elections - (before.get(n)?.elections ?? 0)]));
}

/** The speakers' membership verdicts (peerState, isolated, rejoined) and their own stalls logged since `fromMs`, one short line each. */
export function livenessLog(s: Started, fromMs: number): string[] {
  const dir = join(s.stateDir, 'logs');
  const out: string[] = [];
  for (const f of readdirSync(dir).filter((x) => x.startsWith('speaker-'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!/"event":"(peerState|isolated|rejoined|stalled)"/.test(line)) continue;
      try {
        const e = JSON.parse(line) as { time: string; msg: string; stalledMs?: number };
        const what = e.stalledMs === undefined ? e.msg : `stalled ${e.stalledMs} ms`;
        if (Date.parse(e.time) >= fromMs) out.push(`${e.time} ${f.replace(/\.log$/, '')}: ${what}`);
      } catch {
        // a partial line
      }
    }
  }
  return out.sort();
}

export function assertSpeakersRunning(lab: Lab): void {
  for (const [node, p] of lab.speakers) assert.ok(p.running, `speaker ${node} is running (${p.output().slice(-300)})`);
}
