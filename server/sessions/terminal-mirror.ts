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

/** The most a replay may weigh: past it, the oldest scrollback is left out, and a screen too
 *  big on its own is replaced by a line that says so. A page on a slow link starts within a
 *  second or two, and a watcher's queue bound (server/ws/lab-connection.ts) stays above it. */
export const MAX_REPLAY_BYTES = 1024 * 1024;
/** The most cells (screen and scrollback) one replay serializes: what it costs the mirror
 *  thread grows with them. 80 columns keep all 1000 lines; 500 columns about 200. */
export const MAX_REPLAY_CELLS = 200_000;
/** How long a page waits for its replay before it starts from a clear screen instead. */
export const SNAPSHOT_TIMEOUT_MS = 3_000;

/** Bytes posted to the mirror and not yet parsed, past which it stops taking more: the
 *  worker's queue must not grow without bound. A mirror that falls this far behind drops what
 *  comes next until it has caught up, then starts again from a clear screen with a line that
 *  says so. The shell is never paused for it: the copy may lose its history, the learner's
 *  terminal never waits for it. (Each session's output is bounded at 1 MiB/s, so only many
 *  floods at once, or a very busy machine, get here.) */
export const MIRROR_BACKLOG_LIMIT = 4 * 1024 * 1024;

/** What a page that attaches sees where the mirror had to start again. */
const OVERFLOW_NOTICE = "\x1bc\x1b[2m(nslab: the output before this came too fast to keep for a reconnect)\x1b[0m\r\n";
/** What a page sees when the mirror thread could not answer in time. */
const LATE_NOTICE = "\x1bc\x1b[2m(nslab: the screen could not be restored in time; what follows is live)\x1b[0m\r\n";
/** A lost mirror thread is started again at most this often. */
const RESTART_BACKOFF_MS = 5_000;

export interface Replay {
  data: Buffer;
  /** The terminal's size when the snapshot was taken. */
  size: TerminalSize;
}

type WorkerReply =
  | { op: "parsed"; counts: Array<[number, number]> }
  | { op: "snapshot"; req: number; data: Uint8Array; cols: number; rows: number }
  | { op: "lines"; req: number; lines: string[] };

/** The worker and the mirrors it holds. One per process; started with the first mirror. */
class MirrorWorker {
  private worker: Worker | null = null;
  private readonly mirrors = new Map<number, TerminalMirror>();
  private readonly pending = new Map<number, (reply: WorkerReply | null) => void>();
  private nextId = 1;
  private nextReq = 1;
  /** After a lost thread, no new one before this (a thread that fails at start must not be
   *  restarted in a loop); mirrors post nothing meanwhile. */
  private downUntil = 0;

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

  /** Start a thread again if one was lost and its backoff is over. */
  revive(): void {
    this.ensure();
  }

  /** False when there is no thread to post to right now (the message is dropped). */
  post(message: Record<string, unknown>, transfer?: ArrayBuffer[]): boolean {
    const worker = this.ensure();
    if (!worker) return false;
    worker.postMessage(message, transfer);
    return true;
  }

  request<T extends WorkerReply>(message: Record<string, unknown>, timeoutMs: number): Promise<T | null> {
    const req = this.nextReq++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        resolve(null);
      }, timeoutMs);
      timer.unref();
      this.pending.set(req, (reply) => {
        clearTimeout(timer);
        resolve(reply as T | null);
      });
      if (!this.post({ ...message, req })) this.answer(req, null);
    });
  }

  private answer(req: number, reply: WorkerReply | null): void {
    const resolve = this.pending.get(req);
    this.pending.delete(req);
    resolve?.(reply);
  }

  private ensure(): Worker | null {
    if (this.worker) return this.worker;
    if (Date.now() < this.downUntil) return null;
    let worker: Worker;
    try {
      worker = new Worker(new URL("./mirror-worker.mjs", import.meta.url));
    } catch (err) {
      this.downUntil = Date.now() + RESTART_BACKOFF_MS;
      log.error({ err }, "terminal mirror thread could not start; replays are blank meanwhile");
      return null;
    }
    // It never keeps the process alive by itself (a test, a server shutting down).
    worker.unref();
    worker.on("message", (reply: WorkerReply) => {
      // A reply from a thread already replaced belongs to mirrors that were started again.
      if (this.worker === worker) this.onReply(reply);
    });
    worker.on("error", (err) => this.lost(worker, err));
    worker.on("exit", (code) => this.lost(worker, new Error(`the mirror thread exited with code ${code}`)));
    this.worker = worker;
    // Mirrors opened on a lost thread start again blank on this one.
    for (const [id, mirror] of this.mirrors) {
      if (mirror.needsReopen) worker.postMessage({ op: "open", id, cols: mirror.size.cols, rows: mirror.size.rows, scrollback: mirror.scrollback });
    }
    for (const mirror of this.mirrors.values()) mirror.reopened();
    return worker;
  }

  private onReply(reply: WorkerReply): void {
    if (reply.op === "parsed") {
      for (const [id, bytes] of reply.counts) this.mirrors.get(id)?.parsed(bytes);
      return;
    }
    this.answer(reply.req, reply);
  }

  /**
   * The thread died: what it held is gone. Every open request is answered empty, and every
   * mirror starts again blank in the next thread (pages that attach later see only what came
   * after); the sessions go on — their shells never depended on it.
   */
  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.downUntil = Date.now() + RESTART_BACKOFF_MS;
    log.error({ err, mirrors: this.mirrors.size }, "terminal mirror thread lost; mirrors start again blank");
    for (const req of [...this.pending.keys()]) this.answer(req, null);
    for (const mirror of this.mirrors.values()) mirror.lost();
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
  /** Chunks written this turn, posted as one buffer at the end of it (or before anything else
   *  this mirror posts, so the order holds). */
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private batchScheduled = false;
  /** Changes with every write and resize: a snapshot of the same version is still true. */
  private version = 0;
  private cached: { version: number; maxBytes: number; replay: Replay } | null = null;
  /** The thread holding this mirror was lost; it is opened again, blank, in the next one. */
  needsReopen = false;

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

  /** Whether a snapshot now would be the one already made: an attach then costs nothing. */
  get snapshotIsCached(): boolean {
    return this.cached?.version === this.version;
  }

  write(chunk: Uint8Array): void {
    if (this.disposed || chunk.length === 0) return;
    if (this.needsReopen) mirrorWorker.revive();
    this.version++;
    if (!this.overflowed && this.backlog + chunk.length > MIRROR_BACKLOG_LIMIT) {
      this.overflowed = true;
      this.overflows++;
    }
    if (this.overflowed) return;
    this.backlog += chunk.length;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      setImmediate(() => this.flushBatch());
    }
  }

  /** The turn's chunks as one buffer of its own, transferred: a pty chunk may be a slice of a
   *  pool shared with others, which must neither be copied whole nor handed away. */
  private flushBatch(): void {
    this.batchScheduled = false;
    if (this.batch.length === 0) return;
    const data = new Uint8Array(this.batchBytes);
    let offset = 0;
    for (const chunk of this.batch) {
      data.set(chunk, offset);
      offset += chunk.length;
    }
    this.batch = [];
    this.batchBytes = 0;
    if (!mirrorWorker.post({ op: "write", id: this.id, data }, [data.buffer])) this.parsed(data.length);
  }

  resize(size: TerminalSize): void {
    if (this.disposed) return;
    this.version++;
    this.sizeValue = { ...size };
    this.flushBatch();
    mirrorWorker.post({ op: "resize", id: this.id, cols: size.cols, rows: size.rows });
  }

  /**
   * The screen and scrollback after every byte written so far, as bytes that redraw them in a
   * reset terminal of the size given with them, at most `maxBytes`. A caller that forwards
   * every later chunk after asking loses nothing and doubles nothing. Made once per version:
   * asked again with nothing written since, it is the same. If the thread does not answer in
   * time, a clear screen that says so.
   */
  async snapshot(maxBytes = MAX_REPLAY_BYTES): Promise<Replay> {
    if (this.disposed) return { data: Buffer.alloc(0), size: this.size };
    const cached = this.cached;
    if (cached && cached.version === this.version && cached.maxBytes === maxBytes) return cached.replay;
    const version = this.version;
    this.flushBatch();
    const reply = await mirrorWorker.request<Extract<WorkerReply, { op: "snapshot" }>>(
      { op: "snapshot", id: this.id, maxBytes, maxCells: MAX_REPLAY_CELLS },
      SNAPSHOT_TIMEOUT_MS,
    );
    if (!reply) return { data: Buffer.from(LATE_NOTICE, "utf8"), size: this.size };
    const replay: Replay = {
      data: Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength),
      size: reply.cols > 0 ? { cols: reply.cols, rows: reply.rows } : this.size,
    };
    this.cached = { version, maxBytes, replay };
    return replay;
  }

  /** The text on screen and in the scrollback once every byte written so far is parsed, one
   *  string per line, trailing blanks trimmed. */
  async lines(): Promise<string[]> {
    return (await this.request({ op: "lines", id: this.id })) ?? [];
  }

  /** The last `lines` lines, each cut to `width` characters; null when the thread did not
   *  answer in time. */
  tail(lines: number, width: number): Promise<string[] | null> {
    return this.request({ op: "lines", id: this.id, tail: lines, width });
  }

  private async request(message: Record<string, unknown>): Promise<string[] | null> {
    if (this.disposed) return [];
    this.flushBatch();
    const reply = await mirrorWorker.request<Extract<WorkerReply, { op: "lines" }>>(message, SNAPSHOT_TIMEOUT_MS);
    return reply?.lines ?? null;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.batch = [];
    mirrorWorker.unregister(this.id);
  }

  /** From the worker: this many bytes were parsed. */
  parsed(bytes: number): void {
    this.backlog = Math.max(0, this.backlog - bytes);
    if (this.overflowed && this.backlog === 0 && !this.disposed && !this.needsReopen) {
      // Caught up: a clear screen that says what happened, then the live bytes again.
      this.overflowed = false;
      this.write(Buffer.from(OVERFLOW_NOTICE, "utf8"));
    }
  }

  /** From the worker's host: the thread holding this mirror was lost. */
  lost(): void {
    this.needsReopen = true;
    this.backlog = 0;
    this.batch = [];
    this.batchBytes = 0;
    this.cached = null;
    this.version++;
    this.overflowed = true;
  }

  /** From the worker's host: opened again, blank, in a new thread. */
  reopened(): void {
    if (!this.needsReopen) return;
    this.needsReopen = false;
    this.parsed(0);
  }
}
