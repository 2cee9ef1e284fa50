import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiClients, type ApiClients } from '../../src/k8s/client.js';
import { reuseConnections } from '../../src/k8s/keep-alive.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { startTestTarget, type TestApiServer } from '../helpers/api-target.js';

/**
 * Shared set-up of the k8s client-layer integration tests: the lab's API emulator on
 * 127.0.0.1 (port 0) — or, with FULCRUM_TEST_APISERVER=real, the shared real control plane
 * (test/helpers/api-target.ts) — a kubeconfig file written by it, and the clients loaded from
 * that file through `loadKubeConfig` exactly as the programs do.
 */
export interface Emulator {
  server: TestApiServer;
  clients: ApiClients;
  kubeconfigPath: string;
  close(): Promise<void>;
}

export async function startEmulator(opts: { eventWindow?: number; keepAlive?: boolean } = {}): Promise<Emulator> {
  const server = await startTestTarget({ eventWindow: opts.eventWindow });
  const dir = await mkdtemp(join(tmpdir(), 'fulcrum-k8s-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  await server.writeKubeconfig(kubeconfigPath);
  const { kubeConfig } = loadKubeConfig(kubeconfigPath, {});
  // keepAlive: as the programs run (one pooled agent), so faults also hit reused connections.
  const clients = createApiClients(opts.keepAlive ? reuseConnections(kubeConfig) : kubeConfig, { requestTimeoutMs: 10_000 });
  return {
    server,
    clients,
    kubeconfigPath,
    async close() {
      // Keep the API traffic of each suite visible, so runaway request loops show in the output.
      const counts = Object.entries(server.requestCounts()).sort((a, b) => b[1] - a[1]).slice(0, 6);
      process.stdout.write(`      ${server.kind === 'real' ? 'the real kube-apiserver' : 'emulator'} served ${server.requestCount()} requests (${counts.map(([k, v]) => `${k}: ${v}`).join(', ')})\n`);
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `probe` until it returns something truthy; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 10_000, stepMs = 5): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Retries an API call that may hit an injected fault (500/429) or a restarting server. */
export async function retrying<T>(fn: () => Promise<T>, attempts = 50): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const transient = code === 500 || code === 429 || typeof code !== 'number';
      if (!transient || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** A test backoff: quick, so faults recover in milliseconds, still capped and jittered. */
export const FAST_BACKOFF = { initialMs: 20, maxMs: 200, factor: 2, jitter: 0.5 };
