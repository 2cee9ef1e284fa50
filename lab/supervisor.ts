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
  startedAt: number;
  backoff: BackoffState;
  held: boolean;
  timer: NodeJS.Timeout | undefined;
  restartAt: number | undefined;
  lastExit: { text: string; at: number } | undefined;
  start: () => LabProcess;
  onStart: (p: LabProcess) => void;
  waiters: ((p: LabProcess) => void)[];
}

export class Supervisor {
  readonly enabled: boolean;
  readonly policy: RestartPolicy;
  readonly #onLine: (line: string) => void;
  readonly #slots = new Map<string, Slot>();
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
    const slot: Slot = { current: undefined, startedAt: 0, backoff: NO_BACKOFF, held: false, timer: undefined, restartAt: undefined, lastExit: undefined, start, onStart, waiters: [] };
    this.#slots.set(name, slot);
    return this.#launch(name, slot);
  }

  #launch(name: string, slot: Slot): LabProcess {
    const p = slot.start();
    slot.current = p;
    slot.startedAt = Date.now();
    slot.restartAt = undefined;
    slot.onStart(p);
    for (const w of slot.waiters.splice(0)) w(p);
    void p.exited.then((exit) => this.#exited(name, slot, p, exit));
    return p;
  }

  #exited(name: string, slot: Slot, p: LabProcess, exit: ProcessExit): void {
    const ranMs = Date.now() - slot.startedAt;
    const decision = decideRestart(this.policy, slot.backoff, { enabled: this.enabled, labStopping: this.#stopping, held: slot.held, replaced: slot.current !== p, ranMs });
    if (!decision.restart && (decision.reason === 'replaced' || decision.reason === 'labStopping')) return;
    const text = describeExit(exit);
    slot.lastExit = { text, at: Date.now() };
    if (decision.restart || decision.reason === 'noRestart') {
      const last = p.output().trim().split('\n').filter((l) => l.trim() !== '').pop() ?? '';
      this.#onLine(exitLine(name, text, ranMs, decision, exit.signal ? '' : last));
    }
    if (!decision.restart) return;
    slot.backoff = decision.next;
    slot.restartAt = Date.now() + decision.delayMs;
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
