import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { KernelFileCache, readKernelFile, readKernelLink } from "./kernel-files";

// Walking cgroup trees, with the same rule for what is gone: server/kernel/cgroup-tree.test.ts.
describe("kernel file reads", () => {
  it("answers null, not an exception, for what is gone", () => {
    expect(readKernelFile("/proc/self/no-such-file")).toBeNull();
    expect(readKernelLink("/proc/self/ns/no-such-namespace")).toBeNull();
  });

  it("throws for errors that are not about something going away", () => {
    // Reading a directory fails with EISDIR: a bug in the caller, not a vanished process.
    expect(() => readKernelFile("/proc/self")).toThrow(/EISDIR/);
  });
});

/** A scratch cgroup of the pids controller (v1 hierarchy or the unified one), or why not. */
function scratchPidsCgroup(): { dir: string } | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: "making a cgroup needs root" };
  const name = `nslab-kernel-files-${process.pid}`;
  for (const base of ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]) {
    if (fs.existsSync(path.join(base, "cgroup.procs")) && (base.endsWith("pids") || fs.readFileSync(path.join(base, "cgroup.subtree_control"), "utf8").includes("pids"))) {
      return { dir: path.join(base, name) };
    }
  }
  return { reason: "no pids controller to make a scratch cgroup in" };
}

const scratch = scratchPidsCgroup();
const mustRun = process.env.CI === "true";

describe.skipIf("reason" in scratch && !mustRun)(`kept-open kernel files${"reason" in scratch ? ` (skipped: ${scratch.reason})` : ""}`, () => {
  const dir = "dir" in scratch ? scratch.dir : "/nonexistent";

  it("re-reads a kept cgroup file as it is now, and answers null once its cgroup is gone", async () => {
    if ("reason" in scratch) throw new Error(`CI needs this, but: ${scratch.reason}`);
    fs.mkdirSync(dir);
    const child = spawn("sh", ["-c", `echo $$ > ${dir}/cgroup.procs && exec sleep 30`], { stdio: "ignore" });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    const cache = new KernelFileCache(8);
    try {
      const current = path.join(dir, "pids.current");
      await waitFor(() => cache.read(current) === "1\n");
      expect(cache.size).toBe(1);
      child.kill("SIGKILL");
      await exited;
      // The same descriptor reads the count afresh.
      await waitFor(() => cache.read(current) === "0\n");
      expect(cache.size).toBe(1);
      fs.rmdirSync(dir);
      expect(cache.read(current)).toBeNull();
      expect(cache.size).toBe(0);
    } finally {
      child.kill("SIGKILL");
      cache.clear();
      if (fs.existsSync(dir)) fs.rmdirSync(dir);
    }
  });

  it("holds no more descriptors than its bound, closing the least recently read first", () => {
    fs.mkdirSync(dir);
    const cache = new KernelFileCache(2);
    try {
      for (const file of ["pids.current", "pids.max", "pids.current", "pids.events"]) expect(cache.read(path.join(dir, file))).not.toBeNull();
      expect(cache.size).toBe(2);
      const held = fs.readdirSync("/proc/self/fd").map((fd) => readKernelLink(`/proc/self/fd/${fd}`));
      expect(held).toContain(path.join(dir, "pids.current"));
      expect(held).toContain(path.join(dir, "pids.events"));
      expect(held).not.toContain(path.join(dir, "pids.max"));
      cache.forget(dir);
      expect(cache.size).toBe(0);
    } finally {
      cache.clear();
      fs.rmdirSync(dir);
    }
  });
});

describe("what is not kept open", () => {
  it("keeps no regular file (a replaced one is read as it is now), no procfs file and no cgroup.procs", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-kernel-files-"));
    const cache = new KernelFileCache(8);
    try {
      const file = path.join(tmp, "memory.current");
      fs.writeFileSync(file, "1\n");
      expect(cache.read(file)).toBe("1\n");
      fs.writeFileSync(`${file}.new`, "2\n");
      fs.renameSync(`${file}.new`, file);
      expect(cache.read(file)).toBe("2\n");
      expect(cache.read("/proc/loadavg")).toMatch(/^\d/);
      const procs = ["/sys/fs/cgroup/pids/cgroup.procs", "/sys/fs/cgroup/cgroup.procs"].find((f) => fs.existsSync(f));
      if (procs) expect(cache.read(procs)).toMatch(/^\d+$/m);
      expect(cache.size).toBe(0);
    } finally {
      cache.clear();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("reads a file that comes in several reads whole", () => {
    const cache = new KernelFileCache(8);
    // /proc/self/maps is a seq_file of many records: a page per read.
    const text = cache.read(`/proc/${process.pid}/maps`) ?? "";
    // A Node process maps more than a page's worth; cut short, it would end before 4 KiB.
    expect(text.length).toBeGreaterThan(4096);
    expect(text.endsWith("\n")).toBe(true);
    for (const line of text.trimEnd().split("\n")) expect(line).toMatch(/^[0-9a-f]+-[0-9a-f]+ [-rwxps]{4} /);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
