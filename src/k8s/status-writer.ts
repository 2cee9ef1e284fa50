import type { V1LoadBalancerIngress, V1LoadBalancerStatus, V1Service } from '@kubernetes/client-node';
import { FulcrumError } from '../errors.js';
import { componentLogger, type Logger } from '../log.js';
import { describeApiFailure } from './api-error.js';
import { mergePatchOptions, noteApiFailure, type ApiClients } from './client.js';
import { realClock, type Clock } from './clock.js';
import { k8sMetrics } from './metrics.js';

export interface ServiceRef {
  namespace: string;
  name: string;
}

/** What a status write did. Errors other than "the Service is gone" are thrown. */
export type StatusWriteResult =
  | { kind: 'written'; resourceVersion: string; attempts: number }
  | { kind: 'unchanged'; resourceVersion: string }
  | { kind: 'notFound' };

export interface StatusWriteOptions {
  /** The Service as the caller last saw it (an informer's copy): saves the first GET. */
  current?: V1Service;
  /** Attempts in all, counting the first; client-go's retry.DefaultRetry makes 5. */
  maxAttempts?: number;
  clock?: Clock;
  logger?: Logger;
}

/** Short pause between conflict retries, like client-go's DefaultRetry (10 ms, jitter 0.1). */
const CONFLICT_RETRY_MS = 10;

/**
 * Sets `status.loadBalancer` of a Service to exactly `desired`, with optimistic concurrency:
 * PUT on `/status` with the resourceVersion it read; on 409 Conflict it GETs the Service again
 * and retries, up to `maxAttempts`. Writes nothing when the status already matches, so a
 * reconcile that runs again is free. Carries no policy: what to write is the caller's business.
 */
export async function writeServiceLoadBalancerStatus(
  clients: ApiClients,
  ref: ServiceRef,
  desired: V1LoadBalancerStatus,
  opts: StatusWriteOptions = {},
): Promise<StatusWriteResult> {
  const maxAttempts = opts.maxAttempts ?? 5;
  const clock = opts.clock ?? realClock;
  const log = (opts.logger ?? componentLogger('k8s')).child({ writer: 'serviceStatus', service: `${ref.namespace}/${ref.name}` });
  let svc = opts.current;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (!svc) {
      try {
        svc = await clients.core.readNamespacedServiceStatus({ namespace: ref.namespace, name: ref.name });
      } catch (err) {
        const f = noteApiFailure(err);
        if (f.kind === 'http' && f.code === 404) return notFound();
        throw wrap(ref, f, err);
      }
    }
    const rv = svc.metadata?.resourceVersion ?? '';
    if (sameLoadBalancerStatus(svc.status?.loadBalancer, desired)) {
      k8sMetrics.statusWrites.inc({ result: 'unchanged' });
      return { kind: 'unchanged', resourceVersion: rv };
    }
    const body: V1Service = { ...svc, status: { ...svc.status, loadBalancer: desired } };
    try {
      const written = await clients.core.replaceNamespacedServiceStatus({ namespace: ref.namespace, name: ref.name, body });
      k8sMetrics.statusWrites.inc({ result: 'written' });
      log.debug({ event: 'statusWritten', attempts: attempt }, 'service status written');
      return { kind: 'written', resourceVersion: written.metadata?.resourceVersion ?? '', attempts: attempt };
    } catch (err) {
      const f = noteApiFailure(err);
      if (f.kind === 'http' && f.code === 404) return notFound();
      if (!(f.kind === 'http' && f.code === 409)) throw wrap(ref, f, err);
      k8sMetrics.conflicts.inc({ writer: 'serviceStatus' });
      log.debug({ event: 'statusConflict', attempt, resourceVersion: rv }, 'conflict, reading the Service again');
      svc = undefined;
      await sleep(clock, CONFLICT_RETRY_MS);
    }
  }
  k8sMetrics.statusWrites.inc({ result: 'conflict' });
  throw new FulcrumError('FUL_ERR_K8S_CONFLICT', { service: `${ref.namespace}/${ref.name}`, attempts: maxAttempts });
}

function notFound(): StatusWriteResult {
  k8sMetrics.statusWrites.inc({ result: 'notFound' });
  return { kind: 'notFound' };
}

function wrap(ref: ServiceRef, f: ReturnType<typeof noteApiFailure>, cause: unknown): FulcrumError {
  k8sMetrics.statusWrites.inc({ result: 'error' });
  return new FulcrumError('FUL_ERR_K8S_API', { action: 'writing status', service: `${ref.namespace}/${ref.name}`, reason: describeApiFailure(f) }, { cause });
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(resolve, ms));
}

/**
 * Equal as the API server would store them: order of entries matters (it is a list), an entry
 * with an `ip` and no `ipMode` is stored as `VIP`, and empty lists equal absent ones.
 */
export function sameLoadBalancerStatus(a: V1LoadBalancerStatus | undefined, b: V1LoadBalancerStatus | undefined): boolean {
  return canonicalStatus(a) === canonicalStatus(b);
}

function canonicalStatus(s: V1LoadBalancerStatus | undefined): string {
  const ingress = (s?.ingress ?? []).map(canonicalIngress);
  return JSON.stringify(ingress);
}

function canonicalIngress(i: V1LoadBalancerIngress): unknown[] {
  const ports = (i.ports ?? []).map((p) => [p.port, p.protocol ?? 'TCP', p.error ?? null]);
  return [i.ip ?? null, i.hostname ?? null, i.ip ? (i.ipMode ?? 'VIP') : (i.ipMode ?? null), ports];
}

/**
 * Sets or removes annotations on a Service with one JSON merge patch (`null` removes a key).
 * Returns the updated Service, or undefined if it no longer exists.
 */
export async function patchServiceAnnotations(
  clients: ApiClients,
  ref: ServiceRef,
  annotations: Record<string, string | null>,
): Promise<V1Service | undefined> {
  try {
    return await clients.core.patchNamespacedService(
      { namespace: ref.namespace, name: ref.name, body: { metadata: { annotations } } },
      mergePatchOptions,
    );
  } catch (err) {
    const f = noteApiFailure(err);
    if (f.kind === 'http' && f.code === 404) return undefined;
    throw new FulcrumError(
      'FUL_ERR_K8S_API',
      { action: 'patching annotations', service: `${ref.namespace}/${ref.name}`, reason: describeApiFailure(f) },
      { cause: err },
    );
  }
}
