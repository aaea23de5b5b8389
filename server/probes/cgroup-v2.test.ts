import path from "node:path";

import { describe, expect, it } from "vitest";

import { readCgroupSnapshot } from "./cgroup-snapshot";
import { parseFlatKeyed, parseIntegerOrMax } from "./cgroup-text";
import { parseCpuMax, parseMemoryEvents, parseV2CpuStat } from "./cgroup-v2";

const V2 = new URL("./fixtures/v2/", import.meta.url).pathname;

function unified(name: string) {
  return { version: 2 as const, dir: path.join(V2, name) };
}

describe("cgroup v2 snapshot", () => {
  it("reads a limited cgroup, each value with its file", () => {
    const snapshot = readCgroupSnapshot(unified("limited"));
    expect(snapshot.version).toBe(2);
    expect(snapshot.memory.oomKillCount).toEqual({
      value: 3,
      file: "memory.events",
      path: path.join(V2, "limited/memory.events"),
      missing: false,
    });
    expect(snapshot.memory.usageBytes).toMatchObject({ value: 339968, file: "memory.current" });
    expect(snapshot.memory.limitBytes).toMatchObject({ value: 64 * 1024 * 1024, file: "memory.max" });
    expect(snapshot.memory.peakBytes).toMatchObject({ value: 64 * 1024 * 1024, file: "memory.peak" });
    expect(snapshot.memory.swapUsageBytes).toMatchObject({ value: 0, file: "memory.swap.current" });
    expect(snapshot.memory.swapLimitBytes).toMatchObject({ value: 0, file: "memory.swap.max" });
    expect(snapshot.pids.current).toMatchObject({ value: 1, file: "pids.current" });
    expect(snapshot.pids.limit).toMatchObject({ value: 20, file: "pids.max" });
    expect(snapshot.pids.limitHitCount).toMatchObject({ value: 5, file: "pids.events" });
    // v2 counts microseconds; the snapshot is in nanoseconds for both versions.
    expect(snapshot.cpu.usageNs).toMatchObject({ value: 1046104000, file: "cpu.stat" });
    expect(snapshot.cpu.quotaUs).toMatchObject({ value: 50000, file: "cpu.max" });
    expect(snapshot.cpu.periodUs).toMatchObject({ value: 100000, file: "cpu.max" });
    expect(snapshot.cpu.elapsedPeriods.value).toBe(34);
    expect(snapshot.cpu.throttledPeriods.value).toBe(18);
    expect(snapshot.cpu.throttledNs).toMatchObject({ value: 831836000, file: "cpu.stat" });
  });

  it('reports "max" as null', () => {
    const snapshot = readCgroupSnapshot(unified("unlimited"));
    expect(snapshot.memory.limitBytes).toMatchObject({ value: null, missing: false, file: "memory.max" });
    expect(snapshot.memory.swapLimitBytes).toMatchObject({ value: null, missing: false, file: "memory.swap.max" });
    expect(snapshot.pids.limit).toMatchObject({ value: null, missing: false });
    expect(snapshot.cpu.quotaUs).toMatchObject({ value: null, missing: false, file: "cpu.max" });
    expect(snapshot.cpu.periodUs.value).toBe(100000);
  });

  it("marks files an older kernel lacks as missing, and keeps reading the rest", () => {
    const snapshot = readCgroupSnapshot(unified("older-kernel"));
    expect(snapshot.memory.peakBytes).toEqual({
      value: null,
      file: "memory.peak",
      path: path.join(V2, "older-kernel/memory.peak"),
      missing: true,
    });
    expect(snapshot.memory.swapLimitBytes).toMatchObject({ value: null, missing: true, file: "memory.swap.max" });
    expect(snapshot.memory.swapUsageBytes).toMatchObject({ value: null, missing: true });
    expect(snapshot.memory.limitBytes.value).toBe(256 * 1024 * 1024);
    expect(snapshot.memory.oomKillCount.value).toBe(0);
  });

  it("adds up child cgroups' pids.events where the kernel counts them only locally", () => {
    // older-kernel has no pids.events.local: its child cgroup's "max 2" is not in the parent's file.
    expect(readCgroupSnapshot(unified("older-kernel")).pids.limitHitCount).toMatchObject({ value: 2, file: "pids.events" });
  });

  it("reads a removed session cgroup as all missing instead of throwing", () => {
    const snapshot = readCgroupSnapshot(unified("no-such-session"));
    expect(snapshot.memory.usageBytes.missing).toBe(true);
    expect(snapshot.cpu.usageNs.missing).toBe(true);
    expect(snapshot.cpu.quotaUs.missing).toBe(true);
    expect(snapshot.pids.limitHitCount.missing).toBe(true);
  });
});

describe("cgroup v2 parsers", () => {
  it("reads cpu.max with and without a quota", () => {
    expect(parseCpuMax("50000 100000\n")).toEqual({ quotaUs: 50000, periodUs: 100000 });
    expect(parseCpuMax("max 100000\n")).toEqual({ quotaUs: null, periodUs: 100000 });
    expect(() => parseCpuMax("50000\n")).toThrow(/cpu\.max/);
  });

  it("reads memory.events, including keys newer kernels add", () => {
    const text = "low 0\nhigh 2\nmax 1289\noom 3\noom_kill 4\noom_group_kill 1\nsock_throttled 0\n";
    expect(parseMemoryEvents(text)).toEqual({ maxCount: 1289, oomCount: 3, oomKillCount: 4 });
    expect(parseFlatKeyed(text, "memory.events").get("sock_throttled")).toBe(0);
  });

  it("reads cpu.stat without the bandwidth lines when the cpu controller is not enabled", () => {
    expect(parseV2CpuStat("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")).toEqual({
      usageNs: 1500000,
      elapsedPeriods: null,
      throttledPeriods: null,
      throttledNs: null,
    });
  });

  it("reads single values and max", () => {
    expect(parseIntegerOrMax("max\n", "pids.max")).toBeNull();
    expect(parseIntegerOrMax("100\n", "pids.max")).toBe(100);
    expect(() => parseIntegerOrMax("", "pids.max")).toThrow(/pids\.max/);
  });
});
