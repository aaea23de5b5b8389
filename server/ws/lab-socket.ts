// One WebSocket = one lab session. The first frame asks for a sandbox; from then on terminal
// bytes flow as binary frames both ways and control messages as validated JSON. The socket
// owns its sandbox: when either ends, the other is ended too.
import type { WebSocket } from "ws";

import {
  type ClientMessage,
  CloseCode,
  type ErrorCode,
  PROTOCOL_VERSION,
  type ServerMessage,
  parseClientMessage,
} from "../../common/protocol";
import { log } from "../log";
import type { SandboxHost } from "../sandbox/host";
import { DEFAULT_LIMITS } from "../sandbox/limits";
import { type Sandbox, SandboxStartFailure } from "../sandbox/sandbox";

/** Pause the shell when this much output is unacknowledged; resume below the low mark. */
export const FLOW_HIGH_WATER = 128 * 1024;
export const FLOW_LOW_WATER = 32 * 1024;
/** Bad frames tolerated before the connection is closed. */
export const MAX_BAD_FRAMES = 20;
/** Keystroke bytes accepted per second (a paste of a long script is fine, a flood is not). */
export const INPUT_BYTES_PER_SECOND = 256 * 1024;
const START_TIMEOUT_MS = 15_000;

export interface LabSocketContext {
  /** null when this host cannot create sandboxes; `unsupportedReason` says why. */
  host: SandboxHost | null;
  unsupportedReason: string;
}

export class LabSocket {
  private sandbox: Sandbox | null = null;
  private state: "waiting" | "starting" | "running" | "closed" = "waiting";
  private badFrames = 0;
  private unacked = 0;
  private paused = false;
  private inputBudget = INPUT_BYTES_PER_SECOND;
  private inputRefilledAt = Date.now();
  private readonly startTimer: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: LabSocketContext,
    private readonly remote: string,
  ) {
    ws.binaryType = "nodebuffer";
    ws.on("message", (data, isBinary) => this.onFrame(data as Buffer, isBinary));
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
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code);
    void this.sandbox?.destroy();
  }

  private badFrame(code: ErrorCode, message: string): void {
    this.badFrames++;
    if (this.badFrames > MAX_BAD_FRAMES) {
      this.fail(code, `${message} Too many invalid messages; closing.`, CloseCode.TooManyErrors);
      return;
    }
    this.error(code, message);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state === "closed") return;
    if (isBinary) {
      this.onInput(data);
      return;
    }
    const parsed = parseClientMessage(data.toString("utf8"));
    if (!parsed.ok) {
      this.badFrame(parsed.code, parsed.message);
      return;
    }
    this.onMessage(parsed.message);
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
      this.badFrame("rate_limited", "Typing too fast: some input was dropped. Paste smaller pieces.");
      return;
    }
    this.inputBudget -= data.length;
    this.sandbox.write(data);
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
        if (this.paused && this.unacked < FLOW_LOW_WATER) {
          this.paused = false;
          this.sandbox?.resume();
        }
        return;
      case "ping":
        this.send({ type: "pong", at: message.at });
        return;
    }
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
      startup: sandbox.startup,
    });
    sandbox.onData((chunk) => this.onOutput(chunk));
    sandbox.onExit(({ exitCode, signal }) => {
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
    if (!this.paused && this.unacked > FLOW_HIGH_WATER) {
      this.paused = true;
      this.sandbox?.pause();
    }
  }

  private onClose(): void {
    const wasRunning = this.sandbox?.sessionId;
    this.state = "closed";
    clearTimeout(this.startTimer);
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
