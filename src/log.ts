import bunyan from 'bunyan';

/**
 * The root logger. Components take a child (`logger.child({ component: 'speaker' })`) and bind
 * more keys as they go down (node, service, ip, frontend). Output is JSON lines on stderr, so
 * stdout stays free for a command's own output (tables, summaries).
 *
 * Level: `--log-level` (applied with `setLogLevel`), else `FULCRUM_LOG_LEVEL`, else `info`.
 * `FULCRUM_LOG_LEVEL=silent` (or `off`) mutes everything, which tests use.
 */
export type Logger = bunyan;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LEVELS)[number] | 'silent';

export function parseLogLevel(value: string): LogLevel {
  const v = value.trim().toLowerCase();
  if (v === 'silent' || v === 'off' || v === 'none') return 'silent';
  if ((LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new Error(`log level "${value}" is not one of ${[...LEVELS, 'silent'].join(', ')}`);
}

function bunyanLevel(level: LogLevel): number {
  return level === 'silent' ? bunyan.FATAL + 1 : bunyan.resolveLevel(level);
}

const initialLevel: LogLevel = (() => {
  const env = process.env.FULCRUM_LOG_LEVEL;
  if (!env) return 'info';
  try {
    return parseLogLevel(env);
  } catch {
    return 'info';
  }
})();

export const rootLogger: Logger = bunyan.createLogger({
  name: 'fulcrum',
  level: bunyanLevel(initialLevel),
  streams: [{ stream: process.stderr, level: bunyanLevel(initialLevel) }],
  serializers: { err: bunyan.stdSerializers.err },
});

/** Sets the level of the root logger and of every child made from it afterwards. */
export function setLogLevel(level: LogLevel): void {
  rootLogger.level(bunyanLevel(level));
}

/** A child logger for one component; more keys can be bound with `.child({...})`. */
export function componentLogger(component: string, fields: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...fields });
}
