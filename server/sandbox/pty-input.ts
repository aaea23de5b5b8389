// Keystrokes into a sandbox's terminal, with a bounded queue. When the program in the sandbox
// stops reading (`stty raw; sleep 1000`), the pty's input buffer fills and writes answer
// EAGAIN. node-pty's own writer then retries on every turn of the event loop and queues
// without bound, so one learner could keep the server's only thread busy; here a full buffer
// is retried on a timer, and input beyond MAX_QUEUED_INPUT_BYTES is refused (a full terminal drops
// input too), which the caller reports.
import fs from "node:fs";

import { INPUT_BYTES_PER_SECOND } from "../../common/protocol-bounds";

/** A paste as large as the page may send in one go always fits; a program that reads nothing
 *  holds at most this much of the server's memory. */
export const MAX_QUEUED_INPUT_BYTES = INPUT_BYTES_PER_SECOND;
const RETRY_MS = 20;

export class PtyInput {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly fd: number,
    private readonly maxQueued = MAX_QUEUED_INPUT_BYTES,
  ) {}

  /** Queue `data` for the terminal; false (and nothing queued) when the queue is full. */
  write(data: Buffer): boolean {
    if (this.stopped) return false;
    if (data.length === 0) return true;
    if (this.queued + data.length > this.maxQueued) return false;
    this.queue.push(data);
    this.queued += data.length;
    if (!this.writing) this.pump();
    return true;
  }

  /** Bytes waiting for the program to read them. */
  get pending(): number {
    return this.queued;
  }

  /** The terminal is gone: drop what is queued, write nothing more. */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.queue.length = 0;
    this.queued = 0;
  }

  private pump(): void {
    const head = this.queue[0];
    if (this.stopped || !head) {
      this.writing = false;
      return;
    }
    this.writing = true;
    fs.write(this.fd, head, 0, head.length, null, (err, written) => {
      if (this.stopped) return;
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
