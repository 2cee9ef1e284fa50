import { getHeapStatistics } from 'node:v8';

/**
 * For long measurements only (bench/soak.ts): when the program runs with `--expose-gc`, SIGUSR2
 * runs a full collection and prints one JSON line with the heap it leaves, so a soak can tell a
 * leak from garbage V8 has not collected yet. Without `--expose-gc` (every deployment) it does
 * nothing and SIGUSR2 keeps Node's default.
 */
export const HEAP_PROBE_EVENT = 'heapAfterFullGc';

export function heapProbeOnSignal(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return false;
  process.on('SIGUSR2', () => {
    gc();
    process.stdout.write(`${JSON.stringify({ event: HEAP_PROBE_EVENT, usedBytes: getHeapStatistics().used_heap_size, uptimeMs: Math.round(process.uptime() * 1000) })}\n`);
  });
  return true;
}
