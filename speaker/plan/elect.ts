import { createHash } from 'node:crypto';

/**
 * The owner of one service address, chosen without coordination: every speaker ranks the same
 * candidates the same way and takes the first. Pure (no I/O, no clock); `node:crypto` is only
 * used for sha256.
 */
export type Election =
  | { readonly kind: 'owner'; readonly node: string }
  | { readonly kind: 'noCandidate'; readonly reason: NoCandidateReason };

/** electOwner was given no candidate (the planner says why none was eligible: plan/addresses.ts). */
export type NoCandidateReason = 'noCandidates';

/**
 * The rank key of a node for an address: sha256 of `node + "#" + address`, hex, as MetalLB
 * (speaker/layer2_controller.go). The address must be canonical (lower-case, RFC 5952 for
 * IPv6) so every speaker hashes the same bytes.
 */
export function candidateHash(node: string, address: string): string {
  return createHash('sha256').update(`${node}#${address}`).digest('hex');
}

/**
 * The candidates in election order for `address`: by hash, then by name (two equal hashes need
 * two names colliding in sha256; the name keeps the order total anyway). Returns a new array.
 */
export function rankCandidates(address: string, candidates: readonly string[]): string[] {
  const keyed = [...new Set(candidates)].map((node) => ({ node, key: candidateHash(node, address) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return keyed.map((k) => k.node);
}

/**
 * The first candidate in rank order. `candidates` are node names already found eligible (see
 * `nodeEligibility` in plan/addresses.ts); their order and duplicates do not matter.
 */
export function electOwner(address: string, candidates: readonly string[]): Election {
  if (candidates.length === 0) return { kind: 'noCandidate', reason: 'noCandidates' };
  let best: string | undefined;
  let bestKey = '';
  for (const node of candidates) {
    const key = candidateHash(node, address);
    if (best === undefined || key < bestKey || (key === bestKey && node < best)) {
      best = node;
      bestKey = key;
    }
  }
  return { kind: 'owner', node: best! };
}
