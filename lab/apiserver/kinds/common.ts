import { isIP } from 'node:net';
import { badRequest, cause, type Cause } from '../status.js';

/** What a kind's strategy may look up and allocate while it prepares a write. */
export interface StrategyContext {
  readonly now: Date;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function dns1123Subdomain(field: string, v: string): Cause[] {
  if (v.length > 253 || !DNS1123_SUBDOMAIN.test(v)) {
    return [cause.invalid(field, v, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")];
  }
  return [];
}

export function dns1123Label(field: string, v: string): Cause[] {
  if (v.length > 63 || !DNS1123_LABEL.test(v)) {
    return [cause.invalid(field, v, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")];
  }
  return [];
}

export function dns1035Label(field: string, v: string): Cause[] {
  if (v.length > 63 || !DNS1035_LABEL.test(v)) {
    return [cause.invalid(field, v, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")];
  }
  return [];
}

const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** A label-style key with an optional DNS prefix (`example.com/name`). */
export function qualifiedName(field: string, v: string): Cause[] {
  if (!QUALIFIED_NAME.test(v) || v.length > 316) {
    return [cause.invalid(field, v, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")];
  }
  return [];
}

export function validIp(v: unknown): v is string {
  return typeof v === 'string' && isIP(v) !== 0;
}

export function validCidr(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v.trim());
  if (!m) return false;
  const fam = isIP(m[1]!);
  const len = Number(m[2]);
  return fam === 4 ? len <= 32 : fam === 6 ? len <= 128 : false;
}

/** Go's time.RFC3339 in UTC with seconds, as metav1.Time serialises. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime with 6 fraction digits, as the real server writes it. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const MICRO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses a MicroTime the way apimachinery does (layout "2006-01-02T15:04:05.000000Z07:00":
 * exactly six fraction digits) and normalises offsets to Z. Anything else is a 400 naming the kind.
 */
export function parseMicroTime(kind: string, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const bad = (): never => {
    throw badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: parsing time ${JSON.stringify(String(v))} as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${String(v).slice(19)}" as ".000000"`);
  };
  if (typeof v !== 'string') return bad();
  const m = MICRO.exec(v);
  if (!m) return bad();
  if (m[3] === 'Z') return v;
  const ms = Date.parse(`${m[1]}.${m[2]!.slice(0, 3)}${m[3]}`);
  if (Number.isNaN(ms)) return bad();
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${m[2]}Z`);
}

/** Parses a metav1.Time (RFC 3339, seconds); a bad one is a 400 like the real decoder's. */
export function parseTime(kind: string, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const ms = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: parsing time ${JSON.stringify(String(v))} as "2006-01-02T15:04:05Z07:00": cannot parse`);
  return rfc3339(new Date(ms));
}
