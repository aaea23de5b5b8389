// cgroup v1: one hierarchy per controller (or a few mounted together). A session gets a
// directory in the hierarchy of each of memory, cpu, cpuacct and pids (one directory for
// controllers mounted together, such as "cpu,cpuacct"); the launcher moves the sandbox
// into all of them and mounts each inside, so the learner sees /sys/fs/cgroup/memory/… with
// their own limits at its root.
import fs from "node:fs";
import path from "node:path";

import { CPU_PERIOD_US, cpuQuotaUs, type Limits } from "../limits";
import { type SetupFs, threadPoolSetup } from "../setup-fs";
import type { V1Hierarchy } from "./detect";
import { type CgroupDriver, type CreatedCgroup, DEFAULT_PARENT, type LimitWrite, SESSION_ID_PATTERN, assertSessionId } from "./driver";
import { delegate, listSessionDirs, pidsInSessionCgroup, removeSessionCgroup, writeCgroupFile, writeCgroupFileAsync } from "./fs-ops";
import { type SessionCgroup, type V1Controller, type V1SessionCgroup, v1HierarchyDirs } from "./session-cgroup";

/** What a delegated v1 cgroup hands over: membership files, not limits (and not
 *  notify_on_release, whose helper would run as host root). */
const V1_DELEGATED_FILES = ["cgroup.procs", "tasks", "cgroup.clone_children"] as const;

/** v1 has no "max" for memory; the kernel's own unlimited value is returned as this. */
const V1_UNLIMITED = "-1";

/** One limit write, with the controller whose directory its file is in. */
interface V1Write {
  readonly controller: V1Controller;
  readonly file: string;
  readonly write: LimitWrite;
}

export class CgroupV1Driver implements CgroupDriver {
  readonly version = 1 as const;
  readonly parents: Readonly<Record<string, string>>;
  /** Whether memory.memsw.* exists (swap accounting on); without it swap cannot be capped. */
  readonly swapAccounting: boolean;
  /** Where session cgroups go in the hierarchy of each controller: a SessionCgroup of parents. */
  private readonly parentCgroup: V1SessionCgroup;
  /** The name of the hierarchy each controller is in ("cpu,cpuacct" when mounted together). */
  private readonly hierarchyName: Readonly<Record<V1Controller, string>>;

  /**
   * @param hierarchies the host's v1 hierarchies (from detectCgroupLayout)
   * @param parentPath where session cgroups go inside each hierarchy (default "/nslab", at
   *   the hierarchy's root: a stable place, so a restarted server finds what a killed one
   *   left, whatever cgroup the new process starts in)
   */
  constructor(hierarchies: V1Hierarchy[], parentPath?: string) {
    const parentOf = (controller: V1Controller): string => {
      const hierarchy = hierarchies.find((h) => h.controllers.includes(controller));
      if (!hierarchy) throw new Error(`cgroup v1 hierarchy for ${controller} not mounted`);
      return path.join(hierarchy.mountPoint, parentPath ?? DEFAULT_PARENT);
    };
    this.parentCgroup = { version: 1, memory: parentOf("memory"), cpu: parentOf("cpu"), cpuacct: parentOf("cpuacct"), pids: parentOf("pids") };
    const named = v1HierarchyDirs(this.parentCgroup);
    this.parents = Object.fromEntries(named.map((h) => [h.name, h.dir]));
    const nameOf = (controller: V1Controller): string => named.find((h) => h.dir === this.parentCgroup[controller])?.name ?? controller;
    this.hierarchyName = { memory: nameOf("memory"), cpu: nameOf("cpu"), cpuacct: nameOf("cpuacct"), pids: nameOf("pids") };
    const memory = hierarchies.find((h) => h.controllers.includes("memory"));
    this.swapAccounting = memory !== undefined && fs.existsSync(path.join(memory.mountPoint, "memory.memsw.limit_in_bytes"));
  }

  limitWrites(limits: Limits): LimitWrite[] {
    return this.writesFor(limits).map((w) => w.write);
  }

  /** Each limit's file is named relative to the session's cgroup, hierarchy first
   *  ("memory/memory.limit_in_bytes"), as the page shows it. */
  private writesFor(limits: Limits): V1Write[] {
    const write = (controller: V1Controller, flag: LimitWrite["flag"], file: string, value: string): V1Write => ({
      controller,
      file,
      write: { flag, file: `${this.hierarchyName[controller]}/${file}`, value },
    });
    const writes = [write("memory", "--memory", "memory.limit_in_bytes", String(limits.memoryBytes))];
    // memsw is memory+swap, and the kernel requires memsw >= limit, so it is written second.
    if (this.swapAccounting) {
      writes.push(write("memory", "--memory-swap", "memory.memsw.limit_in_bytes", limits.memorySwapBytes < 0 ? V1_UNLIMITED : String(limits.memorySwapBytes)));
    }
    writes.push(
      write("cpu", "--cpus", "cpu.cfs_period_us", String(CPU_PERIOD_US)),
      write("cpu", "--cpus", "cpu.cfs_quota_us", String(cpuQuotaUs(limits.cpus))),
      write("pids", "--pids-limit", "pids.max", limits.pids < 0 ? "max" : String(limits.pids)),
    );
    return writes;
  }

  async create(sessionId: string, limits: Limits, delegateTo?: number, io: SetupFs = threadPoolSetup): Promise<CreatedCgroup> {
    const cgroup = this.open(sessionId);
    const dirs = v1HierarchyDirs(cgroup).map((h) => h.dir);
    // One call at a time, in the order of the synchronous set-up this replaced: each waits on
    // the thread pool (and on the kernel's cgroup_mutex, which other sessions' set-ups and
    // teardowns hold) while the event loop serves others. Side by side the hierarchies finished
    // only a little sooner (the kernel serialises cgroup creation), and on a 2-core host their
    // threads contending for it took CPU from the event loop.
    for (const dir of dirs) await io.mkdir(dir, { recursive: true });
    const writes = this.writesFor(limits);
    for (const w of writes) await writeCgroupFileAsync(io, cgroup[w.controller], w.file, w.write.value);
    if (delegateTo !== undefined) for (const dir of dirs) await delegate(io, dir, V1_DELEGATED_FILES, delegateTo);
    return { cgroup, writes: writes.map((w) => w.write) };
  }

  update(cg: SessionCgroup, limits: Limits): LimitWrite[] {
    const cgroup = v1Cgroup(cg);
    const writes = this.writesFor(limits);
    // The kernel keeps memsw (memory + swap) >= the memory limit at every moment, so raising
    // the memory limit above the current memsw must write memsw first.
    const memsw = writes.findIndex((w) => w.write.flag === "--memory-swap");
    if (memsw > 0) {
      const current = Number(fs.readFileSync(path.join(cgroup.memory, "memory.memsw.limit_in_bytes"), "utf8").trim());
      if (limits.memoryBytes > current) writes.unshift(...writes.splice(memsw, 1));
    }
    return this.writeLimits(cgroup, writes);
  }

  private writeLimits(cgroup: V1SessionCgroup, writes: V1Write[]): LimitWrite[] {
    for (const w of writes) writeCgroupFile(cgroup[w.controller], w.file, w.write.value);
    return writes.map((w) => w.write);
  }

  open(sessionId: string): V1SessionCgroup {
    assertSessionId(sessionId);
    const p = this.parentCgroup;
    return {
      version: 1,
      memory: path.join(p.memory, sessionId),
      cpu: path.join(p.cpu, sessionId),
      cpuacct: path.join(p.cpuacct, sessionId),
      pids: path.join(p.pids, sessionId),
    };
  }

  pids(cg: SessionCgroup): number[] {
    return pidsInSessionCgroup(v1Cgroup(cg));
  }

  remove(cg: SessionCgroup): boolean {
    return removeSessionCgroup(v1Cgroup(cg));
  }

  /** Into `<parent>-helpers` in the cpu hierarchy alone, beside the sessions' parent: one
   *  entity there for every launcher, weighed against the server and against all the sessions
   *  together, not against each session (tasks in the parent itself would compete with each
   *  session's cgroup, and a room of busy loops would starve the starts). Memory and pids stay
   *  charged to the server, as they were. */
  adoptHelper(pid: number): void {
    fs.mkdirSync(this.helperCgroup, { recursive: true });
    writeCgroupFile(this.helperCgroup, "cgroup.procs", String(pid));
  }

  removeHelperCgroup(): boolean {
    try {
      fs.rmdirSync(this.helperCgroup);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "ENOENT";
    }
  }

  private get helperCgroup(): string {
    return `${this.parentCgroup.cpu}-helpers`;
  }

  listSessions(): string[] {
    const ids = new Set<string>();
    for (const parent of Object.values(this.parents)) for (const id of listSessionDirs(parent, SESSION_ID_PATTERN)) ids.add(id);
    return [...ids];
  }
}

function v1Cgroup(cg: SessionCgroup): V1SessionCgroup {
  if (cg.version !== 1) throw new Error("the cgroup v1 driver was handed a cgroup v2 session");
  return cg;
}
