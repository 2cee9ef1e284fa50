import { FulcrumError } from '../../src/errors.js';
import type { ResourceDef } from './resources.js';

/** A JSON object as it travels over the API: the emulator handles objects generically. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

export type StatusReason =
  | 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'MethodNotAllowed' | 'AlreadyExists' | 'Conflict'
  | 'Expired' | 'UnsupportedMediaType' | 'Invalid' | 'Timeout' | 'InternalError' | 'TooManyRequests' | '';

export type CauseReason =
  | 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueNotSupported' | 'FieldValueDuplicate';

export interface Cause { reason: CauseReason; message: string; field: string }

/** The `Status` object every error answer carries (fidelity spec §10). */
export function statusBody(code: number, reason: StatusReason, message: string, details?: Obj): Obj {
  const body: Obj = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message };
  if (reason) body.reason = reason;
  if (details) body.details = details;
  body.code = code;
  return body;
}

/**
 * Thrown by handlers to answer with a Status. Code FUL_ERR_APISERVER_STATUS; `httpCode` and
 * `body` are what the client sees.
 */
export class ApiStatusError extends FulcrumError<'FUL_ERR_APISERVER_STATUS'> {
  readonly httpCode: number;
  readonly body: Obj;
  constructor(httpCode: number, reason: StatusReason, message: string, details?: Obj) {
    super('FUL_ERR_APISERVER_STATUS', { message });
    this.name = 'ApiStatusError';
    this.httpCode = httpCode;
    this.body = statusBody(httpCode, reason, message, details);
  }
}

/** `services` or `leases.coordination.k8s.io`: how the real server names a resource in messages. */
export function qualified(def: ResourceDef): string {
  return def.group ? `${def.resource}.${def.group}` : def.resource;
}

function nameDetails(def: ResourceDef, name: string): Obj {
  const d: Obj = { name };
  if (def.group) d.group = def.group;
  d.kind = def.resource;
  return d;
}

export function badRequest(message: string): ApiStatusError {
  return new ApiStatusError(400, 'BadRequest', message);
}

export function notFound(def: ResourceDef, name: string): ApiStatusError {
  return new ApiStatusError(404, 'NotFound', `${qualified(def)} "${name}" not found`, nameDetails(def, name));
}

export function namespaceNotFound(ns: string): ApiStatusError {
  return new ApiStatusError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
}

export function pathNotFound(): ApiStatusError {
  return new ApiStatusError(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function alreadyExists(def: ResourceDef, name: string): ApiStatusError {
  return new ApiStatusError(409, 'AlreadyExists', `${qualified(def)} "${name}" already exists`, nameDetails(def, name));
}

export function conflict(def: ResourceDef, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiStatusError {
  return new ApiStatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(def)} "${name}": ${why}`, nameDetails(def, name));
}

export function methodNotAllowed(): ApiStatusError {
  return new ApiStatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

export function unsupportedMediaType(contentType: string, forPatch: boolean): ApiStatusError {
  const accepted = forPatch ? 'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json' : 'application/json, application/yaml';
  return new ApiStatusError(415, 'UnsupportedMediaType', `415: Unsupported Media Type`, { causes: [{ reason: 'UnexpectedServerResponse', message: `the body of the request was in an unknown format - accepted media types include: ${accepted} (got "${contentType}")` }] });
}

export function expired(message: string): ApiStatusError {
  return new ApiStatusError(410, 'Expired', message);
}

/** 422 Invalid: `Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 31612: …`. */
export function invalid(kind: string, name: string, def: ResourceDef, causes: readonly Cause[]): ApiStatusError {
  const parts = causes.map((c) => `${c.field}: ${c.message}`);
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const details: Obj = { name };
  if (def.group) details.group = def.group;
  details.kind = kind;
  details.causes = causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field }));
  return new ApiStatusError(422, 'Invalid', `${kind} "${name}" is invalid: ${summary}`, details);
}

/** Go's `%v` rendering of a value in an "Invalid value" message. */
export function goValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export const cause = {
  invalid: (field: string, value: unknown, detail: string): Cause => ({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${goValue(value)}: ${detail}` }),
  required: (field: string, detail = ''): Cause => ({ reason: 'FieldValueRequired', field, message: detail ? `Required value: ${detail}` : 'Required value' }),
  forbidden: (field: string, detail: string): Cause => ({ reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` }),
  notSupported: (field: string, value: unknown, allowed: readonly string[]): Cause => ({ reason: 'FieldValueNotSupported', field, message: `Unsupported value: ${goValue(value)}: supported values: ${allowed.map((a) => JSON.stringify(a)).join(', ')}` }),
  duplicate: (field: string, value: unknown): Cause => ({ reason: 'FieldValueDuplicate', field, message: `Duplicate value: ${goValue(value)}` }),
};
