import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { cgroupSubtree, childDirectories, readKernelFile, readKernelLink } from "./kernel-files";

describe("kernel file reads", () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("answers null, not an exception, for what is gone", () => {
    expect(readKernelFile("/proc/self/no-such-file")).toBeNull();
    expect(readKernelLink("/proc/self/ns/no-such-namespace")).toBeNull();
    expect(childDirectories("/sys/fs/cgroup/no-such-cgroup")).toEqual([]);
  });

  it("throws for errors that are not about something going away", () => {
    // Reading a directory fails with EISDIR: a bug in the caller, not a vanished process.
    expect(() => readKernelFile("/proc/self")).toThrow(/EISDIR/);
  });

  it("walks a cgroup subtree parents first, and stops at the limit", () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-subtree-"));
    fs.mkdirSync(path.join(root, "a/b/c"), { recursive: true });
    fs.mkdirSync(path.join(root, "d"));
    fs.writeFileSync(path.join(root, "cgroup.procs"), "");
    const walk = cgroupSubtree(root).map((dir) => `/${path.relative(root ?? "", dir)}`);
    expect(walk.slice(0, 1)).toEqual(["/"]);
    expect(walk.slice(1, 3).sort()).toEqual(["/a", "/d"]);
    expect(walk.slice(3)).toEqual(["/a/b", "/a/b/c"]);
    expect(cgroupSubtree(root, 3)).toHaveLength(3);
  });
});
