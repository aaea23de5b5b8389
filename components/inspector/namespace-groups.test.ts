import { describe, expect, it } from "vitest";

import { HOST_NAMESPACES, SANDBOX_NAMESPACES, process, snapshot } from "../lab/test-fixtures";
import { compareWithHost, describeDifferences, formatPidChain, groupByNamespaces, sandboxInit } from "./namespace-groups";

const shell = process(48213, [48213, 1], "bash");
const netShell = process(48301, [48301, 9], "sh", { ...SANDBOX_NAMESPACES, net: 4026533000 }, 48213);
const netChild = process(48320, [48320, 12], "sleep", { ...SANDBOX_NAMESPACES, net: 4026533000 }, 48301);

describe("the sandbox's namespaces next to the host's", () => {
  it("marks each type as separate or shared, with both inodes", () => {
    const rows = compareWithHost(snapshot(0, {}, [shell]), shell);
    const net = rows.find((row) => row.type === "net");
    const time = rows.find((row) => row.type === "time");
    expect(net).toEqual({ type: "net", hostInode: HOST_NAMESPACES.net, sandboxInode: 4026532802, relation: "separate" });
    expect(time).toEqual({ type: "time", hostInode: 4026531834, sandboxInode: 4026531834, relation: "shared" });
    expect(rows).toHaveLength(10);
  });

  it("says a namespace is absent when the kernel has none of that type", () => {
    const noTime = { ...HOST_NAMESPACES, time: null, time_for_children: null };
    const rows = compareWithHost({ ...snapshot(0, {}, [shell]), hostNamespaces: noTime }, shell);
    expect(rows.find((row) => row.type === "time")?.relation).toBe("absent");
  });

  it("finds the sandbox's first process by its host pid, or as pid 1 below the host", () => {
    expect(sandboxInit([netShell, shell], 48213)).toBe(shell);
    expect(sandboxInit([netShell, shell], null)).toBe(shell);
    expect(sandboxInit([], 48213)).toBeNull();
  });
});

describe("processes grouped by namespace", () => {
  it("puts a process in a new net namespace in a group of its own, named by its inode", () => {
    const groups = groupByNamespaces([netChild, shell, netShell], shell);
    expect(groups).toHaveLength(2);
    expect(groups[0]).toMatchObject({ isSandbox: true, differences: [] });
    expect(groups[0]?.processes.map((p) => p.hostPid)).toEqual([48213]);
    expect(groups[1]?.isSandbox).toBe(false);
    expect(groups[1]?.differences).toEqual([{ type: "net", inode: 4026533000 }]);
    expect(groups[1]?.processes.map((p) => p.command)).toEqual(["sh", "sleep"]);
  });

  it("has one group again once the learner leaves the new namespace", () => {
    expect(groupByNamespaces([shell], shell).map((g) => g.isSandbox)).toEqual([true]);
  });

  it("names the differences and formats the pid chain host first", () => {
    expect(describeDifferences([{ type: "net", inode: 1 }])).toBe("new net namespace");
    expect(describeDifferences([{ type: "mnt", inode: 1 }, { type: "pid", inode: 2 }, { type: "pid_for_children", inode: 2 }])).toBe(
      "new mnt, pid and pid for children namespaces",
    );
    expect(formatPidChain([48320, 12, 1])).toBe("48320 → 12 → 1");
  });
});
