// One interface over cgroup v1 and v2. A driver knows where session cgroups live on this host
// and which files carry each limit; each value written is reported with the file it went to,
// so the page can say "on this host the limit lives in memory.limit_in_bytes".
//
// Drivers write cgroup files directly with fs calls, never through shells or helper programs.
// Creating a session's cgroup (the mkdirs, limit writes and chowns of every hierarchy: half a
// millisecond on a quiet host, tens of milliseconds while the kernel is busy removing other
// cgroups) runs on libuv's thread pool, so the server keeps serving other sessions meanwhile
// (`nslab run`, with nothing else to serve, has the same calls made at once: setup-fs.ts);
// the rest stays synchronous where it is short and its caller needs the answer in the same turn.

import type { CgroupFileWrite } from "../../../common/protocol";
import type { Limits } from "../limits";
import type { SetupFs } from "../setup-fs";
import type { SessionCgroup } from "./session-cgroup";

export type CgroupVersion = 1 | 2;

/** One limit as written: the docker flag, the file relative to the session's cgroup
 *  ("memory/memory.limit_in_bytes" on v1, "memory.max" on v2), and the value. */
export type LimitWrite = CgroupFileWrite;

export type { SessionCgroup };

/** What creating a session's cgroup made: where it is, and what was written where, in order. */
export interface CreatedCgroup {
  readonly cgroup: SessionCgroup;
  readonly writes: readonly LimitWrite[];
}

export interface CgroupDriver {
  readonly version: CgroupVersion;
  /** Directory (per hierarchy name: "memory", "cpu,cpuacct", … on v1, "unified" on v2) under
   *  which every session cgroup of this server lives. */
  readonly parents: Readonly<Record<string, string>>;
  /** The files and values that set these limits, without touching anything. */
  limitWrites(limits: Limits): LimitWrite[];
  /**
   * Create the session's cgroup and write its limits. Throws if the kernel refuses.
   * `delegateTo` (the host uid of the sandbox's root) gets the directory and the files that
   * let it create child cgroups and move its processes into them — never the session's own
   * limit files, so the learner can subdivide their limits but not raise them. Its file calls
   * go through `io` (default: on the thread pool).
   */
  create(sessionId: string, limits: Limits, delegateTo?: number, io?: SetupFs): Promise<CreatedCgroup>;
  /** docker update: write new limits to a live session's cgroup, in an order the kernel
   *  accepts. Returns what was written where; throws naming the file if the kernel refuses. */
  update(cg: SessionCgroup, limits: Limits): LimitWrite[];
  /** Host pids of every process in the session's cgroup, its children included. */
  pids(cg: SessionCgroup): number[];
  /** Remove the session's cgroup and any child cgroups the learner made. Idempotent; fails
   *  (returns false) while processes remain. */
  remove(cg: SessionCgroup): boolean;
  /** Session ids that have a cgroup under this server's parent (leftovers after a crash). */
  listSessions(): string[];
  /** Where a session's cgroup is (or would be), e.g. for clean-up of leftovers. */
  open(sessionId: string): SessionCgroup;
  /** The session's cgroup as /proc/<pid>/cgroup names it in every hierarchy ("/nslab/<id>"):
   *  what a process is checked against before it is signalled (pidfd.ts). */
  procPath(sessionId: string): string;
  /**
   * Put a helper process of the server (the terminal spawner, and with it every launcher it
   * forks, for the launcher's whole life) in a CPU cgroup of its own, so that the scheduler
   * weighs all of them together as one. Throws if the kernel refuses; a no-op where not needed.
   */
  adoptHelper(pid: number): void;
  /** Remove the helpers' cgroup once no helper is left in it (true), or say it is still busy. */
  removeHelperCgroup(): boolean;
}

/** Child cgroups a learner may hold in any hierarchy. Lessons need a handful; each one costs
 *  the host kernel memory the session's own limit is barely charged for, and memory cgroup
 *  ids are a host-wide pool of 65535. cgroup v2 enforces it (cgroup.max.descendants); v1 has
 *  no such knob, so the sandbox's watchdog ends a session that goes past it. */
export const MAX_CHILD_CGROUPS = 256;

/** Where session cgroups go unless NSLAB_CGROUP_PARENT says otherwise. */
export const DEFAULT_PARENT = "/nslab";

export const SESSION_ID_PATTERN = /^[a-z0-9]{8,32}$/;

export function assertSessionId(sessionId: string): void {
  if (!SESSION_ID_PATTERN.test(sessionId)) throw new Error(`bad session id ${JSON.stringify(sessionId)}`);
}
