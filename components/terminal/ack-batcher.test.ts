import { describe, expect, it } from "vitest";

import { ACK_BATCH_BYTES, ACK_DELAY_MS, AckBatcher, type AckTimer } from "./ack-batcher";

/** A timer the test fires by hand: no clock, no sleeping. */
function manualTimer() {
  const pending = new Map<number, () => void>();
  let nextHandle = 1;
  const delays: number[] = [];
  const timer: AckTimer = {
    set(callback, delayMs) {
      delays.push(delayMs);
      const handle = nextHandle++;
      pending.set(handle, callback);
      return handle;
    },
    clear(handle) {
      pending.delete(handle as number);
    },
  };
  const fireAll = () => {
    const callbacks = [...pending.values()];
    pending.clear();
    for (const callback of callbacks) callback();
  };
  return { timer, fireAll, pendingCount: () => pending.size, delays };
}

describe("AckBatcher", () => {
  it("acks small outputs together once the delay passes", () => {
    const acks: number[] = [];
    const clock = manualTimer();
    const batcher = new AckBatcher((bytes) => acks.push(bytes), clock.timer);
    batcher.rendered(100);
    batcher.rendered(23);
    expect(acks).toEqual([]);
    expect(clock.pendingCount()).toBe(1);
    expect(clock.delays).toEqual([ACK_DELAY_MS]);
    clock.fireAll();
    expect(acks).toEqual([123]);
  });

  it("acks at once when a batch is full, and cancels the pending timer", () => {
    const acks: number[] = [];
    const clock = manualTimer();
    const batcher = new AckBatcher((bytes) => acks.push(bytes), clock.timer);
    batcher.rendered(10);
    batcher.rendered(ACK_BATCH_BYTES);
    expect(acks).toEqual([ACK_BATCH_BYTES + 10]);
    expect(clock.pendingCount()).toBe(0);
  });

  it("never acks more bytes than were rendered, over many chunks", () => {
    const acks: number[] = [];
    const clock = manualTimer();
    const batcher = new AckBatcher((bytes) => acks.push(bytes), clock.timer);
    for (let i = 0; i < 100; i++) batcher.rendered(1000);
    clock.fireAll();
    expect(acks.reduce((sum, bytes) => sum + bytes, 0)).toBe(100_000);
    expect(acks.every((bytes) => bytes > 0)).toBe(true);
  });

  it("sends nothing after it is disposed", () => {
    const acks: number[] = [];
    const clock = manualTimer();
    const batcher = new AckBatcher((bytes) => acks.push(bytes), clock.timer);
    batcher.rendered(500);
    batcher.dispose();
    clock.fireAll();
    batcher.rendered(ACK_BATCH_BYTES * 2);
    batcher.flush();
    expect(acks).toEqual([]);
  });
});
