import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { FulcrumError } from '../src/errors.js';

/**
 * A minimal JSON client for the lab's own writes (the kubelet role, sample objects): method,
 * path, body, bearer token. The programs under test use src/k8s; the lab stays independent of
 * it so that a bug there cannot hide behind the harness.
 */

export interface ApiTarget {
  /** e.g. http://192.0.2.254:6443 */
  readonly url: string;
  readonly token: string;
  /** https: verify the server against this CA (the real control plane's); absent: not verified. */
  readonly caPem?: string;
}

export type JsonObject = Record<string, unknown>;

export class ApiRequestError extends FulcrumError<'FUL_ERR_LAB_API'> {
  readonly status: number;
  constructor(method: string, path: string, status: number, message: string) {
    super('FUL_ERR_LAB_API', { method, path, reason: `${status} ${message}` });
    this.name = 'ApiRequestError';
    this.status = status;
  }
}

const REQUEST_TIMEOUT_MS = 10_000;

export function apiRequest(target: ApiTarget, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<JsonObject> {
  const url = new URL(path, target.url);
  const text = body === undefined ? undefined : JSON.stringify(body);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method,
        headers: {
          authorization: `Bearer ${target.token}`,
          accept: 'application/json',
          ...(text === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(text) }),
        },
        timeout: REQUEST_TIMEOUT_MS,
        // the lab's emulator may use a self-signed certificate
        ...(target.caPem ? { ca: target.caPem } : { rejectUnauthorized: false }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let parsed: JsonObject = {};
          try {
            parsed = raw ? (JSON.parse(raw) as JsonObject) : {};
          } catch {
            parsed = { message: raw };
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(parsed);
          else reject(new ApiRequestError(method, path, status, String(parsed.message ?? raw).slice(0, 500)));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new FulcrumError('FUL_ERR_LAB_API', { method, path, reason: `no answer in ${REQUEST_TIMEOUT_MS} ms` })));
    req.on('error', (err) => reject(err instanceof FulcrumError ? err : new FulcrumError('FUL_ERR_LAB_API', { method, path, reason: err.message }, { cause: err })));
    req.end(text);
  });
}

export const MERGE_PATCH = 'application/merge-patch+json';

/** Creates, or replaces the spec/metadata of, an object that may already exist (sample manifests). */
export async function applyObject(target: ApiTarget, collectionPath: string, obj: JsonObject & { metadata: { name: string; namespace?: string } & JsonObject }): Promise<JsonObject> {
  try {
    return await apiRequest(target, 'POST', collectionPath, obj);
  } catch (err) {
    if (!(err instanceof ApiRequestError) || err.status !== 409) throw err;
    return apiRequest(target, 'PATCH', `${collectionPath}/${obj.metadata.name}`, obj, MERGE_PATCH);
  }
}
