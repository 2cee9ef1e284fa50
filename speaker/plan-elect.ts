import { createHash } from 'node:crypto';

/**
 * Owner election, pure and stateless (interim: speaker/election/ replaces it when it lands).
 * Every speaker sorts the same candidates the same way — preference score first (higher wins),
 * then sha256 of `node + "#" + ip` (MetalLB's tie-break, so each address lands on a different
 * node and removing a node moves only the addresses it owned) — and takes the first.
 */
export function electOwner(ip: string, candidates: readonly string[], score: ReadonlyMap<string, number> = new Map()): string | undefined {
  let best: string | undefined;
  let bestScore = 0;
  let bestHash = '';
  for (const node of candidates) {
    const s = score.get(node) ?? 0;
    const h = rankHash(node, ip);
    if (best === undefined || s > bestScore || (s === bestScore && h < bestHash)) {
      best = node;
      bestScore = s;
      bestHash = h;
    }
  }
  return best;
}

/** The hash input is `node#ip`, as MetalLB's layer2 speaker, so mixed clusters agree. */
export function rankHash(node: string, ip: string): string {
  return createHash('sha256').update(`${node}#${ip}`).digest('hex');
}
