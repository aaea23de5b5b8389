// Everything the page shows about one session at one moment: the cgroup's counters, the
// session's processes and their namespaces, and the host's namespaces to compare them with.
// Plain JSON-serializable data, so a snapshot or a delta between two goes to the browser as is.
import path from "node:path";

import type { ProbeSnapshot } from "../../common/lab-state";
import type { SessionCgroup } from "../sandbox/cgroup/session-cgroup";
import { readCgroupSnapshot } from "./cgroup-snapshot";
import { kernelFiles } from "./kernel-files";
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
   * that exec'd have their links read, which keeps a full reading to about one file per process.
   */
  namespaceRefreshMs?: number;
  /** How long the change detectors may say "nothing changed" before a full reading is made
   *  anyway (milliseconds; default QUIET_REFRESH_MS; a call may give its own). */
  quietRefreshMs?: number;
}

/**
 * One reading of a session. `full` asks for every file to be read whatever the change detectors
 * say (the limits were just changed, a page needs a fresh start). Returns the previous snapshot's
 * parts — the very same `cgroup` and `processes` objects, with a new `takenAtMs` — when nothing
 * was read beyond the detectors: `isUnchanged` tells the two apart without a diff.
 */
export type SnapshotReader = (target: ProbeTarget, takenAtMs: number, full?: boolean, quietRefreshMs?: number) => ProbeSnapshot;

export const DEFAULT_NAMESPACE_REFRESH_MS = 1000;
/** A full reading at least this often, for what the change detectors cannot see: a program that
 *  called setns(2) and went idle, a count that moved without CPU time being used. */
export const QUIET_REFRESH_MS = 5000;

/** Whether `next` is `previous` again, read only as far as the change detectors. */
export function isUnchanged(previous: ProbeSnapshot | null, next: ProbeSnapshot): boolean {
  return previous !== null && previous.cgroup === next.cgroup && previous.processes === next.processes;
}

/**
 * The change detectors of a session: the counters that move whenever anything happens in it.
 * A process that runs uses CPU time, one that starts or ends changes the pid count, memory
 * moves with both; a learner's command that changes nothing else the page shows still runs, so
 * the CPU counter alone would nearly do. Three small files, re-read through kept descriptors
 * (kernelFiles), cost ≈ 15 µs a tick here, where a full reading is ≈ 15 files plus one per
 * process plus walks of any child cgroups.
 */
function detectorFiles(target: ProbeTarget): string[] {
  const cg = target.cgroup;
  return cg.version === 1
    ? [path.join(cg.cpuacct, "cpuacct.usage"), path.join(cg.memory, "memory.usage_in_bytes"), path.join(cg.pids, "pids.current")]
    : [path.join(cg.dir, "cpu.stat"), path.join(cg.dir, "memory.current"), path.join(cg.dir, "pids.current")];
}

/**
 * A reader for one stream of snapshots of one session. The host's namespaces are read once:
 * the server's own do not change.
 *
 * Each call first reads the change detectors. When they read as last time, the previous
 * snapshot stands (re-timed) and nothing else is read — except once, a namespace refresh after
 * the last change (a process that unshared and then sat still is shown in its new namespace),
 * and every `quietRefreshMs` whatever the detectors say.
 */
export function createSnapshotReader(options: SnapshotReaderOptions = {}): SnapshotReader {
  const procRoot = options.procRoot ?? "/proc";
  const refreshMs = options.namespaceRefreshMs ?? DEFAULT_NAMESPACE_REFRESH_MS;
  const quietMs = options.quietRefreshMs ?? QUIET_REFRESH_MS;
  const hostNamespaces = readHostNamespaces(procRoot);
  let previous: ProbeSnapshot | null = null;
  let signature = "";
  let namespacesReadAtMs = Number.NEGATIVE_INFINITY;
  let fullAtMs = Number.NEGATIVE_INFINITY;
  /** When the trailing namespace refresh after a change is due; +∞ when none is owed. */
  let settleAtMs = Number.POSITIVE_INFINITY;
  // A reader serves one session, whose cgroup does not move: its detector paths are made once,
  // not on every tick.
  let detectorsOf: { target: ProbeTarget; files: string[] } | null = null;
  return (target, takenAtMs, full = false, quietRefreshMs = quietMs) => {
    if (detectorsOf?.target !== target) detectorsOf = { target, files: detectorFiles(target) };
    const detected = detectorsOf.files.map((file) => kernelFiles.read(file) ?? "-").join("\0");
    const changed = detected !== signature;
    // A wall clock set back counts as due, so nothing is postponed by the jump.
    const clockBack = takenAtMs < fullAtMs;
    const due = full || changed || previous === null || clockBack || takenAtMs >= settleAtMs || takenAtMs - fullAtMs >= quietRefreshMs;
    if (!due && previous !== null) return { ...previous, takenAtMs };
    const refresh = takenAtMs - namespacesReadAtMs >= refreshMs || takenAtMs < namespacesReadAtMs;
    const knownNamespaces = refresh || previous === null ? undefined : new Map(previous.processes.map((p) => [p.hostPid, p]));
    const snapshot = readProbeSnapshot(target, hostNamespaces, takenAtMs, { procRoot, knownNamespaces });
    if (refresh) namespacesReadAtMs = takenAtMs;
    signature = detected;
    fullAtMs = takenAtMs;
    // After a change, one more full reading once the namespace links are due again; a reading
    // that read them (the refresh owed, or any other) settles that debt.
    if (refresh) settleAtMs = Number.POSITIVE_INFINITY;
    else if (changed) settleAtMs = namespacesReadAtMs + refreshMs;
    previous = snapshot;
    return snapshot;
  };
}
