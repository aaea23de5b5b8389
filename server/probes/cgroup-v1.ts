// cgroup v1 counters of a session. Each controller is its own hierarchy (or a few mounted
// together, "cpu,cpuacct"), so each reading comes from the session's directory in the
// hierarchy of its controller. Formats: Documentation/admin-guide/cgroup-v1/memory.rst,
// pids.rst and scheduler/sched-bwc.rst.
import { type CgroupReading, type CgroupSnapshot, missing, present, readCgroupText, readReading, sumOverSubtree } from "./cgroup-reading";
import type { V1SessionCgroup } from "../sandbox/cgroup/session-cgroup";
import { CgroupFormatError, parseFlatKeyed, parseInteger, parseIntegerOrMax, parsePidsEvents } from "./cgroup-text";

/**
 * v1 has no "max": an unset memory limit reads back as the largest page counter in bytes,
 * LONG_MAX rounded down to a page (9223372036854771712 with 4 KiB pages, 9223372036854710272
 * with 64 KiB pages). Anything at or above 2^62 bytes (4 EiB) is that "no limit". Such values
 * are past JavaScript's exact integers, but only their size matters for this comparison.
 */
const V1_NO_LIMIT_FLOOR = 2 ** 62;

/** memory.limit_in_bytes, memory.memsw.limit_in_bytes: bytes, or null for no limit. */
export function parseV1Bytes(text: string, file: string): number | null {
  const bytes = parseInteger(text, file);
  return bytes >= V1_NO_LIMIT_FLOOR ? null : bytes;
}

export interface OomControl {
  /** oom_kill_disable 1: the cgroup's tasks wait instead of being killed at the limit. */
  oomKillDisabled: boolean;
  /** under_oom 1: the cgroup is out of memory right now. */
  underOom: boolean;
  /** oom_kill N (Linux 4.13+): processes the OOM killer killed in this very cgroup. */
  oomKillCount: number | null;
}

/**
 * memory.oom_control. The OOM-kill count is its oom_kill line — not memory.failcnt: with swap
 * capped, memory.failcnt and memory.memsw.failcnt both stayed 0 through three OOM kills on a
 * 6.18 kernel (fixtures/v1/limited).
 */
export function parseOomControl(text: string, file = "memory.oom_control"): OomControl {
  const entries = parseFlatKeyed(text, file);
  const disabled = entries.get("oom_kill_disable");
  const under = entries.get("under_oom");
  if (disabled === undefined || under === undefined) throw new CgroupFormatError(file, text, "oom_kill_disable and under_oom lines");
  return { oomKillDisabled: disabled === 1, underOom: under === 1, oomKillCount: entries.get("oom_kill") ?? null };
}

/** cpu.cfs_quota_us: microseconds per period, or null for -1 (no limit). */
export function parseCfsQuotaUs(text: string, file = "cpu.cfs_quota_us"): number | null {
  const quota = parseInteger(text, file);
  return quota < 0 ? null : quota;
}

export interface V1CpuStat {
  elapsedPeriods: number | null;
  throttledPeriods: number | null;
  /** throttled_time is already in nanoseconds on v1. */
  throttledNs: number | null;
}

/** cpu.stat of the cpu hierarchy (CFS bandwidth statistics). */
export function parseV1CpuStat(text: string, file = "cpu.stat"): V1CpuStat {
  const entries = parseFlatKeyed(text, file);
  return {
    elapsedPeriods: entries.get("nr_periods") ?? null,
    throttledPeriods: entries.get("nr_throttled") ?? null,
    throttledNs: entries.get("throttled_time") ?? null,
  };
}

function memoryReadings(dir: string): CgroupSnapshot["memory"] {
  const usageBytes = readReading(dir, "memory.usage_in_bytes", parseInteger);
  const limitBytes = readReading(dir, "memory.limit_in_bytes", parseV1Bytes);
  const peakBytes = readReading(dir, "memory.max_usage_in_bytes", parseInteger);
  // memsw files exist only with swap accounting (CONFIG_MEMCG_SWAP, not swapaccount=0). They
  // count memory plus swap; the swap share is the difference.
  const memswLimit = readReading(dir, "memory.memsw.limit_in_bytes", parseV1Bytes);
  const memswUsage = readReading(dir, "memory.memsw.usage_in_bytes", parseInteger);
  const swapLimitBytes: CgroupReading =
    memswLimit.missing || memswLimit.value === null || limitBytes.value === null
      ? memswLimit
      : { ...memswLimit, value: Math.max(0, memswLimit.value - limitBytes.value) };
  const swapUsageBytes: CgroupReading =
    memswUsage.missing || memswUsage.value === null || usageBytes.value === null
      ? memswUsage
      : // The two files are read a moment apart; a negative difference is that moment, not swap.
        { ...memswUsage, value: Math.max(0, memswUsage.value - usageBytes.value) };
  // v1 counts OOM kills only in the cgroup where they happened (v2's memory.events is
  // hierarchical), so a hog in a child cgroup of the learner's own is added up by hand.
  const oomKillCount = sumOverSubtree(dir, "memory.oom_control", (text, file) => parseOomControl(text, file).oomKillCount);
  return { usageBytes, limitBytes, peakBytes, swapUsageBytes, swapLimitBytes, oomKillCount };
}

function pidsReadings(dir: string): CgroupSnapshot["pids"] {
  return {
    current: readReading(dir, "pids.current", parseInteger),
    limit: readReading(dir, "pids.max", parseIntegerOrMax),
    // Like OOM kills, v1 counts a failed fork only in the cgroup of the process that forked.
    limitHitCount: sumOverSubtree(dir, "pids.events", parsePidsEvents),
  };
}

function cpuReadings(cpuDir: string, cpuacctDir: string): CgroupSnapshot["cpu"] {
  const statText = readCgroupText(cpuDir, "cpu.stat");
  const stat = statText === null ? null : parseV1CpuStat(statText);
  const fromStat = (value: number | null | undefined): CgroupReading =>
    value === null || value === undefined ? missing(cpuDir, "cpu.stat") : present(cpuDir, "cpu.stat", value);
  return {
    usageNs: readReading(cpuacctDir, "cpuacct.usage", parseInteger),
    quotaUs: readReading(cpuDir, "cpu.cfs_quota_us", parseCfsQuotaUs),
    periodUs: readReading(cpuDir, "cpu.cfs_period_us", parseInteger),
    elapsedPeriods: fromStat(stat?.elapsedPeriods),
    throttledPeriods: fromStat(stat?.throttledPeriods),
    throttledNs: fromStat(stat?.throttledNs),
  };
}

/** Each controller's files from the session's directory in that controller's hierarchy (cpu
 *  and cpuacct may be one directory: "cpu,cpuacct"). */
export function readV1Snapshot(cgroup: V1SessionCgroup): CgroupSnapshot {
  return {
    version: 1,
    memory: memoryReadings(cgroup.memory),
    pids: pidsReadings(cgroup.pids),
    cpu: cpuReadings(cgroup.cpu, cgroup.cpuacct),
  };
}
