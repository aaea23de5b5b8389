// Reads a session's cgroup counters into the one shape both cgroup versions share.
import type { SessionCgroup } from "../sandbox/cgroup/session-cgroup";
import type { CgroupSnapshot } from "./cgroup-reading";
import { readV1Snapshot } from "./cgroup-v1";
import { readV2Snapshot } from "./cgroup-v2";

export function readCgroupSnapshot(cgroup: SessionCgroup): CgroupSnapshot {
  return cgroup.version === 1 ? readV1Snapshot(cgroup) : readV2Snapshot(cgroup.dir);
}
