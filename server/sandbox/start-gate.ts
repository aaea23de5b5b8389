// How many sandboxes start at once. A start is a burst of CPU (the launcher's mounts, the
// shell's first exec and start-up files) that, on a small host, every start of a class joining
// together would spend side by side: with fifty of them runnable, the typing learners' shells
// and the server's own event loop wait behind them on the run queue, and every open terminal
// stutters for the whole wave. Taken a few at a time the wave finishes about as soon (the CPU
// was the limit either way) while the run queue stays short. The waiting line is bounded: past
// it a start is refused at once rather than queued for longer than a page would wait.

import os from "node:os";

/** Half the CPUs, at least one: the other half keep serving the sessions already open. */
export function defaultStartConcurrency(cpus = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cpus / 2));
}

export class StartGateFull extends Error {}

/** The start was given up while it waited (its page went away): it never took a turn. */
export class StartAbandoned extends Error {}

export class StartGate {
  private running = 0;
  private readonly line: Array<{ go(): void }> = [];

  /**
   * @param concurrency starts allowed at once (≥ 1)
   * @param maxWaiting starts that may wait for a turn; one more is refused with StartGateFull
   */
  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`start concurrency must be a whole number ≥ 1, got ${concurrency}`);
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) throw new RangeError(`waiting starts must be a whole number ≥ 0, got ${maxWaiting}`);
  }

  /** Starts waiting for a turn now. */
  get waiting(): number {
    return this.line.length;
  }

  /** Starts under way now. */
  get active(): number {
    return this.running;
  }

  /**
   * Run `start` when a turn is free; its turn ends when it settles, whichever way. Aborting
   * `signal` while it waits takes it out of the line (StartAbandoned), so a page that left
   * holds no place; once started, a start runs to its end.
   */
  async run<T>(start: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new StartAbandoned("the start was given up before its turn");
    if (this.running >= this.concurrency) {
      if (this.line.length >= this.maxWaiting) {
        throw new StartGateFull(`${this.line.length} sandboxes are already waiting to start; try again in a moment`);
      }
      await new Promise<void>((resolve, reject) => {
        const place = {
          go: () => {
            signal?.removeEventListener("abort", leave);
            resolve();
          },
        };
        const leave = () => {
          const at = this.line.indexOf(place);
          if (at >= 0) this.line.splice(at, 1);
          reject(new StartAbandoned("the start was given up while it waited for its turn"));
        };
        signal?.addEventListener("abort", leave, { once: true });
        this.line.push(place);
      });
    } else {
      this.running++;
    }
    // A turn handed over by the start that ended keeps `running` as it was (see below).
    try {
      return await start();
    } finally {
      const next = this.line.shift();
      if (next) next.go();
      else this.running--;
    }
  }
}
