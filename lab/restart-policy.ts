/**
 * When the lab restarts a component that died, as the kubelet restarts a DaemonSet's or a
 * Deployment's container (restartPolicy Always: whatever the exit status), with a
 * CrashLoopBackOff-like delay. Pure: exits and durations in, decisions and words out; the
 * timers and processes are lab/supervisor.ts's.
 */

export interface RestartPolicy {
  /** The delay before the first restart, and again after a long enough run. */
  readonly initialMs: number;
  /** Each restart doubles the delay up to this. */
  readonly maxMs: number;
  /** A run at least this long forgets the earlier crashes: the next delay is `initialMs` again. */
  readonly resetAfterMs: number;
}

/**
 * The kubelet waits 10 s doubling to 5 min and forgets after 10 min of running; the lab is
 * interactive, so it is ten times quicker: a speaker killed by hand is back within a second
 * (long enough to watch its addresses move away, short enough not to wait for), a component
 * that crashes at once (a bad flag) still slows to one start every 30 s instead of flooding its
 * log, and a minute of running is enough to forget, so the next experiment starts at 1 s again.
 */
export const LAB_RESTART_POLICY: RestartPolicy = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 };

/** What the supervisor remembers of a component between its runs. */
export interface BackoffState {
  /** Restarts made so far (the Pod's restartCount). */
  readonly restarts: number;
  /** The delay the last restart waited; undefined before the first. */
  readonly lastDelayMs: number | undefined;
}

export const NO_BACKOFF: BackoffState = { restarts: 0, lastDelayMs: undefined };

export type RestartDecision =
  | { readonly restart: true; readonly delayMs: number; readonly next: BackoffState }
  | { readonly restart: false; readonly reason: 'noRestart' | 'labStopping' | 'held' | 'replaced' };

export interface ExitFacts {
  /** `--no-restart` (or `restart: false` from code): a component that dies stays down. */
  readonly enabled: boolean;
  readonly labStopping: boolean;
  /** Someone (the failover demo) took it down on purpose and will start it again. */
  readonly held: boolean;
  /** The process that exited is no longer the component's current one (started again by hand). */
  readonly replaced: boolean;
  /** How long the process that exited ran. */
  readonly ranMs: number;
}

/** The delay before the next restart: the initial one after a long run or at first, else double the last, capped. */
export function nextDelayMs(policy: RestartPolicy, state: BackoffState, ranMs: number): number {
  if (state.lastDelayMs === undefined || ranMs >= policy.resetAfterMs) return policy.initialMs;
  return Math.min(policy.maxMs, state.lastDelayMs * 2);
}

/** Whether and when a component that just exited is started again. */
export function decideRestart(policy: RestartPolicy, state: BackoffState, exit: ExitFacts): RestartDecision {
  if (exit.replaced) return { restart: false, reason: 'replaced' };
  if (exit.labStopping) return { restart: false, reason: 'labStopping' };
  if (exit.held) return { restart: false, reason: 'held' };
  if (!exit.enabled) return { restart: false, reason: 'noRestart' };
  const delayMs = nextDelayMs(policy, state, exit.ranMs);
  return { restart: true, delayMs, next: { restarts: state.restarts + 1, lastDelayMs: delayMs } };
}

/** "killed by SIGKILL", "exited 1", "exited 0". */
export function describeExit(exit: { readonly code: number | null; readonly signal: string | null }): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return exit.code === null ? 'ended (spawn failed)' : `exited ${exit.code}`;
}

/** 1.5 s → "1.5s", 30 s → "30s", 95 s → "1m35s". */
export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${Number(s.toFixed(1))}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${whole % 60 ? `${whole % 60}s` : ''}`;
}

/**
 * The progress line for an exit: "speaker ful-n2 killed by SIGKILL after 42s (last line: …);
 * restart 1 in 1s", or why it stays down.
 */
export function exitLine(name: string, exitText: string, ranMs: number, decision: RestartDecision, lastLine = ''): string {
  const head = `${name} ${exitText} after ${formatSeconds(ranMs)}${lastLine ? ` (last line: ${lastLine.slice(0, 100)})` : ''}`;
  if (decision.restart) return `${head}; restart ${decision.next.restarts} in ${formatSeconds(decision.delayMs)}`;
  switch (decision.reason) {
    case 'noRestart': return `${head}; --no-restart: left down`;
    case 'held': return `${head}; held down (it is started again by whoever took it down)`;
    default: return head;
  }
}
