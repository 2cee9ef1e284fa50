import { renderMessage, type ErrorParams } from '../errors.js';
import type { ConfigIssue, ConfigIssueCode, ObjectRef } from './types.js';

type ConfigErrorCode = Extract<ConfigIssueCode, `FUL_ERR_${string}`>;
type ConfigWarningCode = Extract<ConfigIssueCode, `FUL_WARN_${string}`>;

/**
 * Collects every problem of one parse, so the user sees all of them at once. Messages come from
 * the templates of the error registry (src/error-codes.ts), like the messages of thrown errors.
 */
export class IssueList {
  readonly all: ConfigIssue[];
  readonly #object: ObjectRef | undefined;

  constructor(all: ConfigIssue[] = [], object?: ObjectRef) {
    this.all = all;
    this.#object = object;
  }

  /** The same list, with every issue raised through it tagged with `object` (for an Event on it). */
  about(object: ObjectRef): IssueList {
    return new IssueList(this.all, object);
  }

  error<C extends ConfigErrorCode>(code: C, params: ErrorParams<C>): void {
    this.#push({ severity: 'error', code, message: renderMessage(code, params) });
  }

  warn<C extends ConfigWarningCode>(code: C, params: ErrorParams<C>): void {
    this.#push({ severity: 'warning', code, message: renderMessage(code, params) });
  }

  #push(issue: ConfigIssue): void {
    this.all.push(this.#object ? { ...issue, object: this.#object } : issue);
  }

  get hasErrors(): boolean {
    return this.all.some((i) => i.severity === 'error');
  }
}

/** A value as it appears in a message: strings quoted (and cut at 80 chars), other kinds named. */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    const cut = value.length > 80 ? `${value.slice(0, 77)}...` : value;
    return JSON.stringify(cut);
  }
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Levenshtein distance, for "did you mean" on unknown keys. Inputs are short config keys. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The closest known key when it is close enough to be a typo (`auto-asign` → `auto-assign`). */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = norm(k) === norm(key) ? 0 : distance(key.toLowerCase(), k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Reports every key of `object` that is not in `known`, with a suggestion when there is one. */
export function checkKeys(issues: IssueList, where: string, object: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const suggestion = closestKey(key, known);
    issues.error('FUL_ERR_CONFIG_UNKNOWN_KEY', {
      where,
      key: JSON.stringify(key),
      suggestion: suggestion ? ` (did you mean ${JSON.stringify(suggestion)}?)` : '',
    });
  }
}
