// What the page is told about a session's kernel state, on the wire: the probes' snapshot of
// the session's cgroup counters, its processes and their namespaces, and the deltas between
// snapshots. The server produces these (server/probes), the page applies them; both use these
// schemas, so a change of shape is a compile error on both sides.

import { z } from "zod";

/** The links in /proc/<pid>/ns, in the kernel's order. */
export const NAMESPACE_TYPES = [
  "cgroup",
  "ipc",
  "mnt",
  "net",
  "pid",
  "pid_for_children",
  "time",
  "time_for_children",
  "user",
  "uts",
] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

const inode = z.number().int().nonnegative().nullable();
export const NamespaceInodes = z.object(
  Object.fromEntries(NAMESPACE_TYPES.map((t) => [t, inode])) as Record<NamespaceType, typeof inode>,
);
export type NamespaceInodes = z.infer<typeof NamespaceInodes>;

/** One number read from one cgroup file. */
export const CgroupReading = z.object({
  /** null: "no limit", or the file is missing (then `missing` is true). */
  value: z.number().nullable(),
  /** The kernel's name for the file, e.g. "memory.oom_control". */
  file: z.string(),
  /** Where the file is for this session on the host. */
  path: z.string().nullable(),
  missing: z.boolean(),
});
export type CgroupReading = z.infer<typeof CgroupReading>;

export const MemoryReadings = z.object({
  usageBytes: CgroupReading,
  limitBytes: CgroupReading,
  peakBytes: CgroupReading,
  swapUsageBytes: CgroupReading,
  swapLimitBytes: CgroupReading,
  oomKillCount: CgroupReading,
});
export const PidsReadings = z.object({ current: CgroupReading, limit: CgroupReading, limitHitCount: CgroupReading });
export const CpuReadings = z.object({
  usageNs: CgroupReading,
  quotaUs: CgroupReading,
  periodUs: CgroupReading,
  elapsedPeriods: CgroupReading,
  throttledPeriods: CgroupReading,
  throttledNs: CgroupReading,
});
export type MemoryReadings = z.infer<typeof MemoryReadings>;
export type PidsReadings = z.infer<typeof PidsReadings>;
export type CpuReadings = z.infer<typeof CpuReadings>;

export const CgroupSnapshot = z.object({
  version: z.union([z.literal(1), z.literal(2)]),
  memory: MemoryReadings,
  pids: PidsReadings,
  cpu: CpuReadings,
});
export type CgroupSnapshot = z.infer<typeof CgroupSnapshot>;

export const SessionProcess = z.object({
  hostPid: z.number().int().positive(),
  /** Pid per pid namespace, the host's first: [48213, 1] for a sandbox's init. */
  nsPids: z.array(z.number().int().positive()),
  command: z.string(),
  ppid: z.number().int().nonnegative(),
  hostUid: z.number().int().nonnegative(),
  /** Relative to the session's cgroup: "/" for its own, "/build" for a child the learner made. */
  cgroup: z.string(),
  namespaces: NamespaceInodes,
});
export type SessionProcess = z.infer<typeof SessionProcess>;

export const ProbeSnapshot = z.object({
  takenAtMs: z.number(),
  hostNamespaces: NamespaceInodes,
  cgroup: CgroupSnapshot,
  /** Sorted by host pid. */
  processes: z.array(SessionProcess),
});
export type ProbeSnapshot = z.infer<typeof ProbeSnapshot>;

const ReadingChange = CgroupReading.partial();
/** The parts of one reading that changed (usually just `value`). */
export type ReadingChange = z.infer<typeof ReadingChange>;
export type GroupChange<Group> = { [Field in keyof Group]?: ReadingChange };

/** The readings of one group that changed, each with only its changed parts. */
function changesOf<Shape extends z.ZodRawShape>(group: z.ZodObject<Shape>) {
  const fields = Object.fromEntries(Object.keys(group.shape).map((k) => [k, ReadingChange.optional()]));
  return z.strictObject(fields as { [K in keyof Shape]: z.ZodOptional<typeof ReadingChange> });
}

export const CgroupChange = z.object({
  version: z.union([z.literal(1), z.literal(2)]).optional(),
  memory: changesOf(MemoryReadings).optional(),
  pids: changesOf(PidsReadings).optional(),
  cpu: changesOf(CpuReadings).optional(),
});

export type CgroupChange = z.infer<typeof CgroupChange>;

/** A process that is still there, with only the fields that changed (an exec changes its
 *  command, an unshare its namespaces, a move between cgroups its cgroup). */
export const ProcessChange = SessionProcess.omit({ namespaces: true })
  .partial()
  .extend({ hostPid: z.number().int().positive(), namespaces: NamespaceInodes.partial().optional() });

export type ProcessChange = z.infer<typeof ProcessChange>;

export const ProcessesChange = z.object({
  added: z.array(SessionProcess),
  changed: z.array(ProcessChange),
  /** Host pids of the processes that left. */
  removed: z.array(z.number().int()),
});
export type ProcessesChange = z.infer<typeof ProcessesChange>;

export const SnapshotDelta = z.discriminatedUnion("kind", [
  /** The whole state: the first update of a stream, and the one a reconnecting page gets. */
  z.object({ kind: z.literal("full"), snapshot: ProbeSnapshot }),
  z.object({
    kind: z.literal("change"),
    takenAtMs: z.number(),
    hostNamespaces: NamespaceInodes.partial().optional(),
    cgroup: CgroupChange.optional(),
    processes: ProcessesChange.optional(),
  }),
]);
export type SnapshotDelta = z.infer<typeof SnapshotDelta>;

// ---------------------------------------------------------------------------------------------
// Applying deltas: what the page does with each state.delta, and what the server's tests use to
// prove that its diffs round-trip.

function applyGroup<Group extends Record<keyof Group, CgroupReading>>(group: Group, change: GroupChange<Group> | undefined): Group {
  if (!change) return group;
  const result = { ...group };
  for (const field of Object.keys(change) as (keyof Group)[]) {
    const fieldChange = change[field];
    if (fieldChange) result[field] = { ...group[field], ...fieldChange };
  }
  return result;
}

function applyProcess(process: SessionProcess, change: ProcessChange): SessionProcess {
  const { namespaces, ...fields } = change;
  return { ...process, ...fields, namespaces: { ...process.namespaces, ...namespaces } };
}

/** The snapshot a receiver holds after `delta`. Does not modify `prev`. */
export function applySnapshotDelta(prev: ProbeSnapshot | null, delta: SnapshotDelta): ProbeSnapshot {
  if (delta.kind === "full") return JSON.parse(JSON.stringify(delta.snapshot)) as ProbeSnapshot;
  if (prev === null) throw new Error("a change needs the snapshot it changes; start from a full update");
  const cgroup = delta.cgroup ?? {};
  let processes = prev.processes;
  if (delta.processes) {
    const { added, changed, removed } = delta.processes;
    const gone = new Set(removed);
    const changes = new Map(changed.map((c) => [c.hostPid, c]));
    processes = prev.processes
      .filter((p) => !gone.has(p.hostPid))
      .map((p) => {
        const change = changes.get(p.hostPid);
        return change ? applyProcess(p, change) : p;
      })
      .concat(added)
      .sort((a, b) => a.hostPid - b.hostPid);
  }
  return {
    takenAtMs: delta.takenAtMs,
    hostNamespaces: { ...prev.hostNamespaces, ...delta.hostNamespaces },
    cgroup: {
      version: cgroup.version ?? prev.cgroup.version,
      memory: applyGroup(prev.cgroup.memory, cgroup.memory),
      pids: applyGroup(prev.cgroup.pids, cgroup.pids),
      cpu: applyGroup(prev.cgroup.cpu, cgroup.cpu),
    },
    processes,
  };
}
