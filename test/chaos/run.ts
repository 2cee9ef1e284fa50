import { apiRequest } from '../../lab/kube-rest.js';
import { delay, type LabProcess } from '../../lab/netns.js';
import { waitFor } from '../helpers/wait.js';
import { holdersText, nodeByMac, startReadyLab, stopLab, vipHolders, type Started } from '../e2e/helpers-resilience.js';
import { applyPoolConfig, EVENT_GOALS_MS, feasibleKind, EVENT_KINDS, EVENT_WEIGHTS, LOSES_OWNER, runEvent, type ChaosState, type EventKind } from './events.js';
import { answerRuns, between, doubleAnswers, p95Verdict, pickWeighted, prng, recoveryMs, reportTable, sharingKeyOf, sharingViolations, type KindRow, type ServiceStatus } from './invariants.js';
import { createKernelService, LOAD_INTERVAL_MS, loadAddresses, startKernelLoad, startLoad, type LoadTarget } from './load.js';

/**
 * The chaos run (not a test file; chaos.test.ts and e2e/chaos-quick.test.ts call it): a 3-node
 * lab under continuous client load (TCP, HTTP, UDP, and TCP to a kernel-mode Service the run
 * creates), `events` random faults one after another (events.ts), and the invariant checker
 * throughout — one address on two Services only with a common sharing key (the API, every
 * second), never two nodes answering ARP for one address for more than 1 s (a capture on the
 * bridge, the client asking for each loaded address every 100 ms), every loaded Service
 * answering again within its event's goal, a SYN flood's conntrack entries bounded, counted and
 * drained (flood.ts), and no address left behind.
 */

export interface ChaosOptions {
  readonly prefix: string;
  readonly events: number;
  readonly seed: number;
  readonly log?: (line: string) => void;
}

export interface ChaosReport {
  readonly seed: number;
  readonly events: number;
  readonly byKind: KindRow[];
  readonly violations: string[];
  readonly durationS: number;
  readonly table: string;
}

interface EventRecord {
  readonly index: number;
  readonly kind: EventKind;
  readonly startMs: number;
  detail: string;
  /** What the event found wrong itself (a SYN flood's invariants). */
  violations: readonly string[];
}

/** Two nodes answering for one address longer than this is a violation (the bound). */
const DOUBLE_ANSWER_LIMIT_S = 1;
/** A node's answers closer together than this are one run (the client asks every 100 ms). */
const ANSWER_RUN_GAP_S = 0.5;
/** After each event: every speaker ready and every loaded Service answering, within this. */
const SETTLE_TIMEOUT_MS = 45_000;

/** FULCRUM_CHAOS_SEED (replay) and FULCRUM_CHAOS_EVENTS (size), else a fresh seed and the default size. */
export function chaosOptionsFromEnv(prefix: string, defaultEvents: number): { prefix: string; events: number; seed: number } {
  const seedText = process.env.FULCRUM_CHAOS_SEED;
  const eventsText = process.env.FULCRUM_CHAOS_EVENTS;
  const seed = seedText ? Number(seedText) : Math.floor(Math.random() * 2 ** 31);
  const events = eventsText ? Number(eventsText) : defaultEvents;
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`FULCRUM_CHAOS_SEED "${seedText}": a non-negative integer`);
  if (!Number.isInteger(events) || events < 1 || events > 10_000) throw new Error(`FULCRUM_CHAOS_EVENTS "${eventsText}": an integer from 1 to 10000`);
  return { prefix, events, seed };
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? ((line: string) => console.log(line));
  const t0 = Date.now();
  log(`      chaos: seed ${o.seed} (FULCRUM_CHAOS_SEED=${o.seed} replays this schedule), ${o.events} events, lab prefix ${o.prefix}`);
  let started: Started | undefined;
  const arpings: LabProcess[] = [];
  let load: LoadTarget[] = [];
  const violations: string[] = [];
  let watching = true;
  try {
    started = await startReadyLab(o.prefix);
    const { lab, svcs } = started;
    const kernel = await createKernelService(lab);
    const state: ChaosState = { lab, kernel, rand: prng(o.seed), extraPods: [], podSeq: 0, extraRange: false, apiUp: true };
    const capture = await lab.topology.captureNeighbourTraffic();
    // arping broadcasts a request every 100 ms: every node that answers for the address shows on the bridge
    for (const a of [...loadAddresses(svcs), kernel.address]) arpings.push(lab.topology.spawn(lab.topology.client.namespace, 'arping', ['-i', 'eth0', '-W', '0.1', a], { name: `arping ${a}` }));
    load = [...startLoad(lab, svcs), startKernelLoad(lab, kernel)];
    await waitFor('every loaded Service to answer', () => load.every((l) => l.results.some((r) => r.ok)), { timeoutMs: 15_000, describe: () => load.map((l) => `${l.target}: ${l.results.at(-1)?.err ?? 'none yet'}`) });

    // The sharing watch: every second while the API is up (it reads what the allocator wrote).
    const sharingSeen = new Set<string>();
    const sharingWatch = (async () => {
      while (watching) {
        if (state.apiUp) {
          try {
            for (const v of sharingViolations(await serviceStatuses(started!))) {
              if (!sharingSeen.has(v)) violations.push(`shared address: ${v}`);
              sharingSeen.add(v);
            }
          } catch {
            // the API restarting under the read: the next look
          }
        }
        await delay(1000);
      }
    })();

    const events: EventRecord[] = [];
    for (let i = 0; i < o.events; i++) {
      const kind = feasibleKind(state, pickWeighted(state.rand, EVENT_WEIGHTS));
      const rec: EventRecord = { index: i + 1, kind, startMs: Date.now(), detail: '', violations: [] };
      events.push(rec);
      ({ detail: rec.detail, violations: rec.violations } = await runEvent(state, kind));
      const settleFrom = Date.now();
      const settled = await settle(started, load, settleFrom);
      if (settled !== true) violations.push(`event ${rec.index} (${kind}: ${rec.detail}) did not settle within ${SETTLE_TIMEOUT_MS / 1000} s: ${settled}`);
      log(`      #${rec.index} ${kind}: ${rec.detail}; settled ${((Date.now() - settleFrom) / 1000).toFixed(1)} s after the revert`);
      await delay(between(state.rand, 0, 500)); // the pause between events: part of the experiment
    }
    const loadEndMs = Date.now();
    watching = false;
    await sharingWatch;
    const targets = load;
    await Promise.all(load.map((l) => l.stop()));
    load = [];

    // Recovery per event: from its start, for the failures before the next event's start.
    const recoveries = new Map<EventKind, number[]>();
    const kindViolations = new Map<EventKind, number>();
    const violate = (kind: EventKind, line: string) => {
      violations.push(line);
      kindViolations.set(kind, (kindViolations.get(kind) ?? 0) + 1);
    };
    events.forEach((e, i) => {
      const about = `event ${e.index} (${e.kind}: ${e.detail})`;
      for (const v of e.violations) violate(e.kind, `${about}: ${v}`);
      const toMs = events[i + 1]?.startMs ?? loadEndMs;
      let worst = 0;
      for (const l of targets) {
        const r = recoveryMs(l.results, e.startMs, toMs, LOAD_INTERVAL_MS);
        const errors = [...new Set(l.results.filter((x) => !x.ok && x.t >= e.startMs && x.t < toMs).map((x) => x.err ?? '?'))].join(', ');
        if (r === undefined) {
          violate(e.kind, `${about}: ${l.target} failed (${errors}) and never answered again`);
          continue;
        }
        worst = Math.max(worst, r);
        // a fault that should move nothing: each event within the goal, plus one probe interval (a gap's resolution)
        if (!LOSES_OWNER.has(e.kind) && r > EVENT_GOALS_MS[e.kind] + LOAD_INTERVAL_MS) {
          violate(e.kind, `${about}: ${l.target} answered again after ${r} ms (${errors}; goal ${EVENT_GOALS_MS[e.kind]} ms + the ${LOAD_INTERVAL_MS} ms probe interval)`);
        }
      }
      recoveries.set(e.kind, [...(recoveries.get(e.kind) ?? []), worst]);
    });
    // a lost owner: its goal is a p95, judged over the run's events of that kind
    for (const [kind, list] of recoveries) {
      const v = LOSES_OWNER.has(kind) ? p95Verdict(list, EVENT_GOALS_MS[kind], LOAD_INTERVAL_MS) : undefined;
      if (v !== undefined) violate(kind, `${kind}: ${v}`);
    }

    for (const p of arpings) await p.stop(1000);
    const captured = await capture.stop();
    const doubles = doubleAnswers(answerRuns(captured, nodeByMac(lab), ANSWER_RUN_GAP_S), DOUBLE_ANSWER_LIMIT_S);
    const span = (r: { node: string; first: number; last: number }) => `${r.node} ${new Date(r.first * 1000).toISOString().slice(11, 23)}–${new Date(r.last * 1000).toISOString().slice(11, 23)}`;
    for (const d of doubles) violations.push(`two nodes answered for ${d.address} for ${d.seconds.toFixed(3)} s: ${d.runs.map(span).join(' and ')} (${eventAt(events, d.fromS * 1000)})`);

    violations.push(...(await leakedAddresses(started, state)));

    const byKind: KindRow[] = EVENT_KINDS.filter((k) => recoveries.has(k)).map((k) => ({
      kind: k,
      events: recoveries.get(k)!.length,
      recoveriesMs: recoveries.get(k)!,
      goalMs: EVENT_GOALS_MS[k],
      violations: kindViolations.get(k) ?? 0,
    }));
    const durationS = (Date.now() - t0) / 1000;
    const table = reportTable(byKind);
    log(`      chaos: ${o.events} events in ${durationS.toFixed(0)} s (seed ${o.seed}); ${violations.length} violations; ARP answer runs of two nodes at once: ${doubles.length} over ${DOUBLE_ANSWER_LIMIT_S} s`);
    log(table.split('\n').map((l) => `      ${l}`).join('\n'));
    for (const v of violations) log(`      VIOLATION ${v}`);
    return { seed: o.seed, events: o.events, byKind, violations, durationS, table };
  } finally {
    watching = false;
    await Promise.all(load.map((l) => l.stop()));
    for (const p of arpings) await p.stop(1000).catch(() => undefined);
    if (started) await started.lab.api.start().catch(() => undefined);
    await stopLab(started);
  }
}

/** Every speaker ready and seeing the others, and every loaded Service answering since `fromMs`: true, or what is still wrong. */
async function settle(s: Started, load: readonly LoadTarget[], fromMs: number): Promise<true | string> {
  const deadline = fromMs + SETTLE_TIMEOUT_MS;
  const problems = await s.lab.waitForSpeakers(SETTLE_TIMEOUT_MS);
  if (problems.length > 0) return problems.join('; ');
  try {
    await waitFor('every loaded Service to answer again', () => load.every((l) => l.results.some((r) => r.ok && r.t >= fromMs) && l.results.at(-1)?.ok), {
      timeoutMs: Math.max(1000, deadline - Date.now()),
      intervalMs: 50,
    });
    return true;
  } catch {
    return load.filter((l) => !l.results.at(-1)?.ok).map((l) => `${l.target}: ${l.results.at(-1)?.err ?? 'no attempt'}`).join('; ');
  }
}

interface ServiceJson {
  metadata: { namespace: string; name: string; annotations?: Record<string, string> };
  spec?: { type?: string };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

/** Every LoadBalancer Service's addresses and sharing key, from the API. */
async function serviceStatuses(s: Started): Promise<ServiceStatus[]> {
  const items = (await apiRequest(s.lab.apiTarget, 'GET', '/api/v1/services')).items as ServiceJson[];
  return items.filter((x) => x.spec?.type === 'LoadBalancer').map((x) => ({
    key: `${x.metadata.namespace}/${x.metadata.name}`,
    addresses: (x.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip),
    sharingKey: sharingKeyOf(x.metadata.annotations),
  }));
}

/** The event running at a time, for a violation's message. */
function eventAt(events: readonly EventRecord[], ms: number): string {
  const e = [...events].reverse().find((x) => x.startMs <= ms);
  return e ? `during event ${e.index}, ${e.kind}: ${e.detail}` : 'before the first event';
}

/**
 * No address left behind: once every address is on one node, each VIP on a node's lo belongs to
 * some Service's status; then every speaker stopped (SIGTERM: it hands over and drains) must
 * leave no VIP on any lo. The pool goes back to the lab's first.
 */
async function leakedAddresses(s: Started, state: ChaosState): Promise<string[]> {
  const lab = s.lab;
  const out: string[] = [];
  if (state.extraRange) await applyPoolConfig(lab, false);
  const holders = await waitFor('every address on one node', async () => {
    const h = await vipHolders(lab);
    return [...h.values()].every((n) => n.length === 1) ? h : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 }).catch(async () => vipHolders(lab));
  const statusAddresses = new Set((await serviceStatuses(s)).flatMap((x) => x.addresses));
  for (const [ip, nodes] of holders) if (!statusAddresses.has(ip)) out.push(`leaked address ${ip} on ${nodes.join('+')}'s lo (in no Service's status)`);
  for (const [ip, nodes] of holders) if (nodes.length > 1) out.push(`${ip} still on ${nodes.join('+')} 30 s after the last event`);
  await Promise.all([...lab.speakers.values()].map(async (p) => {
    if (!p.running) return;
    p.signal('SIGTERM');
    const timer = setTimeout(() => p.signal('SIGKILL'), 20_000);
    await p.exited;
    clearTimeout(timer);
  }));
  const left = await vipHolders(lab);
  if (left.size > 0) out.push(`speakers stopped, addresses left on lo: ${holdersText(left)}`);
  return out;
}
