/**
 * What applying a new model means for each frontend, by config hash (Envoy's
 * addOrUpdateListener, computed purely; STYLE §3 and house rule 10):
 * - keep:   same name, same hash (frontend and the backend it routes to) → nothing happens;
 * - update: same name and bind, different hash → the listening socket stays, the new context
 *           takes new connections, open connections keep the generation that accepted them;
 * - drain:  gone from the model, or its bind changed → stop accepting, finish open connections
 *           until the drain deadline;
 * - add:    new, or the new bind of a frontend that changed its bind (it is in drain as well).
 * Pure: no sockets, no clock.
 */
import { createHash } from 'node:crypto';
import type { Backend, Frontend, ProxyModel } from './model.js';

export interface ProxyPlan {
  readonly keep: readonly string[];
  readonly add: readonly Frontend[];
  readonly update: readonly Frontend[];
  readonly drain: readonly string[];
}

/** JSON with object keys sorted, so equal values always give equal text. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function configHash(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

/** The hash of everything a frontend's connections depend on: itself and its backends. */
export function frontendHash(frontend: Frontend, backends: ReadonlyMap<string, Backend>): string {
  return configHash({ frontend, backends: frontend.routes.map((r) => backends.get(r.backend) ?? null) });
}

/** Protocol, address and port: what decides whether the listening socket can be kept. */
export function bindKey(frontend: Frontend): string {
  return `${frontend.protocol} ${frontend.listen.address} ${frontend.listen.port}`;
}

export function planProxy(current: ProxyModel | undefined, desired: ProxyModel): ProxyPlan {
  const curBackends = new Map((current?.backends ?? []).map((b) => [b.name, b]));
  const newBackends = new Map(desired.backends.map((b) => [b.name, b]));
  const curFrontends = new Map((current?.frontends ?? []).map((f) => [f.name, f]));
  const keep: string[] = [];
  const add: Frontend[] = [];
  const update: Frontend[] = [];
  const drain: string[] = [];
  for (const f of desired.frontends) {
    const old = curFrontends.get(f.name);
    if (old === undefined) add.push(f);
    else if (bindKey(old) !== bindKey(f)) {
      drain.push(f.name);
      add.push(f);
    } else if (frontendHash(old, curBackends) === frontendHash(f, newBackends)) keep.push(f.name);
    else update.push(f);
  }
  const wanted = new Set(desired.frontends.map((f) => f.name));
  for (const name of curFrontends.keys()) if (!wanted.has(name)) drain.push(name);
  return { keep, add, update, drain };
}

/** Backends some route of some frontend goes to; the others need no runtime pool. */
export function usedBackends(model: ProxyModel): Backend[] {
  const used = new Set(model.frontends.flatMap((f) => f.routes.map((r) => r.backend)));
  return model.backends.filter((b) => used.has(b.name));
}
