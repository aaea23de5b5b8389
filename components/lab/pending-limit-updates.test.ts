import { describe, expect, it } from "vitest";

import type { LimitsUpdateResult } from "./lab-context";
import { LIMITS_ANSWER_TIMEOUT_MS, PendingLimitUpdates, type RequestTimer } from "./pending-limit-updates";

/** A timer the test fires by hand: no clock, no sleeping. */
function manualTimer() {
  const pending = new Map<number, () => void>();
  const delays: number[] = [];
  let next = 1;
  const timer: RequestTimer = {
    set(callback, delayMs) {
      delays.push(delayMs);
      pending.set(next, callback);
      return next++;
    },
    clear(handle) {
      pending.delete(handle as number);
    },
  };
  const fireAll = () => {
    const callbacks = [...pending.values()];
    pending.clear();
    callbacks.forEach((callback) => callback());
  };
  return { timer, fireAll, pendingCount: () => pending.size, delays };
}

const limits = { memoryBytes: 67108864, memorySwapBytes: 67108864, cpus: 0.5, pids: 100 };
const updated: LimitsUpdateResult = {
  ok: true,
  limits,
  cgroupFiles: [{ flag: "--memory", file: "memory/memory.limit_in_bytes", value: "67108864" }],
};

describe("limits.update answers", () => {
  it("go to the request they name, in whatever order they come", async () => {
    const requests = new PendingLimitUpdates(manualTimer().timer);
    const [a, b] = [requests.nextId(), requests.nextId()];
    expect(a).not.toBe(b);
    const first = requests.add(a);
    const second = requests.add(b);
    expect(requests.answerError(b, "--memory-swap is memory plus swap…", "memorySwapBytes")).toBe(true);
    expect(requests.answer(a, updated)).toBe(true);
    expect(await first).toEqual(updated);
    expect(await second).toEqual({ ok: false, field: "memorySwapBytes", message: "--memory-swap is memory plus swap…" });
    expect(requests.size).toBe(0);
  });

  it("are not taken from errors that answer no request, or another page's", () => {
    const requests = new PendingLimitUpdates(manualTimer().timer);
    void requests.add(requests.nextId());
    expect(requests.answerError(undefined, "Invalid pty.resize", undefined)).toBe(false);
    expect(requests.answerError("someone-else", "no", "memoryBytes")).toBe(false);
    expect(requests.size).toBe(1);
  });

  it("name no field the protocol does not know", async () => {
    const requests = new PendingLimitUpdates(manualTimer().timer);
    const id = requests.nextId();
    const answer = requests.add(id);
    requests.answerError(id, "no", "memory");
    expect(await answer).toMatchObject({ ok: false, field: null });
  });

  it("time out with a sentence when the server never answers", async () => {
    const clock = manualTimer();
    const requests = new PendingLimitUpdates(clock.timer);
    const id = requests.nextId();
    const answer = requests.add(id);
    expect(clock.delays).toEqual([LIMITS_ANSWER_TIMEOUT_MS]);
    clock.fireAll();
    expect(await answer).toMatchObject({ ok: false, field: null, message: expect.stringMatching(/did not answer/) });
    expect(requests.answer(id, updated)).toBe(false);
  });

  it("all fail when the connection closes, and their timers stop", async () => {
    const clock = manualTimer();
    const requests = new PendingLimitUpdates(clock.timer);
    const answers = [requests.add(requests.nextId()), requests.add(requests.nextId())];
    requests.failAll("closed");
    expect(clock.pendingCount()).toBe(0);
    expect(await Promise.all(answers)).toEqual([
      { ok: false, field: null, message: "closed" },
      { ok: false, field: null, message: "closed" },
    ]);
    expect(requests.size).toBe(0);
  });
});
