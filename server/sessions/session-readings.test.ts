// A session's readings on a fake clock with a scripted reader: their pace, their changes, and
// what stops them.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { ProbeSnapshot } from "../../common/lab-state";
import { type ProbeTarget, type SnapshotDelta, readCgroupSnapshot, readHostNamespaces } from "../probes";
import { CHECK_INTERVAL_MS, MIN_WAKE_GAP_MS, ProbeScheduler, SLICE_MS, SessionReadings, WATCHED_INTERVAL_MS } from "./session-readings";

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
    const { now, ...rest } = extra;
    const scheduler = new ProbeScheduler(now ? { now } : {});
    readings = new SessionReadings(TARGET, (_snapshot, change) => seen.push(change), { createReader: () => reader.read, scheduler, ...rest });
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

describe("the server's one scheduler of readings", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** `count` sessions read by one scheduler; each reading costs `cost.ms` on the fake clock. */
  function sessions(count: number, cost: { ms: number }) {
    let elapsed = 0;
    const scheduler = new ProbeScheduler({ elapsed: () => elapsed, log: { warn: () => undefined } as never });
    let reads = 0;
    const base: ProbeSnapshot = { takenAtMs: 0, hostNamespaces: readHostNamespaces(), cgroup: readCgroupSnapshot(TARGET.cgroup), processes: [] };
    const all = Array.from({ length: count }, () => new SessionReadings(TARGET, () => undefined, {
      scheduler,
      createReader: () => (_target, takenAtMs) => {
        reads++;
        elapsed += cost.ms;
        return { ...base, takenAtMs };
      },
    }));
    return { scheduler, all, reads: () => reads };
  }

  it("reads a thousand sessions in a few wake-ups a second, not a timer each", async () => {
    const { scheduler, all, reads } = sessions(1000, { ms: 0 });
    // Sessions start at different moments, as learners join.
    for (const [i, readings] of all.entries()) {
      if (i % 100 === 0) await vi.advanceTimersByTimeAsync(7);
      readings.setIntervalMs(CHECK_INTERVAL_MS);
    }
    const before = { reads: reads(), rounds: scheduler.rounds };
    await vi.advanceTimersByTimeAsync(10_000);
    expect(reads() - before.reads).toBeGreaterThanOrEqual(9_900);
    expect(reads() - before.reads).toBeLessThanOrEqual(10_100);
    // At most one wake-up per MIN_WAKE_GAP_MS.
    expect(scheduler.rounds - before.rounds).toBeLessThanOrEqual(10_000 / MIN_WAKE_GAP_MS + 1);
    for (const readings of all) readings.stop();
    expect(scheduler.size).toBe(0);
  });

  it("gives the event loop back after SLICE_MS of readings, and finishes the round after", async () => {
    const { scheduler, all, reads } = sessions(10, { ms: 1 });
    for (const readings of all) readings.setIntervalMs(WATCHED_INTERVAL_MS);
    await vi.advanceTimersByTimeAsync(0);
    // 1 ms a reading: SLICE_MS readings in the first turn, then the event loop is given back.
    expect(reads()).toBe(SLICE_MS);
    // The rest in later turns, still within the same wake-up's round.
    await vi.advanceTimersByTimeAsync(MIN_WAKE_GAP_MS - 1);
    expect(reads()).toBe(10);
    expect(scheduler.rounds).toBe(Math.ceil(10 / SLICE_MS));
    for (const readings of all) readings.stop();
  });

  it("reads every session less often while the readings cost more than the budget, and back to pace once they do not", async () => {
    const cost = { ms: 2 };
    const { scheduler, all, reads } = sessions(20, cost);
    for (const readings of all) readings.setIntervalMs(WATCHED_INTERVAL_MS);
    // 20 sessions ten times a second at 2 ms: 40 % of a core, eight times the budget.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(scheduler.stretch).toBeGreaterThan(5);
    let before = reads();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(reads() - before).toBeLessThan(200 / 4);

    cost.ms = 0;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(scheduler.stretch).toBeLessThan(1.1);
    before = reads();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(reads() - before).toBeGreaterThanOrEqual(180);
    for (const readings of all) readings.stop();
  });
});
