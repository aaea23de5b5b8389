// Each limits.update carries a request id that the server echoes in the limits.updated or
// error frame answering it, so an answer always reaches its own request, whatever else the
// socket carries meanwhile. A request the server never answers (the socket closed) ends with
// a sentence instead of hanging the limits panel.

import type { LimitField } from "../../common/limits";
import type { LimitsUpdateResult } from "./lab-context";

/** Long enough for a busy server to write four cgroup files; short enough that a learner waits. */
export const LIMITS_ANSWER_TIMEOUT_MS = 10_000;

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
  #pending = new Map<string, Pending>();
  #counter = 0;

  constructor(private readonly timer: RequestTimer = windowTimer) {}

  get size(): number {
    return this.#pending.size;
  }

  /** A fresh id for the next request (unique on this page). */
  nextId(): string {
    this.#counter += 1;
    return `limits-${this.#counter}`;
  }

  /** The request `requestId` was sent; the promise settles with its answer. */
  add(requestId: string): Promise<LimitsUpdateResult> {
    return new Promise((resolve) => {
      const pending: Pending = { resolve, timer: undefined };
      pending.timer = this.timer.set(() => {
        this.#pending.delete(requestId);
        resolve({ ok: false, field: null, message: "The lab did not answer the change. Try again." });
      }, LIMITS_ANSWER_TIMEOUT_MS);
      this.#pending.set(requestId, pending);
    });
  }

  /** Answers request `requestId`; false when no such request waits (the frame is not ours). */
  answer(requestId: string, result: LimitsUpdateResult): boolean {
    const pending = this.#pending.get(requestId);
    if (!pending) return false;
    this.#pending.delete(requestId);
    this.timer.clear(pending.timer);
    pending.resolve(result);
    return true;
  }

  /** An error frame: answers the request it names, if it names one of ours. */
  answerError(requestId: string | undefined, message: string, field: string | undefined): boolean {
    if (requestId === undefined) return false;
    return this.answer(requestId, { ok: false, field: isLimitField(field) ? field : null, message });
  }

  /** The connection is gone: nothing will answer. */
  failAll(message: string): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of pending) {
      this.timer.clear(entry.timer);
      entry.resolve({ ok: false, field: null, message });
    }
  }
}
