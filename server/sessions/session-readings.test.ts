// A session's readings on a fake clock with a scripted reader: their pace, their changes, and
// what stops them.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { ProbeSnapshot } from "../../common/lab-state";
import { type ProbeTarget, type SnapshotDelta, readCgroupSnapshot, readHostNamespaces } from "../probes";
import { CHECK_INTERVAL_MS, SessionReadings, WATCHED_INTERVAL_MS } from "./session-readings";

const V2 = new URL("../probes/fixtures/v2/limited", import.meta.url).pathname;
const TARGET: ProbeTarget = { cgroup: { version: 2, dir: V2 } };

/** A reader whose memory usage is whatever the test last set, counting its calls. */
function scriptedReader() {
  const base: ProbeSnapshot = { takenAtMs: 0, hostNamespaces: readHostNamespaces(), cgroup: readCgroupSnapshot(TARGET.cgroup), processes: [] };
  const reader = {
    usageBytes: 339968,
    reads: 0,
    fail: null as string | null,
    read: (_target: ProbeTarget, takenAtMs: number): ProbeSnapshot => {
      reader.reads++;
      if (reader.fail) {
        const message = reader.fail;
        reader.fail = null;
        throw new Error(message);
      }
      const snapshot = structuredClone(base);
      snapshot.takenAtMs = takenAtMs;
      snapshot.cgroup.memory.usageBytes.value = reader.usageBytes;
      return snapshot;
    },
  };
  return reader;
}

describe("a session's readings", () => {
  let readings: SessionReadings | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
  });
  afterEach(() => {
    readings?.stop();
    vi.useRealTimers();
  });

  function start(reader: ReturnType<typeof scriptedReader>, extra: { onError?: (e: Error) => void; now?: () => number } = {}) {
    const seen: Array<SnapshotDelta | null> = [];
    readings = new SessionReadings(TARGET, (_snapshot, change) => seen.push(change), { createReader: () => reader.read, ...extra });
    return seen;
  }

  it("reads nothing until asked, then at the pace it is set to", async () => {
    const reader = scriptedReader();
    start(reader);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(reader.reads).toBe(0);

    readings?.setIntervalMs(CHECK_INTERVAL_MS);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(reader.reads).toBe(4); // at once, then once a second

    readings?.setIntervalMs(WATCHED_INTERVAL_MS);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(reader.reads).toBe(14);

    readings?.setIntervalMs(null);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(reader.reads).toBe(14);
  });

  it("hands on the whole snapshot first, then only what changed, null while nothing does", async () => {
    const reader = scriptedReader();
    const seen = start(reader);
    readings?.setIntervalMs(WATCHED_INTERVAL_MS);
    await vi.advanceTimersByTimeAsync(200);
    expect(seen.map((c) => c?.kind ?? null)).toEqual(["full", null, null]);
    reader.usageBytes = 52_428_800;
    await vi.advanceTimersByTimeAsync(100);
    expect(seen.at(-1)).toEqual({ kind: "change", takenAtMs: 1_700_000_000_300, cgroup: { memory: { usageBytes: { value: 52_428_800 } } } });
    expect(readings?.latest()?.cgroup.memory.usageBytes.value).toBe(52_428_800);
  });

  it("reads at once when a page starts watching, without waiting for a slow tick", async () => {
    const reader = scriptedReader();
    start(reader);
    readings?.setIntervalMs(CHECK_INTERVAL_MS);
    await vi.advanceTimersByTimeAsync(10);
    expect(reader.reads).toBe(1);
    readings?.readSoon();
    await vi.advanceTimersByTimeAsync(1);
    expect(reader.reads).toBe(2);
  });

  it("reports a failed reading once and goes on", async () => {
    const reader = scriptedReader();
    const errors: string[] = [];
    reader.fail = "memory.current: expected an integer";
    const seen = start(reader, { onError: (e) => errors.push(e.message) });
    readings?.setIntervalMs(WATCHED_INTERVAL_MS);
    await vi.advanceTimersByTimeAsync(100);
    expect(errors).toEqual(["memory.current: expected an integer"]);
    expect(seen.map((c) => c?.kind ?? null)).toEqual(["full"]);
  });

  it("calls no listener after stop, and ignores a pace set after it", async () => {
    const reader = scriptedReader();
    const seen = start(reader);
    readings?.setIntervalMs(WATCHED_INTERVAL_MS);
    await vi.advanceTimersByTimeAsync(0);
    readings?.stop();
    readings?.setIntervalMs(WATCHED_INTERVAL_MS);
    readings?.readSoon();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(seen).toHaveLength(1);
  });

  it("keeps its pace when the wall clock is set back", async () => {
    const reader = scriptedReader();
    let wallClock = 1_700_000_000_000;
    start(reader, { now: () => wallClock });
    readings?.setIntervalMs(WATCHED_INTERVAL_MS);
    await vi.advanceTimersByTimeAsync(0);
    wallClock -= 3_600_000;
    await vi.advanceTimersByTimeAsync(100);
    expect(reader.reads).toBe(2);
  });
});
