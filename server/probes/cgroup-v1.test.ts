import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { readCgroupSnapshot } from "./cgroup-snapshot";
import { CgroupFormatError } from "./cgroup-text";
import type { V1SessionCgroup } from "../sandbox/cgroup/session-cgroup";
import { parseCfsQuotaUs, parseOomControl, parseV1Bytes, parseV1CpuStat } from "./cgroup-v1";

const V1 = new URL("./fixtures/v1/", import.meta.url).pathname;

/** The session's cgroup as the v1 driver hands it over, pointed at one fixture. A fixture
 *  without some hierarchy has no directory there, as a cgroup that is gone has none. */
function fixtureCgroup(name: string): V1SessionCgroup {
  const root = path.join(V1, name);
  return { version: 1, memory: `${root}/memory`, cpu: `${root}/cpu`, cpuacct: `${root}/cpuacct`, pids: `${root}/pids` };
}

describe("cgroup v1 snapshot", () => {
  it("reads a limited cgroup that was OOM-killed three times, with the file of each value", () => {
    const snapshot = readCgroupSnapshot(fixtureCgroup("limited"));
    expect(snapshot.version).toBe(1);
    expect(snapshot.memory.oomKillCount).toEqual({
      value: 3,
      file: "memory.oom_control",
      path: path.join(V1, "limited/memory/memory.oom_control"),
      missing: false,
    });
    expect(snapshot.memory.usageBytes).toMatchObject({ value: 339968, file: "memory.usage_in_bytes" });
    expect(snapshot.memory.limitBytes).toMatchObject({ value: 64 * 1024 * 1024, file: "memory.limit_in_bytes" });
    expect(snapshot.memory.peakBytes).toMatchObject({ value: 64 * 1024 * 1024, file: "memory.max_usage_in_bytes" });
    // memsw equal to the memory limit: no swap at all (docker --memory-swap = --memory).
    expect(snapshot.memory.swapLimitBytes).toMatchObject({ value: 0, file: "memory.memsw.limit_in_bytes", missing: false });
    expect(snapshot.memory.swapUsageBytes).toMatchObject({ value: 0, file: "memory.memsw.usage_in_bytes" });
    expect(snapshot.pids.current).toMatchObject({ value: 1, file: "pids.current" });
    expect(snapshot.pids.limit).toMatchObject({ value: 20, file: "pids.max" });
    expect(snapshot.pids.limitHitCount).toMatchObject({ value: 5, file: "pids.events" });
    expect(snapshot.cpu.usageNs).toMatchObject({ value: 1046104716, file: "cpuacct.usage", path: path.join(V1, "limited/cpuacct/cpuacct.usage") });
    expect(snapshot.cpu.quotaUs).toMatchObject({ value: 50000, file: "cpu.cfs_quota_us" });
    expect(snapshot.cpu.periodUs).toMatchObject({ value: 100000, file: "cpu.cfs_period_us" });
    expect(snapshot.cpu.elapsedPeriods).toMatchObject({ value: 34, file: "cpu.stat" });
    expect(snapshot.cpu.throttledPeriods).toMatchObject({ value: 18, file: "cpu.stat" });
    expect(snapshot.cpu.throttledNs).toMatchObject({ value: 831836037, file: "cpu.stat" });
  });

  it("counts OOM kills from oom_kill even though failcnt stayed 0 with swap capped", () => {
    // The fixture is what this kernel wrote after three kills with memsw = memory.
    const cgroup = fixtureCgroup("limited");
    expect(fs.readFileSync(`${cgroup.memory}/memory.failcnt`, "utf8")).toBe("0\n");
    expect(fs.readFileSync(`${cgroup.memory}/memory.memsw.failcnt`, "utf8")).toBe("0\n");
    expect(readCgroupSnapshot(cgroup).memory.oomKillCount.value).toBe(3);
  });

  it("reports the kernel's unlimited values as null, not as huge numbers", () => {
    const snapshot = readCgroupSnapshot(fixtureCgroup("unlimited"));
    expect(snapshot.memory.limitBytes).toMatchObject({ value: null, missing: false, file: "memory.limit_in_bytes" });
    expect(snapshot.memory.swapLimitBytes).toMatchObject({ value: null, missing: false });
    expect(snapshot.pids.limit).toMatchObject({ value: null, missing: false, file: "pids.max" });
    expect(snapshot.cpu.quotaUs).toMatchObject({ value: null, missing: false, file: "cpu.cfs_quota_us" });
    expect(snapshot.memory.oomKillCount.value).toBe(0);
    expect(snapshot.pids.limitHitCount.value).toBe(0);
  });

  it("derives the swap allowance as memsw minus memory", () => {
    // The fixture has the memory hierarchy only.
    const snapshot = readCgroupSnapshot(fixtureCgroup("swap-allowed"));
    expect(snapshot.memory.limitBytes.value).toBe(64 * 1024 * 1024);
    expect(snapshot.memory.swapLimitBytes).toMatchObject({ value: 64 * 1024 * 1024, file: "memory.memsw.limit_in_bytes" });
  });

  it("adds up OOM kills and failed forks in child cgroups a learner made", () => {
    // Captured: a hog in a child memory cgroup left oom_kill 1 there and the parent's at 3.
    const snapshot = readCgroupSnapshot(fixtureCgroup("with-child"));
    expect(snapshot.memory.oomKillCount).toMatchObject({ value: 4, path: path.join(V1, "with-child/memory/memory.oom_control") });
    expect(snapshot.pids.limitHitCount.value).toBe(6);
  });

  it("marks swap values missing without swap accounting, with the file they would come from", () => {
    const cgroup = fixtureCgroup("no-swap-accounting");
    const snapshot = readCgroupSnapshot(cgroup);
    expect(snapshot.memory.swapLimitBytes).toEqual({
      value: null,
      file: "memory.memsw.limit_in_bytes",
      path: `${cgroup.memory}/memory.memsw.limit_in_bytes`,
      missing: true,
    });
    expect(snapshot.memory.swapUsageBytes).toMatchObject({ value: null, missing: true });
    expect(snapshot.memory.limitBytes.value).toBe(64 * 1024 * 1024);
  });

  it("reads cpu files from cpu and cpuacct files from cpuacct, and both from a co-mounted cpu,cpuacct", () => {
    const separate = readCgroupSnapshot(fixtureCgroup("limited"));
    expect(separate.cpu.quotaUs.path).toBe(path.join(V1, "limited/cpu/cpu.cfs_quota_us"));
    expect(separate.cpu.throttledNs.path).toBe(path.join(V1, "limited/cpu/cpu.stat"));
    expect(separate.cpu.usageNs.path).toBe(path.join(V1, "limited/cpuacct/cpuacct.usage"));
    const comounted = path.join(V1, "comounted/cpu-cpuacct");
    const snapshot = readCgroupSnapshot({ ...fixtureCgroup("comounted"), cpu: comounted, cpuacct: comounted });
    expect(snapshot.cpu.usageNs).toMatchObject({ value: 1046104716, path: `${comounted}/cpuacct.usage` });
    expect(snapshot.cpu.quotaUs.value).toBe(50000);
    expect(snapshot.cpu.throttledPeriods.value).toBe(18);
  });

  it("marks the readings of a hierarchy the session has no directory in as missing, with the path they would have", () => {
    const cgroup = { ...fixtureCgroup("limited"), cpuacct: path.join(V1, "limited/no-cpuacct"), pids: path.join(V1, "limited/no-pids") };
    const snapshot = readCgroupSnapshot(cgroup);
    expect(snapshot.pids.limit).toEqual({ value: null, file: "pids.max", path: `${cgroup.pids}/pids.max`, missing: true });
    expect(snapshot.pids.limitHitCount).toMatchObject({ value: null, missing: true });
    expect(snapshot.cpu.usageNs).toEqual({ value: null, file: "cpuacct.usage", path: `${cgroup.cpuacct}/cpuacct.usage`, missing: true });
    expect(snapshot.cpu.quotaUs.value).toBe(50000);
  });

  it("reads a removed session cgroup as all missing instead of throwing", () => {
    const snapshot = readCgroupSnapshot(fixtureCgroup("no-such-session"));
    expect(snapshot.memory.usageBytes.missing).toBe(true);
    expect(snapshot.memory.oomKillCount.missing).toBe(true);
    expect(snapshot.pids.limitHitCount.missing).toBe(true);
    expect(snapshot.cpu.throttledNs.missing).toBe(true);
  });
});

describe("cgroup v1 parsers", () => {
  it("treats the largest page counter as no limit on 4 KiB and 64 KiB page kernels", () => {
    expect(parseV1Bytes("9223372036854771712\n", "memory.limit_in_bytes")).toBeNull();
    expect(parseV1Bytes("9223372036854710272\n", "memory.limit_in_bytes")).toBeNull();
    expect(parseV1Bytes("268435456\n", "memory.limit_in_bytes")).toBe(268435456);
  });

  it("reads oom_control, and no count on kernels without the oom_kill line", () => {
    expect(parseOomControl("oom_kill_disable 0\nunder_oom 1\noom_kill 7\n")).toEqual({ oomKillDisabled: false, underOom: true, oomKillCount: 7 });
    expect(parseOomControl("oom_kill_disable 1\nunder_oom 0\n").oomKillCount).toBeNull();
  });

  it("reads -1 as no CPU quota", () => {
    expect(parseCfsQuotaUs("-1\n")).toBeNull();
    expect(parseCfsQuotaUs("50000\n")).toBe(50000);
  });

  it("reads cpu.stat's bandwidth counters, keeping nanoseconds", () => {
    expect(parseV1CpuStat("nr_periods 23\nnr_throttled 18\nthrottled_time 831836037\nnr_bursts 0\nburst_time 0\n")).toEqual({
      elapsedPeriods: 23,
      throttledPeriods: 18,
      throttledNs: 831836037,
    });
  });

  it("rejects text that is not the documented format, naming the file", () => {
    expect(() => parseV1Bytes("lots\n", "memory.limit_in_bytes")).toThrow(CgroupFormatError);
    expect(() => parseV1Bytes("lots\n", "memory.limit_in_bytes")).toThrow(/memory\.limit_in_bytes/);
    expect(() => parseOomControl("under_oom 0\n")).toThrow(/oom_kill_disable/);
  });
});
