// Every live lab session of this server: found by id (a page coming back with its resume
// token) or by learner, bounded by the lab's capacity, and ended through one path. A session
// that ended is remembered for a while, so a page that comes back too late is told why its
// sandbox is gone rather than that it never existed.
import type { LabStep } from "../../common/lab-steps";
import type { LaunchStep } from "../../common/launch-events";
import type { Limits } from "../../common/limits";
import { CloseCode, type TerminalSize, closeReason } from "../../common/protocol";
import type { LessonCatalog } from "../lessons/lesson-steps";
import { log } from "../log";
import { sandboxStartSeconds, sessionsLive, sessionsStarted } from "../metrics";
import type { SandboxHost, StartCounts } from "../sandbox/host";
import { DEFAULT_LIMITS } from "../sandbox/limits";
import { SandboxStartFailure } from "../sandbox/sandbox";
import { addressGroup } from "../http/client-address";
import type { Store } from "../store/store";
import { type EndedSession, LabSession, MAX_WATCHERS_PER_SESSION, type SessionClassroom, type SessionExpiry } from "./lab-session";

/** A start for a class member: the class's limits, grace period and room. */
export interface ClassStart extends SessionClassroom {
  limits: Limits;
  graceMs: number;
  /** Sandboxes the class may hold at once. */
  capacity: number;
  /** Sandboxes of the class other nodes run (other than the member's own), when the lab runs
   *  on several: they count against the class's room too. */
  liveElsewhere?: number;
}

/** Told of each session that starts and ends (the cluster records which node runs it). */
export interface SessionObserver {
  started(session: LabSession): void;
  ended(session: LabSession): void;
}

/** How much of the lab one client may hold, and for how long, outside a class (a class has
 *  its own room and timeouts). Each 0 or unset: no bound. */
export interface SessionLimits {
  /** Live sandboxes per learner (NSLAB_SESSIONS_PER_LEARNER): a new start ends the oldest. */
  perLearner?: number;
  /** Sandboxes per client address (NSLAB_SESSIONS_PER_ADDRESS): one more start is refused. */
  perAddress?: number;
  /** NSLAB_IDLE_TIMEOUT_S and NSLAB_SESSION_LIFETIME_S, and how long before the pages are warned. */
  expiry?: SessionExpiry;
}

export interface SessionRegistryOptions {
  host: SandboxHost;
  /** Sandboxes at once (NSLAB_MAX_SESSIONS): live, starting and still being torn down. */
  capacity: number;
  /** How long a session waits for its owner after the page leaves (NSLAB_RECONNECT_GRACE_S). */
  graceMs: number;
  store?: Store | null;
  lessons?: LessonCatalog | null;
  observer?: SessionObserver | null;
  /** Unset: none of them (the server passes its configuration's). */
  limits?: SessionLimits;
  /** A solo learner's sandbox limits (Config.defaultLimits); unset, the built-in ones. */
  defaultLimits?: Readonly<Limits>;
}

/**
 * A start refused because the learner's address already runs as many sandboxes as one may:
 * a whole lab must not fit behind one address. `sentence` is what the learner is told; it
 * names this bound, not the lab's.
 */
export class AddressFull extends SandboxStartFailure {
  readonly sentence: string;

  constructor(readonly cap: number) {
    super({ kind: "full", message: `this address already runs ${cap} sandbox${cap === 1 ? "" : "es"}` });
    this.sentence = `This network already runs ${cap} sandbox${cap === 1 ? "" : "es"}: end one (exit its shell) or ask the lab's operator.`;
  }
}

export type AttachGrant =
  | { ok: true; session: LabSession }
  | { ok: false; code: "resume_refused" | "session_gone" | "rate_limited" | "too_many_watchers"; message: string };

/** Sessions that ended, remembered to answer a late resume. Bounded: the oldest is forgotten. */
const REMEMBERED_ENDED_SESSIONS = 1024;

/** The same answer for a made-up token, a mistyped one and another learner's: nothing about
 *  which sessions exist leaks to someone who does not hold one. */
const REFUSED = "This page cannot reconnect to that sandbox (it is not yours, or the link is out of date).";

export class SessionRegistry {
  private readonly sessions = new Map<string, LabSession>();
  private readonly ended = new Map<string, EndedSession>();
  private starting = 0;
  /** Starts under way, by class: they count against the class's room. */
  private readonly startingByClass = new Map<string, number>();
  /** Class members ("classId/memberId") whose sandbox is starting: one at a time each. */
  private readonly startingMembers = new Set<string>();
  /** Starts under way outside classes, by learner and by address group: they count against
   *  the bounds on each, so starts that arrive together cannot all pass the check. */
  private readonly startingByLearner = new Map<string, number>();
  private readonly startingByAddress = new Map<string, number>();
  /** Sessions that ended but whose sandbox is still being destroyed: they still hold a slot. */
  private destroying = 0;
  private closing = false;

  constructor(private readonly options: SessionRegistryOptions) {}

  /** Live sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** Sandboxes counted against the capacity: live, starting and still being torn down. */
  get occupied(): number {
    return this.sessions.size + this.starting + this.destroying;
  }

  /** Sandbox starts under way and waiting for their turn (the host's StartGate), and those
   *  prepared ahead. */
  get starts(): StartCounts {
    return this.options.host.starts;
  }

  get capacity(): number {
    return this.options.capacity;
  }

  /** Seconds a detached session waits for its owner. */
  get graceS(): number {
    return Math.round(this.options.graceMs / 1000);
  }

  find(sessionId: string): LabSession | undefined {
    return this.sessions.get(sessionId);
  }

  byLearner(learnerId: string): LabSession[] {
    return [...this.sessions.values()].filter((s) => s.learnerId === learnerId);
  }

  /** The live sessions of a class. */
  byClass(classId: string): LabSession[] {
    return [...this.sessions.values()].filter((s) => s.classroom?.classId === classId);
  }

  all(): LabSession[] {
    return [...this.sessions.values()];
  }

  /**
   * A new sandbox for `learnerId`. Throws SandboxStartFailure: kind "full" when the lab has no
   * room, "failed" when the sandbox could not be made. The caller attaches its page next.
   */
  async start(request: {
    learnerId: string;
    lesson?: string;
    size: TerminalSize;
    resumable?: boolean;
    signal?: AbortSignal;
    classroom?: ClassStart | null;
    /** The client's address (the socket's, or as a trusted proxy says): bounded outside classes. */
    address?: string;
  }): Promise<LabSession> {
    if (this.closing) throw new SandboxStartFailure({ kind: "failed", message: "the lab server is shutting down" });
    const classroom = request.classroom ?? null;
    // A class's room and its one sandbox per member are checked and reserved in one turn of
    // the event loop, before anything is awaited: starts that arrive together (a script, two
    // tabs restored at once) cannot all pass the check before any of them counts.
    const member = classroom ? `${classroom.classId}/${classroom.memberId}` : null;
    let own: LabSession[] = [];
    if (classroom && member) {
      if (this.startingMembers.has(member)) {
        throw new SandboxStartFailure({ kind: "failed", message: "a sandbox of yours for this class is already starting (in another tab?); use that one, or reload in a moment" });
      }
      const live = this.byClass(classroom.classId);
      own = live.filter((s) => s.classroom?.memberId === classroom.memberId);
      if (live.length - own.length + this.startingFor(classroom.classId) + (classroom.liveElsewhere ?? 0) >= classroom.capacity) {
        throw new SandboxStartFailure({ kind: "full", scope: "class", message: `all ${classroom.capacity} sandboxes of the class are in use` });
      }
      this.startingMembers.add(member);
      this.startingByClass.set(classroom.classId, this.startingFor(classroom.classId) + 1);
    }
    // Outside a class: the learner's own bound, then their address's, checked and reserved in
    // the same turn. The learner's oldest sandboxes beyond their bound make way for this one
    // (a new start replaces, as a new tab does); they do not count against the address.
    const bounds = this.options.limits ?? {};
    const address = classroom ? null : addressGroup(request.address);
    let replaced: LabSession[] = [];
    if (!classroom) {
      const perLearner = bounds.perLearner ?? 0;
      if (perLearner > 0) {
        if (count(this.startingByLearner, request.learnerId) >= perLearner) {
          throw new SandboxStartFailure({ kind: "failed", message: "a sandbox of yours is already starting (in another tab?); use that one, or reload in a moment" });
        }
        const mine = this.byLearner(request.learnerId).filter((s) => !s.classroom);
        replaced = mine.slice(0, Math.max(0, mine.length - (perLearner - 1 - count(this.startingByLearner, request.learnerId))));
      }
      const perAddress = bounds.perAddress ?? 0;
      if (perAddress > 0 && address !== null) {
        const held = this.all().filter((s) => s.address === address && !replaced.includes(s)).length;
        if (held + count(this.startingByAddress, address) >= perAddress) {
          log.warn({ address, perAddress }, "start refused: the address holds as many sandboxes as one may");
          throw new AddressFull(perAddress);
        }
        adjust(this.startingByAddress, address, 1);
      }
      adjust(this.startingByLearner, request.learnerId, 1);
    }
    const unreserve = () => {
      if (!classroom) {
        adjust(this.startingByLearner, request.learnerId, -1);
        if (address !== null && (bounds.perAddress ?? 0) > 0) adjust(this.startingByAddress, address, -1);
        return;
      }
      if (!member) return;
      this.startingMembers.delete(member);
      const left = this.startingFor(classroom.classId) - 1;
      if (left > 0) this.startingByClass.set(classroom.classId, left);
      else this.startingByClass.delete(classroom.classId);
    };
    try {
      // One sandbox per member: a new start (not a reload, which resumes) replaces the old.
      await Promise.all(own.map((s) => s.end("You started a new sandbox for this class; only the newest is kept.", { cause: "replaced" })));
      // The learner's oldest beyond their bound are gone before the lab's room is counted.
      const perLearner = bounds.perLearner ?? 0;
      await Promise.all(
        replaced.map((s) =>
          s.end(
            perLearner === 1
              ? "You started a new sandbox (in another tab or lesson), and the lab keeps one per learner, so this one was ended."
              : `You started a new sandbox (in another tab or lesson), and the lab keeps ${perLearner} per learner, so the oldest was ended.`,
            { cause: "replaced" },
          ),
        ),
      );
    } catch (err) {
      unreserve();
      throw err;
    }
    if (this.occupied >= this.options.capacity) {
      unreserve();
      throw new SandboxStartFailure({ kind: "full", message: `all ${this.options.capacity} sandboxes are in use` });
    }
    this.starting++;
    let steps: LabStep[] = [];
    try {
      if (request.lesson && this.options.lessons) {
        try {
          steps = await this.options.lessons.steps(request.lesson);
        } catch (err) {
          log.error({ lesson: request.lesson, err }, "lesson steps could not be loaded");
        }
      }
      const limits = classroom ? { ...classroom.limits } : { ...(this.options.defaultLimits ?? DEFAULT_LIMITS) };
      const sandbox = await this.options.host.start({ limits, cols: request.size.cols, rows: request.size.rows }, request.signal);
      if (this.closing) {
        // Shutdown began while this one was starting: it must not outlive the server.
        await sandbox.destroy();
        throw new SandboxStartFailure({ kind: "failed", message: "the lab server is shutting down" });
      }
      let session: LabSession;
      try {
        session = new LabSession({
        sandbox,
        learnerId: request.learnerId,
        lesson: request.lesson ?? null,
        steps,
        store: this.options.store ?? null,
        // A page without the learner cookie could never show a token the session accepts:
        // nothing is kept waiting for it.
        graceMs: request.resumable === false ? 0 : (classroom?.graceMs ?? this.options.graceMs),
        size: request.size,
        classroom,
        expiry: bounds.expiry ?? null,
        address,
        onEnded: (ended, destroyed) => this.forget(ended, destroyed),
        });
      } catch (err) {
        await sandbox.destroy();
        throw err;
      }
      if (session.state === "ended") {
        // The shell exited as soon as it started (a broken image, a command that fails).
        throw new SandboxStartFailure({ kind: "failed", message: `the shell ended as soon as it started: ${session.endReason ?? "no reason given"}` });
      }
      this.sessions.set(session.id, session);
      sessionsLive.inc();
      sessionsStarted.inc();
      observeStartup(sandbox.startup);
      this.options.observer?.started(session);
      this.options.store?.learners.ensure(request.learnerId, session.startedAtMs).catch((err: unknown) => {
        log.error({ err }, "learner could not be stored");
      });
      void session.restoreProgress();
      return session;
    } finally {
      this.starting--;
      unreserve();
    }
  }

  private startingFor(classId: string): number {
    return this.startingByClass.get(classId) ?? 0;
  }

  /**
   * May this page attach to `sessionId`? Only with the session's current resume token and the
   * learner cookie it was started with. An ended session is named as such only to its owner.
   */
  authorize(sessionId: string, token: string, learnerId: string, role: "owner" | "watcher" = "owner"): AttachGrant {
    const live = this.sessions.get(sessionId);
    if (live?.verifyToken(token, learnerId)) {
      if (role === "watcher" && !live.watcherRoom) {
        return { ok: false, code: "too_many_watchers", message: `This sandbox already has ${MAX_WATCHERS_PER_SESSION} pages watching it; close one first.` };
      }
      if (!live.takeAttachBudget()) return { ok: false, code: "rate_limited", message: "Too many reconnects to this sandbox at once; try again in a moment." };
      return { ok: true, session: live };
    }
    const ended = this.ended.get(sessionId);
    if (ended?.verifyToken(token, learnerId)) {
      return { ok: false, code: "session_gone", message: `Your sandbox was ended: ${ended.reason}` };
    }
    return { ok: false, code: "resume_refused", message: REFUSED };
  }

  /** End every session (server shutdown) and wait for sandboxes still starting. New starts are
   *  refused from here on. */
  async endAll(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.sessions.values()].map((s) => s.end(closeReason[CloseCode.ServerShutdown], { cause: "shutdown", code: CloseCode.ServerShutdown })));
    while (this.starting > 0 || this.destroying > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private forget(session: LabSession, destroyed: Promise<void>): void {
    if (this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      sessionsLive.dec();
      this.options.observer?.ended(session);
    }
    this.ended.set(session.id, session.tombstone());
    if (this.ended.size > REMEMBERED_ENDED_SESSIONS) {
      const oldest = this.ended.keys().next().value;
      if (oldest !== undefined) this.ended.delete(oldest);
    }
    this.destroying++;
    // `destroyed` never rejects (LabSession.teardown logs a failed teardown).
    void destroyed.finally(() => this.destroying--);
  }
}

/** Each step of the launcher's start-up, as its own duration, and the whole of it. */
function observeStartup(steps: readonly LaunchStep[]): void {
  let previousMs = 0;
  for (const { step, atMs } of steps) {
    if (step === "start") continue;
    sandboxStartSeconds.observe({ step }, Math.max(0, atMs - previousMs) / 1000);
    previousMs = atMs;
  }
  if (steps.length > 0) sandboxStartSeconds.observe({ step: "total" }, previousMs / 1000);
}

function count(counts: Map<string, number>, key: string): number {
  return counts.get(key) ?? 0;
}

/** A count up or down; a key that reaches 0 is forgotten, so the map holds only starts under way. */
function adjust(counts: Map<string, number>, key: string, by: number): void {
  const next = count(counts, key) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}
