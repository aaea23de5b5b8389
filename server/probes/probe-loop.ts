// Polls one session's kernel state and hands on what changed. It knows nothing about sockets:
// whoever starts it decides where a delta goes.
//
// Polling, not inotify or cgroup.events: counters such as memory.current or cpu.stat change
// without any file event, and /proc has none at all. A tick is synchronous reads of small
// files: about fifteen cgroup files plus one status file per process (namespace links only for
// new or exec'd processes, and for all once a second). At most 10 ticks a second keep the cost
// per session bounded, and the next tick is only scheduled once the previous one — listener
// included — has finished, so ticks never overlap and a slow listener slows the loop instead of
// queueing snapshots.
import { type Logger, log as rootLog } from "../log";
import { type ProbeSnapshot, type ProbeTarget, type SnapshotReader, createSnapshotReader } from "./probe-snapshot";
import { type SnapshotDelta, diffSnapshot } from "./snapshot-diff";

/** 10 reads a second at most: faster than a chart can usefully redraw for a person. */
export const MIN_PROBE_INTERVAL_MS = 100;

export type DeltaListener = (delta: SnapshotDelta) => void | Promise<void>;

export interface ProbeLoopOptions {
  /** Milliseconds from the start of one read to the start of the next; default and minimum 100. */
  intervalMs?: number;
  /** A read or the listener failed (for a reason other than a process or cgroup going away,
   *  which is not a failure). The loop goes on. Default: log it once per distinct message. */
  onError?: (error: Error) => void;
  /** Where the default onError logs, e.g. log.child({ sessionId }). */
  logger?: Logger;
  /** See SnapshotReaderOptions.namespaceRefreshMs. */
  namespaceRefreshMs?: number;
  /** Makes the reader for one run (a start); tests pass a fake. Default: createSnapshotReader. */
  createReader?: () => SnapshotReader;
  /** Milliseconds since the epoch; tests pass a fake clock. */
  now?: () => number;
}

interface Run {
  readonly target: ProbeTarget;
  readonly onDelta: DeltaListener;
  last: ProbeSnapshot | null;
}

export class ProbeLoop {
  readonly intervalMs: number;
  private readonly onError: (error: Error) => void;
  private readonly createReader: () => SnapshotReader;
  private readonly now: () => number;
  private run: Run | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The tick under way, if any: a restarted loop waits for it, so that ticks never overlap. */
  private inFlight: Promise<void> | null = null;
  private lastErrorMessage: string | null = null;
  private readonly log: Logger;

  constructor(options: ProbeLoopOptions = {}) {
    const intervalMs = options.intervalMs ?? MIN_PROBE_INTERVAL_MS;
    if (!Number.isFinite(intervalMs) || intervalMs < MIN_PROBE_INTERVAL_MS) {
      throw new RangeError(`intervalMs must be at least ${MIN_PROBE_INTERVAL_MS} (got ${intervalMs})`);
    }
    this.intervalMs = intervalMs;
    this.log = options.logger ?? rootLog;
    this.onError = options.onError ?? ((error) => this.logOnce(error));
    const namespaceRefreshMs = options.namespaceRefreshMs;
    this.createReader = options.createReader ?? (() => createSnapshotReader({ namespaceRefreshMs }));
    this.now = options.now ?? Date.now;
  }

  get running(): boolean {
    return this.run !== null;
  }

  /** The last snapshot read, for a page that (re)connects: send it whole as diffSnapshot(null, latest). */
  latest(): ProbeSnapshot | null {
    return this.run?.last ?? null;
  }

  /**
   * Read `target` now and then every intervalMs, calling `onDelta` with the whole snapshot first
   * and afterwards only with what changed — not at all while nothing does.
   */
  start(target: ProbeTarget, onDelta: DeltaListener): void {
    if (this.run) throw new Error("this probe loop is already running; stop it first");
    const run: Run = { target, onDelta, last: null };
    this.run = run;
    const read = this.createReader();
    const begin = () => {
      if (this.run === run) this.tickNow(run, read);
    };
    if (this.inFlight) void this.inFlight.then(begin);
    else begin();
  }

  /** No read starts and no listener is called after this returns. Safe to call twice. */
  stop(): void {
    this.run = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private tickNow(run: Run, read: SnapshotReader): void {
    this.timer = null;
    const startedAt = this.now();
    const tick = this.tick(run, read, startedAt).finally(() => {
      if (this.inFlight === tick) this.inFlight = null;
      if (this.run !== run) return;
      // Clamped: a wall clock set back must not stall the loop.
      const delay = Math.min(this.intervalMs, Math.max(0, this.intervalMs - (this.now() - startedAt)));
      this.timer = setTimeout(() => this.tickNow(run, read), delay);
      this.timer.unref();
    });
    this.inFlight = tick;
  }

  private async tick(run: Run, read: SnapshotReader, takenAtMs: number): Promise<void> {
    try {
      const snapshot = read(run.target, takenAtMs);
      const delta = diffSnapshot(run.last, snapshot);
      run.last = snapshot;
      if (delta && this.run === run) await run.onDelta(delta);
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private logOnce(error: Error): void {
    if (error.message === this.lastErrorMessage) return;
    this.lastErrorMessage = error.message;
    this.log.warn({ err: error }, "probe read failed");
  }
}
