// The server's own copy of a session's terminal: every byte the pty prints also goes into a
// headless xterm.js of the same size, so a page that attaches later — a reload, a reconnect, a
// watcher — is first sent the screen and scrollback as they are, then the live output. The
// copy is serialized (@xterm/addon-serialize) into the escape sequences that redraw it,
// modes included (bracketed paste, application cursor keys, the alternate screen).
//
// The terminals themselves live in one worker thread (mirror-worker.mjs) shared by every
// session: parsing and serializing never hold up the thread that carries keystrokes. This is
// the session's handle on its terminal there. Messages to a worker arrive in the order they
// were posted, so a snapshot asked for after some bytes holds exactly those bytes.
import { Worker } from "node:worker_threads";

import type { TerminalSize } from "../../common/protocol";
import { log } from "../log";

/** Lines of scrollback the mirror keeps and replays. */
export const MIRROR_SCROLLBACK_LINES = 1000;

/** The most a replay may weigh: past it, the oldest scrollback is left out (the screen itself
 *  always goes whole). A page on a slow link starts within a second or two, and a watcher's
 *  queue bound (server/ws/lab-connection.ts) stays well above it. */
export const MAX_REPLAY_BYTES = 1024 * 1024;

/** Bytes posted to the mirror and not yet parsed, past which it stops taking more: the
 *  worker's queue must not grow without bound. A mirror that falls this far behind drops what
 *  comes next until it has caught up, then starts again from a clear screen with a line that
 *  says so. The shell is never paused for it: the copy may lose its history, the learner's
 *  terminal never waits for it. (Each session's output is bounded at 1 MiB/s, so only many
 *  floods at once, or a very busy machine, get here.) */
export const MIRROR_BACKLOG_LIMIT = 4 * 1024 * 1024;

/** What a page that attaches sees where the mirror had to start again. */
const OVERFLOW_NOTICE = "\x1bc\x1b[2m(nslab: the output before this came too fast to keep for a reconnect)\x1b[0m\r\n";

type WorkerReply =
  | { op: "parsed"; counts: Array<[number, number]> }
  | { op: "snapshot"; req: number; data: Uint8Array; lines: number }
  | { op: "lines"; req: number; lines: string[] };

/** The worker and the mirrors it holds. One per process; started with the first mirror. */
class MirrorWorker {
  private worker: Worker | null = null;
  private readonly mirrors = new Map<number, TerminalMirror>();
  private readonly pending = new Map<number, (reply: WorkerReply | null) => void>();
  private nextId = 1;
  private nextReq = 1;

  register(mirror: TerminalMirror): number {
    const id = this.nextId++;
    this.mirrors.set(id, mirror);
    this.post({ op: "open", id, cols: mirror.size.cols, rows: mirror.size.rows, scrollback: mirror.scrollback });
    return id;
  }

  unregister(id: number): void {
    this.mirrors.delete(id);
    this.post({ op: "close", id });
  }

  post(message: Record<string, unknown>, transfer?: ArrayBuffer[]): void {
    this.ensure().postMessage(message, transfer);
  }

  request<T extends WorkerReply>(message: Record<string, unknown>): Promise<T | null> {
    const req = this.nextReq++;
    return new Promise((resolve) => {
      this.pending.set(req, resolve as (reply: WorkerReply | null) => void);
      this.post({ ...message, req });
    });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./mirror-worker.mjs", import.meta.url));
    // It never keeps the process alive by itself (a test, a server shutting down).
    worker.unref();
    worker.on("message", (reply: WorkerReply) => this.onReply(reply));
    worker.on("error", (err) => this.lost(worker, err));
    worker.on("exit", (code) => {
      if (this.worker === worker) this.lost(worker, new Error(`the mirror thread exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  private onReply(reply: WorkerReply): void {
    if (reply.op === "parsed") {
      for (const [id, bytes] of reply.counts) this.mirrors.get(id)?.parsed(bytes);
      return;
    }
    const resolve = this.pending.get(reply.req);
    this.pending.delete(reply.req);
    resolve?.(reply);
  }

  /**
   * The thread died: what it held is gone. Every open request is answered empty, every mirror
   * starts again blank in a new thread (pages that attach later see only what comes after),
   * and the sessions go on — their shells never depended on it.
   */
  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    log.error({ err: err.message, mirrors: this.mirrors.size }, "terminal mirror thread lost; mirrors start again blank");
    for (const resolve of this.pending.values()) resolve(null);
    this.pending.clear();
    for (const [id, mirror] of this.mirrors) {
      mirror.reset();
      this.post({ op: "open", id, cols: mirror.size.cols, rows: mirror.size.rows, scrollback: mirror.scrollback });
    }
  }
}

const mirrorWorker = new MirrorWorker();

export class TerminalMirror {
  private readonly id: number;
  private sizeValue: TerminalSize;
  private backlog = 0;
  /** Dropping output until the backlog is parsed (see MIRROR_BACKLOG_LIMIT). */
  private overflowed = false;
  /** Times the mirror had to start again. */
  overflows = 0;
  private disposed = false;

  constructor(
    size: TerminalSize,
    readonly scrollback = MIRROR_SCROLLBACK_LINES,
  ) {
    this.sizeValue = { ...size };
    this.id = mirrorWorker.register(this);
  }

  get size(): TerminalSize {
    return { ...this.sizeValue };
  }

  /** Bytes written and not yet parsed. */
  get backlogBytes(): number {
    return this.backlog;
  }

  write(chunk: Uint8Array): void {
    if (this.disposed || chunk.length === 0) return;
    if (!this.overflowed && this.backlog + chunk.length > MIRROR_BACKLOG_LIMIT) {
      this.overflowed = true;
      this.overflows++;
    }
    if (this.overflowed) return;
    this.post(chunk);
  }

  private post(chunk: Uint8Array): void {
    this.backlog += chunk.length;
    // Copied, not transferred: pty chunks can be slices of a buffer shared with others.
    mirrorWorker.post({ op: "write", id: this.id, data: chunk });
  }

  resize(size: TerminalSize): void {
    if (this.disposed) return;
    this.sizeValue = { ...size };
    mirrorWorker.post({ op: "resize", id: this.id, cols: size.cols, rows: size.rows });
  }

  /**
   * The screen and scrollback after every byte written so far, as bytes that redraw them in a
   * reset terminal of the same size, at most MAX_REPLAY_BYTES unless the screen alone is more.
   * A caller that forwards every later chunk after asking loses nothing and doubles nothing.
   */
  async snapshot(maxBytes = MAX_REPLAY_BYTES): Promise<Buffer> {
    if (this.disposed) return Buffer.alloc(0);
    const reply = await mirrorWorker.request<Extract<WorkerReply, { op: "snapshot" }>>({ op: "snapshot", id: this.id, maxBytes });
    return reply ? Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength) : Buffer.alloc(0);
  }

  /** The text on screen and in the scrollback once every byte written so far is parsed, one
   *  string per line, trailing blanks trimmed. */
  async lines(): Promise<string[]> {
    if (this.disposed) return [];
    const reply = await mirrorWorker.request<Extract<WorkerReply, { op: "lines" }>>({ op: "lines", id: this.id });
    return reply?.lines ?? [];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    mirrorWorker.unregister(this.id);
  }

  /** From the worker: this many bytes were parsed. */
  parsed(bytes: number): void {
    this.backlog = Math.max(0, this.backlog - bytes);
    if (this.overflowed && this.backlog === 0 && !this.disposed) {
      // Caught up: a clear screen that says what happened, then the live bytes again.
      this.overflowed = false;
      this.post(Buffer.from(OVERFLOW_NOTICE, "utf8"));
    }
  }

  /** From the worker's host: the thread was lost and this mirror starts again blank. */
  reset(): void {
    this.parsed(this.backlog);
  }
}
