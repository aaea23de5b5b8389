// Reads a session's cgroup counters into the one shape both cgroup versions share.
import type { CgroupSnapshot } from "./cgroup-reading";
import { readV1Snapshot } from "./cgroup-v1";
import { readV2Snapshot } from "./cgroup-v2";

/** Where a session's cgroup is: the same shape as the sandbox's SessionCgroup. */
export interface CgroupLocation {
  readonly version: 1 | 2;
  /** v1: hierarchy name ("memory", "pids", "cpu,cpuacct", …) -> the session's directory in it.
   *  v2: { unified: the session's directory }. */
  readonly dirs: Readonly<Record<string, string>>;
}

export function readCgroupSnapshot(cgroup: CgroupLocation): CgroupSnapshot {
  if (cgroup.version === 1) return readV1Snapshot(cgroup.dirs);
  const dir = cgroup.dirs.unified;
  if (dir === undefined) throw new Error("a cgroup v2 location needs dirs.unified");
  return readV2Snapshot(dir);
}

