// What the hostile-input tests share: descriptor and heap baselines (the proxy runs in this
// process, so /proc/self/fd is its descriptors), and a client outcome that says how a
// connection ended (answered, closed, reset) without ever hanging.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { waitFor } from '../helpers/wait.js';

v8.setFlagsFromString('--expose-gc');
/** A real collection before each heap reading, so "back near the baseline" compares live objects. */
const gc = vm.runInNewContext('gc') as () => void;

export interface Baseline {
  readonly fds: number;
  readonly heapBytes: number;
}

export function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

export function heapUsed(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

export function baseline(): Baseline {
  return { fds: openDescriptors(), heapBytes: heapUsed() };
}

/** Waits until descriptors are back to the baseline (+ `slack`), then checks the heap is within `heapSlackBytes`. */
export async function assertBackToBaseline(b: Baseline, what: string, slack = 2, heapSlackBytes = 16 * 1024 * 1024): Promise<{ fds: number; heapDeltaKiB: number }> {
  await waitFor(`descriptors back to ${b.fds} (+${slack}) after ${what}`, () => openDescriptors() <= b.fds + slack, { describe: () => openDescriptors() });
  const heap = heapUsed();
  const heapDeltaKiB = Math.round((heap - b.heapBytes) / 1024);
  assert.ok(heap - b.heapBytes < heapSlackBytes, `heap after ${what}: ${heapDeltaKiB} KiB above the baseline`);
  return { fds: openDescriptors(), heapDeltaKiB };
}

export type Outcome = 'answered' | 'closed' | 'reset' | 'error';

/**
 * Connects to `port`, sends `hello`, and resolves with how it ended: `answered` (an echo came
 * back; the socket is handed over open), `closed` (FIN before any answer), `reset`, `error`.
 */
export function tryConnection(port: number, opts: { localAddress?: string; hello?: string } = {}): Promise<{ outcome: Outcome; socket: net.Socket }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const done = (outcome: Outcome): void => {
      s.removeAllListeners('data');
      s.setTimeout(0);
      resolve({ outcome, socket: s });
    };
    s.setTimeout(5000, () => {
      s.destroy();
      done('error');
    });
    s.once('connect', () => s.write(opts.hello ?? 'hi'));
    s.once('data', () => done('answered'));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNRESET' ? 'reset' : 'error'));
    s.once('end', () => done('closed'));
  });
}

export function tally(outcomes: readonly Outcome[]): Record<Outcome, number> {
  const t: Record<Outcome, number> = { answered: 0, closed: 0, reset: 0, error: 0 };
  for (const o of outcomes) t[o]++;
  return t;
}

/** Sends `text` on an open socket and resolves with the first chunk that comes back. */
export function echo(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    s.once('data', (c: Buffer) => resolve(c.toString()));
    s.once('error', reject);
    s.write(text);
  });
}
