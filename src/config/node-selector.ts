import type { LabelSelector, MatchExpression, Pool } from './types.js';

/**
 * Pure label-selector matching, shared by the speaker (which nodes may announce a pool, on which
 * interfaces), the allocator (which Services a pool serves) and the config validator. Semantics
 * are Kubernetes label selectors: inside one selector every `matchLabels` entry and every
 * expression must hold; a list of selectors is ORed.
 */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
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

/** Whether ANY selector matches; an empty list matches everything. */
export function anySelectorMatches(selectors: readonly LabelSelector[], labels: Readonly<Record<string, string>>): boolean {
  return selectors.length === 0 || selectors.some((s) => selectorMatches(s, labels));
}

/**
 * Whether a node with these labels may announce the pool's addresses: ANY of its advertisements
 * selects it. A pool without advertisements (a MetalLB pool no L2Advertisement selects) is
 * announced by no node.
 */
export function poolSelectsNode(pool: Pick<Pool, 'advertisements'>, nodeLabels: Readonly<Record<string, string>>): boolean {
  return pool.advertisements.some((a) => anySelectorMatches(a.nodeSelectors, nodeLabels));
}

/**
 * The interfaces a node with these labels announces the pool's addresses on, out of the ones
 * its speaker announces on (`local`, kept in their order): the union of the interfaces of the
 * advertisements that select the node, or all of `local` when one of them names none (MetalLB's
 * `ipAdvertisementFor`). Empty when no advertisement selects the node.
 */
export function poolInterfacesOn(pool: Pick<Pool, 'advertisements'>, nodeLabels: Readonly<Record<string, string>>, local: readonly string[]): string[] {
  const selecting = pool.advertisements.filter((a) => anySelectorMatches(a.nodeSelectors, nodeLabels));
  if (selecting.some((a) => a.interfaces.length === 0)) return [...local];
  const named = new Set(selecting.flatMap((a) => a.interfaces));
  return local.filter((i) => named.has(i));
}

/**
 * A selector as one line, in Kubernetes' text form (`rack=a,zone in (x,y),edge,!drain`): labels
 * sorted by key, then the expressions in their order, each with its values sorted. Two
 * selectors with the same text select the same objects.
 */
export function selectorText(selector: LabelSelector): string {
  const labels = Object.entries(selector.matchLabels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  const expressions = selector.matchExpressions.map((e) => {
    const values = [...e.values].sort().join(',');
    if (e.operator === 'In') return `${e.key} in (${values})`;
    if (e.operator === 'NotIn') return `${e.key} notin (${values})`;
    return e.operator === 'Exists' ? e.key : `!${e.key}`;
  });
  return [...labels, ...expressions].join(',');
}
