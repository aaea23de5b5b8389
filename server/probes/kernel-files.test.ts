import { describe, expect, it } from "vitest";

import { readKernelFile, readKernelLink } from "./kernel-files";

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
