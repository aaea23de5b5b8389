// cgroup v2: one unified hierarchy. Session cgroups live under a parent whose
// cgroup.subtree_control enables memory, cpu and pids for them. The "no internal processes"
// rule means a cgroup that hands controllers to its children may hold no process itself, so
// when the server runs in a non-root cgroup (a systemd service with Delegate=yes) it first
// moves itself into a leaf beside the sessions.
import fs from "node:fs";
import path from "node:path";

import { CPU_PERIOD_US, cpuQuotaUs, type Limits } from "../limits";
import { type SetupFs, threadPoolSetup } from "../setup-fs";
import { type CgroupDriver, type CreatedCgroup, DEFAULT_PARENT, type LimitWrite, MAX_CHILD_CGROUPS, SESSION_ID_PATTERN, assertSessionId } from "./driver";
import { delegate, listSessionDirs, pidsInSessionCgroup, removeSessionCgroup, writeCgroupFile, writeCgroupFileAsync } from "./fs-ops";
import type { SessionCgroup, V2SessionCgroup } from "./session-cgroup";

const CONTROLLERS = ["memory", "cpu", "pids"];
/** How deep a learner may nest cgroups (v2 enforces it in the kernel). */
const MAX_CGROUP_DEPTH = 16;
/** The files cgroup v2 delegation hands over (cgroup-v2.rst, "Delegation Containment"). */
const V2_DELEGATED_FILES = ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"] as const;

export class CgroupV2Driver implements CgroupDriver {
  readonly version = 2 as const;
  readonly parents: Readonly<Record<string, string>>;
  private readonly parent: string;

  /**
   * @param mountPoint where cgroup2 is mounted (/sys/fs/cgroup, or a fixture tree in tests)
   * @param ownPath this process's cgroup (from /proc/self/cgroup, "0::<path>")
   * @param parentPath where session cgroups go (default "/nslab"; below the server's own
   *   cgroup, e.g. "/system.slice/nslab.service/sessions", for a systemd unit with Delegate=yes)
   */
  constructor(
    private readonly mountPoint: string,
    private readonly ownPath: string,
    private readonly parentPath?: string,
  ) {
    this.parent = path.join(mountPoint, parentPath ?? DEFAULT_PARENT);
    this.parents = { unified: this.parent };
  }

  /**
   * Make the parent able to hand memory, cpu and pids to session cgroups: enable them on every
   * level from the mount point down. Moves the processes of the server's own cgroup into
   * "<own>/server" first when that cgroup would otherwise be an internal node with processes.
   */
  prepare(): void {
    const own = path.join(this.mountPoint, this.ownPath);
    if (this.parent.startsWith(own + path.sep) && this.ownPath !== "/") {
      const procs = fs.readFileSync(path.join(own, "cgroup.procs"), "utf8").trim();
      if (procs) {
        const leaf = path.join(own, "server");
        fs.mkdirSync(leaf, { recursive: true });
        for (const pid of procs.split("\n")) writeCgroupFile(leaf, "cgroup.procs", pid);
      }
    }
    fs.mkdirSync(this.parent, { recursive: true });
    const chain: string[] = [];
    for (let dir = path.dirname(this.parent); dir.startsWith(this.mountPoint); dir = path.dirname(dir)) {
      chain.unshift(dir);
      if (dir === this.mountPoint) break;
    }
    chain.push(this.parent);
    const enable = CONTROLLERS.map((c) => `+${c}`).join(" ");
    for (const dir of chain) writeCgroupFile(dir, "cgroup.subtree_control", enable);
  }

  limitWrites(limits: Limits): LimitWrite[] {
    const swapBytes = limits.memorySwapBytes < 0 ? "max" : String(Math.max(0, limits.memorySwapBytes - limits.memoryBytes));
    return [
      { flag: "--memory", file: "memory.max", value: String(limits.memoryBytes) },
      { flag: "--memory-swap", file: "memory.swap.max", value: swapBytes },
      { flag: "--cpus", file: "cpu.max", value: `${cpuQuotaUs(limits.cpus)} ${CPU_PERIOD_US}` },
      { flag: "--pids-limit", file: "pids.max", value: limits.pids < 0 ? "max" : String(limits.pids) },
    ];
  }

  async create(sessionId: string, limits: Limits, delegateTo?: number, io: SetupFs = threadPoolSetup): Promise<CreatedCgroup> {
    const cgroup = this.open(sessionId);
    const { dir } = cgroup;
    await io.mkdir(dir);
    const exists = (file: string) => io.access(path.join(dir, file)).then(() => true, () => false);
    const writes = this.writesIn(limits, !(await exists("memory.swap.max")) && (await exists("memory.max")));
    for (const w of writes) await writeCgroupFileAsync(io, dir, w.file, w.value);
    // The kernel's own bound on what a delegated learner can create (root's files, not
    // delegated): see MAX_CHILD_CGROUPS.
    await writeCgroupFileAsync(io, dir, "cgroup.max.descendants", String(MAX_CHILD_CGROUPS));
    await writeCgroupFileAsync(io, dir, "cgroup.max.depth", String(MAX_CGROUP_DEPTH));
    if (delegateTo !== undefined) await delegate(io, dir, V2_DELEGATED_FILES, delegateTo);
    return { cgroup, writes };
  }

  /** Synchronous: a limit change answers the learner's request in the same turn, and is a
   *  handful of writes to a cgroup that already exists. */
  update(cg: SessionCgroup, limits: Limits): LimitWrite[] {
    const { dir } = v2Cgroup(cg);
    const writes = this.writesIn(limits, !fs.existsSync(path.join(dir, "memory.swap.max")) && fs.existsSync(path.join(dir, "memory.max")));
    for (const w of writes) writeCgroupFile(dir, w.file, w.value);
    return writes;
  }

  /**
   * The limit writes for a session cgroup, in order. memory.swap.max is absent when the kernel
   * runs without swap accounting (`noSwapFile`: memory.max there, memory.swap.max not); with no
   * swap to account, there is nothing to cap either. (A fresh cgroup directory already holds
   * every control file its controllers provide.)
   */
  private writesIn(limits: Limits, noSwapFile: boolean): LimitWrite[] {
    return this.limitWrites(limits).filter((w) => !(noSwapFile && w.file === "memory.swap.max"));
  }

  open(sessionId: string): V2SessionCgroup {
    assertSessionId(sessionId);
    return { version: 2, dir: path.join(this.parent, sessionId) };
  }

  procPath(sessionId: string): string {
    assertSessionId(sessionId);
    return path.posix.join("/", this.parentPath ?? DEFAULT_PARENT, sessionId);
  }

  pids(cg: SessionCgroup): number[] {
    return pidsInSessionCgroup(v2Cgroup(cg));
  }

  /** v2 can kill a whole subtree in one write (cgroup.kill, Linux 5.14+). */
  killAll(cg: SessionCgroup): boolean {
    const { dir } = v2Cgroup(cg);
    if (!fs.existsSync(path.join(dir, "cgroup.kill"))) return false;
    writeCgroupFile(dir, "cgroup.kill", "1");
    return true;
  }

  remove(cg: SessionCgroup): boolean {
    return removeSessionCgroup(v2Cgroup(cg));
  }

  listSessions(): string[] {
    return listSessionDirs(this.parent, SESSION_ID_PATTERN);
  }

  /** Left where it is. prepare() enables the cpu controller from the root down, so a server in
   *  a cgroup of its own (a systemd service) is a scheduling group and no child of it gets an
   *  autogroup; one in the root cgroup is not (its launchers' autogroups are the v1 case's). */
  adoptHelper(): void {}

  removeHelperCgroup(): boolean {
    return true;
  }
}

function v2Cgroup(cg: SessionCgroup): V2SessionCgroup {
  if (cg.version !== 2) throw new Error("the cgroup v2 driver was handed a cgroup v1 session");
  return cg;
}
