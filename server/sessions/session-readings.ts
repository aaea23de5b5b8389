// One set of kernel readings per session, shared by everything that needs them: the lab-step
// checks, and every page that watches (the learner's, a watcher's, an instructor's). The session
// sets how often they are made — ten a second while a page shows them, once a second while only
// the checks need them, not at all otherwise — and gets each snapshot with what changed since
// the last.
//
// A reading is synchronous reads of small files in /proc and cgroupfs (see server/probes/),
// mostly just the three change detectors of probe-snapshot.ts. Every session's readings are
// made by one scheduler for the whole server, which
//   - wakes at most every MIN_WAKE_GAP_MS and reads every session that is due, so a thousand
//     sessions cost a few wake-ups a second, not a thousand timers;
//   - gives the event loop back after SLICE_MS of readings in one turn, so keystrokes and
//     output never wait behind a long round;
//   - holds the readings of the whole server to a budget (PROBE_BUDGET of one core): when they
//     cost more, every session's pace is stretched alike, and back when they cost less.
import type { ProbeSnapshot } from "../../common/lab-state";
import { type Logger, log as rootLog } from "../log";
import { probeRoundSeconds, probeStretch } from "../metrics";
import { QUIET_REFRESH_MS, type ProbeTarget, type SnapshotDelta, type SnapshotReader, createSnapshotReader, diffSnapshot, isUnchanged } from "../probes";
import { kernelFiles } from "../probes/kernel-files";

/** While a page shows the kernel state: faster than a chart can usefully redraw for a person. */
export const WATCHED_INTERVAL_MS = 100;
/** While only the lab-step checks need readings: a learner's step ticks within a second. */
export const CHECK_INTERVAL_MS = 1_000;

/** A full reading at least this often while only the checks need readings: what the change
 *  detectors miss (a program that called setns(2) and sat still) is rare, and a thousand idle
 *  sessions of a class should cost next to nothing. While a page watches: QUIET_REFRESH_MS. */
export const CHECKS_QUIET_REFRESH_MS = 30_000;

/** The share of one core the server's readings may take, all sessions together. */
export const PROBE_BUDGET = 0.05;
/** The most the pace is stretched under the budget: a watched chart still moves every second. */
export const MAX_STRETCH = 10;
/** Readings made in one turn of the event loop before it is given back. */
export const SLICE_MS = 4;
/** Wake-ups are at least this far apart (a reading is then up to this late). */
export const MIN_WAKE_GAP_MS = 20;

/**
 * A snapshot, what changed since the previous one (null: nothing), and whether it was read in
 * full (false: only the change detectors were read, and they had not moved).
 */
export type ReadingListener = (snapshot: ProbeSnapshot, change: SnapshotDelta | null, fresh: boolean) => void;

export interface ProbeSchedulerOptions {
  /** Milliseconds since the epoch; tests pass a fake clock. */
  now?: () => number;
  /** What a round of readings costs, in milliseconds (default: elapsed time on this thread). */
  elapsed?: () => number;
  budget?: number;
  log?: Logger;
  /** Whether its rounds and stretch go to /metrics: the server's own scheduler only. */
  measured?: boolean;
}

/** Reads every session that is due, within the server's budget. One per server. */
export class ProbeScheduler {
  private readonly members = new Set<SessionReadings>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private continuing = false;
  private lastWakeAt = Number.NEGATIVE_INFINITY;
  /** Milliseconds since the epoch, the clock every member's due time is on. */
  readonly now: () => number;
  private readonly elapsed: () => number;
  private readonly budget: number;
  private readonly log: Logger;
  /** Time spent reading since windowStart, and the window's start. */
  private busyMs = 0;
  private windowStart: number;
  private stretchFactor = 1;
  private warnedStretch = false;
  private roundCount = 0;
  private readonly measured: boolean;

  constructor(options: ProbeSchedulerOptions = {}) {
    this.now = options.now ?? (() => Date.now());
    this.elapsed = options.elapsed ?? (() => performance.now());
    this.budget = options.budget ?? PROBE_BUDGET;
    this.log = options.log ?? rootLog;
    this.measured = options.measured ?? false;
    this.windowStart = this.now();
  }

  /** How much every session's pace is stretched now (1: not at all). */
  get stretch(): number {
    return this.stretchFactor;
  }

  /** Turns of the event loop spent reading so far (each wake-up, and each continuation). */
  get rounds(): number {
    return this.roundCount;
  }

  /** Sessions with readings scheduled. */
  get size(): number {
    return this.members.size;
  }

  /** A member's due time changed: make sure the scheduler wakes for it. */
  changed(readings: SessionReadings, urgent = false): void {
    if (readings.dueAt === Number.POSITIVE_INFINITY) {
      this.members.delete(readings);
      if (this.members.size === 0) this.clearTimer();
      return;
    }
    this.members.add(readings);
    if (this.continuing) return;
    // A wall clock set back since the last wake-up must not push this one out by the jump.
    const now = this.now();
    if (this.lastWakeAt > now) this.lastWakeAt = now - MIN_WAKE_GAP_MS;
    const at = urgent ? readings.dueAt : Math.max(readings.dueAt, this.lastWakeAt + MIN_WAKE_GAP_MS);
    if (at < this.timerAt) this.wakeAt(at);
  }

  private wakeAt(at: number): void {
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => this.run(), Math.max(0, at - this.now()));
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private run(): void {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.continuing = false;
    this.roundCount++;
    const now = this.now();
    this.lastWakeAt = now;
    const started = this.elapsed();
    let next = Number.POSITIVE_INFINITY;
    for (const member of this.members) {
      // A wall clock set back must not stall anyone: nobody is due later than one interval.
      member.clampDue(now);
      if (member.dueAt <= now) {
        if (this.elapsed() - started >= SLICE_MS) {
          // The rest of this round after whatever the event loop has waiting.
          this.continuing = true;
          this.account(now, this.elapsed() - started);
          setImmediate(() => this.run());
          return;
        }
        member.tick(now, this.stretchFactor);
      }
      if (member.dueAt < next) next = member.dueAt;
    }
    this.account(now, this.elapsed() - started);
    if (next !== Number.POSITIVE_INFINITY) this.wakeAt(Math.max(next, now + MIN_WAKE_GAP_MS));
  }

  /** Add a round's cost; once a second, set the stretch from the share of time it took. */
  private account(now: number, spentMs: number): void {
    if (this.measured) probeRoundSeconds.observe(spentMs / 1000);
    this.busyMs += spentMs;
    const windowMs = now - this.windowStart;
    if (windowMs < 1_000 && windowMs >= 0) return;
    const share = windowMs > 0 ? this.busyMs / windowMs : 0;
    // Halfway towards what the last second asks for, so one slow second does not jerk the pace.
    const wanted = Math.min(MAX_STRETCH, Math.max(1, (this.stretchFactor * share) / this.budget));
    this.stretchFactor = Math.max(1, (this.stretchFactor + wanted) / 2);
    if (this.measured) probeStretch.set(this.stretchFactor);
    if (this.stretchFactor >= 1.5 && !this.warnedStretch) {
      this.warnedStretch = true;
      this.log.warn({ share, stretch: this.stretchFactor, sessions: this.members.size }, "kernel readings over budget: every session is read less often");
    } else if (this.stretchFactor < 1.1) this.warnedStretch = false;
    this.busyMs = 0;
    this.windowStart = now;
  }
}

/** The server's one scheduler. */
export const hostProbeScheduler = new ProbeScheduler({ measured: true });

export interface SessionReadingsOptions {
  /** Where a failed reading is logged (once per distinct message). */
  log?: Logger;
  /** A reading failed for a reason other than something vanishing (which is not a failure);
   *  the readings go on. Default: log it once per distinct message. */
  onError?: (error: Error) => void;
  /** Makes the reader; tests pass a scripted one. */
  createReader?: () => SnapshotReader;
  /** Tests pass their own, on a fake clock; the readings keep the scheduler's time. */
  scheduler?: ProbeScheduler;
}

export class SessionReadings {
  private intervalMs: number | null = null;
  /** When the next reading is due (ms since the epoch); +∞ when none is scheduled. */
  dueAt = Number.POSITIVE_INFINITY;
  private lastTickAt = Number.NEGATIVE_INFINITY;
  private last: ProbeSnapshot | null = null;
  private fullNext = false;
  private lastErrorMessage: string | null = null;
  private stopped = false;
  private readonly read: SnapshotReader;
  private readonly onError: (error: Error) => void;
  private readonly scheduler: ProbeScheduler;

  constructor(
    private readonly target: ProbeTarget,
    private readonly onReading: ReadingListener,
    options: SessionReadingsOptions = {},
  ) {
    this.read = (options.createReader ?? (() => createSnapshotReader()))();
    this.scheduler = options.scheduler ?? hostProbeScheduler;
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
    this.dueAt = ms === null ? Number.POSITIVE_INFINITY : Math.max(this.scheduler.now(), this.lastTickAt + ms);
    this.scheduler.changed(this);
  }

  /** Read as soon as possible: a page just started watching and wants its first snapshot, or
   *  (`full`) something the change detectors do not see changed, such as the limits. */
  readSoon(full = false): void {
    if (this.stopped) return;
    this.fullNext ||= full;
    this.dueAt = this.scheduler.now();
    this.scheduler.changed(this, true);
  }

  /** Read within `ms` (sooner if already due sooner): many sessions asked at once each get a
   *  point of their own in it, so that their readings do not all fall in one turn of the
   *  event loop, nor stay together at every interval after it. */
  readWithin(ms: number): void {
    if (this.stopped) return;
    this.dueAt = Math.min(this.dueAt, this.scheduler.now() + Math.random() * ms);
    this.scheduler.changed(this);
  }

  /** No reading starts and no listener is called after this. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.dueAt = Number.POSITIVE_INFINITY;
    this.scheduler.changed(this);
    // The kept descriptors of this session's files go with it.
    const cg = this.target.cgroup;
    for (const dir of cg.version === 1 ? new Set([cg.memory, cg.cpu, cg.cpuacct, cg.pids]) : [cg.dir]) kernelFiles.forget(dir);
  }

  /** Due later than any pace could put it (the longest interval, stretched the most): the
   *  wall clock was set back, and the reading that was due is made now. Called by the
   *  scheduler. (A stretch that shrinks must not pull readings in: they would all land in one
   *  round.) */
  clampDue(now: number): void {
    if (this.intervalMs !== null && this.dueAt > now + this.intervalMs * MAX_STRETCH) this.dueAt = now;
  }

  /** One reading, made by the scheduler; the next is due one (stretched) interval later. */
  tick(now: number, stretch: number): void {
    if (this.stopped) return;
    this.lastTickAt = now;
    this.dueAt = this.intervalMs === null ? Number.POSITIVE_INFINITY : now + this.intervalMs * stretch;
    const full = this.fullNext;
    this.fullNext = false;
    try {
      const quiet = this.intervalMs !== null && this.intervalMs >= CHECK_INTERVAL_MS ? CHECKS_QUIET_REFRESH_MS : QUIET_REFRESH_MS;
      const snapshot = this.read(this.target, now, full, quiet);
      const fresh = !isUnchanged(this.last, snapshot);
      const change = fresh ? diffSnapshot(this.last, snapshot) : null;
      this.last = snapshot;
      this.onReading(snapshot, change, fresh);
    } catch (err) {
      // A process or cgroup that vanished mid-read is not an error (the probes drop it); this
      // is something else, and the readings go on.
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
