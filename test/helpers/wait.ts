/**
 * Polls `probe` until it returns something other than undefined/false, or fails after
 * `timeoutMs` with a message that says what was awaited and what was last seen. Tests wait on
 * conditions with this instead of sleeping.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; describe?: () => unknown } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const interval = opts.intervalMs ?? 20;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const seen = opts.describe ? `; last seen: ${JSON.stringify(await opts.describe())}` : '';
      const err = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${what}${seen}${err}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
