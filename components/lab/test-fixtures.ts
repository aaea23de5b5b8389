// Probe snapshots and chart samples for the browser side's tests, with the numbers of a real
// session: inodes as a 6.x kernel hands them out, a 256 MiB / 0.5 CPU / 100 pids sandbox on
// cgroup v1. Test data only; nothing in the page imports this.

import type { CgroupReading, NamespaceInodes, ProbeSnapshot, SessionProcess } from "../../common/lab-state";
import type { OomEvent, ResourceSample } from "./lab-context";

export const MiB = 1024 * 1024;
/** 2026-01-01T00:00:00Z: any fixed instant does; this one reads well in a failure message. */
export const T0 = Date.UTC(2026, 0, 1);

export const HOST_NAMESPACES: NamespaceInodes = {
  cgroup: 4026531835,
  ipc: 4026531839,
  mnt: 4026531841,
  net: 4026531840,
  pid: 4026531836,
  pid_for_children: 4026531836,
  time: 4026531834,
  time_for_children: 4026531834,
  user: 4026531837,
  uts: 4026531838,
};

/** The sandbox's own: everything new except time, which the launcher leaves to the host. */
export const SANDBOX_NAMESPACES: NamespaceInodes = {
  ...HOST_NAMESPACES,
  cgroup: 4026532801,
  ipc: 4026532799,
  mnt: 4026532797,
  net: 4026532802,
  pid: 4026532800,
  pid_for_children: 4026532800,
  user: 4026532796,
  uts: 4026532798,
};

export function reading(value: number | null, file: string, missing = false): CgroupReading {
  return { value, file, path: missing ? null : `/sys/fs/cgroup/memory/nslab/0123456789abcdef/${file}`, missing };
}

export function process(hostPid: number, nsPids: number[], command: string, namespaces = SANDBOX_NAMESPACES, ppid = 0): SessionProcess {
  return { hostPid, nsPids, command, ppid, hostUid: 100000, cgroup: "/", namespaces };
}

export interface SnapshotNumbers {
  usageBytes?: number;
  limitBytes?: number | null;
  swapUsageBytes?: number | null;
  oomKillCount?: number;
  pidsCurrent?: number;
  usageNs?: number;
  throttledPeriods?: number;
}

export function snapshot(takenAtMs: number, numbers: SnapshotNumbers = {}, processes?: SessionProcess[]): ProbeSnapshot {
  const swap = numbers.swapUsageBytes === undefined ? 0 : numbers.swapUsageBytes;
  return {
    takenAtMs,
    hostNamespaces: HOST_NAMESPACES,
    cgroup: {
      version: 1,
      memory: {
        usageBytes: reading(numbers.usageBytes ?? 3 * MiB, "memory.usage_in_bytes"),
        limitBytes: reading(numbers.limitBytes === undefined ? 256 * MiB : numbers.limitBytes, "memory.limit_in_bytes"),
        peakBytes: reading(numbers.usageBytes ?? 3 * MiB, "memory.max_usage_in_bytes"),
        swapUsageBytes: reading(swap, "memory.memsw.usage_in_bytes", swap === null),
        swapLimitBytes: reading(0, "memory.memsw.limit_in_bytes"),
        oomKillCount: reading(numbers.oomKillCount ?? 0, "memory.oom_control"),
      },
      pids: {
        current: reading(numbers.pidsCurrent ?? 1, "pids.current"),
        limit: reading(100, "pids.max"),
        limitHitCount: reading(0, "pids.events"),
      },
      cpu: {
        usageNs: reading(numbers.usageNs ?? 0, "cpuacct.usage"),
        quotaUs: reading(50000, "cpu.cfs_quota_us"),
        periodUs: reading(100000, "cpu.cfs_period_us"),
        elapsedPeriods: reading(0, "cpu.stat"),
        throttledPeriods: reading(numbers.throttledPeriods ?? 0, "cpu.stat"),
        throttledNs: reading(0, "cpu.stat"),
      },
    },
    processes: processes ?? [process(48213, [48213, 1], "bash")],
  };
}

export function sample(atMs: number, fields: Partial<ResourceSample> = {}): ResourceSample {
  return {
    atMs,
    memoryUsageBytes: 3 * MiB,
    memoryLimitBytes: 256 * MiB,
    swapUsageBytes: 0,
    pidsCurrent: 1,
    pidsLimit: 100,
    cpuUsage: 0,
    cpuQuota: 0.5,
    throttledPeriods: 0,
    ...fields,
  };
}

export function oomEvent(atMs: number, oomKillCount: number): OomEvent {
  return { atMs, oomKillCount };
}
