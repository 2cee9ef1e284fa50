import { checkKeys, isMapping, show, type IssueList } from './issues.js';
import { selectorText } from './node-selector.js';
import type { LabelSelector, MatchExpression, SelectorOperator } from './types.js';

/**
 * How a selector is spelled: the ConfigMap's `node-selectors` use kebab-case keys; MetalLB's
 * resources use Kubernetes' `metav1.LabelSelector`, whose repeated selectors and repeated values
 * MetalLB refuses (so Fulcrum refuses them there too).
 */
export interface SelectorStyle {
  readonly labels: string;
  readonly expressions: string;
  readonly refuseRepeats: boolean;
}
export const LEGACY_SELECTOR: SelectorStyle = { labels: 'match-labels', expressions: 'match-expressions', refuseRepeats: false };
export const KUBERNETES_SELECTOR: SelectorStyle = { labels: 'matchLabels', expressions: 'matchExpressions', refuseRepeats: true };

const EXPRESSION_KEYS = ['key', 'operator', 'values'] as const;
const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

// Kubernetes label syntax: an optional DNS-subdomain prefix and "/", then a name of at most
// 63 characters (alphanumerics, '-', '_', '.', starting and ending alphanumeric).
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash === -1) return LABEL_NAME.test(key);
  const prefix = key.slice(0, slash);
  const name = key.slice(slash + 1);
  return prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix) && LABEL_NAME.test(name);
}

export function isLabelValue(value: string): boolean {
  return value === '' || LABEL_NAME.test(value);
}

/** An object name most kinds take (IPAddressPool, L2Advertisement): a DNS subdomain of at most 253 characters. */
export function isObjectName(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

/** A namespace name: a DNS label (RFC 1123), at most 63 characters. */
export function isNamespaceName(name: string): boolean {
  return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name);
}

/** Label values as MetalLB's yaml.v2 read them: numbers become their text. */
function labelValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function matchLabels(issues: IssueList, where: string, raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isMapping(raw)) {
    issues.error('FUL_ERR_POOL_SELECTOR', { field: where, value: show(raw), reason: 'is not a mapping of label to value' });
    return {};
  }
  const labels: Record<string, string> = {};
  for (const [key, rawValue] of Object.entries(raw)) {
    const value = labelValue(rawValue);
    if (!isLabelKey(key)) {
      issues.error('FUL_ERR_POOL_SELECTOR', { field: where, value: show(key), reason: 'is not a valid label key' });
    } else if (value === undefined || !isLabelValue(value)) {
      issues.error('FUL_ERR_POOL_SELECTOR', { field: `${where}[${key}]`, value: show(rawValue), reason: 'is not a valid label value' });
    } else {
      labels[key] = value;
    }
  }
  return labels;
}

function expression(issues: IssueList, where: string, raw: unknown, style: SelectorStyle): MatchExpression | undefined {
  if (!isMapping(raw)) {
    issues.error('FUL_ERR_POOL_SELECTOR', { field: where.replace(/\.$/, ''), value: show(raw), reason: 'is not an expression (key, operator, values)' });
    return undefined;
  }
  checkKeys(issues, where.replace(/\.$/, ': '), raw, EXPRESSION_KEYS);
  let ok = true;
  const key = raw.key;
  if (typeof key !== 'string' || !isLabelKey(key)) {
    issues.error('FUL_ERR_POOL_SELECTOR', { field: `${where}key`, value: show(key), reason: 'is not a valid label key' });
    ok = false;
  }
  const operator = raw.operator;
  if (typeof operator !== 'string' || !(OPERATORS as readonly string[]).includes(operator)) {
    issues.error('FUL_ERR_POOL_SELECTOR', { field: `${where}operator`, value: show(operator), reason: `is not one of ${OPERATORS.join(', ')}` });
    return undefined;
  }
  const op = operator as SelectorOperator;
  const rawValues = raw.values ?? [];
  if (!Array.isArray(rawValues)) {
    issues.error('FUL_ERR_POOL_SELECTOR', { field: `${where}values`, value: show(rawValues), reason: 'is not a list' });
    return undefined;
  }
  const values: string[] = [];
  rawValues.forEach((item: unknown, i) => {
    const value = labelValue(item);
    if (value === undefined || !isLabelValue(value)) {
      issues.error('FUL_ERR_POOL_SELECTOR', { field: `${where}values[${i}]`, value: show(item), reason: 'is not a valid label value' });
      ok = false;
    } else if (style.refuseRepeats && values.includes(value)) {
      issues.error('FUL_ERR_POOL_SELECTOR', { field: `${where}values[${i}]`, value: show(item), reason: 'is listed twice' });
      ok = false;
    } else {
      values.push(value);
    }
  });
  if ((op === 'In' || op === 'NotIn') && rawValues.length === 0) {
    // The value at fault is the operator: it decides whether values are needed.
    issues.error('FUL_ERR_POOL_SELECTOR', { field: `${where}values`, value: `operator ${op}`, reason: 'needs at least one value' });
    ok = false;
  }
  if ((op === 'Exists' || op === 'DoesNotExist') && rawValues.length > 0) {
    issues.error('FUL_ERR_POOL_SELECTOR', { field: `${where}values`, value: `operator ${op}`, reason: 'takes no values' });
    ok = false;
  }
  return ok ? { key: key as string, operator: op, values } : undefined;
}

/** Parses a pool's `node-selectors` list (absent or empty: every node). */
export function parseNodeSelectors(issues: IssueList, poolWhere: string, raw: unknown): LabelSelector[] {
  return parseLabelSelectors(issues, `${poolWhere}node-selectors`, raw, LEGACY_SELECTOR);
}

/**
 * Parses a list of label selectors (`where` is the list's path for messages: `pool "web":
 * node-selectors`, `IPAddressPool "metallb-system/web": spec.serviceAllocation.serviceSelectors`).
 * Absent or empty: no selector. A selector with a bad part is reported and left out.
 */
export function parseLabelSelectors(issues: IssueList, where: string, raw: unknown, style: SelectorStyle): LabelSelector[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    issues.error('FUL_ERR_POOL_SELECTOR', { field: where, value: show(raw), reason: 'is not a list of selectors' });
    return [];
  }
  const selectors: LabelSelector[] = [];
  const texts = new Map<string, number>();
  raw.forEach((item: unknown, i) => {
    const at = `${where}[${i}]`;
    if (!isMapping(item)) {
      issues.error('FUL_ERR_POOL_SELECTOR', { field: at, value: show(item), reason: `is not a selector (${style.labels}, ${style.expressions})` });
      return;
    }
    checkKeys(issues, `${at}: `, item, [style.labels, style.expressions]);
    const labels = matchLabels(issues, `${at}.${style.labels}`, item[style.labels]);
    const rawExpressions = item[style.expressions];
    const expressions: MatchExpression[] = [];
    if (rawExpressions !== undefined && rawExpressions !== null) {
      if (!Array.isArray(rawExpressions)) {
        issues.error('FUL_ERR_POOL_SELECTOR', { field: `${at}.${style.expressions}`, value: show(rawExpressions), reason: 'is not a list of expressions' });
      } else {
        rawExpressions.forEach((e: unknown, j) => {
          const parsed = expression(issues, `${at}.${style.expressions}[${j}].`, e, style);
          if (parsed) expressions.push(parsed);
        });
      }
    }
    const selector = { matchLabels: labels, matchExpressions: expressions };
    const text = selectorText(selector);
    const seen = texts.get(text);
    if (style.refuseRepeats && seen !== undefined) {
      issues.error('FUL_ERR_POOL_SELECTOR', { field: at, value: text === '' ? 'the empty selector' : show(text), reason: `is the same selector as [${seen}]` });
      return;
    }
    texts.set(text, i);
    selectors.push(selector);
  });
  return selectors;
}
