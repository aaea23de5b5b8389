// Where a session's cgroup is: the one shape the drivers create, the probes and the lab-step
// checks read, and the launcher's argv is built from. What was written there (the limits) and
// whose it is (the session id) are not part of it.

/**
 * cgroup v2: the session's directory in the unified hierarchy.
 * cgroup v1: the session's directory in the hierarchy of each controller. Controllers the host
 * mounts together share one directory: cpu and cpuacct are the same path on a host that mounts
 * "cpu,cpuacct", and two paths on one that mounts them apart. `joined`: the session's leaf in
 * each hierarchy that sets no limit of nslab's (detect.ts, UnmanagedHierarchy), which the
 * sandbox joins and does not mount.
 */
export type SessionCgroup =
  | { readonly version: 2; readonly dir: string }
  | {
      readonly version: 1;
      readonly memory: string;
      readonly cpu: string;
      readonly cpuacct: string;
      readonly pids: string;
      readonly joined?: readonly string[];
    };

export type V1SessionCgroup = Extract<SessionCgroup, { version: 1 }>;
export type V2SessionCgroup = Extract<SessionCgroup, { version: 2 }>;

/** The v1 controllers a session has a directory for, in the order hierarchy names list them. */
export const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "pids"] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface V1HierarchyDir {
  /** The controllers sharing this directory, joined by "," in V1_CONTROLLERS order ("memory",
   *  "cpu,cpuacct"): the launcher mounts the hierarchy inside with this as its options and its
   *  directory name, and limit files are named relative to it ("cpu,cpuacct/cpu.cfs_quota_us"). */
  readonly name: string;
  readonly dir: string;
}

/** One entry per distinct directory of a v1 session cgroup, named by the controllers in it. */
export function v1HierarchyDirs(cgroup: V1SessionCgroup): V1HierarchyDir[] {
  const byDir = new Map<string, V1Controller[]>();
  for (const controller of V1_CONTROLLERS) {
    const dir = cgroup[controller];
    byDir.set(dir, [...(byDir.get(dir) ?? []), controller]);
  }
  return [...byDir].map(([dir, controllers]) => ({ name: controllers.join(","), dir }));
}

/** Every distinct directory of the session's cgroup: the one of v2, or one per v1 hierarchy,
 *  the joined ones included (teardown reads and removes them all). */
export function sessionCgroupDirs(cgroup: SessionCgroup): string[] {
  return cgroup.version === 2 ? [cgroup.dir] : [...v1HierarchyDirs(cgroup).map((h) => h.dir), ...(cgroup.joined ?? [])];
}
