// What the namespace inspector shows, computed from one probe snapshot: for each namespace
// type, the host's inode next to the sandbox's, and the learner's processes grouped by the
// namespaces they live in. A group other than the shell's is a namespace the learner made
// (`unshare --net sh`), named by the types in which it differs from the shell's.

import { NAMESPACE_TYPES, type NamespaceInodes, type NamespaceType, type ProbeSnapshot, type SessionProcess } from "../../common/lab-state";

export interface NamespaceComparison {
  type: NamespaceType;
  hostInode: number | null;
  sandboxInode: number | null;
  /** "separate": the sandbox has its own; "shared": it is the host's; "absent": the kernel has
   *  no such namespace (time namespaces before Linux 5.6) or it could not be read. */
  relation: "separate" | "shared" | "absent";
}

export interface NamespaceDifference {
  type: NamespaceType;
  inode: number | null;
}

export interface NamespaceGroup {
  /** Stable across snapshots while the same namespaces exist: the inodes, joined. */
  key: string;
  /** The sandbox's own group: the namespaces its first shell was started in. */
  isSandbox: boolean;
  /** Where this group differs from the sandbox's namespaces; empty for the sandbox's group. */
  differences: NamespaceDifference[];
  namespaces: NamespaceInodes;
  processes: SessionProcess[];
}

/**
 * The sandbox's first process: the one with `sandboxHostPid` (session.ready's hostPid) when it
 * is there, else the one that is pid 1 one level below the host.
 */
export function sandboxInit(processes: readonly SessionProcess[], sandboxHostPid: number | null): SessionProcess | null {
  return (
    processes.find((p) => p.hostPid === sandboxHostPid) ??
    processes.find((p) => p.nsPids.length === 2 && p.nsPids[1] === 1) ??
    processes[0] ??
    null
  );
}

export function compareWithHost(snapshot: Pick<ProbeSnapshot, "hostNamespaces">, init: SessionProcess | null): NamespaceComparison[] {
  return NAMESPACE_TYPES.map((type) => {
    const hostInode = snapshot.hostNamespaces[type];
    const sandboxInode = init?.namespaces[type] ?? null;
    const relation = hostInode === null || sandboxInode === null ? "absent" : hostInode === sandboxInode ? "shared" : "separate";
    return { type, hostInode, sandboxInode, relation };
  });
}

function keyOf(namespaces: NamespaceInodes): string {
  return NAMESPACE_TYPES.map((type) => namespaces[type] ?? "-").join(":");
}

/** The learner's processes grouped by their namespaces, the sandbox's group first and the
 *  others in the order their first process started (host pids grow). */
export function groupByNamespaces(processes: readonly SessionProcess[], init: SessionProcess | null): NamespaceGroup[] {
  const baseKey = init ? keyOf(init.namespaces) : null;
  const groups = new Map<string, NamespaceGroup>();
  for (const process of [...processes].sort((a, b) => a.hostPid - b.hostPid)) {
    const key = keyOf(process.namespaces);
    let group = groups.get(key);
    if (!group) {
      const differences = init
        ? NAMESPACE_TYPES.filter((type) => process.namespaces[type] !== init.namespaces[type]).map((type) => ({
            type,
            inode: process.namespaces[type],
          }))
        : [];
      group = { key, isSandbox: key === baseKey, differences, namespaces: process.namespaces, processes: [] };
      groups.set(key, group);
    }
    group.processes.push(process);
  }
  return [...groups.values()].sort((a, b) => Number(b.isSandbox) - Number(a.isSandbox));
}

/** "new net namespace" / "new net and uts namespaces": what a group's heading says it has. */
export function describeDifferences(differences: readonly NamespaceDifference[]): string {
  const names = differences.map((d) => d.type.replaceAll("_", " "));
  if (names.length === 0) return "the sandbox's namespaces";
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  return `new ${list} namespace${names.length === 1 ? "" : "s"}`;
}

/** "48213 → 7 → 1": a process's pid in each pid namespace, the host's first. */
export function formatPidChain(nsPids: readonly number[]): string {
  return nsPids.join(" → ");
}
