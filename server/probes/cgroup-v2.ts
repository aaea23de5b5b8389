// cgroup v2 counters of a session: one directory holds every controller's files. Formats:
// Documentation/admin-guide/cgroup-v2.rst ("Memory/PID/CPU Interface Files").
import { type CgroupReading, type CgroupSnapshot, missing, present, readCgroupText, readReading, sumOverSubtree } from "./cgroup-reading";
import { CgroupFormatError, parseFlatKeyed, parseInteger, parseIntegerOrMax, parsePidsEvents } from "./cgroup-text";

export interface CpuMax {
  /** $MAX: microseconds the group may run per period, null for "max" (no limit). */
  quotaUs: number | null;
  periodUs: number;
}

/** cpu.max: "$MAX $PERIOD", e.g. "50000 100000" or "max 100000". */
export function parseCpuMax(text: string, file = "cpu.max"): CpuMax {
  const [max, period, extra] = text.trim().split(/\s+/);
  if (max === undefined || period === undefined || extra !== undefined) throw new CgroupFormatError(file, text, '"$MAX $PERIOD"');
  return { quotaUs: parseIntegerOrMax(max, file), periodUs: parseInteger(period, file) };
}

export interface MemoryEvents {
  /** Times usage was about to go over memory.max. */
  maxCount: number | null;
  /** Times usage reached the limit and an allocation was about to fail. */
  oomCount: number | null;
  /** Processes killed by any OOM killer, in this cgroup or below it. */
  oomKillCount: number | null;
}

/** memory.events (hierarchical: it counts what happened in child cgroups too). */
export function parseMemoryEvents(text: string, file = "memory.events"): MemoryEvents {
  const entries = parseFlatKeyed(text, file);
  return {
    maxCount: entries.get("max") ?? null,
    oomCount: entries.get("oom") ?? null,
    oomKillCount: entries.get("oom_kill") ?? null,
  };
}

export interface V2CpuStat {
  usageNs: number | null;
  elapsedPeriods: number | null;
  throttledPeriods: number | null;
  throttledNs: number | null;
}

/**
 * cpu.stat. usage_usec is always there; nr_periods, nr_throttled and throttled_usec only while
 * the cpu controller is enabled for the cgroup. v2 counts microseconds; the snapshot uses
 * nanoseconds, as v1 does.
 */
export function parseV2CpuStat(text: string, file = "cpu.stat"): V2CpuStat {
  const entries = parseFlatKeyed(text, file);
  const ns = (usec: number | undefined): number | null => (usec === undefined ? null : usec * 1000);
  return {
    usageNs: ns(entries.get("usage_usec")),
    elapsedPeriods: entries.get("nr_periods") ?? null,
    throttledPeriods: entries.get("nr_throttled") ?? null,
    throttledNs: ns(entries.get("throttled_usec")),
  };
}

function memoryReadings(dir: string): CgroupSnapshot["memory"] {
  const eventsText = readCgroupText(dir, "memory.events");
  const oomKillCount = eventsText === null ? null : parseMemoryEvents(eventsText).oomKillCount;
  return {
    usageBytes: readReading(dir, "memory.current", parseInteger),
    limitBytes: readReading(dir, "memory.max", parseIntegerOrMax),
    // memory.peak: Linux 5.19+.
    peakBytes: readReading(dir, "memory.peak", parseInteger),
    // memory.swap.*: only with swap accounting.
    swapUsageBytes: readReading(dir, "memory.swap.current", parseInteger),
    swapLimitBytes: readReading(dir, "memory.swap.max", parseIntegerOrMax),
    oomKillCount: oomKillCount === null ? missing(dir, "memory.events") : present(dir, "memory.events", oomKillCount),
  };
}

/**
 * Kernels with pids.events.local count pids.events hierarchically. Before it, as on v1, a
 * failed fork counted only in the cgroup of the process that forked, so a learner's child
 * cgroups are added up by hand there.
 */
function limitHitCount(dir: string): CgroupReading {
  if (readCgroupText(dir, "pids.events.local") !== null) return readReading(dir, "pids.events", parsePidsEvents);
  return sumOverSubtree(dir, "pids.events", parsePidsEvents);
}

function cpuReadings(dir: string): CgroupSnapshot["cpu"] {
  const maxText = readCgroupText(dir, "cpu.max");
  const max = maxText === null ? null : parseCpuMax(maxText);
  const statText = readCgroupText(dir, "cpu.stat");
  const stat = statText === null ? null : parseV2CpuStat(statText);
  const fromStat = (value: number | null | undefined): CgroupReading =>
    value === null || value === undefined ? missing(dir, "cpu.stat") : present(dir, "cpu.stat", value);
  return {
    usageNs: fromStat(stat?.usageNs),
    quotaUs: max === null ? missing(dir, "cpu.max") : present(dir, "cpu.max", max.quotaUs),
    periodUs: max === null ? missing(dir, "cpu.max") : present(dir, "cpu.max", max.periodUs),
    elapsedPeriods: fromStat(stat?.elapsedPeriods),
    throttledPeriods: fromStat(stat?.throttledPeriods),
    throttledNs: fromStat(stat?.throttledNs),
  };
}

/** @param dir the session's directory in the unified hierarchy */
export function readV2Snapshot(dir: string): CgroupSnapshot {
  return {
    version: 2,
    memory: memoryReadings(dir),
    pids: {
      current: readReading(dir, "pids.current", parseInteger),
      limit: readReading(dir, "pids.max", parseIntegerOrMax),
      limitHitCount: limitHitCount(dir),
    },
    cpu: cpuReadings(dir),
  };
}
