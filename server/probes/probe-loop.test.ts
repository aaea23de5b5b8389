import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { readCgroupSnapshot } from "./cgroup-snapshot";
import { readHostNamespaces } from "./namespaces";
import { MIN_PROBE_INTERVAL_MS, ProbeLoop } from "./probe-loop";
import type { ProbeSnapshot, ProbeTarget } from "./probe-snapshot";
import type { SnapshotDelta } from "./snapshot-diff";

const V2 = new URL("./fixtures/v2/limited", import.meta.url).pathname;
const TARGET: ProbeTarget = { cgroup: { version: 2, dir: V2 } };

/** A reader whose memory usage is whatever the test last set, counting its calls. */
function scriptedReader() {
  const base: ProbeSnapshot = { takenAtMs: 0, hostNamespaces: readHostNamespaces(), cgroup: readCgroupSnapshot(TARGET.cgroup), processes: [] };
  const reader = {
    usageBytes: 339968,
    reads: 0,
    read: (_target: ProbeTarget, takenAtMs: number): ProbeSnapshot => {
      reader.reads++;
      const snapshot = structuredClone(base);
      snapshot.takenAtMs = takenAtMs;
      snapshot.cgroup.memory.usageBytes.value = reader.usageBytes;
      return snapshot;
    },
  };
  return reader;
}

describe("ProbeLoop", () => {
  let loop: ProbeLoop | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
  });
  afterEach(() => {
    loop?.stop();
    vi.useRealTimers();
  });

  it("sends the whole state first, then only changes, and nothing while nothing changes", async () => {
    const reader = scriptedReader();
    const deltas: SnapshotDelta[] = [];
    loop = new ProbeLoop({ createReader: () => reader.read });
    loop.start(TARGET, (delta) => {
      deltas.push(delta);
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(deltas.map((d) => d.kind)).toEqual(["full"]);

    await vi.advanceTimersByTimeAsync(500);
    expect(reader.reads).toBe(6);
    expect(deltas).toHaveLength(1);

    reader.usageBytes = 52_428_800;
    await vi.advanceTimersByTimeAsync(100);
    expect(deltas).toHaveLength(2);
    expect(deltas[1]).toEqual({ kind: "change", takenAtMs: 1_700_000_000_600, cgroup: { memory: { usageBytes: { value: 52_428_800 } } } });
    expect(loop.latest()?.cgroup.memory.usageBytes.value).toBe(52_428_800);
  });

  it("reads at most 10 times a second, and less often when asked", async () => {
    const fast = scriptedReader();
    loop = new ProbeLoop({ createReader: () => fast.read });
    loop.start(TARGET, () => undefined);
    await vi.advanceTimersByTimeAsync(1000);
    // At 0, 100, …, 1000 ms: the first read is immediate.
    expect(fast.reads).toBe(11);
    loop.stop();

    const slow = scriptedReader();
    loop = new ProbeLoop({ intervalMs: 250, createReader: () => slow.read });
    loop.start(TARGET, () => undefined);
    await vi.advanceTimersByTimeAsync(1000);
    expect(slow.reads).toBe(5);
  });

  it("refuses an interval below 100 ms", () => {
    expect(() => new ProbeLoop({ intervalMs: 50 })).toThrow(RangeError);
    expect(() => new ProbeLoop({ intervalMs: Number.NaN })).toThrow(/at least 100/);
    expect(new ProbeLoop({ intervalMs: MIN_PROBE_INTERVAL_MS }).intervalMs).toBe(100);
  });

  it("never starts a read while the listener of the previous one is still busy", async () => {
    const reader = scriptedReader();
    let release: () => void = () => undefined;
    loop = new ProbeLoop({ createReader: () => reader.read });
    loop.start(TARGET, () => new Promise<void>((resolve) => (release = resolve)));
    await vi.advanceTimersByTimeAsync(1000);
    expect(reader.reads).toBe(1);
    release();
    // The listener took a second, longer than the interval: the next read follows at once.
    await vi.advanceTimersByTimeAsync(0);
    expect(reader.reads).toBe(2);
  });

  it("calls no listener and reads nothing after stop, even when stopped mid-tick", async () => {
    const reader = scriptedReader();
    const deltas: SnapshotDelta[] = [];
    let release: () => void = () => undefined;
    loop = new ProbeLoop({ createReader: () => reader.read });
    loop.start(TARGET, (delta) => {
      deltas.push(delta);
      return new Promise<void>((resolve) => (release = resolve));
    });
    await vi.advanceTimersByTimeAsync(0);
    loop.stop();
    release();
    reader.usageBytes = 1;
    await vi.advanceTimersByTimeAsync(1000);
    expect(reader.reads).toBe(1);
    expect(deltas).toHaveLength(1);
    expect(loop.running).toBe(false);
    loop.stop();
  });

  it("starts again from a whole snapshot after a restart, once the old tick is done", async () => {
    const reader = scriptedReader();
    const kinds: string[] = [];
    let release: () => void = () => undefined;
    loop = new ProbeLoop({ createReader: () => reader.read });
    loop.start(TARGET, () => new Promise<void>((resolve) => (release = resolve)));
    await vi.advanceTimersByTimeAsync(0);
    loop.stop();
    loop.start(TARGET, (delta) => {
      kinds.push(delta.kind);
    });
    await vi.advanceTimersByTimeAsync(500);
    expect(reader.reads).toBe(1);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(reader.reads).toBe(2);
    expect(kinds).toEqual(["full"]);
  });

  it("reports a failed read and keeps polling", async () => {
    const reader = scriptedReader();
    const errors: string[] = [];
    let failNext = true;
    loop = new ProbeLoop({
      createReader: () => (target, takenAtMs) => {
        if (failNext) {
          failNext = false;
          throw new Error("memory.current: expected an integer");
        }
        return reader.read(target, takenAtMs);
      },
      onError: (error) => errors.push(error.message),
    });
    const kinds: string[] = [];
    loop.start(TARGET, (delta) => {
      kinds.push(delta.kind);
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(errors).toEqual(["memory.current: expected an integer"]);
    expect(kinds).toEqual(["full"]);
  });

  it("keeps its pace when the wall clock is set back during a tick", async () => {
    const reader = scriptedReader();
    let wallClock = 1_700_000_000_000;
    loop = new ProbeLoop({ createReader: () => reader.read, now: () => wallClock });
    loop.start(TARGET, () => {
      wallClock -= 3_600_000;
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(reader.reads).toBe(2);
  });

  it("runs one session at a time", () => {
    loop = new ProbeLoop({ createReader: () => scriptedReader().read });
    loop.start(TARGET, () => undefined);
    expect(() => loop?.start(TARGET, () => undefined)).toThrow(/already running/);
  });
});
