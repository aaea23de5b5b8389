// Keystrokes into a sandbox's terminal, with a bounded queue. When the program in the sandbox
// stops reading (`stty raw; sleep 1000`), the pty's input buffer fills and writes answer
// EAGAIN. node-pty's own writer then retries on every turn of the event loop and queues
// without bound, so one learner could keep the server's only thread busy; here a full buffer
// is retried on a timer, and input beyond MAX_QUEUED_INPUT_BYTES is refused (a full terminal drops
// input too), which the caller reports.
//
// It writes to a copy of the terminal's descriptor of its own, closed only once no write is
// in flight. The descriptor it is given belongs to node-pty (or the spawner's terminal), which
// may close it before the exit is reported; a write queued or retried after that would go to
// whatever file took the number next, perhaps another learner's terminal.
import fs from "node:fs";

import { INPUT_BYTES_PER_SECOND } from "../../common/protocol-bounds";
import { errno as lastErrno, libcFunction } from "../kernel/libc";

const fcntl = libcFunction("int fcntl(int fd, int cmd, int arg)");
const F_DUPFD_CLOEXEC = 1030;

/** A paste as large as the page may send in one go always fits; a program that reads nothing
 *  holds at most this much of the server's memory. */
export const MAX_QUEUED_INPUT_BYTES = INPUT_BYTES_PER_SECOND;
const RETRY_MS = 20;
/** Queued pieces smaller than this are joined: a flood of one-byte frames then costs the
 *  server its bytes, not a Buffer (and its ~100 bytes of bookkeeping) for each. */
const MERGE_BELOW_BYTES = 4096;

export class PtyInput {
  private readonly queue: Buffer[] = [];
  /** The piece small writes are copied into, while it is the queue's last and not being written. */
  private openPiece: { buffer: Buffer; view: Buffer } | null = null;
  private queued = 0;
  private writing = false;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  /** A write on the thread pool: the copy stays open until it returns. */
  private inFlight = false;
  /** This writer's own copy of the terminal's descriptor, or -1 once closed. */
  private fd: number;

  /** `terminalFd` stays the caller's: this writer makes a copy, and closes only that. */
  constructor(
    terminalFd: number,
    private readonly maxQueued = MAX_QUEUED_INPUT_BYTES,
  ) {
    // Above 2, close-on-exec: nothing spawned later inherits the learner's terminal.
    const copy = fcntl(terminalFd, F_DUPFD_CLOEXEC, 3) as number;
    if (copy < 0) throw new Error(`fcntl F_DUPFD_CLOEXEC on the terminal's descriptor ${terminalFd}: errno ${lastErrno()}`);
    this.fd = copy;
  }

  /** Queue `data` for the terminal; false (and nothing queued) when the queue is full. */
  write(data: Buffer): boolean {
    if (this.stopped) return false;
    if (data.length === 0) return true;
    if (this.queued + data.length > this.maxQueued) return false;
    // Small pieces are copied into a piece of MERGE_BELOW_BYTES this writer fills, each byte
    // once. The head may be on its way to the terminal: only the piece behind it still grows.
    const last = this.queue.length - 1;
    const open = this.openPiece;
    if (open && this.queue[last] === open.view && last > (this.inFlight ? 0 : -1) && open.view.length + data.length <= MERGE_BELOW_BYTES) {
      data.copy(open.buffer, open.view.length);
      open.view = open.buffer.subarray(0, open.view.length + data.length);
      this.queue[last] = open.view;
    } else if (data.length < MERGE_BELOW_BYTES) {
      const buffer = Buffer.allocUnsafe(MERGE_BELOW_BYTES);
      data.copy(buffer);
      this.openPiece = { buffer, view: buffer.subarray(0, data.length) };
      this.queue.push(this.openPiece.view);
    } else {
      this.queue.push(data);
    }
    this.queued += data.length;
    if (!this.writing) this.pump();
    return true;
  }

  /** Pieces the bytes waiting are kept in (joined when small). */
  get pieces(): number {
    return this.queue.length;
  }

  /** Bytes waiting for the program to read them. */
  get pending(): number {
    return this.queued;
  }

  /** The terminal is gone: drop what is queued, write nothing more, and close the copy (at
   *  once, or when the write in flight returns). Safe to call twice. */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.queue.length = 0;
    this.queued = 0;
    if (!this.inFlight) this.closeCopy();
  }

  private closeCopy(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    fs.closeSync(fd);
  }

  private pump(): void {
    const head = this.queue[0];
    if (this.stopped || !head) {
      this.writing = false;
      return;
    }
    this.writing = true;
    this.inFlight = true;
    fs.write(this.fd, head, 0, head.length, null, (err, written) => {
      this.inFlight = false;
      if (this.stopped) {
        this.closeCopy();
        return;
      }
      if (err) {
        if (err.code === "EAGAIN") {
          this.retry = setTimeout(() => {
            this.retry = null;
            this.pump();
          }, RETRY_MS);
          this.retry.unref();
        } else {
          this.stop(); // EIO/EBADF: the terminal closed; the session ends through its exit
        }
        return;
      }
      this.queued -= written;
      if (written >= head.length) this.queue.shift();
      else this.queue[0] = head.subarray(written);
      this.pump();
    });
  }
}
