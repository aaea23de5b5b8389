// Everything the page shows about one session at one moment: the cgroup's counters, the
// session's processes and their namespaces, and the host's namespaces to compare them with.
// Plain JSON-serializable data, so a snapshot or a delta between two goes to the browser as is.
import type { ProbeSnapshot } from "../../common/lab-state";
import type { SessionCgroup } from "../sandbox/cgroup/session-cgroup";
import { readCgroupSnapshot } from "./cgroup-snapshot";
import { type NamespaceInodes, readHostNamespaces } from "./namespaces";
import { type ProcessTreeOptions, type SessionProcess, readProcessTree } from "./process-tree";

export type { ProbeSnapshot };

/** What the probes need to know about a session: where its cgroup is. A sandbox has this shape. */
export interface ProbeTarget {
  readonly cgroup: SessionCgroup;
}

export function readProbeSnapshot(target: ProbeTarget, hostNamespaces: NamespaceInodes, takenAtMs: number, options: ProcessTreeOptions = {}): ProbeSnapshot {
  return {
    takenAtMs,
    hostNamespaces,
    cgroup: readCgroupSnapshot(target.cgroup),
    processes: readProcessTree(target.cgroup, options),
  };
}

export interface SnapshotReaderOptions {
  /** Where procfs is; tests point this at a fixture tree. */
  procRoot?: string;
  /**
   * How often every process's namespace links are read again even though its command did not
   * change (milliseconds; default 1000). Between those reads, only new processes and processes
   * that exec'd have their links read, which keeps a tick to about one file per process.
   */
  namespaceRefreshMs?: number;
}

export type SnapshotReader = (target: ProbeTarget, takenAtMs: number) => ProbeSnapshot;

export const DEFAULT_NAMESPACE_REFRESH_MS = 1000;

/**
 * A reader for one stream of snapshots of one session. The host's namespaces are read once:
 * the server's own do not change.
 */
export function createSnapshotReader(options: SnapshotReaderOptions = {}): SnapshotReader {
  const procRoot = options.procRoot ?? "/proc";
  const refreshMs = options.namespaceRefreshMs ?? DEFAULT_NAMESPACE_REFRESH_MS;
  const hostNamespaces = readHostNamespaces(procRoot);
  let previous: SessionProcess[] = [];
  let namespacesReadAtMs = Number.NEGATIVE_INFINITY;
  return (target, takenAtMs) => {
    // A wall clock set back counts as due, so a refresh is never postponed by the jump.
    const refresh = takenAtMs - namespacesReadAtMs >= refreshMs || takenAtMs < namespacesReadAtMs;
    const knownNamespaces = refresh ? undefined : new Map(previous.map((p) => [p.hostPid, p]));
    const snapshot = readProbeSnapshot(target, hostNamespaces, takenAtMs, { procRoot, knownNamespaces });
    if (refresh) namespacesReadAtMs = takenAtMs;
    previous = snapshot.processes;
    return snapshot;
  };
}
