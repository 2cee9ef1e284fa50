import type { Clock } from './clock.js';

/**
 * One interruptible wait at a time on an injected clock: loops (informer, leader election)
 * sleep between attempts, and `wake()` ends the current sleep early (stop, or news that makes
 * an early attempt worthwhile). A wake with nobody sleeping is a no-op.
 */
export class Sleeper {
  #clock: Clock;
  #wake: (() => void) | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  sleep(ms: number): Promise<void> {
    this.#wake?.();
    return new Promise((resolve) => {
      const handle = this.#clock.setTimer(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        this.#clock.clearTimer(handle);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  wake(): void {
    this.#wake?.();
  }
}
