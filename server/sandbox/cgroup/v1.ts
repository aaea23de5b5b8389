// cgroup v1: one hierarchy per controller (or a few mounted together). A session gets a
// directory in each of memory, cpu (with cpuacct) and pids; the launcher moves the sandbox
// into all of them and mounts each inside, so the learner sees /sys/fs/cgroup/memory/… with
// their own limits at its root.
import fs from "node:fs";
import path from "node:path";

import { CPU_PERIOD_US, cpuQuotaUs, type Limits } from "../limits";
import type { V1Hierarchy } from "./detect";
import { type CgroupDriver, type LimitWrite, type SessionCgroup, SESSION_ID_PATTERN, assertSessionId } from "./driver";
import { DEFAULT_PARENT } from "./driver";
import { delegate, listSessionDirs, readProcsRecursive, removeTree, writeCgroupFile } from "./fs-ops";

/** What a delegated v1 cgroup hands over: membership files, not limits (and not
 *  notify_on_release, whose helper would run as host root). */
const V1_DELEGATED_FILES = ["cgroup.procs", "tasks", "cgroup.clone_children"] as const;

/** v1 has no "max" for memory; the kernel's own unlimited value is returned as this. */
const V1_UNLIMITED = "-1";

export class CgroupV1Driver implements CgroupDriver {
  readonly version = 1 as const;
  readonly parents: Readonly<Record<string, string>>;
  /** Whether memory.memsw.* exists (swap accounting on); without it swap cannot be capped. */
  readonly swapAccounting: boolean;

  /**
   * @param hierarchies the host's v1 hierarchies (from detectCgroupLayout)
   * @param parentPath where session cgroups go inside each hierarchy (default "/nslab", at
   *   the hierarchy's root: a stable place, so a restarted server finds what a killed one
   *   left, whatever cgroup the new process starts in)
   */
  constructor(hierarchies: V1Hierarchy[], parentPath?: string) {
    const parents: Record<string, string> = {};
    for (const h of hierarchies) {
      const name = h.controllers.join(",");
      const inside = parentPath ?? DEFAULT_PARENT;
      parents[name] = path.join(h.mountPoint, inside);
    }
    this.parents = parents;
    const memory = hierarchies.find((h) => h.controllers.includes("memory"));
    this.swapAccounting = memory !== undefined && fs.existsSync(path.join(memory.mountPoint, "memory.memsw.limit_in_bytes"));
  }

  private hierarchyName(controller: string): string {
    const name = Object.keys(this.parents).find((n) => n.split(",").includes(controller));
    if (!name) throw new Error(`cgroup v1 hierarchy for ${controller} not mounted`);
    return name;
  }

  limitWrites(limits: Limits): LimitWrite[] {
    const memory = this.hierarchyName("memory");
    const cpu = this.hierarchyName("cpu");
    const pids = this.hierarchyName("pids");
    const writes: LimitWrite[] = [
      { flag: "--memory", file: `${memory}/memory.limit_in_bytes`, value: String(limits.memoryBytes) },
    ];
    // memsw is memory+swap, and the kernel requires memsw >= limit, so it is written second.
    if (this.swapAccounting) {
      writes.push({
        flag: "--memory-swap",
        file: `${memory}/memory.memsw.limit_in_bytes`,
        value: limits.memorySwapBytes < 0 ? V1_UNLIMITED : String(limits.memorySwapBytes),
      });
    }
    writes.push(
      { flag: "--cpus", file: `${cpu}/cpu.cfs_period_us`, value: String(CPU_PERIOD_US) },
      { flag: "--cpus", file: `${cpu}/cpu.cfs_quota_us`, value: String(cpuQuotaUs(limits.cpus)) },
      { flag: "--pids-limit", file: `${pids}/pids.max`, value: limits.pids < 0 ? "max" : String(limits.pids) },
    );
    return writes;
  }

  private dirsFor(sessionId: string): Record<string, string> {
    assertSessionId(sessionId);
    const dirs: Record<string, string> = {};
    for (const [name, parent] of Object.entries(this.parents)) dirs[name] = path.join(parent, sessionId);
    return dirs;
  }

  create(sessionId: string, limits: Limits, delegateTo?: number): SessionCgroup {
    const dirs = this.dirsFor(sessionId);
    for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
    const writes = this.writeLimits(dirs, this.limitWrites(limits));
    if (delegateTo !== undefined) for (const dir of Object.values(dirs)) delegate(dir, V1_DELEGATED_FILES, delegateTo);
    return { version: 1, sessionId, dirs, writes };
  }

  update(cg: SessionCgroup, limits: Limits): LimitWrite[] {
    const writes = this.limitWrites(limits);
    // The kernel keeps memsw (memory + swap) >= the memory limit at every moment, so raising
    // the memory limit above the current memsw must write memsw first.
    const memsw = writes.findIndex((w) => w.flag === "--memory-swap");
    if (memsw > 0) {
      const memoryDir = cg.dirs[this.hierarchyName("memory")] ?? "";
      const current = Number(fs.readFileSync(path.join(memoryDir, "memory.memsw.limit_in_bytes"), "utf8").trim());
      if (limits.memoryBytes > current) writes.unshift(...writes.splice(memsw, 1));
    }
    return this.writeLimits(cg.dirs, writes);
  }

  private writeLimits(dirs: Readonly<Record<string, string>>, writes: LimitWrite[]): LimitWrite[] {
    for (const w of writes) {
      const [hierarchy, file] = splitFile(w.file);
      writeCgroupFile(dirs[hierarchy] ?? "", file, w.value);
    }
    return writes;
  }

  open(sessionId: string): SessionCgroup {
    return { version: 1, sessionId, dirs: this.dirsFor(sessionId), writes: [] };
  }

  pids(cg: SessionCgroup): number[] {
    const all = new Set<number>();
    for (const dir of Object.values(cg.dirs)) for (const pid of readProcsRecursive(dir)) all.add(pid);
    return [...all];
  }

  remove(cg: SessionCgroup): boolean {
    let ok = true;
    for (const dir of Object.values(cg.dirs)) ok = removeTree(dir) && ok;
    return ok;
  }

  listSessions(): string[] {
    const ids = new Set<string>();
    for (const parent of Object.values(this.parents)) for (const id of listSessionDirs(parent, SESSION_ID_PATTERN)) ids.add(id);
    return [...ids];
  }
}

function splitFile(file: string): [string, string] {
  const slash = file.indexOf("/");
  return [file.slice(0, slash), file.slice(slash + 1)];
}
