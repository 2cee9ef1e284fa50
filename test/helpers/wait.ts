import { waitFor as waitForCondition } from '../../lab/netns.js';

/**
 * Polls `probe` until it returns something other than undefined/false, or fails after
 * `timeoutMs` saying what was awaited (and, with `describe`, what was last seen). Tests wait on
 * conditions with this instead of sleeping. The loop itself is the lab's (`lab/netns.ts`).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; describe?: () => unknown } = {},
): Promise<T> {
  try {
    return await waitForCondition(what, probe, opts.timeoutMs ?? 10_000, opts.intervalMs ?? 20);
  } catch (err) {
    if (!opts.describe) throw err;
    const seen = JSON.stringify(await opts.describe());
    throw new Error(`${(err as Error).message}; last seen: ${seen}`, { cause: err });
  }
}
