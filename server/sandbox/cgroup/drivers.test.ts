// The drivers map `docker run` limits to the right cgroup files on each version. v2 runs
// against a fixture tree laid out as the kernel lays out a delegated v2 hierarchy; v1 against
// a fixture of this host's layout (per-controller hierarchies).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { DEFAULT_LIMITS, MiB } from "../limits";
import { detectCgroupLayout } from "./detect";
import { type SetupFs, synchronousSetup, threadPoolSetup } from "../setup-fs";
import { delegate } from "./fs-ops";
import { sessionCgroupDirs } from "./session-cgroup";
import { CgroupV1Driver } from "./v1";
import { CgroupV2Driver } from "./v2";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-cgroup-"));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function read(file: string): string {
  return fs.readFileSync(file, "utf8");
}

describe("cgroup v2 driver", () => {
  function fixture(ownPath: string, serverPid: string) {
    const own = path.join(tmp, ownPath);
    fs.mkdirSync(own, { recursive: true });
    fs.writeFileSync(path.join(tmp, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n");
    fs.writeFileSync(path.join(own, "cgroup.procs"), `${serverPid}\n`);
    return own;
  }

  it("writes memory.max, memory.swap.max, cpu.max and pids.max for the lesson's limits", async () => {
    fixture("/system.slice/nslab.service", "4242");
    const driver = new CgroupV2Driver(tmp, "/system.slice/nslab.service", "/system.slice/nslab.service/nslab");
    driver.prepare();
    const sessionDir = path.join(tmp, "system.slice/nslab.service/nslab/abcdef0123456789");
    const { cgroup, writes } = await driver.create("abcdef0123456789", DEFAULT_LIMITS);
    expect(cgroup).toEqual({ version: 2, dir: sessionDir });
    expect(read(path.join(sessionDir, "memory.max"))).toBe("268435456");
    expect(read(path.join(sessionDir, "memory.swap.max"))).toBe("0");
    expect(read(path.join(sessionDir, "cpu.max"))).toBe("50000 100000");
    expect(read(path.join(sessionDir, "pids.max"))).toBe("100");
    expect(writes.map((w) => [w.flag, w.file, w.value])).toEqual([
      ["--memory", "memory.max", "268435456"],
      ["--memory-swap", "memory.swap.max", "0"],
      ["--cpus", "cpu.max", "50000 100000"],
      ["--pids-limit", "pids.max", "100"],
    ]);
  });

  it("delegates membership files to the sandbox's root, never the limit files", async () => {
    // On cgroupfs, mkdir fills the directory with control files; here they are made by hand.
    const dir = path.join(tmp, "session");
    fs.mkdirSync(dir);
    for (const f of ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "memory.max", "pids.max"]) fs.writeFileSync(path.join(dir, f), "");
    await delegate(threadPoolSetup, dir, ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "absent.file"], 1048576);
    const owner = (f: string) => fs.statSync(path.join(dir, f)).uid;
    expect(owner(".")).toBe(1048576);
    expect(owner("cgroup.procs")).toBe(1048576);
    expect(owner("cgroup.subtree_control")).toBe(1048576);
    expect(owner("memory.max")).toBe(0);
    expect(owner("pids.max")).toBe(0);
  });

  it("makes the same calls in the same order, and fails alike, whether they run on the thread pool or at once", async () => {
    fixture("/", "1");
    const driver = new CgroupV2Driver(tmp, "/");
    driver.prepare();
    /** `io`, noting each call it is asked to make, by the file's place in the session's cgroup. */
    const noting = (io: SetupFs, sessionId: string, calls: string[]): SetupFs => {
      const note = (call: string, file: string) => calls.push(`${call} ${path.relative(path.join(tmp, "nslab", sessionId), file)}`);
      return {
        mkdir: (dir, options) => (note("mkdir", dir), io.mkdir(dir, options)),
        writeFile: (file, data) => (note(`write ${data}`, file), io.writeFile(file, data)),
        chown: (file, uid, gid) => (note(`chown ${uid}`, file), io.chown(file, uid, gid)),
        access: (file) => (note("access", file), io.access(file)),
        rm: (file, options) => (note("rm", file), io.rm(file, options)),
      };
    };
    const made = async (io: SetupFs, sessionId: string) => {
      const calls: string[] = [];
      const { writes } = await driver.create(sessionId, DEFAULT_LIMITS, 1048576, noting(io, sessionId, calls));
      // A second create of the same session: the kernel (here the fixture) refuses the mkdir.
      const again = await driver.create(sessionId, DEFAULT_LIMITS, 1048576, io).then(() => "made", (err: Error) => err.message);
      return { calls, writes, again: again.replace(sessionId, "<id>") };
    };
    const onThreadPool = await made(threadPoolSetup, "aaaaaaaa00000001");
    const atOnce = await made(synchronousSetup, "aaaaaaaa00000002");
    expect(atOnce).toEqual(onThreadPool);
    expect(onThreadPool.calls.slice(0, 4)).toEqual(["mkdir ", "access memory.swap.max", "access memory.max", "write 268435456 memory.max"]);
    expect(onThreadPool.calls).toContain("chown 1048576 cgroup.procs");
    expect(onThreadPool.again).toMatch(/^EEXIST: file already exists, mkdir '.*\/<id>'$/);
    expect(fs.statSync(path.join(tmp, "nslab", "aaaaaaaa00000002")).uid).toBe(1048576);
  });

  it("moves the server into a leaf and enables controllers down to the session parent", () => {
    const own = fixture("/system.slice/nslab.service", "4242");
    const driver = new CgroupV2Driver(tmp, "/system.slice/nslab.service", "/system.slice/nslab.service/nslab");
    driver.prepare();
    expect(read(path.join(own, "server/cgroup.procs"))).toBe("4242");
    for (const dir of [tmp, path.join(tmp, "system.slice"), own, path.join(own, "nslab")]) {
      expect(read(path.join(dir, "cgroup.subtree_control")), dir).toBe("+memory +cpu +pids");
    }
  });

  it("maps docker's swap rules: swap = memory-swap minus memory, -1 unlimited", () => {
    const driver = new CgroupV2Driver(tmp, "/");
    const swap = (memorySwapBytes: number) =>
      driver.limitWrites({ ...DEFAULT_LIMITS, memoryBytes: 64 * MiB, memorySwapBytes }).find((w) => w.flag === "--memory-swap")?.value;
    expect(swap(64 * MiB)).toBe("0");
    expect(swap(128 * MiB)).toBe(String(64 * MiB));
    expect(swap(-1)).toBe("max");
  });

  it("lists session cgroups, and removes a session with the child cgroups the learner made", async () => {
    fixture("/", "1");
    const driver = new CgroupV2Driver(tmp, "/");
    driver.prepare();
    const { cgroup: cg } = await driver.create("0123456789abcdef", DEFAULT_LIMITS);
    if (cg.version !== 2) throw new Error("expected a v2 cgroup");
    expect(driver.open("0123456789abcdef")).toEqual(cg);
    fs.mkdirSync(path.join(cg.dir, "learner-child/grandchild"), { recursive: true });
    fs.mkdirSync(path.join(tmp, "nslab", "not-a-session"), { recursive: true });
    expect(driver.listSessions()).toEqual(["0123456789abcdef"]);
    // On the real cgroupfs rmdir works on a directory of control files; a fixture has to
    // drop its plain files first.
    for (const f of fs.readdirSync(cg.dir)) {
      const p = path.join(cg.dir, f);
      if (fs.statSync(p).isFile()) fs.rmSync(p);
    }
    expect(driver.remove(cg)).toBe(true);
    expect(fs.existsSync(cg.dir)).toBe(false);
    expect(driver.remove(cg)).toBe(true); // idempotent
  });

  it("rejects a session id that could escape the parent", async () => {
    const driver = new CgroupV2Driver(tmp, "/");
    await expect(driver.create("../../etc", DEFAULT_LIMITS)).rejects.toThrow(/bad session id/);
  });
});

describe("cgroup v1 driver", () => {
  function fixture() {
    for (const c of ["memory", "cpu,cpuacct", "pids"]) fs.mkdirSync(path.join(tmp, c, "system.slice"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "memory", "memory.memsw.limit_in_bytes"), "9223372036854771712\n");
    return [
      { controllers: ["memory"], mountPoint: path.join(tmp, "memory"), ownPath: "/system.slice" },
      { controllers: ["cpu", "cpuacct"], mountPoint: path.join(tmp, "cpu,cpuacct"), ownPath: "/" },
      { controllers: ["pids"], mountPoint: path.join(tmp, "pids"), ownPath: "/system.slice" },
    ];
  }

  it("writes limit_in_bytes, memsw, cfs quota/period and pids.max in each hierarchy", async () => {
    const driver = new CgroupV1Driver(fixture());
    const { cgroup, writes } = await driver.create("abcdef0123456789", DEFAULT_LIMITS);
    // At each hierarchy's root, not below the server's own cgroup: a restarted server must
    // find what a killed one left, whichever cgroup it starts in. cpu and cpuacct are mounted
    // together here, so they share a directory.
    const cpuDir = path.join(tmp, "cpu,cpuacct/nslab/abcdef0123456789");
    expect(cgroup).toEqual({
      version: 1,
      memory: path.join(tmp, "memory/nslab/abcdef0123456789"),
      cpu: cpuDir,
      cpuacct: cpuDir,
      pids: path.join(tmp, "pids/nslab/abcdef0123456789"),
    });
    expect(driver.open("abcdef0123456789")).toEqual(cgroup);
    if (cgroup.version !== 1) throw new Error("expected a v1 cgroup");
    expect(read(path.join(cgroup.memory, "memory.limit_in_bytes"))).toBe("268435456");
    expect(read(path.join(cgroup.memory, "memory.memsw.limit_in_bytes"))).toBe("268435456");
    expect(read(path.join(cgroup.cpu, "cpu.cfs_quota_us"))).toBe("50000");
    expect(read(path.join(cgroup.cpu, "cpu.cfs_period_us"))).toBe("100000");
    expect(read(path.join(cgroup.pids, "pids.max"))).toBe("100");
    // memsw must follow limit_in_bytes: the kernel refuses memsw below the memory limit.
    expect(writes.map((w) => w.file)).toEqual([
      "memory/memory.limit_in_bytes",
      "memory/memory.memsw.limit_in_bytes",
      "cpu,cpuacct/cpu.cfs_period_us",
      "cpu,cpuacct/cpu.cfs_quota_us",
      "pids/pids.max",
    ]);
  });

  it("delegates each hierarchy's directory and membership files to the sandbox's root once its limits are in", async () => {
    const driver = new CgroupV1Driver(fixture());
    const { cgroup } = await driver.create("abcdef0123456789", DEFAULT_LIMITS, 1048576);
    if (cgroup.version !== 1) throw new Error("expected a v1 cgroup");
    // A fixture's mkdir makes no control files, so only the limit files written exist.
    for (const dir of [cgroup.memory, cgroup.cpu, cgroup.pids]) expect(fs.statSync(dir).uid, dir).toBe(1048576);
    expect(fs.statSync(path.join(cgroup.memory, "memory.limit_in_bytes")).uid).toBe(0);
    expect(fs.statSync(path.join(cgroup.pids, "pids.max")).uid).toBe(0);
  });

  it("fails naming the file the kernel refused, having delegated nothing", async () => {
    const driver = new CgroupV1Driver(fixture());
    const cgroup = driver.open("abcdef0123456789");
    if (cgroup.version !== 1) throw new Error("expected a v1 cgroup");
    // A directory where pids.max should be: writing it fails as a refused limit would.
    fs.mkdirSync(path.join(cgroup.pids, "pids.max"), { recursive: true });
    await expect(driver.create("abcdef0123456789", DEFAULT_LIMITS, 1048576)).rejects.toThrow(
      `write "100" to ${path.join(cgroup.pids, "pids.max")}: EISDIR`,
    );
    // The limits before it went in; no directory was handed to the sandbox's root.
    expect(read(path.join(cgroup.cpu, "cpu.cfs_quota_us"))).toBe("50000");
    for (const dir of [cgroup.memory, cgroup.cpu, cgroup.pids]) expect(fs.statSync(dir).uid, dir).toBe(0);
  });

  it("skips memsw where swap accounting is off, and writes -1 for unlimited swap", () => {
    const hierarchies = fixture();
    const driver = new CgroupV1Driver(hierarchies);
    expect(driver.limitWrites({ ...DEFAULT_LIMITS, memorySwapBytes: -1 }).find((w) => w.flag === "--memory-swap")?.value).toBe("-1");
    fs.rmSync(path.join(tmp, "memory", "memory.memsw.limit_in_bytes"));
    const noSwap = new CgroupV1Driver(hierarchies);
    expect(noSwap.swapAccounting).toBe(false);
    expect(noSwap.limitWrites(DEFAULT_LIMITS).map((w) => w.flag)).not.toContain("--memory-swap");
  });

  it("gives a session a leaf in each hierarchy it sets no limit in, cpuset's with the cpus and mems it needs", async () => {
    const cpusetRoot = path.join(tmp, "cpuset");
    const freezerRoot = path.join(tmp, "freezer");
    fs.mkdirSync(freezerRoot);
    // A fresh cpuset cgroup has empty cpus and mems and takes no process until they are set;
    // the fixture's mkdir makes none of the files, so the parent's are made ahead by hand.
    fs.mkdirSync(path.join(cpusetRoot, "lab"), { recursive: true });
    fs.writeFileSync(path.join(cpusetRoot, "cpuset.cpus"), "0-1\n");
    fs.writeFileSync(path.join(cpusetRoot, "cpuset.mems"), "0\n");
    for (const file of ["cpuset.cpus", "cpuset.mems", "cgroup.clone_children"]) fs.writeFileSync(path.join(cpusetRoot, "lab", file), "");
    // The server itself runs on CPU 1 alone (a unit's AllowedCPUs, a node's CPU manager): CPU
    // 0 is kept for others, and the sandboxes must stay off it too.
    fs.mkdirSync(path.join(cpusetRoot, "server"));
    fs.writeFileSync(path.join(cpusetRoot, "server", "cpuset.cpus"), "1\n");
    fs.writeFileSync(path.join(cpusetRoot, "server", "cpuset.mems"), "0\n");
    const unmanaged = [
      { name: "cpuset", mountPoint: cpusetRoot, ownPath: "/server" },
      { name: "freezer", mountPoint: freezerRoot, ownPath: "/" },
    ];
    const driver = new CgroupV1Driver(fixture(), "/lab", unmanaged);
    expect(driver.parents).toMatchObject({ cpuset: path.join(cpusetRoot, "lab"), freezer: path.join(freezerRoot, "lab") });
    const { cgroup } = await driver.create("abcdef0123456789", DEFAULT_LIMITS, 1048576);
    if (cgroup.version !== 1) throw new Error("expected a v1 cgroup");
    const leaves = [path.join(cpusetRoot, "lab/abcdef0123456789"), path.join(freezerRoot, "lab/abcdef0123456789")];
    expect(cgroup.joined).toEqual(leaves);
    expect(driver.open("abcdef0123456789")).toEqual(cgroup);
    // The parent took the server's own cpus and mems, not the root's, and hands them to each
    // child it gets.
    expect(["cpuset.cpus", "cpuset.mems", "cgroup.clone_children"].map((f) => read(path.join(cpusetRoot, "lab", f)))).toEqual(["1", "0", "1"]);
    // The host moves the server to CPU 0 (its CPU manager gave CPU 1 to another): the next
    // server's sandboxes follow it.
    fs.writeFileSync(path.join(cpusetRoot, "server", "cpuset.cpus"), "0\n");
    const restarted = new CgroupV1Driver(fixture(), "/lab", unmanaged);
    await restarted.create("0123456789abcdef", DEFAULT_LIMITS, 1048576 + 65536);
    expect(read(path.join(cpusetRoot, "lab", "cpuset.cpus")).trim()).toBe("0");
    // Only the first session is left for the removal below.
    for (const dir of sessionCgroupDirs(restarted.open("0123456789abcdef"))) fs.rmSync(dir, { recursive: true, force: true });
    // Joined, not delegated: nothing there is the learner's to divide.
    for (const leaf of leaves) expect(fs.statSync(leaf).uid, leaf).toBe(0);
    expect(driver.procPath("abcdef0123456789")).toBe("/lab/abcdef0123456789");
    expect(driver.listSessions()).toEqual(["abcdef0123456789"]);
    // Removed with the rest (a fixture's directories hold plain files cgroupfs would not have).
    for (const dir of [cgroup.memory, cgroup.cpu, cgroup.pids]) for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
    expect(driver.remove(cgroup)).toBe(true);
    expect(leaves.filter((leaf) => fs.existsSync(leaf))).toEqual([]);
  });

  it("gives sandboxes no huge pages in a v1 hugetlb hierarchy, whose pages the memory limit does not count", async () => {
    const hugetlbRoot = path.join(tmp, "hugetlb");
    fs.mkdirSync(path.join(hugetlbRoot, "lab"), { recursive: true });
    const limits = ["hugetlb.2MB.limit_in_bytes", "hugetlb.1GB.limit_in_bytes"];
    for (const file of [...limits, "hugetlb.2MB.usage_in_bytes"]) fs.writeFileSync(path.join(hugetlbRoot, "lab", file), "9223372036854771712\n");
    const driver = new CgroupV1Driver(fixture(), "/lab", [{ name: "hugetlb", mountPoint: hugetlbRoot, ownPath: "/" }]);
    await driver.create("abcdef0123456789", DEFAULT_LIMITS, 1048576);
    expect(limits.map((f) => read(path.join(hugetlbRoot, "lab", f)))).toEqual(["0", "0"]);
    expect(read(path.join(hugetlbRoot, "lab", "hugetlb.2MB.usage_in_bytes")).trim()).toBe("9223372036854771712");
  });

  it("honours an explicit parent path", () => {
    const driver = new CgroupV1Driver(fixture(), "/lab");
    expect(driver.parents.pids).toBe(path.join(tmp, "pids/lab"));
  });

  it("gives cpu and cpuacct directories of their own where the host mounts them apart", async () => {
    // This build machine's layout: /sys/fs/cgroup/cpu and /sys/fs/cgroup/cpuacct.
    for (const c of ["memory", "cpu", "cpuacct", "pids"]) fs.mkdirSync(path.join(tmp, c), { recursive: true });
    const driver = new CgroupV1Driver(["memory", "cpu", "cpuacct", "pids"].map((c) => ({ controllers: [c], mountPoint: path.join(tmp, c), ownPath: "/" })));
    expect(Object.keys(driver.parents)).toEqual(["memory", "cpu", "cpuacct", "pids"]);
    const { cgroup, writes } = await driver.create("abcdef0123456789", DEFAULT_LIMITS);
    expect(cgroup).toMatchObject({ cpu: path.join(tmp, "cpu/nslab/abcdef0123456789"), cpuacct: path.join(tmp, "cpuacct/nslab/abcdef0123456789") });
    expect(fs.existsSync(path.join(tmp, "cpuacct/nslab/abcdef0123456789"))).toBe(true);
    expect(writes.filter((w) => w.flag === "--cpus").map((w) => w.file)).toEqual(["cpu/cpu.cfs_period_us", "cpu/cpu.cfs_quota_us"]);
    expect(read(path.join(tmp, "cpu/nslab/abcdef0123456789/cpu.cfs_quota_us"))).toBe("50000");
  });

  it("lists, kills the processes of and removes a session in every hierarchy, child cgroups included", async () => {
    const driver = new CgroupV1Driver(fixture());
    const { cgroup } = await driver.create("abcdef0123456789", DEFAULT_LIMITS);
    if (cgroup.version !== 1) throw new Error("expected a v1 cgroup");
    fs.mkdirSync(path.join(cgroup.pids, "learner-child"));
    fs.writeFileSync(path.join(cgroup.pids, "learner-child/cgroup.procs"), "4242\n");
    fs.writeFileSync(path.join(cgroup.memory, "cgroup.procs"), "4241\n4242\n");
    expect(driver.listSessions()).toEqual(["abcdef0123456789"]);
    expect(driver.pids(cgroup).sort()).toEqual([4241, 4242]);
    // A fixture's directories hold plain files, which cgroupfs's rmdir would not mind.
    for (const dir of [cgroup.memory, cgroup.cpu, cgroup.pids, path.join(cgroup.pids, "learner-child")]) {
      for (const f of fs.readdirSync(dir, { withFileTypes: true })) if (f.isFile()) fs.rmSync(path.join(dir, f.name));
    }
    expect(driver.remove(cgroup)).toBe(true);
    expect([cgroup.memory, cgroup.cpu, cgroup.pids].filter((d) => fs.existsSync(d))).toEqual([]);
  });

  it("refuses a session cgroup of the other version", () => {
    expect(() => new CgroupV1Driver(fixture()).pids({ version: 2, dir: tmp })).toThrow(/v1 driver was handed a cgroup v2/);
    expect(() => new CgroupV2Driver(tmp, "/").remove({ version: 1, memory: tmp, cpu: tmp, cpuacct: tmp, pids: tmp })).toThrow(/v2 driver/);
  });
});

describe("detecting the host's cgroup layout", () => {
  const v1Mountinfo = [
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
    "31 27 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct",
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  ].join("\n");
  const v1Self = "9:name=systemd:/system.slice/nslab.service\n8:pids:/\n4:memory:/process_api/67cb\n2:cpuacct:/\n1:cpu:/\n0::/\n";

  it("finds v1 hierarchies (this build machine's hybrid layout) and the server's own cgroups", () => {
    expect(detectCgroupLayout(v1Mountinfo, v1Self)).toEqual({
      version: 1,
      hierarchies: [
        { controllers: ["cpu"], mountPoint: "/sys/fs/cgroup/cpu", ownPath: "/" },
        { controllers: ["cpuacct"], mountPoint: "/sys/fs/cgroup/cpuacct", ownPath: "/" },
        { controllers: ["memory"], mountPoint: "/sys/fs/cgroup/memory", ownPath: "/process_api/67cb" },
        { controllers: ["pids"], mountPoint: "/sys/fs/cgroup/pids", ownPath: "/" },
      ],
      unmanaged: [
        { name: "name=systemd", mountPoint: "/sys/fs/cgroup/systemd", ownPath: "/system.slice/nslab.service" },
        { name: "cgroup2", mountPoint: "/sys/fs/cgroup/unified", ownPath: "/" },
      ],
    });
  });

  it("lists every hierarchy it sets no limit in, once each, by the options that name it", () => {
    const more = [
      v1Mountinfo,
      "42 31 0:39 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children",
      "43 31 0:40 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio",
      "44 31 0:41 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer,release_agent=/x",
      // The same freezer hierarchy bound elsewhere: one hierarchy, at its first place.
      "45 27 0:41 / /mnt/freezer rw,relatime - cgroup cgroup rw,freezer",
    ].join("\n");
    const layout = detectCgroupLayout(more, v1Self);
    expect(layout.version === 1 ? layout.unmanaged.map((h) => `${h.name} ${h.mountPoint}`) : layout).toEqual([
      "name=systemd /sys/fs/cgroup/systemd",
      "cgroup2 /sys/fs/cgroup/unified",
      "cpuset /sys/fs/cgroup/cpuset",
      "net_cls,net_prio /sys/fs/cgroup/net_cls,net_prio",
      "freezer /sys/fs/cgroup/freezer",
    ]);
  });

  it("finds a unified v2 hierarchy with its controllers", () => {
    const mountinfo = "27 1 254:0 / / rw - ext4 /dev/vda rw\n30 27 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate";
    expect(detectCgroupLayout(mountinfo, "0::/user.slice/session-1.scope\n", "cpuset cpu io memory pids\n")).toEqual({
      version: 2,
      mountPoint: "/sys/fs/cgroup",
      ownPath: "/user.slice/session-1.scope",
      controllers: ["cpuset", "cpu", "io", "memory", "pids"],
    });
  });

  it("needs a cpuacct hierarchy on v1, where CPU usage is counted", () => {
    const withoutCpuacct = v1Mountinfo.split("\n").filter((line) => !line.includes("/cpuacct ")).join("\n");
    expect(detectCgroupLayout(withoutCpuacct, v1Self)).toEqual({ version: null, reason: "cgroup v1 lacks the cpuacct controller(s)" });
  });

  it("explains what is missing", () => {
    const mountinfo = "30 27 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw";
    expect(detectCgroupLayout(mountinfo, "0::/\n", "cpu io\n")).toEqual({ version: null, reason: "cgroup v2 lacks the memory, pids controller(s)" });
    expect(detectCgroupLayout("27 1 254:0 / / rw - ext4 /dev/vda rw", "")).toEqual({
      version: null,
      reason: "no cgroup filesystem is mounted at /sys/fs/cgroup",
    });
  });
});
