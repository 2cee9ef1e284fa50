import { ApiException } from '@kubernetes/client-node';

/**
 * What went wrong with one API request, as data. Callers branch on `kind` and `code`, never on
 * message text. `reason` is the Status reason (Conflict, NotFound, Expired…) when the server
 * sent a Status body.
 */
export type ApiFailure =
  | { kind: 'http'; code: number; reason: string; message: string }
  | { kind: 'network'; message: string };

function parseStatusBody(body: unknown): { reason?: string; message?: string } {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return { message: body.slice(0, 200) };
    }
  }
  if (value && typeof value === 'object') {
    const o = value as { reason?: unknown; message?: unknown };
    return {
      reason: typeof o.reason === 'string' ? o.reason : undefined,
      message: typeof o.message === 'string' ? o.message : undefined,
    };
  }
  return {};
}

/** Classifies anything a client-node call or watch can throw. */
export function classifyApiError(err: unknown): ApiFailure {
  if (err instanceof ApiException) {
    const status = parseStatusBody(err.body);
    return { kind: 'http', code: err.code, reason: status.reason ?? '', message: status.message ?? `HTTP ${err.code}` };
  }
  if (err && typeof err === 'object') {
    const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
    // client-node's Watch throws a plain Error carrying `statusCode` for a non-200 answer.
    if (typeof e.statusCode === 'number') {
      return { kind: 'http', code: e.statusCode, reason: '', message: String(e.message ?? '') };
    }
    // A watch ERROR event carries a Status object: { code: 410, reason: 'Expired', … }.
    if (typeof e.code === 'number') {
      const s = parseStatusBody(err);
      return { kind: 'http', code: e.code, reason: s.reason ?? '', message: s.message ?? '' };
    }
  }
  return { kind: 'network', message: err instanceof Error ? err.message : String(err) };
}

/** The metric label for a failure: the HTTP code, or "network". */
export function failureCodeLabel(f: ApiFailure): string {
  return f.kind === 'http' ? String(f.code) : 'network';
}

export function isHttpCode(err: unknown, code: number): boolean {
  const f = classifyApiError(err);
  return f.kind === 'http' && f.code === code;
}

export const isNotFound = (err: unknown): boolean => isHttpCode(err, 404);
export const isConflict = (err: unknown): boolean => isHttpCode(err, 409);

/** One line for logs and error messages: `409 Conflict: the object has been modified…`. */
export function describeApiFailure(f: ApiFailure): string {
  return f.kind === 'http' ? `${f.code}${f.reason ? ` ${f.reason}` : ''}: ${f.message}` : `network: ${f.message}`;
}
