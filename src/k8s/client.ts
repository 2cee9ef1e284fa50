import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  Observable,
  PatchStrategy,
  ServerConfiguration,
  Watch,
  createConfiguration,
  setHeaderOptions,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import { FulcrumError } from '../errors.js';
import { classifyApiError, type ApiFailure } from './api-error.js';
import { k8sMetrics } from './metrics.js';

/**
 * The typed API clients of one process, built once from one KubeConfig and shared by every
 * informer and writer. Every request made through them has a timeout (client-node has none by
 * default, so a paused API server would hang a reconcile for ever) and every error answer is
 * counted in `fulcrum_k8s_api_errors_total`.
 */
export interface ApiClients {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly coordination: CoordinationV1Api;
  /** Custom resources (MetalLB's `metallb.io` kinds): untyped JSON objects. */
  readonly custom: CustomObjectsApi;
  /** Raw watch streams (client-node's Watch: no timeout, the informer adds its own). */
  readonly watch: Watch;
  readonly requestTimeoutMs: number;
}

export interface ApiClientsOptions {
  /** Whole-request timeout for non-watch calls; 30 s is generous for a lease or status write. */
  requestTimeoutMs?: number;
}

export function createApiClients(kubeConfig: KubeConfig, opts: ApiClientsOptions = {}): ApiClients {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) {
    throw new FulcrumError('FUL_ERR_KUBECONFIG', { source: 'kubeconfig', reason: `context "${kubeConfig.getCurrentContext()}" names no cluster` });
  }
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  // One middleware only: client-node reverses the middleware array in place on every call
  // (ObservableAPI `_config.middleware.reverse()`), so two would swap order request by request.
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    promiseMiddleware: [
      {
        pre: async (ctx) => {
          ctx.setSignal(AbortSignal.timeout(requestTimeoutMs));
          return ctx;
        },
        post: async (rsp) => {
          if (rsp.httpStatusCode >= 400) k8sMetrics.apiErrors.inc({ code: String(rsp.httpStatusCode) });
          return rsp;
        },
      },
    ],
  });
  return {
    kubeConfig,
    core: new CoreV1Api(configuration),
    discovery: new DiscoveryV1Api(configuration),
    coordination: new CoordinationV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    watch: new Watch(kubeConfig),
    requestTimeoutMs,
  };
}

/** Per-call options that send a body as a JSON merge patch (RFC 7386) instead of JSON Patch. */
export const mergePatchOptions: ConfigurationOptions<ObservableMiddleware> = setHeaderOptions(
  'Content-Type',
  PatchStrategy.MergePatch,
);

/**
 * Classifies a failed call and counts it when no HTTP answer came back (HTTP errors are
 * counted by the clients' middleware already).
 */
export function noteApiFailure(err: unknown): ApiFailure {
  const f = classifyApiError(err);
  if (f.kind === 'network') k8sMetrics.apiErrors.inc({ code: 'network' });
  return f;
}

/**
 * Per-call options with a shorter timeout than the clients' default, e.g. a lease renewal that
 * must give up before the renew deadline. Appended after the clients' middleware, so its
 * signal replaces theirs.
 */
export function timeoutOptions(timeoutMs: number): ConfigurationOptions<ObservableMiddleware> {
  return {
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(AbortSignal.timeout(timeoutMs));
          return new Observable(Promise.resolve(ctx));
        },
        post: (rsp) => new Observable(Promise.resolve(rsp)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}
