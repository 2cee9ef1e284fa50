import { FulcrumError } from '../../src/errors.js';
import type { ResourceDef } from './resources.js';

/** A JSON object as it travels over the API: the emulator handles objects generically. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

export type StatusReason =
  | 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'MethodNotAllowed' | 'AlreadyExists' | 'Conflict'
  | 'Expired' | 'UnsupportedMediaType' | 'Invalid' | 'Timeout' | 'InternalError' | 'TooManyRequests' | '';

export type CauseReason =
  | 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueNotSupported' | 'FieldValueDuplicate'
  | 'FieldValueTypeInvalid' | 'FieldValueTooLong' | 'FieldValueTooMany';

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

/**
 * 415 as kube-apiserver words it: an unknown patch type is "415: Unsupported Media Type" with
 * empty details; an unknown body type lists the accepted ones. A protobuf body, which
 * kube-apiserver decodes and the emulator does not, gets the short form.
 */
export function unsupportedMediaType(what: 'patch' | 'body' | 'protobuf' | 'customPatch'): ApiStatusError {
  // custom resources have no strategic merge patch: their 415 lists the patch types they take
  if (what === 'customPatch') return new ApiStatusError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');
  return what === 'body'
    ? new ApiStatusError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf')
    : new ApiStatusError(415, 'UnsupportedMediaType', '415: Unsupported Media Type', {});
}

export function expired(message: string): ApiStatusError {
  return new ApiStatusError(410, 'Expired', message);
}

function invalidError(who: string, details: Obj, name: string, causes: readonly Cause[]): ApiStatusError {
  const parts = causes.map((c) => `${c.field}: ${c.message}`);
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  details.causes = causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field }));
  return new ApiStatusError(422, 'Invalid', `${who} "${name}" is invalid: ${summary}`, details);
}

/**
 * 422 Invalid as a kind's validation reports it: `Service "web" is invalid: spec.ports[0]…`,
 * `Lease.coordination.k8s.io "l" is invalid: …` (the kind qualified by its group; Events of
 * events.k8s.io are validated as core Events), `PatchOptions.meta.k8s.io "" is invalid: …` for the
 * request options. details: name (when there is one), group, kind, causes.
 */
export function invalid(kind: string, name: string, def: ResourceDef, causes: readonly Cause[]): ApiStatusError {
  const group = kind.endsWith('Options') ? 'meta.k8s.io' : kind === def.kind && def.group !== 'events.k8s.io' ? def.group : '';
  const details: Obj = name ? { name } : {};
  if (group) details.group = group;
  details.kind = kind;
  return invalidError(group ? `${kind}.${group}` : kind, details, name, causes);
}

/** 422 Invalid from the generic update path, which names the resource: `leases.coordination.k8s.io "l" is invalid: …`. */
export function invalidResource(def: ResourceDef, name: string, causes: readonly Cause[]): ApiStatusError {
  return invalidError(qualified(def), nameDetails(def, name), name, causes);
}

/** 409 for a DeleteOptions precondition, worded as the storage layer words it (it names the kind). */
export function preconditionFailed(def: ResourceDef, name: string, why: string): ApiStatusError {
  const group = def.group === 'events.k8s.io' ? '' : def.group;
  const details: Obj = { name };
  if (group) details.group = group;
  details.kind = def.kind;
  return new ApiStatusError(409, 'Conflict', `Operation cannot be fulfilled on ${group ? `${def.kind}.${group}` : def.kind} "${name}": ${why}`, details);
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
