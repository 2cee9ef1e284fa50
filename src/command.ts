import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';
import { parseLogLevel, setLogLevel } from './log.js';

/** Exit codes shared by every subcommand. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** One subcommand of `bin/fulcrum`. `usage` is the whole `--help` text. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** Returns the exit code; throws UsageError for a bad command line (exit 2). */
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `util.parseArgs` in strict mode, with its errors turned into UsageError so the CLI answers
 * with exit 2 and the command's usage instead of a stack trace.
 */
export function parseCommandArgs<O extends Options>(
  argv: string[],
  options: O,
  allowPositionals = false,
): { values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string }; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return parsed as never;
  } catch (err) {
    const message = err instanceof Error ? err.message.replace(/\. To specify.*$/s, '') : String(err);
    throw new UsageError(message);
  }
}

/** Parses a whole-number flag, naming the flag and the value when it is not one. */
export function intFlag(name: string, value: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `between ${min} and ${max}`;
    throw new UsageError(`--${name}: "${value}" is not a whole number ${range}`);
  }
  return n;
}

/** Parses a duration flag such as `500ms`, `2s`, `1m` (a bare number means milliseconds). */
export function durationFlag(name: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) throw new UsageError(`--${name}: "${value}" is not a duration (e.g. 500ms, 2s, 1m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return Math.round(unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000);
}

/** Applies `--log-level` (if given) to the root logger; a bad level is a usage error naming it. */
export function applyLogLevelFlag(value: string | undefined): void {
  if (value === undefined) return;
  try {
    setLogLevel(parseLogLevel(value));
  } catch (err) {
    throw new UsageError(`--log-level: ${(err as Error).message}`);
  }
}

/**
 * Parses a `HOST:PORT` flag (`127.0.0.1:7472`, `[::1]:7472`, `:7472` = all addresses); a bad
 * value is a usage error naming the flag and the value.
 */
export function listenFlag(name: string, value: string | undefined, fallback: { host: string; port: number }): { host: string; port: number } {
  if (value === undefined) return fallback;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--${name}: "${value}" is not HOST:PORT (e.g. 127.0.0.1:7472, [::1]:7472, :7472)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Resolves with the first of SIGTERM or SIGINT, then stops listening for both. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
    const onSignal = (signal: NodeJS.Signals): void => {
      for (const s of signals) process.off(s, onSignal);
      resolve(signal);
    };
    for (const s of signals) process.on(s, onSignal);
  });
}
