// limits.update has no request id: the server answers each one, in order, with limits.updated
// or an error. So the page keeps its requests in a queue and hands each answer to the oldest.
// A request the server never answers (the socket closed, or an older server) ends with a
// sentence instead of hanging the limits panel.

import type { LimitField } from "../../common/limits";
import type { ErrorCode } from "../../common/protocol";
import type { LimitsUpdateResult } from "./lab-context";

/** Long enough for a busy server to write four cgroup files; short enough that a learner waits. */
export const LIMITS_ANSWER_TIMEOUT_MS = 10_000;

/** Error codes that answer a limits.update rather than some other frame. */
const ANSWER_CODES: ReadonlySet<ErrorCode> = new Set(["bad_limit", "not_your_session", "not_ready", "rate_limited"]);

const LIMIT_FIELDS: ReadonlySet<string> = new Set<LimitField>(["memoryBytes", "memorySwapBytes", "cpus", "pids"]);

export function isLimitField(field: string | undefined): field is LimitField {
  return field !== undefined && LIMIT_FIELDS.has(field);
}

export type RequestTimer = {
  set(callback: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
};

const windowTimer: RequestTimer = {
  set: (callback, delayMs) => setTimeout(callback, delayMs),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

type Pending = { resolve: (result: LimitsUpdateResult) => void; timer: unknown };

export class PendingLimitUpdates {
  #queue: Pending[] = [];

  constructor(private readonly timer: RequestTimer = windowTimer) {}

  get size(): number {
    return this.#queue.length;
  }

  /** A request was sent; the promise settles with its answer. */
  add(): Promise<LimitsUpdateResult> {
    return new Promise((resolve) => {
      const pending: Pending = { resolve, timer: undefined };
      pending.timer = this.timer.set(() => {
        this.#queue = this.#queue.filter((entry) => entry !== pending);
        resolve({ ok: false, field: null, message: "The lab did not answer the change. Try again." });
      }, LIMITS_ANSWER_TIMEOUT_MS);
      this.#queue.push(pending);
    });
  }

  /** Answers the oldest request; false when none was waiting (the frame is not an answer). */
  answer(result: LimitsUpdateResult): boolean {
    const pending = this.#queue.shift();
    if (!pending) return false;
    this.timer.clear(pending.timer);
    pending.resolve(result);
    return true;
  }

  /** An error frame: answers the oldest request when its code is one a limits.update gets. */
  answerError(code: ErrorCode, message: string, field: string | undefined): boolean {
    if (!ANSWER_CODES.has(code)) return false;
    return this.answer({ ok: false, field: isLimitField(field) ? field : null, message });
  }

  /** The connection is gone: nothing will answer. */
  failAll(message: string): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const pending of queue) {
      this.timer.clear(pending.timer);
      pending.resolve({ ok: false, field: null, message });
    }
  }
}
