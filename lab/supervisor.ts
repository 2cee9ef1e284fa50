import type { ComponentRun } from './component-pod-status.js';
import type { LabProcess, ProcessExit } from './netns.js';
import { decideRestart, describeExit, exitLine, LAB_RESTART_POLICY, NO_BACKOFF, type BackoffState, type RestartPolicy } from './restart-policy.js';

/**
 * The lab playing the kubelet for its own components: the allocator and each speaker run in a
 * slot, and a process that exits is started again after the policy's back-off
 * (lab/restart-policy.ts decides; this file keeps the timers and processes). Off from code by
 * default (the e2e tests kill speakers and expect them to stay down); `fulcrum lab` turns it on
 * unless `--no-restart`.
 */

export interface SupervisorOptions {
  /** Restart components that die (default false). */
  readonly enabled: boolean;
  readonly policy?: RestartPolicy;
  /** One line per exit and per restart, for the lab's progress output. */
  readonly onLine?: (line: string) => void;
}

/** What state.json shows of a component beside its pid and status. */
export interface RestartRecord {
  /** Starts after the first (the Pod's restartCount). */
  readonly restarts: number;
  /** "killed by SIGKILL", "exited 1"; null before any exit. */
  readonly lastExit: string | null;
  readonly lastExitAt: string | null;
  /** When a restart is due (back-off); null when running or left down. */
  readonly nextRestartAt: string | null;
  /** The delay of the pending or last restart, ms; null before the first. */
  readonly backOffMs: number | null;
}

interface Slot {
  /** Set by the first launch, right after the slot is made. */
  current: LabProcess | undefined;
  firstStartedAt: number;
  startedAt: number;
  /** The current process's exit has been handled (set in #exited, cleared by a launch). */
  down: boolean;
  backoff: BackoffState;
  held: boolean;
  timer: NodeJS.Timeout | undefined;
  restartAt: number | undefined;
  lastExit: { text: string; exit: ProcessExit; startedAt: number; at: number } | undefined;
  start: () => LabProcess;
  onStart: (p: LabProcess) => void;
  waiters: ((p: LabProcess) => void)[];
}

export class Supervisor {
  readonly enabled: boolean;
  readonly policy: RestartPolicy;
  readonly #onLine: (line: string) => void;
  readonly #slots = new Map<string, Slot>();
  readonly #listeners: ((name: string) => void)[] = [];
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.enabled = options.enabled;
    this.policy = options.policy ?? LAB_RESTART_POLICY;
    this.#onLine = options.onLine ?? (() => undefined);
  }

  /**
   * Starts a component in slot `name` (or starts it again by hand: a pending restart is dropped,
   * the back-off and count are kept). `onStart` gets every process of the slot, this one and
   * each restart.
   */
  run(name: string, start: () => LabProcess, onStart: (p: LabProcess) => void): LabProcess {
    const known = this.#slots.get(name);
    if (known) {
      clearTimeout(known.timer);
      Object.assign(known, { timer: undefined, restartAt: undefined, held: false, start, onStart });
      return this.#launch(name, known);
    }
    const slot: Slot = { current: undefined, firstStartedAt: Date.now(), startedAt: 0, down: false, backoff: NO_BACKOFF, held: false, timer: undefined, restartAt: undefined, lastExit: undefined, start, onStart, waiters: [] };
    this.#slots.set(name, slot);
    return this.#launch(name, slot);
  }

  #launch(name: string, slot: Slot): LabProcess {
    const p = slot.start();
    slot.current = p;
    slot.startedAt = Date.now();
    slot.down = false;
    slot.restartAt = undefined;
    slot.onStart(p);
    for (const w of slot.waiters.splice(0)) w(p);
    void p.exited.then((exit) => this.#exited(name, slot, p, exit));
    this.#changed(name);
    return p;
  }

  #exited(name: string, slot: Slot, p: LabProcess, exit: ProcessExit): void {
    const ranMs = Date.now() - slot.startedAt;
    const decision = decideRestart(this.policy, slot.backoff, { enabled: this.enabled, labStopping: this.#stopping, held: slot.held, replaced: slot.current !== p, ranMs });
    if (!decision.restart && (decision.reason === 'replaced' || decision.reason === 'labStopping')) return;
    const text = describeExit(exit);
    slot.lastExit = { text, exit, startedAt: slot.startedAt, at: Date.now() };
    slot.down = true;
    if (decision.restart || decision.reason === 'noRestart') {
      const last = p.output().trim().split('\n').filter((l) => l.trim() !== '').pop() ?? '';
      this.#onLine(exitLine(name, text, ranMs, decision, exit.signal ? '' : last));
    }
    if (!decision.restart) {
      this.#changed(name);
      return;
    }
    slot.backoff = decision.next;
    slot.restartAt = Date.now() + decision.delayMs;
    this.#changed(name);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.#stopping || slot.held || slot.current !== p) return;
      const again = this.#launch(name, slot);
      this.#onLine(`${name} restarted (restart ${slot.backoff.restarts}, pid ${again.pid})`);
    }, decision.delayMs);
  }

  /** Keeps `name` down if it exits (no restart) until `release`. */
  hold(name: string): void {
    const slot = this.#slot(name);
    slot.held = true;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.restartAt = undefined;
    this.#changed(name);
  }

  /** Ends a hold; a component that is down starts now (counted as a restart, as the kubelet counts it). */
  release(name: string): LabProcess {
    const slot = this.#slot(name);
    slot.held = false;
    if (slot.current?.running || slot.timer) return slot.current!;
    slot.backoff = { restarts: slot.backoff.restarts + 1, lastDelayMs: slot.backoff.lastDelayMs };
    return this.#launch(name, slot);
  }

  /** Resolves with the next process started in slot `name` (a restart, a release or a start by hand). */
  nextStart(name: string): Promise<LabProcess> {
    const slot = this.#slot(name);
    return new Promise((resolve) => slot.waiters.push(resolve));
  }

  record(name: string): RestartRecord {
    const slot = this.#slots.get(name);
    const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
    return {
      restarts: slot?.backoff.restarts ?? 0,
      lastExit: slot?.lastExit?.text ?? null,
      lastExitAt: iso(slot?.lastExit?.at),
      nextRestartAt: iso(slot?.restartAt),
      backOffMs: slot?.backoff.lastDelayMs ?? null,
    };
  }

  /** What a kubelet would know of the slot's container, for its Pod's status (lab/component-pod-status.ts). */
  componentRun(name: string): ComponentRun {
    const slot = this.#slot(name);
    const last = slot.lastExit;
    return {
      // "down" once the exit is handled, so that a state other than running always has its lastExit
      state: !slot.down ? 'running' : slot.restartAt !== undefined ? 'backOff' : 'down',
      firstStartedAt: slot.firstStartedAt,
      startedAt: slot.startedAt,
      restarts: slot.backoff.restarts,
      lastExit: last && { code: last.exit.code, signal: last.exit.signal, startedAt: last.startedAt, at: last.at },
      restartAt: slot.restartAt,
      backOffMs: slot.backoff.lastDelayMs,
    };
  }

  /** Calls `listener` with the slot's name whenever a process of it starts or ends, or a restart is planned or dropped. */
  onChange(listener: (name: string) => void): void {
    this.#listeners.push(listener);
  }

  #changed(name: string): void {
    for (const l of this.#listeners) l(name);
  }

  /** No restart from now on (the lab is stopping); pending ones are dropped. */
  stop(): void {
    this.#stopping = true;
    for (const slot of this.#slots.values()) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.restartAt = undefined;
    }
  }

  #slot(name: string): Slot {
    const slot = this.#slots.get(name);
    if (!slot) throw new Error(`no component "${name}" in the lab (known: ${[...this.#slots.keys()].join(', ') || 'none'})`);
    return slot;
  }
}
