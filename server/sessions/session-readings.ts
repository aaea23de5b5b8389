// One set of kernel readings per session, shared by everything that needs them: the lab-step
// checks, and every page that watches (the learner's, a watcher's). The session sets how often
// they are made — ten a second while a page shows them, once a second while only the checks
// need them, not at all otherwise — and gets each snapshot with what changed since the last.
//
// A reading is synchronous reads of small files in /proc and cgroupfs (see server/probes/);
// the next one is scheduled only after the previous has been handed on, so they never overlap.
import type { ProbeSnapshot } from "../../common/lab-state";
import { type Logger, log as rootLog } from "../log";
import { type ProbeTarget, type SnapshotDelta, type SnapshotReader, createSnapshotReader, diffSnapshot } from "../probes";

/** While a page shows the kernel state: faster than a chart can usefully redraw for a person. */
export const WATCHED_INTERVAL_MS = 100;
/** While only the lab-step checks need readings: a learner's step ticks within a second. */
export const CHECK_INTERVAL_MS = 1_000;

export type ReadingListener = (snapshot: ProbeSnapshot, change: SnapshotDelta | null) => void;

export interface SessionReadingsOptions {
  /** Where a failed reading is logged (once per distinct message). */
  log?: Logger;
  /** A reading failed for a reason other than something vanishing (which is not a failure);
   *  the readings go on. Default: log it once per distinct message. */
  onError?: (error: Error) => void;
  /** Makes the reader; tests pass a scripted one. */
  createReader?: () => SnapshotReader;
  /** Milliseconds since the epoch; tests pass a fake clock. */
  now?: () => number;
}

export class SessionReadings {
  private intervalMs: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastTickAt = Number.NEGATIVE_INFINITY;
  private last: ProbeSnapshot | null = null;
  private lastErrorMessage: string | null = null;
  private stopped = false;
  private readonly read: SnapshotReader;
  private readonly onError: (error: Error) => void;
  private readonly now: () => number;

  constructor(
    private readonly target: ProbeTarget,
    private readonly onReading: ReadingListener,
    options: SessionReadingsOptions = {},
  ) {
    this.read = (options.createReader ?? (() => createSnapshotReader()))();
    this.now = options.now ?? Date.now;
    const log = options.log ?? rootLog;
    this.onError =
      options.onError ??
      ((error) => {
        if (error.message === this.lastErrorMessage) return;
        this.lastErrorMessage = error.message;
        log.warn({ err: error.message }, "kernel reading failed");
      });
  }

  /** The latest snapshot, or null before the first. */
  latest(): ProbeSnapshot | null {
    return this.last;
  }

  /** Read every `ms` milliseconds from now on, or not at all (null). */
  setIntervalMs(ms: number | null): void {
    if (this.stopped || ms === this.intervalMs) return;
    this.intervalMs = ms;
    this.schedule();
  }

  /** Read as soon as possible (a page just started watching and wants its first snapshot). */
  readSoon(): void {
    if (this.stopped) return;
    this.clearTimer();
    this.timer = setTimeout(() => this.tick(), 0);
    this.timer.unref();
  }

  /** No reading starts and no listener is called after this. */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private schedule(): void {
    this.clearTimer();
    if (this.stopped || this.intervalMs === null) return;
    // Clamped both ways: a wall clock set back must not stall the readings.
    const delay = Math.min(this.intervalMs, Math.max(0, this.lastTickAt + this.intervalMs - this.now()));
    this.timer = setTimeout(() => this.tick(), delay);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private tick(): void {
    this.timer = null;
    if (this.stopped) return;
    this.lastTickAt = this.now();
    try {
      const snapshot = this.read(this.target, this.lastTickAt);
      const change = diffSnapshot(this.last, snapshot);
      this.last = snapshot;
      this.onReading(snapshot, change);
    } catch (err) {
      // A process or cgroup that vanished mid-read is not an error (the probes drop it); this
      // is something else, and the readings go on.
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
    this.schedule();
  }
}
