// One WebSocket to the lab: an adapter between a page and a lab session. It parses every frame,
// rate-limits, does flow control, and attaches to a session (a new one, one it resumes, or one
// it only watches) or detaches from it when the socket closes. It owns nothing that must
// outlive it: the sandbox belongs to the session (server/sessions/), which waits for its owner
// when this socket goes away.
import type { WebSocket } from "ws";

import {
  type AttachRole,
  type ClientMessage,
  CloseCode,
  type ErrorCode,
  INPUT_BYTES_PER_SECOND,
  type ServerMessage,
  type TerminalSize,
  parseClientMessage,
} from "../../common/protocol";
import type { Classrooms } from "../classroom/classrooms";
import { log } from "../log";
import { wsErrors, wsRateLimited } from "../metrics";
import { SandboxStartFailure } from "../sandbox/sandbox";
import { StartAbandoned } from "../sandbox/start-gate";
import type { Attachment, LabSession } from "../sessions/lab-session";
import { AddressFull, type SessionRegistry } from "../sessions/session-registry";
import { TokenBucket } from "../sessions/token-bucket";

/** The owner's shell pauses when this much output is unacknowledged; resumes below the low mark. */
export const FLOW_HIGH_WATER = 128 * 1024;
export const FLOW_LOW_WATER = 32 * 1024;
/** A watcher's output is sent in batches at most this often (fewer, larger frames). */
export const WATCHER_FLUSH_MS = 50;
/** A watcher whose unsent output and socket buffer together pass this (beyond the replay it
 *  was sent on attaching) is let go (4008). */
export const WATCHER_MAX_BEHIND_BYTES = 1024 * 1024;
/** A watcher's batch is sent only while its socket buffer is under this. */
const WATCHER_SEND_BELOW = 64 * 1024;
const WATCHER_FRAME_BYTES = 64 * 1024;
/** Costly control messages (attaching, state.watch, limits.update, pty.resize) accepted per
 *  second: a page sends a few; a script looping on them would make the server read full
 *  snapshots or serialize terminals back to back. */
export const CONTROL_FRAMES_PER_SECOND = 20;
/** Bad frames tolerated before the connection is closed. */
export const MAX_BAD_FRAMES = 20;
const START_TIMEOUT_MS = 15_000;
/** At most one error of a kind (its code and sentence) a second: errors answer frames, and a
 *  page typing into a shell that reads nothing (or into a watcher), or a script sending the
 *  same refused message in a loop, must not get an error frame back for each one. Errors that
 *  answer a request by its id are always sent (the page waits for them; the control budget
 *  bounds them), and so is the one before a close. */
const COALESCE_MS = 1_000;
/** Kinds of error remembered for coalescing: the fixed sentences, and the few distinct ones bad
 *  frames can produce before MAX_BAD_FRAMES closes the connection. */
const MAX_ERROR_KINDS = 64;
/** What the server may hold for one page that does not read: JSON replies (pong, error,
 *  state.delta, progress…) and output together, in the socket's send buffer. Above every
 *  legitimate backlog (the owner's shell pauses at 128 KiB, a watcher is let go at 1 MiB
 *  beyond its replay of at most 1 MiB); past it the page is closed with 4011. */
export const MAX_SEND_BUFFER_BYTES = 4 * 1024 * 1024;
/** `ping`s answered a second, after a burst: a page needs one now and then, and each answer is
 *  a write the page may never read. Beyond the budget a ping is a bad frame. */
export const PINGS_PER_SECOND = 4;
export const PING_BURST = 8;
/** Each binary frame costs at least this many bytes of the input budget: a person types a few
 *  dozen keys a second and a paste comes in 16 KiB frames, while a flood of one-byte frames
 *  would cost the server a queued buffer each, far more than its byte. */
export const INPUT_FRAME_MIN_COST = 64;

export interface LabConnectionContext {
  /** null when this host cannot create sandboxes; `unsupportedReason` says why. */
  registry: SessionRegistry | null;
  unsupportedReason: string;
  /** The classroom: a class member's sandbox is started as their class says. */
  classrooms?: Classrooms | null;
  /** Whether the page's cookies are the instructor's login (for session.observe). */
  isInstructor?: () => Promise<boolean>;
}

/** How often an instructor's look over a learner's shoulder checks that the login still
 *  holds: logging out (on a shared projector machine) ends what it was watching too. */
export const OBSERVE_RECHECK_MS = 30_000;

/** The same answer for every refused observe: nothing about the class leaks to a learner. */
const OBSERVE_REFUSED = "Only the instructor can watch a learner's sandbox, and only while it runs.";

type Phase = "waiting" | "attaching" | "attached" | "closed";

export class LabConnection implements Attachment {
  private phase: Phase = "waiting";
  /** Aborted when the page goes: a start still waiting for its turn gives its place up. */
  private readonly gone = new AbortController();
  private session: LabSession | null = null;
  private role: AttachRole = "owner";
  private badFrames = 0;
  private unacked = 0;
  private behind = false;
  private drainTimer: NodeJS.Timeout | null = null;
  private readonly inputBudget = new TokenBucket(INPUT_BYTES_PER_SECOND);
  private readonly controlBudget = new TokenBucket(CONTROL_FRAMES_PER_SECOND);
  private readonly pingBudget = new TokenBucket(PINGS_PER_SECOND, PING_BURST);
  /** Replay bytes a watcher was sent and may still have in its socket buffer. */
  private replayAllowance = 0;
  /** When each coalesced error (by code and sentence) was last sent. */
  private readonly lastErrorAt = new Map<string, number>();
  private readonly startTimer: NodeJS.Timeout;
  private watcherQueue: Buffer[] = [];
  private watcherQueued = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private observeCheck: NodeJS.Timeout | null = null;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: LabConnectionContext,
    private readonly remote: string,
    /** Who is at the page (the nslab_learner cookie): sessions and resume tokens are theirs. */
    private readonly learnerId: string,
    /** Whether the page came with the learner cookie; without it nothing it starts can be
     *  resumed, so nothing waits for it. */
    private readonly hasCookie = true,
  ) {
    ws.binaryType = "nodebuffer";
    ws.on("message", (data, isBinary) => {
      // A frame must never take the server down with it: whatever slips past the parsing is
      // this connection's error, answered as a bad frame, and every other session carries on.
      try {
        this.onFrame(data as Buffer, isBinary);
      } catch (err) {
        log.error({ remote, err }, "frame handling failed");
        this.badFrame("bad_message", "The lab could not handle that message.");
      }
    });
    ws.on("close", () => this.onClose());
    ws.on("error", (err) => log.warn({ remote, err: err.message }, "websocket error"));
    this.startTimer = this.newStartTimer();
  }

  /** A page must say what it wants soon after connecting; a socket that never does is closed. */
  private newStartTimer(): NodeJS.Timeout {
    const timer = setTimeout(() => {
      if (this.phase === "waiting") this.fail("not_ready", "No session.start, session.resume or session.watch received.", CloseCode.ProtocolError);
    }, START_TIMEOUT_MS);
    timer.unref();
    return timer;
  }

  // --- Attachment: what the session calls -------------------------------------------------

  send(message: ServerMessage): void {
    if (message.type === "error") wsErrors.inc({ code: message.code });
    this.sendFrame(JSON.stringify(message), false);
  }

  replay(chunk: Buffer): void {
    if (!this.sendFrame(chunk, true)) return;
    // The owner's page acknowledges the replay like any output; a watcher's is sent whole
    // (the session bounds its size) and does not count against the watcher's queue.
    if (this.role === "owner") {
      this.unacked += chunk.length;
      this.checkOwnerBacklog();
    } else {
      this.replayAllowance += chunk.length;
    }
  }

  output(chunk: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.role === "owner") {
      if (!this.sendFrame(chunk, true)) return;
      this.unacked += chunk.length;
      this.checkOwnerBacklog();
      return;
    }
    // A watcher never slows the owner: its output waits in a bounded queue, goes out in
    // batches, and a watcher too far behind is let go and told so.
    this.watcherQueue.push(chunk);
    this.watcherQueued += chunk.length;
    if (this.watcherQueued + this.ws.bufferedAmount > WATCHER_MAX_BEHIND_BYTES + this.replayAllowance) {
      this.close(CloseCode.FellBehind);
      return;
    }
    this.flushTimer ??= setTimeout(() => this.flushWatcher(), WATCHER_FLUSH_MS);
  }

  roleChanged(role: AttachRole, reason: string | null): void {
    if (role !== this.role) {
      this.role = role;
      this.behind = false;
      this.unacked = 0;
      this.stopDrainTimer();
      if (role === "watcher") {
        // What it was sent as owner may still sit in its socket buffer: not held against it.
        this.replayAllowance = this.ws.bufferedAmount;
      } else {
        // Owner again: what it has queued as a watcher goes first, so nothing is reordered.
        if (this.flushTimer) clearTimeout(this.flushTimer);
        this.flushTimer = null;
        const queued = this.watcherQueue;
        this.watcherQueue = [];
        this.watcherQueued = 0;
        this.replayAllowance = 0;
        for (const chunk of queued) this.output(chunk);
      }
    }
    if (reason !== null) this.send({ type: "session.role", role, reason });
  }

  release(code: CloseCode, error?: { code: ErrorCode; message: string }): void {
    if (error) this.send({ type: "error", ...error });
    this.close(code);
  }

  // --- Frames from the page ----------------------------------------------------------------

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.phase === "closed") return;
    if (isBinary) {
      this.onInput(data);
      return;
    }
    const parsed = parseClientMessage(data.toString("utf8"));
    if (!parsed.ok) {
      this.badFrame(parsed.code, parsed.message, parsed.requestId);
      return;
    }
    const message = parsed.message;
    // Messages that make the server do real work (attach: serialize a terminal; read a full
    // snapshot; write cgroup files; resize the pty) are budgeted; acks are not, and pings
    // have a budget of their own (answered before session.start too).
    if (message.type === "ping" && !this.pingBudget.take()) {
      wsRateLimited.inc({ budget: "ping" });
      this.badFrame("rate_limited", "Too many pings; this one was not answered.");
      return;
    }
    const costly = message.type !== "pty.ack" && message.type !== "ping";
    if (costly && !this.takeControlBudget()) {
      wsRateLimited.inc({ budget: "request" });
      const requestId = message.type === "limits.update" ? message.requestId : undefined;
      this.error("rate_limited", "Too many requests at once; one was dropped.", requestId);
      return;
    }
    this.onMessage(message);
  }

  private onMessage(message: ClientMessage): void {
    switch (message.type) {
      case "session.start":
      case "session.resume":
      case "session.watch":
      case "session.observe":
        if (this.phase !== "waiting") {
          this.badFrame("bad_message", "This connection is already attached to a sandbox.");
          return;
        }
        // The start timer keeps running: refusals do not buy a connection more time to idle.
        (message.type === "session.start"
          ? this.start(message.size, message.lesson)
          : message.type === "session.resume"
            ? this.resume(message.sessionId, message.token, "owner", message.size)
            : message.type === "session.watch"
              ? this.resume(message.sessionId, message.token, "watcher")
              : this.observe(message.classId, message.memberId)
        ).catch((err: unknown) => {
          log.error({ remote: this.remote, err }, "attaching failed");
          this.fail("sandbox_failed", "The lab could not attach this page to a sandbox. Reload to try again.", CloseCode.SandboxFailed);
        });
        return;
      case "pty.resize": {
        const session = this.attachedSession("Resize before the session is ready was ignored.");
        if (!session) return;
        if (session.resize(this, message.size) === "read_only") this.error("read_only", "This page only watches the sandbox; its terminal size follows the learner's.");
        return;
      }
      case "pty.ack":
        this.unacked = Math.max(0, this.unacked - message.bytes);
        this.checkOwnerBacklog();
        return;
      case "ping":
        this.send({ type: "pong", at: message.at });
        return;
      case "state.watch": {
        const session = this.attachedSession("Watching starts once the session is ready.");
        session?.watchState(this, message.watch);
        return;
      }
      case "limits.update": {
        const session = this.attachedSession("Limits can change once the session is ready.", message.requestId);
        if (session) this.send(session.updateLimits(this, message.requestId, message.sessionId, message.limits));
        return;
      }
    }
  }

  private onInput(data: Buffer): void {
    const session = this.attachedSession("Terminal input before the session is ready was dropped.");
    if (!session) return;
    if (this.role !== "owner") {
      // Not a malformed frame: a watcher's keystrokes are refused, and it stays connected.
      this.error("read_only", "This page only watches the sandbox; typing goes to the learner's own page.");
      return;
    }
    if (!this.inputBudget.take(Math.max(data.length, INPUT_FRAME_MIN_COST))) {
      wsRateLimited.inc({ budget: "input" });
      this.error("rate_limited", "Typing too fast: some input was dropped. Paste smaller pieces.");
      return;
    }
    const result = session.input(this, data);
    if (result === "dropped") {
      wsRateLimited.inc({ budget: "shell" });
      this.error("rate_limited", "The shell is not reading its input right now, so what you typed was dropped.");
    } else if (result === "read_only") this.error("read_only", "This page only watches the sandbox; typing goes to the learner's own page.");
  }

  /** The session, when this page is attached; otherwise answers `notReady` and gives null. */
  private attachedSession(notReady: string, requestId?: string): LabSession | null {
    if (this.phase === "attached" && this.session) return this.session;
    this.badFrame("not_ready", notReady, requestId);
    return null;
  }

  // --- Attaching ---------------------------------------------------------------------------

  private async start(size: TerminalSize, lesson: string | undefined): Promise<void> {
    const registry = this.ctx.registry;
    if (!registry) {
      this.fail("kernel_unsupported", this.ctx.unsupportedReason, CloseCode.KernelUnsupported);
      return;
    }
    this.phase = "attaching";
    let session: LabSession;
    try {
      // A learner who joined a class for this lesson gets the class's sandbox: its limits,
      // its room, its timeouts, and a card on the instructor's dashboard.
      const classroom = this.hasCookie ? ((await this.ctx.classrooms?.planStart(this.learnerId, lesson)) ?? null) : null;
      if (this.isClosed()) return;
      session = await registry.start({ learnerId: this.learnerId, lesson, size, resumable: this.hasCookie, signal: this.gone.signal, classroom, address: this.remote });
      if (session.classroom) {
        const started = session;
        await this.ctx.classrooms?.started(started).catch(async (err: unknown) => {
          // A sandbox the class cannot follow is one the instructor could not see or stop.
          await started.end("The class could not take this sandbox in.", { cause: "class_closed" });
          throw err;
        });
      }
    } catch (err) {
      // The page left while its start waited for a turn: nothing was made, nobody to tell.
      if (err instanceof StartAbandoned) return;
      if (err instanceof SandboxStartFailure && err.failure.kind === "full") {
        this.fail(
          "lab_full",
          err.failure.scope === "class"
            ? "Your class has as many sandboxes running as it takes. Ask your instructor to make room, then try again."
            : err instanceof AddressFull
              ? err.sentence
              : "The lab is full right now. Try again in a minute.",
          CloseCode.LabFull,
        );
      } else {
        log.error({ remote: this.remote, err }, "sandbox failed to start");
        this.fail("sandbox_failed", `Your sandbox could not be started: ${(err as Error).message}`, CloseCode.SandboxFailed);
      }
      return;
    }
    if (this.isClosed()) {
      void session.end("The page left before its sandbox was ready.", { cause: "page_left" });
      return;
    }
    log.info({ sessionId: session.id, lesson, remote: this.remote, pid: session.sandbox.hostPid }, "session started");
    await this.attachTo(session, "owner", size);
  }

  private async resume(sessionId: string, token: string, role: AttachRole, size?: TerminalSize): Promise<void> {
    const registry = this.ctx.registry;
    if (!registry) {
      this.fail("kernel_unsupported", this.ctx.unsupportedReason, CloseCode.KernelUnsupported);
      return;
    }
    const grant = registry.authorize(sessionId, token, this.learnerId, role);
    if (!grant.ok) {
      // The connection stays open and waiting: the page may start a new sandbox on it. A
      // refused token counts as a bad frame, so guessing ends with the connection.
      this.phase = "waiting";
      if (grant.code === "resume_refused") this.badFrame(grant.code, grant.message, undefined, true);
      else this.error(grant.code, grant.message, undefined, true);
      return;
    }
    await this.attachTo(grant.session, role, size);
  }

  /** The instructor's look over a learner's shoulder: their live sandbox, read-only. */
  private async observe(classId: string, memberId: string): Promise<void> {
    this.phase = "attaching";
    const allowed = (await this.ctx.isInstructor?.()) ?? false;
    if (this.isClosed()) return;
    const session = allowed ? await this.ctx.classrooms?.sessionFor(classId, memberId) : null;
    if (this.isClosed()) return;
    if (!session) {
      this.phase = "waiting";
      if (!allowed) log.warn({ remote: this.remote }, "observe refused: not the instructor");
      this.badFrame("observe_refused", OBSERVE_REFUSED);
      return;
    }
    if (!session.watcherRoom) {
      this.phase = "waiting";
      this.error("too_many_watchers", "This learner's sandbox already has as many pages watching it as it takes; close one first.");
      return;
    }
    await this.attachTo(session, "watcher");
    if (!this.isAttached()) return;
    this.observeCheck = setInterval(() => {
      void (this.ctx.isInstructor?.() ?? Promise.resolve(false)).then(
        (still) => {
          if (!still && !this.isClosed()) this.fail("observe_refused", "The instructor's login ended; log in again to keep watching.", CloseCode.SessionGone);
        },
        () => undefined,
      );
    }, OBSERVE_RECHECK_MS);
    this.observeCheck.unref();
  }

  private async attachTo(session: LabSession, role: AttachRole, size?: TerminalSize): Promise<void> {
    this.phase = "attaching";
    this.session = session;
    this.role = role;
    const outcome = await session.attach(this, role, size);
    if (this.isClosed()) return;
    if (outcome === "full") {
      this.session = null;
      this.phase = "waiting";
      this.error("too_many_watchers", "This sandbox has as many pages watching it as it takes; close one first.");
      return;
    }
    if (outcome !== "attached") {
      this.session = null;
      this.fail("session_gone", `Your sandbox was ended: ${session.endReason ?? "it is gone."}`, CloseCode.SessionGone);
      return;
    }
    this.phase = "attached";
    clearTimeout(this.startTimer);
  }

  // --- Flow control ------------------------------------------------------------------------

  /** The page's acknowledgements are a claim; the socket's own send buffer is a fact. Either
   *  one over the mark pauses the shell, so a page that stops reading cannot make the server
   *  buffer output without bound. */
  private checkOwnerBacklog(): void {
    if (this.role !== "owner" || !this.session) return;
    const backlog = Math.max(this.unacked, this.ws.bufferedAmount);
    if (!this.behind && backlog > FLOW_HIGH_WATER) {
      this.behind = true;
      this.session.ownerBackpressure(this, true);
      this.drainTimer ??= setInterval(() => this.checkOwnerBacklog(), 50);
      this.drainTimer.unref();
    } else if (this.behind && backlog < FLOW_LOW_WATER) {
      this.behind = false;
      this.stopDrainTimer();
      this.session.ownerBackpressure(this, false);
    }
  }

  private stopDrainTimer(): void {
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = null;
  }

  private flushWatcher(): void {
    this.flushTimer = null;
    if (this.ws.readyState !== this.ws.OPEN || this.watcherQueued === 0) return;
    if (this.ws.bufferedAmount < WATCHER_SEND_BELOW) {
      // The replay has left the socket's buffer: from here on only the bound counts.
      this.replayAllowance = 0;
      const all = Buffer.concat(this.watcherQueue, this.watcherQueued);
      this.watcherQueue = [];
      this.watcherQueued = 0;
      for (let offset = 0; offset < all.length; offset += WATCHER_FRAME_BYTES) {
        if (!this.sendFrame(all.subarray(offset, offset + WATCHER_FRAME_BYTES), true)) return;
      }
      return;
    }
    this.flushTimer = setTimeout(() => this.flushWatcher(), WATCHER_FLUSH_MS);
  }

  // --- Errors and closing ------------------------------------------------------------------

  /** An error frame, unless one of the same kind went out less than a second ago. An answer to
   *  an attach (`answersAttach`) always goes out: the page waits for it, and attaches are
   *  bounded by the control budget and, refused, count as bad frames. */
  private error(code: ErrorCode, message: string, requestId?: string, answersAttach = false): void {
    if (requestId === undefined && !answersAttach) {
      const kind = `${code} ${message}`;
      const now = Date.now();
      // Coalesced errors are not sent, but they happened: the operator counts them (send()
      // counts the rest).
      if (now - (this.lastErrorAt.get(kind) ?? Number.NEGATIVE_INFINITY) < COALESCE_MS) {
        wsErrors.inc({ code });
        return;
      }
      if (this.lastErrorAt.size >= MAX_ERROR_KINDS) {
        for (const [seen, at] of this.lastErrorAt) if (now - at >= COALESCE_MS) this.lastErrorAt.delete(seen);
        // Every kind sent within the second: this one waits for the next.
        if (this.lastErrorAt.size >= MAX_ERROR_KINDS) {
          wsErrors.inc({ code });
          return;
        }
      }
      this.lastErrorAt.set(kind, now);
    }
    this.send({ type: "error", code, message, ...(requestId ? { requestId } : {}) });
  }

  /** A frame that should not have come: counted whether or not its error frame is sent. */
  private badFrame(code: ErrorCode, message: string, requestId?: string, answersAttach = false): void {
    this.badFrames++;
    if (this.badFrames > MAX_BAD_FRAMES) {
      this.fail(code, `${message} Too many invalid messages; closing.`, CloseCode.TooManyErrors);
      return;
    }
    this.error(code, message, requestId, answersAttach);
  }

  /** Every frame to the page goes out here: false when it was not sent. A page whose socket
   *  buffer passes MAX_SEND_BUFFER_BYTES has stopped reading (or cannot keep up with even the
   *  bounded streams): it is closed with 4011 rather than buffered for. */
  private sendFrame(data: Buffer | string, binary: boolean): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(data, { binary });
    if (this.ws.bufferedAmount > MAX_SEND_BUFFER_BYTES) {
      log.warn({ remote: this.remote, sessionId: this.session?.id, bufferedBytes: this.ws.bufferedAmount }, "page stopped reading; connection closed");
      this.close(CloseCode.StoppedReading);
      return false;
    }
    return true;
  }

  private fail(code: ErrorCode, message: string, closeCode: CloseCode): void {
    this.send({ type: "error", code, message });
    this.close(closeCode);
  }

  private takeControlBudget(): boolean {
    return this.controlBudget.take();
  }

  /** A method, not a field read, so the check is not narrowed away across an await. */
  private isClosed(): boolean {
    return this.phase === "closed";
  }

  private isAttached(): boolean {
    return this.phase === "attached";
  }

  private close(code: CloseCode): void {
    if (this.phase === "closed") return;
    this.leave();
    // Detached already: a page that does not answer the close handshake must not hold the
    // session as its owner meanwhile.
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code);
  }

  private onClose(): void {
    this.leave();
  }

  private leave(): void {
    const session = this.session;
    this.phase = "closed";
    this.gone.abort();
    this.session = null;
    this.cleanUp();
    if (session) {
      log.info({ sessionId: session.id, role: this.role }, "page disconnected");
      session.detach(this);
    }
  }

  private cleanUp(): void {
    clearTimeout(this.startTimer);
    if (this.observeCheck) clearInterval(this.observeCheck);
    this.observeCheck = null;
    this.stopDrainTimer();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.watcherQueue = [];
    this.watcherQueued = 0;
  }
}
