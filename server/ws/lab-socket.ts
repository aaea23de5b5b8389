// One WebSocket = one lab session. The first frame asks for a sandbox; from then on terminal
// bytes flow as binary frames both ways and control messages as validated JSON. The socket
// owns its sandbox: when either ends, the other is ended too.
import os from "node:os";

import type { WebSocket } from "ws";

import type { LabStep } from "../../common/lab-steps";
import { type Limits, checkLimits, checkWithinCeiling } from "../../common/limits";
import {
  type ClientMessage,
  CloseCode,
  type ErrorCode,
  INPUT_BYTES_PER_SECOND,
  PROTOCOL_VERSION,
  type ServerMessage,
  parseClientMessage,
} from "../../common/protocol";
import { checkHolds } from "../lessons/checks";
import type { LessonCatalog } from "../lessons/lesson-steps";
import { log } from "../log";
import { ProbeLoop } from "../probes/probe-loop";
import type { ProgressStore } from "../store/progress-store";
import type { SandboxHost } from "../sandbox/host";
import { DEFAULT_LIMITS } from "../sandbox/limits";
import { type Sandbox, SandboxStartFailure } from "../sandbox/sandbox";

/** Pause the shell when this much output is unacknowledged; resume below the low mark. */
export const FLOW_HIGH_WATER = 128 * 1024;
export const FLOW_LOW_WATER = 32 * 1024;
/** Costly control messages (state.watch, limits.update, pty.resize) accepted per second: a page
 *  sends a few; a script toggling state.watch in a loop would make the server read full
 *  snapshots back to back. */
export const CONTROL_FRAMES_PER_SECOND = 20;
/** Bad frames tolerated before the connection is closed. */
export const MAX_BAD_FRAMES = 20;
const START_TIMEOUT_MS = 15_000;

/** What the host has: the upper bounds of the limits a learner may set. */
export function hostCapacity() {
  return { cpus: os.cpus().length, memoryBytes: os.totalmem(), kernelRelease: os.release() };
}

export interface LabSocketContext {
  /** null when this host cannot create sandboxes; `unsupportedReason` says why. */
  host: SandboxHost | null;
  unsupportedReason: string;
  /** The lessons' lab steps, and where progress through them is kept (absent in tests that
   *  need neither). */
  lessons?: LessonCatalog | null;
  progress?: ProgressStore | null;
}

/** Lab-step checks also run on this timer while the page watches: a child cgroup's limit
 *  changes nothing the probes stream, so no delta would trigger them. */
const CHECK_INTERVAL_MS = 1_000;
/** With nothing changing, a bare `{kind: "change", takenAtMs}` this often tells the page the
 *  stream is alive and idle rather than stopped (and moves its charts' clock on). */
const STATE_HEARTBEAT_MS = 2_000;

export class LabSocket {
  private sandbox: Sandbox | null = null;
  private state: "waiting" | "starting" | "running" | "closed" = "waiting";
  private badFrames = 0;
  private unacked = 0;
  private paused = false;
  private inputBudget = INPUT_BYTES_PER_SECOND;
  private inputRefilledAt = Date.now();
  private controlBudget = CONTROL_FRAMES_PER_SECOND;
  private controlRefilledAt = Date.now();
  private readonly startTimer: NodeJS.Timeout;
  private probes: ProbeLoop | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private lesson: string | null = null;
  private steps: LabStep[] = [];
  private readonly doneSteps = new Map<string, number>();
  private lastStateSentAt = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: LabSocketContext,
    private readonly remote: string,
    /** Who is at the page (the nslab_learner cookie): progress is kept under this id. */
    private readonly learnerId: string,
  ) {
    ws.binaryType = "nodebuffer";
    ws.on("message", (data, isBinary) => {
      // A frame must never take the server down with it: whatever slips past the parsing is
      // this connection's error, answered as a bad frame, and every other session carries on.
      try {
        this.onFrame(data as Buffer, isBinary);
      } catch (err) {
        log.error({ remote, err: (err as Error).message }, "frame handling failed");
        this.badFrame("bad_message", "The lab could not handle that message.");
      }
    });
    ws.on("close", () => this.onClose());
    ws.on("error", (err) => log.warn({ remote, err: err.message }, "websocket error"));
    this.startTimer = setTimeout(() => {
      if (this.state === "waiting") this.fail("not_ready", "No session.start received.", CloseCode.ProtocolError);
    }, START_TIMEOUT_MS);
  }

  private send(message: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  private error(code: ErrorCode, message: string): void {
    this.send({ type: "error", code, message });
  }

  private fail(code: ErrorCode, message: string, closeCode: CloseCode): void {
    this.error(code, message);
    this.close(closeCode);
  }

  private close(code: CloseCode): void {
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.startTimer);
    this.stopProbes();
    this.stopResumeTimer();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code);
    void this.sandbox?.destroy();
  }

  private badFrame(code: ErrorCode, message: string, requestId?: string): void {
    this.badFrames++;
    if (this.badFrames > MAX_BAD_FRAMES) {
      this.fail(code, `${message} Too many invalid messages; closing.`, CloseCode.TooManyErrors);
      return;
    }
    this.send({ type: "error", code, message, ...(requestId ? { requestId } : {}) });
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state === "closed") return;
    if (isBinary) {
      this.onInput(data);
      return;
    }
    const parsed = parseClientMessage(data.toString("utf8"));
    if (!parsed.ok) {
      this.badFrame(parsed.code, parsed.message, parsed.requestId);
      return;
    }
    // Messages that make the server do real work (read a full snapshot, write cgroup files,
    // resize the pty) are budgeted; acknowledgements and pings are not.
    const costly = parsed.message.type === "state.watch" || parsed.message.type === "limits.update" || parsed.message.type === "pty.resize";
    if (costly && !this.takeControlBudget()) {
      const requestId = parsed.message.type === "limits.update" ? parsed.message.requestId : undefined;
      this.send({ type: "error", code: "rate_limited", message: "Too many requests at once; one was dropped.", ...(requestId ? { requestId } : {}) });
      return;
    }
    this.onMessage(parsed.message);
  }

  private takeControlBudget(): boolean {
    const now = Date.now();
    this.controlBudget = Math.min(
      CONTROL_FRAMES_PER_SECOND,
      this.controlBudget + ((now - this.controlRefilledAt) / 1000) * CONTROL_FRAMES_PER_SECOND,
    );
    this.controlRefilledAt = now;
    if (this.controlBudget < 1) return false;
    this.controlBudget -= 1;
    return true;
  }

  private onInput(data: Buffer): void {
    if (this.state !== "running" || !this.sandbox) {
      this.badFrame("not_ready", "Terminal input before the session is ready was dropped.");
      return;
    }
    const now = Date.now();
    this.inputBudget = Math.min(
      INPUT_BYTES_PER_SECOND,
      this.inputBudget + ((now - this.inputRefilledAt) / 1000) * INPUT_BYTES_PER_SECOND,
    );
    this.inputRefilledAt = now;
    if (data.length > this.inputBudget) {
      // Not a malformed frame, so it does not count towards closing the socket.
      this.error("rate_limited", "Typing too fast: some input was dropped. Paste smaller pieces.");
      return;
    }
    this.inputBudget -= data.length;
    if (!this.sandbox.write(data)) {
      this.error("rate_limited", "The shell is not reading its input right now, so what you typed was dropped.");
    }
  }

  private onMessage(message: ClientMessage): void {
    switch (message.type) {
      case "session.start":
        if (this.state !== "waiting") {
          this.badFrame("bad_message", "The session has already started.");
          return;
        }
        void this.start(message.size.cols, message.size.rows, message.lesson);
        return;
      case "pty.resize":
        if (this.state !== "running") {
          this.badFrame("not_ready", "Resize before the session is ready was ignored.");
          return;
        }
        this.sandbox?.resize(message.size.cols, message.size.rows);
        return;
      case "pty.ack":
        this.unacked = Math.max(0, this.unacked - message.bytes);
        if (this.paused && this.unacked < FLOW_LOW_WATER && this.ws.bufferedAmount < FLOW_LOW_WATER) {
          this.paused = false;
          this.stopResumeTimer();
          this.sandbox?.resume();
        }
        return;
      case "ping":
        this.send({ type: "pong", at: message.at });
        return;
      case "state.watch":
        if (this.state !== "running") {
          this.badFrame("not_ready", "Watching starts once the session is ready.");
          return;
        }
        if (message.watch) this.startProbes();
        else this.stopProbes();
        return;
      case "limits.update":
        this.updateLimits(message.requestId, message.sessionId, message.limits);
        return;
    }
  }

  /** docker update, checked twice: the protocol's types, then docker's rules against this host. */
  private updateLimits(requestId: string, sessionId: string, change: Partial<Limits>): void {
    const sandbox = this.sandbox;
    if (this.state !== "running" || !sandbox) {
      this.badFrame("not_ready", "Limits can change once the session is ready.", requestId);
      return;
    }
    if (sessionId !== sandbox.sessionId) {
      this.badFrame("not_your_session", "That session is not this page's; nothing was changed.", requestId);
      return;
    }
    const limits = { ...sandbox.limits, ...change };
    const checked = checkLimits(limits, hostCapacity());
    const check = checked.ok ? checkWithinCeiling(limits, sandbox.initialLimits) : checked;
    if (!check.ok) {
      this.send({ type: "error", code: "bad_limit", message: check.message, field: check.field, requestId });
      return;
    }
    try {
      const cgroupFiles = sandbox.setLimits(limits);
      this.send({ type: "limits.updated", requestId, limits: { ...sandbox.limits }, cgroupFiles: [...cgroupFiles] });
    } catch (err) {
      const text = (err as Error).message;
      const message = /EBUSY/.test(text)
        ? "The sandbox uses more memory than that right now; free some, or choose a higher limit."
        : `The kernel refused the change: ${text}`;
      const field = /memory\.(limit_in_bytes|max)/.test(text) ? "memoryBytes" : /memsw|swap/.test(text) ? "memorySwapBytes" : undefined;
      this.send({ type: "error", code: "bad_limit", message, requestId, ...(field ? { field } : {}) });
    }
  }

  /** Stream kernel state while the page watches: a full snapshot, then what changed. */
  private startProbes(): void {
    const sandbox = this.sandbox;
    if (!sandbox || this.probes) return;
    const probes = new ProbeLoop({ logger: log.child({ sessionId: sandbox.sessionId }) });
    this.probes = probes;
    probes.start(sandbox, (delta) => {
      this.send({ type: "state.delta", delta });
      this.lastStateSentAt = Date.now();
      this.evaluateSteps(); // a throw here is caught and logged by the probe loop
    });
    this.checkTimer = setInterval(() => {
      try {
        this.evaluateSteps();
      } catch (err) {
        // A check that cannot be made now is made on a later tick; it never stops the server.
        log.error({ sessionId: sandbox.sessionId, err: (err as Error).message }, "lab-step check failed");
      }
      const latest = this.probes?.latest();
      if (latest && Date.now() - this.lastStateSentAt >= STATE_HEARTBEAT_MS) {
        this.send({ type: "state.delta", delta: { kind: "change", takenAtMs: latest.takenAtMs } });
        this.lastStateSentAt = Date.now();
      }
    }, CHECK_INTERVAL_MS);
    this.checkTimer.unref();
  }

  private stopProbes(): void {
    this.probes?.stop();
    this.probes = null;
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.checkTimer = null;
  }

  /** Tick every lab step whose check now holds, keep it, and tell the page. */
  private evaluateSteps(): void {
    const snapshot = this.probes?.latest();
    const sandbox = this.sandbox;
    if (!snapshot || !sandbox || !this.lesson) return;
    const pending = this.steps.filter((step) => !this.doneSteps.has(step.id));
    if (pending.length === 0) return;
    const ctx = { snapshot, shellHostPid: sandbox.hostPid, cgroup: sandbox.cgroup };
    let changed = false;
    for (const step of pending) {
      if (!checkHolds(step.check, ctx)) continue;
      const atMs = Date.now();
      try {
        this.ctx.progress?.complete(this.learnerId, this.lesson, step.id, atMs);
      } catch (err) {
        log.error({ lesson: this.lesson, step: step.id, err: (err as Error).message }, "progress could not be stored");
      }
      this.doneSteps.set(step.id, atMs);
      changed = true;
      log.info({ sessionId: sandbox.sessionId, lesson: this.lesson, step: step.id }, "lab step done");
    }
    if (changed) this.sendProgress();
  }

  private sendProgress(): void {
    if (!this.lesson) return;
    this.send({
      type: "progress",
      lesson: this.lesson,
      steps: this.steps.map((s) => ({ id: s.id, done: this.doneSteps.has(s.id), completedAtMs: this.doneSteps.get(s.id) ?? null })),
    });
  }

  /** The lesson's steps, and what this learner has already done of them. */
  private async loadSteps(lesson: string): Promise<void> {
    if (!this.ctx.lessons) return;
    try {
      this.steps = await this.ctx.lessons.steps(lesson);
    } catch (err) {
      log.error({ lesson, err: (err as Error).message }, "lesson steps could not be loaded");
      return;
    }
    if (this.steps.length === 0) return;
    this.lesson = lesson;
    try {
      for (const [id, atMs] of this.ctx.progress?.completed(this.learnerId, lesson) ?? []) this.doneSteps.set(id, atMs);
    } catch (err) {
      // The database is unreadable right now: the steps still tick; they are just not restored.
      log.error({ lesson, err: (err as Error).message }, "progress could not be read");
    }
    this.sendProgress();
  }

  private async start(cols: number, rows: number, lesson: string | undefined): Promise<void> {
    this.state = "starting";
    clearTimeout(this.startTimer);
    const host = this.ctx.host;
    if (!host) {
      this.fail("kernel_unsupported", this.ctx.unsupportedReason, CloseCode.KernelUnsupported);
      return;
    }
    let sandbox: Sandbox;
    try {
      sandbox = await host.start({ limits: { ...DEFAULT_LIMITS }, cols, rows });
    } catch (err) {
      if (err instanceof SandboxStartFailure && err.failure.kind === "full") {
        this.fail("lab_full", "The lab is full right now. Try again in a minute.", CloseCode.LabFull);
      } else {
        log.error({ remote: this.remote, err: (err as Error).message }, "sandbox failed to start");
        this.fail("sandbox_failed", `Your sandbox could not be started: ${(err as Error).message}`, CloseCode.SandboxFailed);
      }
      return;
    }
    if (this.isClosed()) {
      // The page went away while the sandbox was starting.
      await sandbox.destroy();
      return;
    }
    this.sandbox = sandbox;
    this.state = "running";
    log.info({ sessionId: sandbox.sessionId, lesson, remote: this.remote, pid: sandbox.hostPid }, "session started");
    this.send({
      type: "session.ready",
      version: PROTOCOL_VERSION,
      sessionId: sandbox.sessionId,
      hostname: sandbox.hostname,
      hostPid: sandbox.hostPid,
      cgroupVersion: sandbox.cgroup.version,
      limits: { ...sandbox.limits },
      cgroupFiles: [...sandbox.cgroupFiles],
      host: hostCapacity(),
      startup: sandbox.startup,
    });
    sandbox.onData((chunk) => this.onOutput(chunk));
    if (lesson) await this.loadSteps(lesson);
    sandbox.onExit(({ exitCode, signal }) => {
      if (sandbox.endReason) this.error("resource_limit", sandbox.endReason);
      this.send({ type: "session.exit", exitCode, signal: signal || null });
      this.close(CloseCode.SessionEnded);
    });
  }

  /** A method, not a field read, so the check is not narrowed away across an await. */
  private isClosed(): boolean {
    return this.state === "closed";
  }

  private onOutput(chunk: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(chunk, { binary: true });
    this.unacked += chunk.length;
    // The page's acknowledgements are a claim; the socket's own send buffer is a fact. Either
    // one over the mark pauses the shell, so a client that stops reading cannot make the
    // server buffer output without bound.
    if (!this.paused && (this.unacked > FLOW_HIGH_WATER || this.ws.bufferedAmount > FLOW_HIGH_WATER)) {
      this.paused = true;
      this.sandbox?.pause();
      this.resumeWhenDrained();
    }
  }

  private resumeTimer: NodeJS.Timeout | null = null;

  private resumeWhenDrained(): void {
    if (this.resumeTimer) return;
    this.resumeTimer = setInterval(() => {
      if (this.state === "closed") {
        this.stopResumeTimer();
        return;
      }
      if (this.unacked < FLOW_LOW_WATER && this.ws.bufferedAmount < FLOW_LOW_WATER) {
        this.paused = false;
        this.sandbox?.resume();
        this.stopResumeTimer();
      }
    }, 50);
    this.resumeTimer.unref();
  }

  private stopResumeTimer(): void {
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    this.resumeTimer = null;
  }

  private onClose(): void {
    const wasRunning = this.sandbox?.sessionId;
    this.state = "closed";
    clearTimeout(this.startTimer);
    this.stopProbes();
    this.stopResumeTimer();
    if (this.sandbox) {
      log.info({ sessionId: wasRunning }, "session socket closed");
      void this.sandbox.destroy();
    }
  }

  /** Server shutdown: tell the page, end the sandbox. */
  shutdown(): Promise<void> {
    this.close(CloseCode.ServerShutdown);
    return this.sandbox?.destroy() ?? Promise.resolve();
  }
}
