// One lab session: a learner's sandbox, its kernel readings, its lab steps and the server's copy
// of its terminal, and the pages attached to it. A session is not its socket. Its life:
//
//   attached   an owner page is connected: it types, resizes, changes limits; watchers see
//   detached   no owner page (a reload, a dropped connection, a closed lid): everything keeps
//              running and waits `graceMs` for the owner to come back with its resume token
//   ended      the shell exited, the grace period passed, or the server stopped: the sandbox
//              is destroyed — the only place that happens — and every page is let go
//
// Pages attach through the Attachment interface (server/ws/lab-connection.ts implements it for
// a WebSocket). Every attach starts with the mirror's snapshot of the terminal, then the live
// output, with nothing lost or doubled in between. The newest owner takes over: the page that
// owned the session before is told and keeps watching.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import os from "node:os";

import type { Broadcast } from "../../common/classroom";
import type { ProbeSnapshot } from "../../common/lab-state";
import type { LabStep } from "../../common/lab-steps";
import { type Limits, checkLimits, checkWithinCeiling } from "../../common/limits";
import {
  type AttachRole,
  type CgroupFileWrite,
  CloseCode,
  type ErrorCode,
  PROTOCOL_VERSION,
  type ServerMessage,
  type SessionExpiryReason,
  type StepProgress,
  type TerminalSize,
} from "../../common/protocol";
import { type Logger, log as rootLog } from "../log";
import { type EndCause, oomKills, pidsLimitHits, sessionsEnded } from "../metrics";
import { type CgroupSnapshot, diffSnapshot, readCgroupSnapshot, type SnapshotDelta } from "../probes";
import type { Sandbox } from "../sandbox/sandbox";
import type { Store } from "../store/store";
import { CHECK_INTERVAL_MS, SessionReadings, WATCHED_INTERVAL_MS } from "./session-readings";
import { StepTracker } from "./step-tracker";
import { TerminalMirror } from "./terminal-mirror";
import { TokenBucket } from "./token-bucket";

/** How a session is ended: why (a label for the metrics; the sentence says it to people), and
 *  how its pages are let go (4007 and a session_gone error unless given). */
export interface SessionEnd {
  cause: EndCause;
  code?: CloseCode;
  error?: { code: ErrorCode; message: string };
}

/** What the registry keeps of a session that ended. */
export interface EndedSession {
  readonly reason: string;
  verifyToken(token: string, learnerId: string): boolean;
}

/** A page attached to a session, as the session sees it. */
export interface Attachment {
  /** A control message for this page. */
  send(message: ServerMessage): void;
  /** The mirror's snapshot of the terminal, right after session.ready: what to draw first. */
  replay(chunk: Buffer): void;
  /** Terminal bytes for this page, in order, after the replay. */
  output(chunk: Buffer): void;
  /** This page's role changed (another tab took the session over, or gave it back). With a
   *  reason the page is told (`session.role`); without, it has not had session.ready yet, which
   *  will carry the role. */
  roleChanged(role: AttachRole, reason: string | null): void;
  /** The session lets this page go: close it with `code`, after `error` if one is given. */
  release(code: CloseCode, error?: { code: ErrorCode; message: string }): void;
}

export type SessionState = "attached" | "detached" | "ended";

/** Output a session may print per second. A flood beyond it pauses the shell rather than
 *  making the server parse and forward it at any speed: one `yes` must not cost the others. */
export const OUTPUT_BYTES_PER_SECOND = 1024 * 1024;
/** Output held for a page while its replay is made; a page this far behind is let go. */
const MAX_HELD_BYTES = 1024 * 1024;
/** Replay bytes per frame. */
const REPLAY_FRAME_BYTES = 16 * 1024;
/** With nothing changing, a bare `{kind: "change", takenAtMs}` this often tells a watching page
 *  the stream is alive and idle rather than stopped (and moves its charts' clock on). */
export const STATE_HEARTBEAT_MS = 2_000;
/** Attaches that need a new snapshot of the terminal: 10 at once, then 2 a second. An attach
 *  with nothing printed since the last one reuses its snapshot and is not counted; a script
 *  attaching in a loop while the shell prints would otherwise keep the mirror thread busy. */
export const ATTACH_BURST = 10;
export const ATTACHES_PER_SECOND = 2;
/** Pages that may watch one session at once (the learner's other tabs, an instructor). */
export const MAX_WATCHERS_PER_SESSION = 8;

/** How long a new session waits for its first page. */
const FIRST_ATTACH_TIMEOUT_MS = 30_000;

interface Member {
  readonly attachment: Attachment;
  role: AttachRole;
  watchingState: boolean;
  needsFullState: boolean;
  lastStateSentAt: number;
  /** Live output that arrived while this page's replay was being made; null once it is live. */
  held: Buffer[] | null;
  heldBytes: number;
}

type PauseReason = "owner" | "budget";

/** What the host has: the upper bounds of the limits a learner may set. Read once. */
let hostCapacityValue: { cpus: number; memoryBytes: number; kernelRelease: string } | null = null;
export function hostCapacity() {
  hostCapacityValue ??= { cpus: os.cpus().length, memoryBytes: os.totalmem(), kernelRelease: os.release() };
  return hostCapacityValue;
}

function tokenDigest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/** A session of a class member: what the class decides about it. */
export interface SessionClassroom {
  classId: string;
  memberId: string;
  className: string;
  displayName: string;
  /** The session is ended this long after it started. */
  lifetimeMs: number;
  /** The session is ended when nobody typed into it for this long. */
  idleMs: number;
  /** The class's latest broadcast, shown to a page as it attaches. */
  lastBroadcast: Broadcast | null;
}

/** What the classroom hears of a session (server/classroom/class-hub.ts): enough to keep a
 *  dashboard card, never anything per keystroke beyond a flag. */
export interface SessionListener {
  /** A kernel reading the pages' stream is also made from. */
  reading(snapshot: ProbeSnapshot): void;
  /** The shell printed something (the card's screen is out of date). */
  output(): void;
  /** The lesson's steps as the tracker has them now. */
  progress(steps: readonly StepProgress[]): void;
  /** The session's state, limits or last input changed. */
  changed(): void;
}

/** Readings a second while only a dashboard looks at the session: its cards show memory, pids
 *  and OOM kills, which a second's delay does not hide. */
export const DASHBOARD_INTERVAL_MS = 1_000;
/** The page is told this long before the lab ends a sandbox for idleness or its lifetime (or
 *  half the timeout, when that is shorter: a 5 s idle timeout warns after 2.5 s). */
export const EXPIRY_WARNING_MS = 60_000;

/** When the lab ends a session on its own (0: never, for either). */
export interface SessionExpiry {
  /** Ended this long after the owner's page last typed, resized or attached. */
  idleMs: number;
  /** Ended this long after it started, however busy. */
  lifetimeMs: number;
  /** How long before either the pages are warned (at most; see EXPIRY_WARNING_MS). */
  warningMs?: number;
}

/** "5 s", "30 minutes", "4 hours": a timeout as the learner is told it. */
export function spokenDuration(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms >= 2 * 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} hours`;
  return `${Math.round(ms / 60_000)} minutes`;
}

export interface LabSessionOptions {
  sandbox: Sandbox;
  /** Whose sandbox it is (the nslab_learner cookie); resume tokens only work with it. */
  learnerId: string;
  lesson: string | null;
  /** The lesson's lab steps ([] when it has none). */
  steps: readonly LabStep[];
  store: Store | null;
  /** How long a detached session waits for its owner (0: it ends when the owner leaves). */
  graceMs: number;
  size: TerminalSize;
  /** The class the session belongs to, or null for a learner on their own. */
  classroom?: SessionClassroom | null;
  /** The lab's idle timeout and lifetime for a learner on their own (a class member's are the
   *  class's); unset: neither. */
  expiry?: SessionExpiry | null;
  /** The group of client addresses the start came from (addressGroup), for the lab's bound
   *  per address; null for a class member, who is not counted. */
  address?: string | null;
  /** Called once, when the session starts to end; `destroyed` settles when the sandbox is gone. */
  onEnded(session: LabSession, destroyed: Promise<void>): void;
}

/** The longest delay setTimeout takes as given. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class LabSession {
  readonly id: string;
  readonly learnerId: string;
  readonly lesson: string | null;
  readonly sandbox: Sandbox;
  readonly startedAtMs = Date.now();
  /** Why the session ended, once it has. */
  endReason: string | null = null;
  readonly classroom: SessionClassroom | null;
  /** When the owner last typed, or null. */
  lastInputAtMs: number | null = null;
  /** When the owner's page last typed, resized or attached: what the idle timeout counts from.
   *  Output, acks, pings and state.watch do not count: a forgotten tab does not keep a sandbox. */
  lastActivityAtMs = this.startedAtMs;
  readonly address: string | null;
  /** The newest reading, for whoever needs a figure between streams (a dashboard card). */
  lastSnapshot: ProbeSnapshot | null = null;
  /** This sandbox's OOM kills and pids-limit hits already added to the host's counters. */
  private countedOomKills = 0;
  private countedPidsHits = 0;
  private listener: SessionListener | null = null;
  private dashboardWatched = false;
  /** The most the owner's page may raise its limits to: what the sandbox started with, or
   *  what the instructor set since. */
  private ceiling: Limits;
  private readonly expiry: Required<SessionExpiry> | null;
  /** One timer for both timeouts, set for the next warning or end; activity only moves
   *  lastActivityAtMs, and the timer finds the new deadline when it fires. */
  private expiryTimer: NodeJS.Timeout | null = null;
  /** The warning the pages were given and not yet told is over. */
  private expiring: { reason: SessionExpiryReason; endsAtMs: number } | null = null;
  private stateValue: SessionState = "detached";
  private readonly members = new Map<Attachment, Member>();
  private owner: Member | null = null;
  /** The owner before the current one took over: it gets the session back if the new one
   *  leaves before it was ever ready (a tab closed mid-reload). */
  private previousOwner: Member | null = null;
  private tokenHash: Buffer | null = null;
  /** Whether an owner page was ever told the session is ready (and so holds a token). */
  private everReady = false;
  private graceTimer: NodeJS.Timeout | null = null;
  private readonly mirror: TerminalMirror;
  private readonly readings: SessionReadings;
  private readonly tracker: StepTracker | null;
  private readonly pauses = new Set<PauseReason>();
  private readonly outputBudget = new TokenBucket(OUTPUT_BYTES_PER_SECOND);
  private budgetTimer: NodeJS.Timeout | null = null;
  private readonly attachBudget = new TokenBucket(ATTACHES_PER_SECOND, ATTACH_BURST);
  private ending: Promise<void> | null = null;
  private readonly log: Logger;

  constructor(private readonly options: LabSessionOptions) {
    const { sandbox } = options;
    this.sandbox = sandbox;
    this.id = sandbox.sessionId;
    this.learnerId = options.learnerId;
    this.lesson = options.lesson;
    this.classroom = options.classroom ?? null;
    this.address = this.classroom ? null : (options.address ?? null);
    const expiry = this.classroom ? { idleMs: this.classroom.idleMs, lifetimeMs: this.classroom.lifetimeMs } : options.expiry;
    this.expiry =
      expiry && (expiry.idleMs > 0 || expiry.lifetimeMs > 0)
        ? { idleMs: expiry.idleMs, lifetimeMs: expiry.lifetimeMs, warningMs: expiry.warningMs ?? EXPIRY_WARNING_MS }
        : null;
    this.ceiling = { ...sandbox.initialLimits };
    this.log = rootLog.child({ sessionId: this.id, ...(this.classroom ? { classId: this.classroom.classId, memberId: this.classroom.memberId } : {}) });
    this.tracker =
      options.lesson && options.steps.length > 0
        ? new StepTracker(options.lesson, options.steps, options.learnerId, options.store, this.log)
        : null;
    this.mirror = new TerminalMirror(options.size);
    this.readings = new SessionReadings({ cgroup: sandbox.cgroup }, (snapshot, change, fresh) => this.onReading(snapshot, change, fresh), { log: this.log });
    // Fail closed: a session whose page never attaches (it left while the sandbox started)
    // must not wait for ever. The first owner attach clears this like a grace period.
    this.graceTimer = setTimeout(() => void this.end("No page attached to the sandbox after it started.", { cause: "never_attached" }), FIRST_ATTACH_TIMEOUT_MS);
    this.graceTimer.unref();
    this.checkExpiry();
    sandbox.onData((chunk) => this.onOutput(chunk));
    // Last: a shell that already exited ends the session right here.
    sandbox.onExit((info) => this.onShellExit(info));
    this.updateReadingPace();
  }

  get state(): SessionState {
    return this.stateValue;
  }

  /** Pages attached now, owner included. */
  get attachmentCount(): number {
    return this.members.size;
  }

  /** The text of the server's copy of the terminal, screen and scrollback (for tests and logs). */
  mirrorLines(): Promise<string[]> {
    return this.mirror.lines();
  }

  /** Steps this learner already did in this lesson count from the start (read from the store). */
  async restoreProgress(): Promise<void> {
    if (!this.tracker || !this.options.store || !this.lesson) return;
    try {
      this.tracker.restore(await this.options.store.progress.completed(this.learnerId, this.lesson));
    } catch (err) {
      // The store is unreadable right now: steps still tick; they are just not restored.
      this.log.error({ err }, "progress could not be read");
      return;
    }
    this.broadcastProgress();
    this.updateReadingPace();
  }

  /** The classroom's hooks on this session (one listener; null removes it). */
  setListener(listener: SessionListener | null): void {
    this.listener = listener;
    if (listener && this.tracker) listener.progress(this.tracker.progress().steps);
  }

  /** Whether a dashboard shows this session: it is then read once a second even with no page
   *  watching its kernel state. */
  setDashboardWatched(watched: boolean): void {
    if (this.dashboardWatched === watched) return;
    this.dashboardWatched = watched;
    this.updateReadingPace();
    // A dashboard opens on a whole class at once: spread over one interval, not all now.
    if (watched) this.readings.readWithin(DASHBOARD_INTERVAL_MS);
  }

  /** The text of the last `lines` lines of the terminal, each cut to `width` characters; null
   *  when the mirror's thread did not answer in time (what the screen shows is then unknown,
   *  not blank). */
  screenTail(lines: number, width: number): Promise<string[] | null> {
    return this.mirror.tail(lines, width);
  }

  /** The instructor's message: every page attached now gets it, and every page that attaches later. */
  broadcastToClass(broadcast: Broadcast): void {
    if (this.classroom) this.classroom.lastBroadcast = broadcast;
    this.broadcast({ type: "class.broadcast", broadcast });
  }

  /**
   * The instructor sets this sandbox's limits: the same checks as the learner's own change
   * against this host, but no ceiling but the host's; the limits it changes are the new
   * ceiling for the learner's own changes of them. Every page is told.
   */
  setLimitsByInstructor(change: Partial<Limits>): { ok: true; limits: Limits } | { ok: false; message: string; field?: string } {
    if (this.ending) return { ok: false, message: "The sandbox has ended." };
    const sandbox = this.sandbox;
    const limits = { ...sandbox.limits, ...change };
    const check = checkLimits(limits, hostCapacity());
    if (!check.ok) return { ok: false, message: check.message, field: check.field };
    const before = { ...sandbox.limits };
    const written = this.writeLimits(limits);
    if (!written.ok) return written;
    // Only what the instructor changed moves the ceiling: a learner who had lowered their own
    // CPUs for an exercise can still raise them back to the class's when the instructor only
    // changed the pids.
    for (const field of Object.keys(limits) as Array<keyof Limits>) if (limits[field] !== before[field]) this.ceiling[field] = limits[field];
    this.broadcast({ type: "limits.changed", limits: { ...sandbox.limits }, cgroupFiles: written.cgroupFiles, reason: "Your instructor changed this sandbox's limits." });
    this.listener?.changed();
    return { ok: true, limits: { ...sandbox.limits } };
  }

  /** Whether `token` is this session's current resume token and `learnerId` its learner. */
  verifyToken(token: string, learnerId: string): boolean {
    if (learnerId !== this.learnerId || !this.tokenHash) return false;
    return timingSafeEqual(tokenDigest(token), this.tokenHash);
  }

  /** Whether one more attach may be made now (see ATTACHES_PER_SECOND). */
  takeAttachBudget(): boolean {
    return this.mirror.snapshotIsCached || this.attachBudget.take();
  }

  /** Whether another page may watch (see MAX_WATCHERS_PER_SESSION). */
  get watcherRoom(): boolean {
    return [...this.members.values()].filter((m) => m.role === "watcher").length < MAX_WATCHERS_PER_SESSION;
  }

  /**
   * Attach a page. An owner takes the session over (the previous owner is demoted to watcher)
   * and, with `size`, resizes the terminal to its own. The page gets session.ready, the replay
   * of the terminal, its progress, then the live stream. Otherwise it says why not: the session
   * ended, it has no room for another watcher, or the page left meanwhile.
   */
  async attach(attachment: Attachment, role: AttachRole, size?: TerminalSize): Promise<"attached" | "ended" | "full" | "left"> {
    if (this.ending) return "ended";
    if (this.members.has(attachment)) return "left";
    const resumed = this.everReady || role === "watcher";
    if (role === "watcher" && !this.watcherRoom) return "full";
    const member: Member = { attachment, role, watchingState: false, needsFullState: false, lastStateSentAt: 0, held: [], heldBytes: 0 };
    this.members.set(attachment, member);
    if (role === "owner") {
      this.noteActivity();
      this.takeOver(member);
      if (size) this.applySize(size);
    }
    const { data: replay, size: replaySize } = await this.mirror.snapshot();
    if (this.ending) return "ended";
    if (this.members.get(attachment) !== member) return "left";

    let resumeToken: string | undefined;
    if (member.role === "owner") {
      // A new token at every owner attach: the server never keeps one it could leak, and a
      // token another page saw before a takeover no longer works.
      resumeToken = randomBytes(32).toString("base64url");
      this.tokenHash = tokenDigest(resumeToken);
      this.everReady = true;
    }
    const sandbox = this.sandbox;
    member.attachment.roleChanged(member.role, null);
    attachment.send({
      type: "session.ready",
      version: PROTOCOL_VERSION,
      sessionId: this.id,
      hostname: sandbox.hostname,
      hostPid: sandbox.hostPid,
      cgroupVersion: sandbox.cgroup.version,
      limits: { ...sandbox.limits },
      cgroupFiles: [...sandbox.cgroupFiles],
      host: hostCapacity(),
      startup: sandbox.startup,
      role: member.role,
      ...(resumeToken ? { resumeToken } : {}),
      resumed,
      // The size the replay was drawn at; a resize since follows as pty.size.
      size: replaySize,
      replayBytes: replay.length,
      reconnectGraceS: Math.round(this.options.graceMs / 1000),
      ...(this.classroom ? { classroom: { classId: this.classroom.classId, className: this.classroom.className, displayName: this.classroom.displayName } } : {}),
    });
    for (let offset = 0; offset < replay.length; offset += REPLAY_FRAME_BYTES) {
      attachment.replay(replay.subarray(offset, offset + REPLAY_FRAME_BYTES));
    }
    const held = member.held ?? [];
    member.held = null;
    member.heldBytes = 0;
    for (const chunk of held) attachment.output(chunk);
    const now = this.mirror.size;
    if (member.role === "watcher" && (now.cols !== replaySize.cols || now.rows !== replaySize.rows)) attachment.send({ type: "pty.size", size: now });
    if (this.tracker) attachment.send(this.tracker.progress());
    if (this.classroom?.lastBroadcast) attachment.send({ type: "class.broadcast", broadcast: this.classroom.lastBroadcast });
    // A reload while a warning holds (a lifetime's does, whatever the page does) shows it again.
    const warning = this.expiryWarning(Date.now());
    if (warning) attachment.send(warning);
    this.listener?.changed();
    this.log.info({ role: member.role, resumed, replayBytes: replay.length }, "page attached");
    return "attached";
  }

  /** The page went away (its socket closed). Only the owner's leaving starts the grace period. */
  detach(attachment: Attachment): void {
    const member = this.members.get(attachment);
    if (!member) return;
    this.members.delete(attachment);
    if (member === this.previousOwner) this.previousOwner = null;
    if (member === this.owner) {
      this.owner = null;
      this.setPaused("owner", false);
      const previous = this.previousOwner;
      this.previousOwner = null;
      if (member.held !== null && previous && this.members.get(previous.attachment) === previous) {
        // It left before it was ever ready: the tab it took the session from gets it back.
        previous.role = "owner";
        this.owner = previous;
        this.stateValue = "attached";
        previous.attachment.roleChanged("owner", previous.held === null ? "The other tab went away; this one types into the sandbox again." : null);
      } else if (!this.ending) {
        this.ownerLeft();
      }
      this.listener?.changed();
    }
    this.updateReadingPace();
  }

  /** Keystrokes from a page: the owner's go to the shell; a watcher's are refused. */
  input(attachment: Attachment, data: Buffer): "ok" | "read_only" | "dropped" {
    if (this.members.get(attachment)?.role !== "owner") return "read_only";
    // Fields, not a timer: the session's one expiry timer reads them when it fires.
    const first = this.lastInputAtMs === null;
    this.lastInputAtMs = Date.now();
    this.noteActivity();
    if (first) this.listener?.changed();
    return this.sandbox.write(data) ? "ok" : "dropped";
  }

  resize(attachment: Attachment, size: TerminalSize): "ok" | "read_only" {
    if (this.members.get(attachment)?.role !== "owner") return "read_only";
    this.noteActivity();
    this.applySize(size);
    return "ok";
  }

  /** The owner's page is behind on output (or caught up): pause (or resume) the shell. Only
   *  the owner's backlog pauses it; a watcher that falls behind is dropped instead. */
  ownerBackpressure(attachment: Attachment, behind: boolean): void {
    if (this.owner?.attachment !== attachment) return;
    this.setPaused("owner", behind);
  }

  /** Start or stop streaming kernel state to this page: a full snapshot first, then changes. */
  watchState(attachment: Attachment, watch: boolean): void {
    const member = this.members.get(attachment);
    if (!member || member.watchingState === watch) return;
    member.watchingState = watch;
    member.needsFullState = watch;
    this.updateReadingPace();
    if (watch) this.readings.readSoon();
  }

  /** docker update, checked twice: the protocol's types, then docker's rules against this host
   *  and the limits the session started with. Returns the answer for the page. */
  updateLimits(attachment: Attachment, requestId: string, sessionId: string, change: Partial<Limits>): ServerMessage {
    if (this.members.get(attachment)?.role !== "owner") {
      return { type: "error", code: "read_only", message: "This page only watches the sandbox; its limits can be changed from the learner's own page.", requestId };
    }
    if (sessionId !== this.id) {
      return { type: "error", code: "not_your_session", message: "That session is not this page's; nothing was changed.", requestId };
    }
    const sandbox = this.sandbox;
    const limits = { ...sandbox.limits, ...change };
    const checked = checkLimits(limits, hostCapacity());
    const check = checked.ok ? checkWithinCeiling(limits, this.ceiling) : checked;
    if (!check.ok) return { type: "error", code: "bad_limit", message: check.message, field: check.field, requestId };
    const written = this.writeLimits(limits);
    if (!written.ok) return { type: "error", code: "bad_limit", message: written.message, requestId, ...(written.field ? { field: written.field } : {}) };
    const answer: ServerMessage = { type: "limits.updated", requestId, limits: { ...sandbox.limits }, cgroupFiles: written.cgroupFiles };
    // Watchers see the new limits too; the owner gets the answer to its request.
    for (const member of this.members.values()) if (member.attachment !== attachment && member.held === null) member.attachment.send(answer);
    this.listener?.changed();
    return answer;
  }

  /** Writes checked limits to the kernel; a refusal is said in the learner's terms. */
  private writeLimits(limits: Limits): { ok: true; cgroupFiles: CgroupFileWrite[] } | { ok: false; message: string; field?: string } {
    try {
      const cgroupFiles = this.sandbox.setLimits(limits);
      // The limit files are not among the change detectors: read them at once.
      this.readings.readSoon(true);
      return { ok: true, cgroupFiles: [...cgroupFiles] };
    } catch (err) {
      const text = (err as Error).message;
      const message = /EBUSY/.test(text)
        ? "The sandbox uses more memory than that right now; free some, or choose a higher limit."
        : `The kernel refused the change: ${text}`;
      const field = /memory\.(limit_in_bytes|max)/.test(text) ? "memoryBytes" : /memsw|swap/.test(text) ? "memorySwapBytes" : undefined;
      return { ok: false, message, ...(field ? { field } : {}) };
    }
  }

  /**
   * End the session: every page is let go with `code` (after `error`, if given), the sandbox
   * is destroyed. The one teardown path: safe to call twice, the second call waits for the first.
   */
  end(reason: string, how: SessionEnd): Promise<void> {
    const code = how.code ?? CloseCode.SessionGone;
    // Pages let go with 4007 are told why, as the learner's own page would be on a resume.
    const told = how.error ?? (code === CloseCode.SessionGone ? { code: "session_gone" as const, message: `Your sandbox was ended: ${reason}` } : undefined);
    this.ending ??= this.teardown(reason, how.cause, code, told);
    return this.ending;
  }

  /** What is kept of an ended session: enough to tell its owner why it is gone. */
  tombstone(): EndedSession {
    const tokenHash = this.tokenHash;
    const learnerId = this.learnerId;
    const reason = this.endReason ?? "it is gone.";
    return {
      reason,
      verifyToken: (token, learner) => learner === learnerId && tokenHash !== null && timingSafeEqual(tokenDigest(token), tokenHash),
    };
  }

  private async teardown(reason: string, cause: EndCause, code: CloseCode, error?: { code: ErrorCode; message: string }): Promise<void> {
    this.stateValue = "ended";
    this.endReason = reason;
    sessionsEnded.inc({ reason: cause });
    // What the sandbox's limits stopped since the last reading, before its cgroup goes.
    this.countLimitEvents(this.finalCgroupReading());
    this.clearGrace();
    if (this.budgetTimer) clearTimeout(this.budgetTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    this.readings.stop();
    const members = [...this.members.values()];
    this.members.clear();
    this.owner = null;
    for (const member of members) member.attachment.release(code, error);
    this.log.info({ reason }, "session ended");
    // Never rejects: a teardown that failed is logged, and the session counts as ended.
    const destroyed = this.sandbox
      .destroy()
      .catch((err: unknown) => this.log.error({ err }, "sandbox teardown failed"))
      .finally(() => this.mirror.dispose());
    this.options.onEnded(this, destroyed);
    this.listener?.changed();
    await destroyed;
  }

  /** The owner's page typed, resized or attached. A field and a flag, never a timer: this
   *  runs per keystroke. An idle warning on the pages is taken back at once. */
  private noteActivity(): void {
    this.lastActivityAtMs = Date.now();
    if (this.expiring?.reason !== "idle" || !this.expiry) return;
    this.expiring = null;
    this.broadcast({ type: "session.expiring", reason: "idle", inSeconds: null, limitS: Math.round(this.expiry.idleMs / 1000) });
  }

  /** The deadline nearest now: idleness or lifetime (the lifetime when both fall together). */
  private nextExpiry(): { reason: SessionExpiryReason; atMs: number; periodMs: number } | null {
    const expiry = this.expiry;
    if (!expiry) return null;
    const lifetime = expiry.lifetimeMs > 0 ? { reason: "lifetime" as const, atMs: this.startedAtMs + expiry.lifetimeMs, periodMs: expiry.lifetimeMs } : null;
    const idle = expiry.idleMs > 0 ? { reason: "idle" as const, atMs: this.lastActivityAtMs + expiry.idleMs, periodMs: expiry.idleMs } : null;
    if (!lifetime || !idle) return lifetime ?? idle;
    return idle.atMs < lifetime.atMs ? idle : lifetime;
  }

  /** The warning in force now, as the pages are sent it; null when there is none. */
  private expiryWarning(nowMs: number): ServerMessage | null {
    const warned = this.expiring;
    const next = this.nextExpiry();
    if (!warned || !next || warned.reason !== next.reason) return null;
    return { type: "session.expiring", reason: next.reason, inSeconds: Math.max(0, Math.ceil((next.atMs - nowMs) / 1000)), limitS: Math.round(next.periodMs / 1000) };
  }

  /** Ends the session at its deadline, warns the pages before it, and sets the one timer for
   *  whichever comes next. Activity since the timer was set moved the idle deadline: this finds
   *  it and sleeps again. */
  private checkExpiry(): void {
    this.expiryTimer = null;
    const next = this.nextExpiry();
    if (!next || !this.expiry || this.ending) return;
    const now = Date.now();
    if (now >= next.atMs) {
      void this.end(this.expiryReason(next.reason, next.periodMs), { cause: next.reason });
      return;
    }
    const leadMs = Math.min(this.expiry.warningMs, next.periodMs / 2);
    let wakeAtMs = next.atMs - leadMs;
    if (now >= wakeAtMs) {
      wakeAtMs = next.atMs;
      if (this.expiring?.reason !== next.reason || this.expiring.endsAtMs !== next.atMs) {
        this.expiring = { reason: next.reason, endsAtMs: next.atMs };
        const warning = this.expiryWarning(now);
        if (warning) this.broadcast(warning);
        this.log.info({ reason: next.reason, inMs: next.atMs - now }, "session expiring");
      }
    }
    // Node's timers hold at most 2^31-1 ms (24.8 days; a longer delay would fire at once, in a
    // loop): a lifetime beyond that wakes this once on the way, finds nothing due, sleeps again.
    this.expiryTimer = setTimeout(() => this.checkExpiry(), Math.min(MAX_TIMER_MS, Math.max(1, wakeAtMs - now)));
    this.expiryTimer.unref();
  }

  /** Why the lab ended it, in the learner's words (a class's own timeouts are named as such). */
  private expiryReason(reason: SessionExpiryReason, periodMs: number): string {
    const period = spokenDuration(periodMs);
    if (this.classroom) {
      return reason === "lifetime"
        ? `The class's sandboxes last ${period}, and this one's time was up.`
        : `Nothing was typed into it for ${period}, so the class's idle timeout ended it.`;
    }
    return reason === "lifetime"
      ? `This lab's sandboxes last at most ${period}, and this one's time was up. Start a new one to go on.`
      : `Nothing was typed into it for ${period}, so it was ended to make room for others.`;
  }

  private takeOver(member: Member): void {
    const previous = this.owner;
    this.owner = member;
    this.clearGrace();
    this.stateValue = "attached";
    this.setPaused("owner", false);
    if (!previous) return;
    if (!this.watcherRoom) {
      // No room to keep it watching: it is let go, told why, and can take the sandbox back.
      this.members.delete(previous.attachment);
      previous.attachment.release(CloseCode.TakenOver);
      return;
    }
    previous.role = "watcher";
    this.previousOwner = previous;
    // A page still waiting for its replay learns its role from session.ready instead.
    previous.attachment.roleChanged("watcher", previous.held === null ? "This sandbox is now used in another tab; this one only watches it." : null);
  }

  private ownerLeft(): void {
    this.stateValue = "detached";
    if (!this.everReady) {
      // No page ever got a resume token, so nobody can come back to it.
      void this.end("The page left before its sandbox was ready.", { cause: "page_left" });
      return;
    }
    const graceMs = this.options.graceMs;
    if (graceMs <= 0) {
      void this.end("The page closed, and this lab does not keep sandboxes for a reconnect.", { cause: "page_left" });
      return;
    }
    this.graceTimer = setTimeout(() => {
      this.graceTimer = null;
      void this.end(`Nobody reconnected within ${Math.round(graceMs / 1000)} s of the page closing, so the sandbox was ended.`, { cause: "grace_expired" });
    }, graceMs);
    this.graceTimer.unref();
    this.log.info({ graceMs }, "owner left; waiting for a reconnect");
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
  }

  private applySize(size: TerminalSize): void {
    const current = this.mirror.size;
    if (current.cols === size.cols && current.rows === size.rows) return;
    this.sandbox.resize(size.cols, size.rows);
    this.mirror.resize(size);
    for (const member of this.members.values()) if (member.role === "watcher" && member.held === null) member.attachment.send({ type: "pty.size", size });
  }

  private setPaused(reason: PauseReason, paused: boolean): void {
    const wasPaused = this.pauses.size > 0;
    if (paused) this.pauses.add(reason);
    else this.pauses.delete(reason);
    const isPaused = this.pauses.size > 0;
    if (isPaused && !wasPaused) this.sandbox.pause();
    if (!isPaused && wasPaused) this.sandbox.resume();
  }

  private spendOutputBudget(bytes: number): void {
    const waitMs = this.outputBudget.spend(bytes);
    if (waitMs === 0 || this.budgetTimer) return;
    this.setPaused("budget", true);
    this.budgetTimer = setTimeout(() => {
      this.budgetTimer = null;
      this.setPaused("budget", false);
    }, waitMs);
    this.budgetTimer.unref();
  }

  private onOutput(chunk: Buffer): void {
    if (this.ending) return;
    this.mirror.write(chunk);
    this.spendOutputBudget(chunk.length);
    this.listener?.output();
    // Per chunk, so no copy of the members: a Map may lose the entry being visited (a page
    // let go below) without disturbing the iteration.
    for (const member of this.members.values()) {
      if (member.held === null) {
        member.attachment.output(chunk);
        continue;
      }
      member.held.push(chunk);
      member.heldBytes += chunk.length;
      if (member.heldBytes > MAX_HELD_BYTES) this.dropMember(member, CloseCode.FellBehind);
    }
  }

  private dropMember(member: Member, code: CloseCode): void {
    this.detach(member.attachment);
    member.attachment.release(code);
  }

  /** Adds to the host's OOM-kill and pids-limit counters what this sandbox's cgroup counted
   *  since the last time: the readings of a watched session count as they come, and its end
   *  counts the rest (an unwatched session is read then only). */
  private countLimitEvents(cgroup: CgroupSnapshot | null): void {
    if (!cgroup) return;
    const oom = cgroup.memory.oomKillCount.value;
    if (oom !== null && oom > this.countedOomKills) {
      oomKills.inc(oom - this.countedOomKills);
      this.countedOomKills = oom;
    }
    const hits = cgroup.pids.limitHitCount.value;
    if (hits !== null && hits > this.countedPidsHits) {
      pidsLimitHits.inc(hits - this.countedPidsHits);
      this.countedPidsHits = hits;
    }
  }

  /** The cgroup's counters as the sandbox ends; null when they cannot be read (it is gone). */
  private finalCgroupReading(): CgroupSnapshot | null {
    try {
      return readCgroupSnapshot(this.sandbox.cgroup);
    } catch (err) {
      this.log.debug({ err }, "the ended sandbox's cgroup could not be read for its counters");
      return null;
    }
  }

  private onShellExit(info: { exitCode: number | null; signal: number | null }): void {
    const endReason = this.sandbox.endReason;
    for (const member of this.members.values()) {
      if (member.held !== null) continue; // not ready yet: it is simply let go
      if (endReason) member.attachment.send({ type: "error", code: "resource_limit", message: endReason });
      member.attachment.send({ type: "session.exit", exitCode: info.exitCode, signal: info.signal || null });
    }
    void this.end(endReason ?? "The shell exited.", { cause: endReason ? "resource_limit" : "shell_exited", code: CloseCode.SessionEnded });
  }

  private onReading(snapshot: ProbeSnapshot, change: SnapshotDelta | null, fresh: boolean): void {
    const now = Date.now();
    // A reading that found nothing moving (only the change detectors were read) cannot make a
    // check hold that did not before: the checks look at the readings and at the limits of the
    // learner's child cgroups, and a learner changes those only by running something, which
    // moves the detectors.
    if (fresh && this.tracker?.pending) {
      const changed = this.tracker.evaluate(snapshot, { shellHostPid: this.sandbox.hostPid, cgroup: this.sandbox.cgroup }, now);
      if (changed) {
        this.broadcastProgress();
        this.updateReadingPace();
      }
    }
    this.lastSnapshot = snapshot;
    if (fresh) this.countLimitEvents(snapshot.cgroup);
    if (fresh || change) this.listener?.reading(snapshot);
    for (const member of this.members.values()) {
      if (!member.watchingState || member.held !== null) continue;
      let delta: SnapshotDelta | null = change;
      if (member.needsFullState) {
        delta = diffSnapshot(null, snapshot);
        member.needsFullState = false;
      } else if (!delta && now - member.lastStateSentAt >= STATE_HEARTBEAT_MS) {
        delta = { kind: "change", takenAtMs: snapshot.takenAtMs };
      }
      if (!delta) continue;
      member.attachment.send({ type: "state.delta", delta });
      member.lastStateSentAt = now;
    }
  }

  private broadcastProgress(): void {
    if (!this.tracker) return;
    const progress = this.tracker.progress();
    this.broadcast(progress);
    this.listener?.progress(progress.steps);
  }

  private broadcast(message: ServerMessage): void {
    for (const member of this.members.values()) if (member.held === null) member.attachment.send(message);
  }

  /** Ten readings a second while any page shows them, one while only a dashboard or the lab
   *  steps need them. */
  private updateReadingPace(): void {
    if (this.ending) return;
    const watched = [...this.members.values()].some((m) => m.watchingState);
    this.readings.setIntervalMs(
      watched ? WATCHED_INTERVAL_MS : this.dashboardWatched ? DASHBOARD_INTERVAL_MS : this.tracker?.pending ? CHECK_INTERVAL_MS : null,
    );
  }
}
