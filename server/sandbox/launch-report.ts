// The launcher's step report, read as JSON lines from its `--status-fd` as they come (no file,
// no polling): through child_process that descriptor is a socket child_process makes as the
// launcher's descriptor 3 (`nslab run` without a terminal); through node-pty and the spawner, a
// pipe this process makes and hands over (LaunchReportPipe). Every line is parsed with the
// shared LaunchEvent schema; what does not parse, or more than a start can produce, is a broken
// launcher and ends the start.
import fs from "node:fs";
import net from "node:net";

import { LaunchEvent, MAX_LAUNCH_EVENTS } from "../../common/launch-events";
import { errno, libcFunction } from "../kernel/libc";

const pipe2 = libcFunction("int pipe2(_Out_ int *fds, int flags)");
const fcntl = libcFunction("int fcntl(int fd, int cmd, ...)");

const O_CLOEXEC = 0o2000000;
const F_SETFD = 2;
/** A report line is under 700 bytes (launcher.c, report()); anything longer is not one. */
const MAX_LINE_BYTES = 1024;

export type LaunchOutcome =
  /** The command was exec'd inside the sandbox. */
  | { kind: "exec"; hostPid: number }
  /** The launcher said why it failed (`error` or `exec-failed`). */
  | { kind: "failed"; message: string }
  /** The pipe closed without either: the launcher died (its exit status says more). */
  | { kind: "closed" };

export class LaunchReport {
  readonly events: LaunchEvent[] = [];
  private partial = "";
  private settled = false;
  private resolveOutcome!: (outcome: LaunchOutcome) => void;
  /** Settles once: exec, a failure report, or the end of the stream. */
  readonly outcome: Promise<LaunchOutcome>;
  private hostPid = 0;

  /** @param reader this process's end of the launcher's `--status-fd`, read from now on */
  constructor(private readonly reader: net.Socket) {
    this.outcome = new Promise((resolve) => {
      this.resolveOutcome = resolve;
    });
    this.reader.setEncoding("utf8");
    this.reader.on("data", (text: string) => this.onText(text));
    this.reader.on("end", () => this.settle({ kind: "closed" }));
    this.reader.on("close", () => this.settle({ kind: "closed" }));
    this.reader.on("error", () => this.settle({ kind: "closed" }));
  }

  /** The report as the launcher wrote it: one JSON line per step (`nslab run --timeline`). */
  text(): string {
    return this.events.map((e) => `${JSON.stringify(e)}\n`).join("");
  }

  /** Stop reading; the launcher's later lines, if any, are not wanted. */
  close(): void {
    this.reader.destroy();
    this.settle({ kind: "closed" });
  }

  private onText(text: string): void {
    this.partial += text;
    let newline: number;
    while ((newline = this.partial.indexOf("\n")) >= 0) {
      const line = this.partial.slice(0, newline);
      this.partial = this.partial.slice(newline + 1);
      if (line.trim()) this.onLine(line);
    }
    if (this.partial.length > MAX_LINE_BYTES) this.broken(`a report line longer than ${MAX_LINE_BYTES} bytes`);
  }

  private onLine(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.broken(`a report line that is not JSON: ${line.slice(0, 80)}`);
      return;
    }
    const parsed = LaunchEvent.safeParse(value);
    if (!parsed.success) {
      this.broken(`a report line of an unknown shape: ${line.slice(0, 80)}`);
      return;
    }
    if (this.events.length >= MAX_LAUNCH_EVENTS) {
      this.broken(`more than ${MAX_LAUNCH_EVENTS} report lines`);
      return;
    }
    const event = parsed.data;
    this.events.push(event);
    if (event.step === "clone" && event.detail) this.hostPid = Number(event.detail);
    if (event.step === "exec") this.settle({ kind: "exec", hostPid: this.hostPid });
    if (event.step === "error" || event.step === "exec-failed") {
      this.settle({ kind: "failed", message: event.detail ?? "the launcher failed" });
    }
  }

  private broken(why: string): void {
    this.settle({ kind: "failed", message: `the launcher's report is broken: ${why}` });
    this.reader.destroy();
  }

  private settle(outcome: LaunchOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveOutcome(outcome);
  }
}

/** The report over a pipe this process makes, for a launcher started by node-pty (which passes
 *  the write end on under its own number) or by the spawner (which is sent it). */
export class LaunchReportPipe extends LaunchReport {
  /** The descriptor the launcher writes to; close it in this process once the launcher has it. */
  readonly writeFd: number;
  private writeEndClosed = false;

  constructor() {
    const fds = new Int32Array(2);
    // Both ends close-on-exec: no other program this process starts may inherit them.
    if ((pipe2(fds, O_CLOEXEC) as number) !== 0) throw new Error(`pipe2: errno ${errno()}`);
    const [readFd, writeFd] = [fds[0] ?? -1, fds[1] ?? -1];
    super(new net.Socket({ fd: readFd, readable: true, writable: false }));
    this.writeFd = writeFd;
  }

  /**
   * Let the next program this process starts inherit the write end as it is (node-pty's
   * forkpty keeps every descriptor without close-on-exec). Call right before that spawn, in
   * the same synchronous stretch of code, and `closeWriteEnd()` right after it: nothing else
   * can start a program in between, so no other child ever holds it.
   */
  inheritWriteEnd(): void {
    if ((fcntl(this.writeFd, F_SETFD, "int", 0) as number) !== 0) throw new Error(`fcntl F_SETFD: errno ${errno()}`);
  }

  /** This process's copy of the write end: once closed, the pipe ends when the launcher's does.
   *  Closed once only: a second close would hit whatever descriptor has the number by then. */
  closeWriteEnd(): void {
    if (this.writeEndClosed) return;
    this.writeEndClosed = true;
    fs.closeSync(this.writeFd);
  }

  override close(): void {
    this.closeWriteEnd();
    super.close();
  }
}
