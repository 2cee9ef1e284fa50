import type { MatchExpression, NodeSelector, Pool } from './types.js';

/**
 * Pure node-selector matching, shared by the speaker (which nodes may announce a pool) and the
 * config validator. Semantics are Kubernetes label selectors: inside one selector every
 * `matchLabels` entry and every expression must hold; a pool's selectors are ORed; a pool with
 * no selectors selects every node.
 */
export function selectorMatches(selector: NodeSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return selector.matchExpressions.every((e) => expressionMatches(e, labels));
}

export function expressionMatches(expression: MatchExpression, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, expression.key);
  switch (expression.operator) {
    case 'In':
      return has && expression.values.includes(labels[expression.key]!);
    case 'NotIn':
      // As in Kubernetes: a node without the label matches NotIn.
      return !has || !expression.values.includes(labels[expression.key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

/** Whether a node with these labels may announce the pool's addresses. */
export function poolSelectsNode(pool: Pick<Pool, 'nodeSelectors'>, nodeLabels: Readonly<Record<string, string>>): boolean {
  if (pool.nodeSelectors.length === 0) return true;
  return pool.nodeSelectors.some((s) => selectorMatches(s, nodeLabels));
}
