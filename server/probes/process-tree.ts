// Every process of a session, as the host sees it: which pid it has in each pid namespace, who
// its parent is, and the inode of each namespace it lives in. Membership comes from the
// session's cgroup — the kernel's own list of what belongs to the sandbox — not from walking
// the launcher's children: a learner's process that double-forks away from its parent is
// still in the session's cgroup, and so still shown.
import path from "node:path";

import type { SessionProcess } from "../../common/lab-state";
import { readCgroupProcs, readCgroupTreeProcs } from "../kernel/cgroup-tree";
import type { SessionCgroup } from "../sandbox/cgroup/session-cgroup";
import { SUBTREE_WALK, mayHaveChildCgroups } from "./cgroup-reading";
import { readKernelFile } from "./kernel-files";
import { type NamespaceInodes, type NamespaceType, readNamespaceInodes } from "./namespaces";
import { parseProcStatus } from "./proc-status";

export type { SessionProcess };

export interface ProcessTreeOptions {
  /** Where procfs is; tests point this at a fixture tree. */
  procRoot?: string;
  /** Namespace links to read; default: every type this kernel has. */
  namespaceTypes?: readonly NamespaceType[];
  /**
   * Namespaces read earlier, by host pid. A process whose command is still the same keeps
   * these instead of having its links read again (see readProcessTree).
   */
  knownNamespaces?: ReadonlyMap<number, Pick<SessionProcess, "command" | "namespaces">>;
}

/**
 * The directory whose subtree lists the session's processes. On v1 every hierarchy lists the
 * same processes (the launcher joins them all before it execs, and a learner can move a process
 * only within the session's subtree of each), so one is enough: the memory hierarchy, where the
 * OOM kills the page shows happen.
 */
function membershipRoot(cgroup: SessionCgroup): string {
  return cgroup.version === 1 ? cgroup.memory : cgroup.dir;
}

/**
 * Every process in the session's cgroup and the cgroups below it, sorted by host pid. A process
 * that exits while it is being read is left out: it is gone by the time anyone would see it.
 *
 * Reads per call: one cgroup.procs per cgroup, then per process its status and — unless
 * `knownNamespaces` has it under the same command — one readlink per namespace type. The links
 * are most of the cost (ten per process), and a process's namespaces almost only change when
 * it execs (`unshare --net bash` unshares, then execs bash), which changes its command; the
 * caller re-reads everything now and then for the rare program that calls unshare(2) or
 * setns(2) itself.
 */
export function readProcessTree(cgroup: SessionCgroup, options: ProcessTreeOptions = {}): SessionProcess[] {
  const procRoot = options.procRoot ?? "/proc";
  // Host pid -> its cgroup, relative to the session's.
  const root = membershipRoot(cgroup);
  // Most sessions have no child cgroup: then the root's own list is the whole membership.
  const members = mayHaveChildCgroups(root) ? readCgroupTreeProcs(root, SUBTREE_WALK) : rootMembers(root);
  const processes: SessionProcess[] = [];
  for (const hostPid of [...members.keys()].sort((a, b) => a - b)) {
    const statusText = readKernelFile(path.join(procRoot, String(hostPid), "status"));
    if (statusText === null) continue;
    const status = parseProcStatus(statusText);
    const known = options.knownNamespaces?.get(hostPid);
    const namespaces =
      known && known.command === status.command
        ? known.namespaces
        : readNamespaceInodes(hostPid, { procRoot, types: options.namespaceTypes });
    if (namespaces === null) continue;
    processes.push({
      hostPid,
      nsPids: status.nsPids,
      command: status.command,
      ppid: status.ppid,
      hostUid: status.uid.effective,
      cgroup: members.get(hostPid) ?? "/",
      namespaces,
    });
  }
  return processes;
}

/** Host pid -> "/" for every process in the cgroup.procs of `root` itself. */
function rootMembers(root: string): Map<number, string> {
  const members = new Map<number, string>();
  for (const pid of readCgroupProcs(root)) members.set(pid, "/");
  return members;
}
