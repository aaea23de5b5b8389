import fs from "node:fs";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { FakeHost, fixtureLinks, fixtureText } from "./fixtures/fake-proc";
import { createSnapshotReader, isUnchanged } from "./probe-snapshot";

const V2 = new URL("./fixtures/v2/limited", import.meta.url).pathname;

describe("createSnapshotReader", () => {
  let host: FakeHost | undefined;
  afterEach(() => host?.remove());

  it("reads the cgroup, the processes and the host's namespaces into one snapshot", () => {
    host = new FakeHost();
    host.addProcess("self", { ns: fixtureLinks("host.ns") });
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns") });
    host.addCgroup("unified/s1", [15178]);
    const read = createSnapshotReader({ procRoot: host.procRoot });
    // The cgroup counters come from the v2 fixture; membership from the fake cgroup tree.
    const snapshot = read({ cgroup: { version: 2, dir: `${host.root}/cgroup/unified/s1` } }, 1_700_000_000_000);
    expect(snapshot.takenAtMs).toBe(1_700_000_000_000);
    expect(snapshot.hostNamespaces.net).toBe(4026531833);
    expect(snapshot.processes).toHaveLength(1);
    expect(snapshot.processes[0]?.namespaces.net).toBe(4026532182);
    expect(snapshot.cgroup.memory.usageBytes.missing).toBe(true);
    const fromFixture = read({ cgroup: { version: 2, dir: V2 } }, 1_700_000_000_100);
    expect(fromFixture.cgroup.memory.oomKillCount.value).toBe(3);
  });

  it("reads every process's namespace links again a refresh period after a change", () => {
    host = new FakeHost();
    host.addProcess("self", { ns: fixtureLinks("host.ns") });
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns") });
    const dir = host.addCgroup("unified/s1", [15178]);
    const target = { cgroup: { version: 2 as const, dir } };
    fs.writeFileSync(path.join(dir, "cpu.stat"), "usage_usec 1000\n");
    const read = createSnapshotReader({ procRoot: host.procRoot, namespaceRefreshMs: 1000 });
    expect(read(target, 0).processes[0]?.namespaces.net).toBe(4026532182);

    // A program called setns(2) itself: same command, new net namespace, and the CPU time it
    // took moved the session's counter.
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns").set("net", "net:[4026532999]") });
    fs.writeFileSync(path.join(dir, "cpu.stat"), "usage_usec 1150\n");
    // Read in full, but the links of a process whose command stayed are not read again yet.
    expect(read(target, 100).processes[0]?.namespaces.net).toBe(4026532182);
    expect(read(target, 900).processes[0]?.namespaces.net).toBe(4026532182);
    // Nothing moved since; the refresh owed after the change is made all the same.
    expect(read(target, 1000).processes[0]?.namespaces.net).toBe(4026532999);
  });

  it("reads nothing past the change detectors while they stand still, until a quiet refresh or a full reading", () => {
    host = new FakeHost();
    host.addProcess("self", { ns: fixtureLinks("host.ns") });
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns") });
    const dir = host.addCgroup("unified/s1", [15178]);
    const target = { cgroup: { version: 2 as const, dir } };
    fs.writeFileSync(path.join(dir, "memory.current"), "339968\n");
    const read = createSnapshotReader({ procRoot: host.procRoot, quietRefreshMs: 5000 });
    const first = read(target, 0);
    expect(first.processes.map((p) => p.hostPid)).toEqual([15178]);

    // A second process, but no detector moved (as if it had used no CPU and no memory).
    host.addProcess(15200, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns") });
    host.addCgroup("unified/s1", [15178, 15200]);
    const still = read(target, 100);
    expect(isUnchanged(first, still)).toBe(true);
    expect(still.takenAtMs).toBe(100);
    expect(still.processes.map((p) => p.hostPid)).toEqual([15178]);

    // Asked for in full (limits just changed, say): read at once.
    const full = read(target, 200, true);
    expect(isUnchanged(still, full)).toBe(false);
    expect(full.processes.map((p) => p.hostPid)).toEqual([15178, 15200]);

    // A memory counter that moves is a change.
    fs.writeFileSync(path.join(dir, "memory.current"), "52428800\n");
    const moved = read(target, 300);
    expect(isUnchanged(full, moved)).toBe(false);
    expect(moved.cgroup.memory.usageBytes.value).toBe(52428800);

    // The namespace refresh owed after that change (at 1000), then nothing moves: the next full
    // reading is the quiet refresh, quietRefreshMs after the last.
    expect(isUnchanged(moved, read(target, 1000))).toBe(false);
    host.addProcess(15300, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns") });
    host.addCgroup("unified/s1", [15178, 15200, 15300]);
    expect(read(target, 5999).processes).toHaveLength(2);
    // A caller that reads for the checks alone waits longer for its quiet refresh.
    expect(read(target, 6000, false, 30_000).processes).toHaveLength(2);
    expect(read(target, 31_000, false, 30_000).processes).toHaveLength(3);
  });
});
