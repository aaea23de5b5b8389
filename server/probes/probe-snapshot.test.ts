import { afterEach, describe, expect, it } from "vitest";

import { FakeHost, fixtureLinks, fixtureText } from "./fixtures/fake-proc";
import { createSnapshotReader } from "./probe-snapshot";

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

  it("reads every process's namespace links again once per refresh period", () => {
    host = new FakeHost();
    host.addProcess("self", { ns: fixtureLinks("host.ns") });
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns") });
    const target = { cgroup: { version: 2 as const, dir: host.addCgroup("unified/s1", [15178]) } };
    const read = createSnapshotReader({ procRoot: host.procRoot, namespaceRefreshMs: 1000 });
    expect(read(target, 0).processes[0]?.namespaces.net).toBe(4026532182);

    // A program called setns(2) itself: same command, new net namespace.
    host.addProcess(15178, { status: fixtureText("sandboxed.status"), ns: fixtureLinks("sandboxed.ns").set("net", "net:[4026532999]") });
    expect(read(target, 100).processes[0]?.namespaces.net).toBe(4026532182);
    expect(read(target, 900).processes[0]?.namespaces.net).toBe(4026532182);
    expect(read(target, 1000).processes[0]?.namespaces.net).toBe(4026532999);
  });
});
