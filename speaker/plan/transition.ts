import { internalIps } from '../../src/k8s/nodes.js';
import type { ServiceKey } from '../../src/service/key.js';
import type { LivenessView } from '../membership/liveness.js';
import type { HandoffEntry } from '../vip/handoff.js';
import { planSpeaker, type SpeakerPlan, type SpeakerSnapshot } from './addresses.js';
import { kernelCandidatePorts, kernelRuleAddresses, kernelUnavailableWarnings, type KernelAvailability } from './kernel-candidates.js';
import type { KernelPortPlan } from './kernel-ports.js';
import { buildNodeProxyModel, type NodeProxyModel } from './proxy-model.js';
import type { SecretLookups } from './tls-secrets.js';

/**
 * The speaker's step from what is applied on the node to what the plan wants, pure: which
 * addresses to stop answering for, which VIPs to add, whose open connections to forward to a
 * previous owner, the proxy model, which lost addresses keep accepting (the handover) or drain,
 * which VIPs come off, what to announce, and what to tell (elections, Events). The controller
 * applies it in this order and records each step that succeeded in the next `AppliedState`.
 *
 * Order, and why:
 *   1. withdraw: stop answering ARP/NDP for lost addresses first, so the new owner's
 *      announcements win at once;
 *   2. kernel (when kernel mode is enabled): the nftables rules of every kernel-mode port of
 *      every address this node may own (kernel-candidates.ts), before any VIP goes on lo;
 *      addVips and handoffs together: the VIP goes on lo, and a previous owner still running gets
 *      the open connections this node does not know, before any client moves here;
 *   3. proxy: listen on owned addresses, keep listening on addresses handed over (for the
 *      clients that have not heard the new owner yet), drop the others (they drain);
 *   4. drain / releaseVips: a dropped address keeps its VIP until its proxy has drained it (the
 *      new owner forwards its open connections here meanwhile), then the VIP comes off;
 *   5. announce: answer for the owned addresses and send gratuitous ARP/NA.
 */

export interface AppliedState {
  /** Addresses answered for, with their interfaces. */
  readonly serving: ReadonlyMap<string, readonly string[]>;
  /** Addresses on lo. */
  readonly vips: ReadonlySet<string>;
  /** Lost addresses whose frontends keep accepting until then (ms, the controller's clock). */
  readonly handingOver: ReadonlyMap<string, number>;
  /** Lost addresses no longer accepting whose VIP stays until their proxy has drained them. */
  readonly draining: ReadonlyMap<string, 'draining' | 'drained'>;
  /** The owner of every address at the last run; empty before the first plan of this process. */
  readonly owners: ReadonlyMap<string, string | undefined>;
}

export const NOTHING_APPLIED: AppliedState = { serving: new Map(), vips: new Set(), handingOver: new Map(), draining: new Map(), owners: new Map() };

export interface TransitionInput {
  readonly snapshot: SpeakerSnapshot;
  readonly view: LivenessView;
  readonly applied: AppliedState;
  readonly nowMs: number;
  /** After losing an address, keep accepting on it this long (0: drop it at once). */
  readonly handoverMs: number;
  /** Forward open connections to a previous owner still running (the handoff adapter is there). */
  readonly handoff: boolean;
  /** Announce every served address again (a peer came back, or this process was frozen). */
  readonly reannounce: boolean;
  /** The certificates and CA bundles of the Services' Secrets; absent: TLS ports are not served (with a warning). */
  readonly secrets?: SecretLookups;
  /** Kernel mode on this node (speaker/kernel/); absent: not considered (annotated ports stay in the proxy, no warning). */
  readonly kernel?: KernelAvailability;
}

export type ElectionResult = 'won' | 'lost' | 'none' | 'other';

export interface Transition {
  readonly plan: SpeakerPlan;
  readonly withdraw: readonly string[];
  readonly addVips: readonly string[];
  readonly handoffs: readonly HandoffEntry[];
  readonly proxy: NodeProxyModel;
  /** With kernel mode enabled: the kernel-mode ports of every address this node may own (their frontends are not in `proxy`). */
  readonly kernel?: readonly KernelPortPlan[];
  /** Lost addresses whose frontends keep accepting, until when; replaces `applied.handingOver`. */
  readonly handingOver: ReadonlyMap<string, number>;
  /** Addresses whose proxy drain starts now (ask the proxy when they are drained). */
  readonly drain: readonly string[];
  /** Drains this node need no longer follow (the address is accepted here again). */
  readonly forgetDrains: readonly string[];
  readonly releaseVips: readonly string[];
  readonly announce: readonly { readonly address: string; readonly interfaces: readonly string[] }[];
  /** Addresses newly served, with their Services (the nodeAssigned Events). */
  readonly assigned: readonly { readonly address: string; readonly services: readonly ServiceKey[] }[];
  /** Owner changes seen, for the elections metric; `owners` replaces `applied.owners`. */
  readonly elections: readonly { readonly address: string; readonly owner: string | undefined; readonly result: ElectionResult }[];
  readonly owners: ReadonlyMap<string, string | undefined>;
  /** Run again in this long (the first handover ends), if at all. */
  readonly wakeInMs: number | undefined;
}

export function planTransition(i: TransitionInput): Transition {
  const { snapshot: s, applied: a } = i;
  const plan = planSpeaker(s);
  const owned = new Set(plan.owned);
  const previous = previousOwners(i);

  const withdraw = [...a.serving.keys()].filter((ip) => !owned.has(ip));
  const handingOver = new Map<string, number>();
  for (const [ip, until] of a.handingOver) if (!owned.has(ip) && until > i.nowMs) handingOver.set(ip, until);
  if (i.handoverMs > 0) for (const ip of withdraw) handingOver.set(ip, i.nowMs + i.handoverMs);
  const accepting = new Set([...owned, ...handingOver.keys()]);

  const addVips = plan.owned.filter((ip) => !a.vips.has(ip));
  const modelInput = {
    me: s.me, services: s.services, endpoints: s.endpoints, down: i.view.down,
    ...(i.secrets ? { tls: i.secrets.tls, backendCa: i.secrets.backendCa } : {}),
  };
  const enabled = i.kernel?.kind === 'enabled';
  const built = buildNodeProxyModel({ ...modelInput, owned: accepting, ...(enabled ? { kernel: true } : {}) });
  const proxy = i.kernel?.kind === 'unavailable' ? { ...built, warnings: [...built.warnings, ...kernelUnavailableWarnings(s.services, accepting, i.kernel.reason)] } : built;
  const kernel = enabled ? kernelCandidatePorts(modelInput, kernelRuleAddresses(plan, s.me, [...accepting, ...a.vips])) : undefined;
  // An address lost with no port in the proxy (every one in kernel mode) is not handed over: its
  // VIP comes off at once. Kept on lo, it would take the replies of the new owner's new flows to
  // this node's pods (they come back to the VIP through this node), which its stack would reset.
  const proxied = new Set(built.model.frontends.map((f) => f.listen.address));
  for (const ip of withdraw) {
    if (proxied.has(ip) || !handingOver.has(ip)) continue;
    handingOver.delete(ip);
    accepting.delete(ip);
  }
  const handoffs = i.handoff ? plan.owned.filter((ip) => !a.serving.has(ip)).map((ip) => handoffOf(ip, previous.get(ip), i, kernel ?? [])).filter((e) => e !== undefined) : [];

  const drain: string[] = [];
  const forgetDrains: string[] = [];
  const releaseVips: string[] = [];
  for (const ip of a.vips) {
    const state = a.draining.get(ip);
    if (accepting.has(ip)) {
      if (state !== undefined) forgetDrains.push(ip);
    } else if (state === undefined) drain.push(ip);
    else if (state === 'drained') releaseVips.push(ip);
  }

  const announce: { address: string; interfaces: readonly string[] }[] = [];
  const assigned: { address: string; services: readonly ServiceKey[] }[] = [];
  for (const ip of plan.owned) {
    const p = plan.addresses.get(ip)!;
    const before = a.serving.get(ip);
    if (before && before.join() === p.interfaces.join() && !i.reannounce) continue;
    announce.push({ address: ip, interfaces: p.interfaces });
    if (!before) assigned.push({ address: ip, services: p.services });
  }

  const { elections, owners } = countElections(plan, a.owners, s.me);
  const ends = [...handingOver.values()];
  return {
    plan, withdraw, addVips, handoffs, proxy, ...(kernel ? { kernel } : {}), handingOver, drain, forgetDrains, releaseVips, announce, assigned, elections, owners,
    wakeInMs: ends.length === 0 ? undefined : Math.max(0, Math.min(...ends) - i.nowMs),
  };
}

/**
 * The owner of each address before this run. On the first plan of a process (a restart) there is
 * none: the owners before we joined are those of the same snapshot without us.
 */
function previousOwners(i: TransitionInput): ReadonlyMap<string, string | undefined> {
  if (i.applied.owners.size > 0) return i.applied.owners;
  const without = planSpeaker({ ...i.snapshot, alive: new Set([...i.snapshot.alive].filter((n) => n !== i.snapshot.me)) });
  const out = new Map<string, string>();
  for (const [ip, p] of without.addresses) if (p.owner.kind === 'elected') out.set(ip, p.owner.node);
  return out;
}

/**
 * A previous owner still running (a clean stop draining, or a rebalance) keeps the address on
 * lo while it drains: forward it the connections this node does not know. Not to one that
 * crashed or is cut off: its clients get a reset here at once rather than a timeout. Except the
 * kernel-mode TCP ports under `externalTrafficPolicy: Local` (no SNAT): their endpoints are pods
 * on that node, which this node cannot pick by hash; if only its speaker died, the node's
 * connection tracking still forwards their flows, and if the node is gone they are lost anyway.
 */
function handoffOf(ip: string, previous: string | undefined, i: TransitionInput, kernel: readonly KernelPortPlan[]): HandoffEntry | undefined {
  if (previous === undefined || previous === i.snapshot.me) return undefined;
  const node = i.snapshot.nodes.find((n) => n.metadata?.name === previous);
  const to = node ? internalIps(node).find((x) => x.includes(':') === ip.includes(':')) : undefined;
  if (to === undefined) return undefined;
  const state = i.view.peers.get(previous);
  if (state !== 'down' && state !== 'unreachable') return { address: ip, to };
  const ports = [...new Set(kernel.filter((k) => k.address === ip && k.protocol === 'tcp' && !k.snat).map((k) => k.port))].sort((x, y) => x - y);
  return ports.length === 0 ? undefined : { address: ip, to, ports };
}

function countElections(plan: SpeakerPlan, before: ReadonlyMap<string, string | undefined>, me: string): Pick<Transition, 'elections' | 'owners'> {
  const owners = new Map<string, string | undefined>();
  const elections: { address: string; owner: string | undefined; result: ElectionResult }[] = [];
  for (const [ip, p] of plan.addresses) {
    const owner = p.owner.kind === 'elected' ? p.owner.node : undefined;
    owners.set(ip, owner);
    const was = before.get(ip);
    if (before.has(ip) && was === owner) continue;
    const result: ElectionResult = owner === me ? 'won' : was === me ? 'lost' : owner === undefined ? 'none' : 'other';
    elections.push({ address: ip, owner, result });
  }
  return { elections, owners };
}
