import { afterEach, describe, expect, it } from "vitest";

import { FakeHost, fixtureLinks, fixtureText } from "./fixtures/fake-proc";
import { NAMESPACE_TYPES } from "./namespaces";
import { readProcessTree } from "./process-tree";

describe("readProcessTree", () => {
  let host: FakeHost | undefined;
  afterEach(() => host?.remove());

  /** A session with the captured sandboxed sleep at its root and nested-2's sleep in a child cgroup. */
  function session() {
    host = new FakeHost();
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns") });
    host.addProcess(8854, { status: fixtureText("nested-2.status"), ns: fixtureLinks("nested-1.ns") });
    const memory = host.addCgroup("memory/nslab/s1", [15178]);
    host.addCgroup("memory/nslab/s1/build", [8854]);
    const pids = host.addCgroup("pids/nslab/s1", [15178]);
    // No cpu or cpuacct hierarchy in this fake host: those directories do not exist.
    const cgroup = { version: 1 as const, memory, cpu: `${host.root}/cgroup/cpu/nslab/s1`, cpuacct: `${host.root}/cgroup/cpuacct/nslab/s1`, pids };
    return { host, cgroup };
  }

  it("lists every process of the session cgroup and the cgroups below it", () => {
    const { host, cgroup } = session();
    const tree = readProcessTree(cgroup, { procRoot: host.procRoot, namespaceTypes: NAMESPACE_TYPES });
    expect(tree.map((p) => p.hostPid)).toEqual([8854, 15178]);
    expect(tree[1]).toEqual({
      hostPid: 15178,
      nsPids: [15178, 1],
      command: "sleep",
      ppid: 15177,
      hostUid: 165536,
      cgroup: "/",
      namespaces: {
        cgroup: 4026531835,
        ipc: 4026532180,
        mnt: 4026532178,
        net: 4026532182,
        pid: 4026532181,
        pid_for_children: 4026532181,
        time: 4026531834,
        time_for_children: 4026531834,
        user: 4026532177,
        uts: 4026532179,
      },
    });
    expect(tree[0]).toMatchObject({ hostPid: 8854, nsPids: [8854, 3, 1], cgroup: "/build", namespaces: { mnt: 4026532177 } });
  });

  it("drops a pid that vanished before its status was read", () => {
    const { host, cgroup } = session();
    host.addCgroup("memory/nslab/s1/build", [8854, 31337]);
    const tree = readProcessTree(cgroup, { procRoot: host.procRoot, namespaceTypes: NAMESPACE_TYPES });
    expect(tree.map((p) => p.hostPid)).toEqual([8854, 15178]);
  });

  it("drops a process that exited between its status and its namespace links", () => {
    const { host, cgroup } = session();
    host.addProcess(20001, { status: fixtureText("host.status").replace(/\b9660\b/g, "20001") });
    host.addCgroup("memory/nslab/s1", [15178, 20001]);
    const tree = readProcessTree(cgroup, { procRoot: host.procRoot, namespaceTypes: NAMESPACE_TYPES });
    expect(tree.map((p) => p.hostPid)).toEqual([8854, 15178]);
  });

  it("returns nothing for a session cgroup that is already removed", () => {
    host = new FakeHost();
    const gone = `${host.root}/cgroup/memory/gone`;
    expect(readProcessTree({ version: 1, memory: gone, cpu: gone, cpuacct: gone, pids: gone }, { procRoot: host.procRoot })).toEqual([]);
    expect(readProcessTree({ version: 2, dir: gone }, { procRoot: host.procRoot })).toEqual([]);
  });

  it("reads membership from the memory hierarchy on v1 and from the one directory on v2", () => {
    const { host, cgroup } = session();
    // Listed only in the pids hierarchy: v1 reads membership from memory's.
    host.addCgroup("pids/nslab/s1/elsewhere", [8854]);
    host.addCgroup("memory/nslab/s1/build", []);
    expect(readProcessTree(cgroup, { procRoot: host.procRoot }).map((p) => p.hostPid)).toEqual([15178]);
    const dir = host.addCgroup("unified/s1", [15178]);
    host.addCgroup("unified/s1/a/b", [8854]);
    const tree = readProcessTree({ version: 2, dir }, { procRoot: host.procRoot });
    expect(tree.map((p) => [p.hostPid, p.cgroup])).toEqual([
      [8854, "/a/b"],
      [15178, "/"],
    ]);
  });
});

describe("readProcessTree with namespaces known from an earlier read", () => {
  let host: FakeHost | undefined;
  afterEach(() => host?.remove());

  it("reuses them while the command is the same, and reads the links again after an exec", () => {
    host = new FakeHost();
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns") });
    const cgroup = { version: 2 as const, dir: host.addCgroup("unified/s1", [15178]) };
    const options = { procRoot: host.procRoot, namespaceTypes: NAMESPACE_TYPES };
    const [before] = readProcessTree(cgroup, options);
    if (!before) throw new Error("the process was not read");
    const knownNamespaces = new Map([[15178, before]]);

    // The process moved to another net namespace without exec'ing: still the known inodes.
    const moved = fixtureLinks("sandboxed.ns").set("net", "net:[4026532999]");
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: moved });
    expect(readProcessTree(cgroup, { ...options, knownNamespaces })[0]?.namespaces.net).toBe(4026532182);
    expect(readProcessTree(cgroup, options)[0]?.namespaces.net).toBe(4026532999);

    // It exec'd (new command): its links are read again at once.
    host.addProcess(15178, { status: fixtureText("sandboxed.status").replace("Name:\tsleep", "Name:\tbash"), ns: moved });
    expect(readProcessTree(cgroup, { ...options, knownNamespaces })[0]).toMatchObject({ command: "bash", namespaces: { net: 4026532999 } });
  });
});
