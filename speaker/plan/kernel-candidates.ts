/**
 * Which kernel-mode ports this node holds rules for, pure. Kernel mode's rules act only where
 * the VIP is on `lo` (`fib daddr type local`, speaker/kernel/ruleset.ts), so they must already
 * be on every node that MAY own the address when its owner crashes: a takeover then changes no
 * nftables state, and the new owner's conntrack picks the open flows up with the same table.
 *
 * A node holds the rules of an address when it is one of the address's election candidates
 * (plan/addresses.ts: alive, Ready, not excluded, selected by the pool's L2Advertisements and,
 * for `externalTrafficPolicy: Local`, with a local endpoint) and announces on an interface of
 * the pool; and also while it still accepts on the address or has it on `lo` (a handover or a
 * drain: its open kernel flows keep their rules).
 */
import type { V1Service } from '@kubernetes/client-node';
import { annotationText, FULCRUM_PREFIX } from '../../src/service/annotations.js';
import { keyOf } from '../../src/service/key.js';
import type { SpeakerPlan } from './addresses.js';
import { ingressAddresses } from './addresses.js';
import type { KernelPortPlan } from './kernel-ports.js';
import { buildNodeProxyModel, type NodeProxyInput } from './proxy-model.js';
import type { BuildWarning } from './service-annotations.js';

/** Whether the node can run kernel mode (speaker/kernel/applier.ts `start`, or the flag). */
export type KernelAvailability = { readonly kind: 'enabled' } | { readonly kind: 'unavailable'; readonly reason: string };

/** The addresses whose kernel rules this node holds: candidate of, accepting on, or VIP on lo. Sorted. */
export function kernelRuleAddresses(plan: SpeakerPlan, me: string, alsoHeld: Iterable<string>): string[] {
  const out = new Set<string>(alsoHeld);
  for (const [ip, p] of plan.addresses) {
    if (p.owner.kind === 'elected' && p.owner.candidates.includes(me) && p.interfaces.length > 0) out.add(ip);
  }
  return [...out].sort();
}

/**
 * The kernel-mode ports of every address in `addresses`, as `buildNodeProxyModel` splits them
 * (kernel-ports.ts), sorted by name. Endpoints are the model's: ready ones (serving and
 * terminating when none is), without those on nodes the membership says are down.
 */
export function kernelCandidatePorts(input: Omit<NodeProxyInput, 'owned' | 'kernel'>, addresses: readonly string[]): readonly KernelPortPlan[] {
  if (addresses.length === 0) return [];
  return buildNodeProxyModel({ ...input, owned: new Set(addresses), kernel: true }).kernel ?? [];
}

const ANNOTATION = `${FULCRUM_PREFIX}data-plane`;

/**
 * Kernel mode is off or unavailable on this node: every Service on an address this node
 * accepts on that asks for it gets one warning (its ports stay in the proxy).
 */
export function kernelUnavailableWarnings(services: readonly V1Service[], accepting: ReadonlySet<string>, reason: string): { service: string; warning: BuildWarning }[] {
  const out: { service: string; warning: BuildWarning }[] = [];
  for (const svc of services) {
    const value = annotationText(svc, 'data-plane')?.trim();
    if (value === undefined || value === 'proxy' || !value.startsWith('kernel')) continue;
    if (!ingressAddresses(svc).some((a) => accepting.has(a))) continue;
    out.push({ service: keyOf(svc), warning: { kind: 'badAnnotation', annotation: ANNOTATION, value, reason: `asks for kernel mode, which is unavailable on this node (${reason})`, effect: 'its ports stay in the proxy' } });
  }
  return out.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}
