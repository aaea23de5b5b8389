// cgroup v1: one hierarchy per controller (or a few mounted together). A session gets a
// directory in the hierarchy of each of memory, cpu, cpuacct and pids (one directory for
// controllers mounted together, such as "cpu,cpuacct"); the launcher moves the sandbox
// into all of them and mounts each inside, so the learner sees /sys/fs/cgroup/memory/… with
// their own limits at its root. In every other hierarchy the host mounts (cpuset, devices,
// freezer, name=systemd, a hybrid host's cgroup2, …) the session gets a leaf too, which the
// sandbox joins before it makes its cgroup namespace: mounted inside, each shows that leaf as
// its root, not the host's tree with other tenants' names. Those leaves are not delegated:
// nothing there is the learner's to divide.
import fs from "node:fs";
import path from "node:path";

import { log } from "../../log";

import { CPU_PERIOD_US, cpuQuotaUs, type Limits } from "../limits";
import { type SetupFs, threadPoolSetup } from "../setup-fs";
import type { UnmanagedHierarchy, V1Hierarchy } from "./detect";
import { type CgroupDriver, type CreatedCgroup, DEFAULT_PARENT, type LimitWrite, SESSION_ID_PATTERN, assertSessionId } from "./driver";
import { delegate, listSessionDirs, pidsInSessionCgroup, removeSessionCgroup, writeCgroupFile, writeCgroupFileAsync } from "./fs-ops";
import { type SessionCgroup, type V1Controller, type V1SessionCgroup, v1HierarchyDirs } from "./session-cgroup";

/** What a delegated v1 cgroup hands over: membership files, not limits (and not
 *  notify_on_release, whose helper would run as host root). */
const V1_DELEGATED_FILES = ["cgroup.procs", "tasks", "cgroup.clone_children"] as const;

/** v1 has no "max" for memory; the kernel's own unlimited value is returned as this. */
const V1_UNLIMITED = "-1";

/** Socket buffers on v1 are not charged to memory.limit_in_bytes but to a counter of their own,
 *  and only in a cgroup whose memory.kmem.tcp.limit_in_bytes has been written: sockets made
 *  before that are never counted (the kernel ties a socket to its cgroup when it is created),
 *  so it goes in before any process joins. On this kernel the counter takes UDP and TCP alike
 *  (a learner held 96 MiB of TCP and 67 MiB of UDP buffers under --memory 32m without it).
 *  A quarter of the memory limit, at most 64 MiB: the lessons' sockets need little, and every
 *  session's share comes out of the host's tcp_mem/udp_mem, which the server's own sockets use
 *  too. v2 charges socket memory to memory.current and needs none of this. */
export const V1_SOCKET_FILE = "memory.kmem.tcp.limit_in_bytes";
export function v1SocketBytes(memoryBytes: number): number {
  return Math.min(Math.floor(memoryBytes / 4 / 4096) * 4096, 64 * 1024 * 1024);
}

/**
 * A child cgroup the learner makes starts with its socket counter off (the kernel does not carry
 * a parent's setting down), and the sockets of a process moved into it would be charged
 * nowhere. Writing any limit turns the counter on, and its charges go up the hierarchy to the
 * session's own counter, which bounds them: so each new child gets "unlimited" (-1), written by
 * the server as soon as the child-cgroup watch sees it. Sockets made in the moment between the
 * child's mkdir and this write stay uncounted; the threat model says so. Not a memory cgroup
 * (another hierarchy, or v2, which has no such file): nothing to do.
 */
export function activateSocketAccounting(childDir: string): void {
  try {
    fs.writeFileSync(path.join(childDir, V1_SOCKET_FILE), V1_UNLIMITED, { flag: "r+" });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Removed already (ENOENT), or not the memory hierarchy: nothing to count.
    if (code !== "ENOENT") log.warn({ code }, "cannot turn on socket accounting in a child cgroup");
  }
}

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
  /** Where session leaves go in each unmanaged hierarchy, with the hierarchy's mount point. */
  private readonly joinedParents: ReadonlyArray<{ readonly name: string; readonly root: string; readonly parent: string; readonly own: string }>;
  /** Whether the joined parents were made ready (cpuset's cpus and mems) by this driver. */
  private joinedReady = false;

  /**
   * @param hierarchies the host's v1 hierarchies (from detectCgroupLayout)
   * @param parentPath where session cgroups go inside each hierarchy (default "/nslab", at
   *   the hierarchy's root: a stable place, so a restarted server finds what a killed one
   *   left, whatever cgroup the new process starts in)
   * @param unmanaged the host's other hierarchies, where a session gets a leaf it joins
   */
  constructor(
    hierarchies: V1Hierarchy[],
    private readonly parentPath?: string,
    unmanaged: readonly UnmanagedHierarchy[] = [],
  ) {
    const parentOf = (controller: V1Controller): string => {
      const hierarchy = hierarchies.find((h) => h.controllers.includes(controller));
      if (!hierarchy) throw new Error(`cgroup v1 hierarchy for ${controller} not mounted`);
      return path.join(hierarchy.mountPoint, parentPath ?? DEFAULT_PARENT);
    };
    this.parentCgroup = { version: 1, memory: parentOf("memory"), cpu: parentOf("cpu"), cpuacct: parentOf("cpuacct"), pids: parentOf("pids") };
    const named = v1HierarchyDirs(this.parentCgroup);
    this.joinedParents = unmanaged.map((h) => ({ name: h.name, root: h.mountPoint, parent: path.join(h.mountPoint, parentPath ?? DEFAULT_PARENT), own: path.join(h.mountPoint, h.ownPath) }));
    // The joined hierarchies' parents too: leftovers there are found and removed alike.
    this.parents = Object.fromEntries([...named.map((h) => [h.name, h.dir]), ...this.joinedParents.map((h) => [h.name, h.parent])]);
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
    if (!this.joinedReady) {
      this.prepareJoinedParents();
      this.joinedReady = true;
    }
    // cpuset's parent hands its cpus and mems to each new child (cgroup.clone_children): a
    // cpuset without them takes no process.
    for (const dir of cgroup.joined ?? []) await io.mkdir(dir);
    const writes = this.writesFor(limits);
    for (const w of writes) await writeCgroupFileAsync(io, cgroup[w.controller], w.file, w.write.value);
    await writeCgroupFileAsync(io, cgroup.memory, V1_SOCKET_FILE, String(v1SocketBytes(limits.memoryBytes)));
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
    const written = this.writeLimits(cgroup, writes);
    try {
      writeCgroupFile(cgroup.memory, V1_SOCKET_FILE, String(v1SocketBytes(limits.memoryBytes)));
    } catch (err) {
      // EBUSY: the sockets already hold more than the new share; the old, larger share stays
      // until they shrink, and the next change of limits tries again.
      if (!/: EBUSY$/.test((err as Error).message)) throw err;
    }
    return written;
  }

  private writeLimits(cgroup: V1SessionCgroup, writes: V1Write[]): LimitWrite[] {
    for (const w of writes) writeCgroupFile(cgroup[w.controller], w.file, w.write.value);
    return writes.map((w) => w.write);
  }

  /**
   * Make each unmanaged hierarchy's parent able to hold session leaves: every level from the
   * mount point down exists, and in cpuset each has the cpus and mems of the level above
   * (a new cpuset has none) and passes them on to the children made in it. Once per driver,
   * before the first session; a level already set up is left as it is.
   */
  private prepareJoinedParents(): void {
    for (const { root, parent, own } of this.joinedParents) {
      const cpuset = fs.existsSync(path.join(root, "cpuset.cpus"));
      let above = root;
      for (const part of path.relative(root, parent).split(path.sep).filter(Boolean)) {
        const dir = path.join(above, part);
        fs.mkdirSync(dir, { recursive: true });
        if (cpuset) {
          // The server's own cpus and mems, not the root's: a host (a Kubernetes node's CPU
          // manager, a unit's AllowedCPUs) may keep CPUs for others that the sandboxes must
          // not run on. Each level is within the one above, as the kernel requires.
          const from = above === root ? own : above;
          for (const file of ["cpuset.cpus", "cpuset.mems"]) {
            const current = fs.readFileSync(path.join(dir, file), "utf8").trim();
            const wanted = fs.readFileSync(path.join(from, file), "utf8").trim();
            if (current === wanted) continue;
            if (current === "") {
              writeCgroupFile(dir, file, wanted);
              continue;
            }
            // Left by an earlier server: the host's CPUs for others may have changed since (a
            // Kubernetes node's CPU manager moves them). Follow them where the kernel lets us;
            // a leaf of a live sandbox still on a CPU outside makes it refuse.
            try {
              writeCgroupFile(dir, file, wanted);
            } catch (err) {
              log.warn({ dir, file, current, wanted, err: (err as Error).message }, "the sandboxes' cpuset could not follow the server's own");
            }
          }
        }
        above = dir;
      }
      if (cpuset) writeCgroupFile(parent, "cgroup.clone_children", "1");
      // Huge pages are not counted by v1's memory limit: none for sandboxes (the limit on the
      // parent holds for every leaf below it).
      for (const file of fs.readdirSync(parent)) {
        if (/^hugetlb\.[^.]+\.limit_in_bytes$/.test(file)) writeCgroupFile(parent, file, "0");
      }
    }
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
      // Absent where the host mounts no other hierarchy, as on hosts before this existed.
      ...(this.joinedParents.length > 0 ? { joined: this.joinedParents.map((h) => path.join(h.parent, sessionId)) } : {}),
    };
  }

  procPath(sessionId: string): string {
    assertSessionId(sessionId);
    return path.posix.join("/", this.parentPath ?? DEFAULT_PARENT, sessionId);
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
