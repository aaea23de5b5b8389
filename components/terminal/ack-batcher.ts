// Flow control for pty output. The server pauses the learner's shell once more than ~128 KiB
// of output is unacknowledged, so a command that floods the terminal (`yes`, `cat` of a big
// file) cannot outrun the page's rendering and fill the browser's memory. The page
// acknowledges only what xterm.js has actually rendered (its write callback), in batches: one
// frame per chunk would double the frame count for no gain.

/** Ack at once after this many rendered bytes: an eighth of the server's pause threshold. */
export const ACK_BATCH_BYTES = 16 * 1024;
/** Otherwise ack this long after the first unacknowledged byte, so small outputs never stall. */
export const ACK_DELAY_MS = 40;

export type AckTimer = {
  set(callback: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
};

const windowTimer: AckTimer = {
  set: (callback, delayMs) => setTimeout(callback, delayMs),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class AckBatcher {
  #pendingBytes = 0;
  #timer: unknown = undefined;
  #disposed = false;

  constructor(
    private readonly sendAck: (bytes: number) => void,
    private readonly timer: AckTimer = windowTimer,
  ) {}

  /** xterm.js has rendered `bytes` more bytes of output. */
  rendered(bytes: number): void {
    if (this.#disposed || bytes <= 0) return;
    this.#pendingBytes += bytes;
    if (this.#pendingBytes >= ACK_BATCH_BYTES) {
      this.flush();
    } else if (this.#timer === undefined) {
      this.#timer = this.timer.set(() => {
        this.#timer = undefined;
        this.flush();
      }, ACK_DELAY_MS);
    }
  }

  /** Sends whatever is pending now. */
  flush(): void {
    this.#cancelTimer();
    if (this.#disposed || this.#pendingBytes === 0) return;
    const bytes = this.#pendingBytes;
    this.#pendingBytes = 0;
    this.sendAck(bytes);
  }

  /** The connection is gone: drop what is pending; later renders of its output count for nothing. */
  dispose(): void {
    this.#cancelTimer();
    this.#disposed = true;
    this.#pendingBytes = 0;
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) {
      this.timer.clear(this.#timer);
      this.#timer = undefined;
    }
  }
}
