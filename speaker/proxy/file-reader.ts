/**
 * The field reader of the standalone proxy file (file.ts, file-http.ts), pure: each getter
 * checks one value, records a problem naming the field path and the value, and returns a
 * default, so parsing goes on and every problem of a file is reported at once.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parseCidr } from './acl.js';

export type Obj = Record<string, unknown>;

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One reader per parse: each getter records a problem and returns a default, so parsing goes on. */
export class Reader {
  readonly problems: string[] = [];

  problem(path: string, value: unknown, why: string): void {
    this.problems.push(`${path}: ${show(value)} ${why}`);
  }

  keys(path: string, obj: Obj, allowed: readonly string[]): void {
    for (const k of Object.keys(obj)) if (!allowed.includes(k)) this.problems.push(`${path}.${k}: unknown key (expected one of ${allowed.join(', ')})`);
  }

  int(path: string, value: unknown, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problem(path, value, `is not a whole number between ${min} and ${max}`);
      return fallback;
    }
    return value;
  }

  bool(path: string, value: unknown, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.problem(path, value, 'is not true or false');
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(path: string, value: unknown, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.problem(path, value, `is not one of ${allowed.join(', ')}`);
      return fallback;
    }
    return value as T;
  }

  obj(path: string, value: unknown): Obj | undefined {
    if (value === undefined) return undefined;
    if (!isObj(value)) {
      this.problem(path, value, 'is not a mapping');
      return undefined;
    }
    return value;
  }

  list(path: string, value: unknown): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.problem(path, value, 'is not a list');
      return [];
    }
    return value;
  }

  cidrs(path: string, value: unknown): string[] {
    const out: string[] = [];
    this.list(path, value).forEach((v, i) => {
      const parsed = typeof v === 'string' ? parseCidr(v) : ({ kind: 'invalid', reason: 'is not a string' } as const);
      if (parsed.kind === 'ok') out.push(v as string);
      else this.problem(`${path}[${i}]`, v, `is not a CIDR (${parsed.reason})`);
    });
    return out;
  }

  /** An optional non-empty string. */
  text(path: string, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      this.problem(path, value, 'is not a non-empty string');
      return undefined;
    }
    return value;
  }

  address(path: string, value: unknown): string {
    if (typeof value !== 'string' || !(isIPv4(value) || isIPv6(value))) {
      this.problem(path, value, 'is not an IPv4 or IPv6 address');
      return '0.0.0.0';
    }
    return value;
  }
}
