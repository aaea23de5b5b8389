// The probes: what the kernel sees about a learner's sandbox — its cgroup's counters against
// its limits, its processes and the namespaces they live in — read from /proc and cgroupfs
// only (no programs run), as plain data that goes to the page as JSON.
export type { CgroupReading, CgroupSnapshot, CpuReadings, MemoryReadings, PidsReadings } from "./cgroup-reading";
export { readCgroupSnapshot } from "./cgroup-snapshot";
export { CgroupFormatError } from "./cgroup-text";
export {
  NAMESPACE_TYPES,
  type NamespaceInodes,
  type NamespaceKind,
  type NamespaceLink,
  type NamespaceType,
  parseNamespaceLink,
  readHostNamespaces,
  readNamespaceInodes,
} from "./namespaces";
export { type ProcStatus, parseProcStatus } from "./proc-status";
export { type ProcessTreeOptions, type SessionProcess, readProcessTree } from "./process-tree";
export {
  DEFAULT_NAMESPACE_REFRESH_MS,
  type ProbeSnapshot,
  type ProbeTarget,
  type SnapshotReader,
  type SnapshotReaderOptions,
  QUIET_REFRESH_MS,
  createSnapshotReader,
  isUnchanged,
  readProbeSnapshot,
} from "./probe-snapshot";
export { type CgroupChange, type ProcessChange, type ProcessesChange, type ReadingChange, type SnapshotDelta, applySnapshotDelta, diffSnapshot } from "./snapshot-diff";
