// What changed between two snapshots, so that the server sends only that. A receiver starts
// from one "full" update (the whole snapshot) and applies each "change" in order with
// applySnapshotDelta (common/lab-state.ts, shared with the page); the tests here prove that
// diff and apply round-trip.
import {
  type CgroupChange,
  type CgroupReading,
  type CgroupSnapshot,
  type GroupChange,
  NAMESPACE_TYPES,
  type NamespaceInodes,
  type ProbeSnapshot,
  type ProcessChange,
  type ProcessesChange,
  type ReadingChange,
  type SessionProcess,
  type SnapshotDelta,
  applySnapshotDelta,
} from "../../common/lab-state";

export { applySnapshotDelta };
export type { CgroupChange, ProcessChange, ProcessesChange, ReadingChange, SnapshotDelta };

function diffReading(prev: CgroupReading, next: CgroupReading): ReadingChange | null {
  const change: ReadingChange = {};
  if (prev.value !== next.value) change.value = next.value;
  if (prev.file !== next.file) change.file = next.file;
  if (prev.path !== next.path) change.path = next.path;
  if (prev.missing !== next.missing) change.missing = next.missing;
  return Object.keys(change).length > 0 ? change : null;
}

function diffGroup<Group extends Record<keyof Group, CgroupReading>>(prev: Group, next: Group): GroupChange<Group> | null {
  const change: GroupChange<Group> = {};
  for (const field of Object.keys(next) as (keyof Group)[]) {
    const fieldChange = diffReading(prev[field], next[field]);
    if (fieldChange !== null) change[field] = fieldChange;
  }
  return Object.keys(change).length > 0 ? change : null;
}

function diffCgroup(prev: CgroupSnapshot, next: CgroupSnapshot): CgroupChange | null {
  const change: CgroupChange = {};
  if (prev.version !== next.version) change.version = next.version;
  const memory = diffGroup(prev.memory, next.memory);
  const pids = diffGroup(prev.pids, next.pids);
  const cpu = diffGroup(prev.cpu, next.cpu);
  if (memory) change.memory = memory;
  if (pids) change.pids = pids;
  if (cpu) change.cpu = cpu;
  return Object.keys(change).length > 0 ? change : null;
}

function diffNamespaces(prev: NamespaceInodes, next: NamespaceInodes): Partial<NamespaceInodes> | null {
  const change: Partial<NamespaceInodes> = {};
  for (const type of NAMESPACE_TYPES) if (prev[type] !== next[type]) change[type] = next[type];
  return Object.keys(change).length > 0 ? change : null;
}

function samePids(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((pid, i) => pid === b[i]);
}

function diffProcess(prev: SessionProcess, next: SessionProcess): ProcessChange | null {
  const change: ProcessChange = { hostPid: next.hostPid };
  if (!samePids(prev.nsPids, next.nsPids)) change.nsPids = next.nsPids;
  if (prev.command !== next.command) change.command = next.command;
  if (prev.ppid !== next.ppid) change.ppid = next.ppid;
  if (prev.hostUid !== next.hostUid) change.hostUid = next.hostUid;
  if (prev.cgroup !== next.cgroup) change.cgroup = next.cgroup;
  const namespaces = diffNamespaces(prev.namespaces, next.namespaces);
  if (namespaces) change.namespaces = namespaces;
  // hostPid alone identifies the process; anything beyond it is a change.
  return Object.keys(change).length > 1 ? change : null;
}

function diffProcesses(prev: readonly SessionProcess[], next: readonly SessionProcess[]): ProcessesChange | null {
  const before = new Map(prev.map((p) => [p.hostPid, p]));
  const after = new Set(next.map((p) => p.hostPid));
  const change: ProcessesChange = { added: [], changed: [], removed: [] };
  for (const process of next) {
    const old = before.get(process.hostPid);
    if (old === undefined) change.added.push(process);
    else {
      const processChange = diffProcess(old, process);
      if (processChange) change.changed.push(processChange);
    }
  }
  for (const pid of before.keys()) if (!after.has(pid)) change.removed.push(pid);
  const any = change.added.length + change.changed.length + change.removed.length > 0;
  return any ? change : null;
}

/**
 * What a receiver holding `prev` needs to get to `next`: the whole snapshot when it holds
 * nothing, only what changed otherwise, null when nothing did (the time of reading alone is
 * not a change).
 */
export function diffSnapshot(prev: ProbeSnapshot | null, next: ProbeSnapshot): SnapshotDelta | null {
  if (prev === null) return { kind: "full", snapshot: next };
  const hostNamespaces = diffNamespaces(prev.hostNamespaces, next.hostNamespaces);
  const cgroup = diffCgroup(prev.cgroup, next.cgroup);
  const processes = diffProcesses(prev.processes, next.processes);
  if (!hostNamespaces && !cgroup && !processes) return null;
  return {
    kind: "change",
    takenAtMs: next.takenAtMs,
    ...(hostNamespaces && { hostNamespaces }),
    ...(cgroup && { cgroup }),
    ...(processes && { processes }),
  };
}
