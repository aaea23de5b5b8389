import { describe, expect, it } from "vitest";

import { readCgroupSnapshot } from "./cgroup-snapshot";
import type { NamespaceInodes } from "./namespaces";
import type { ProbeSnapshot } from "./probe-snapshot";
import type { SessionProcess } from "./process-tree";
import { type SnapshotDelta, applySnapshotDelta, diffSnapshot } from "./snapshot-diff";

const V1 = new URL("./fixtures/v1/limited/", import.meta.url).pathname;

const HOST_NAMESPACES: NamespaceInodes = {
  cgroup: 4026531835,
  ipc: 4026531839,
  mnt: 4026531832,
  net: 4026531833,
  pid: 4026531836,
  pid_for_children: 4026531836,
  time: 4026531834,
  time_for_children: 4026531834,
  user: 4026531837,
  uts: 4026531838,
};

function sandboxProcess(hostPid: number, command: string): SessionProcess {
  return {
    hostPid,
    nsPids: [hostPid, hostPid - 15177],
    command,
    ppid: hostPid - 1,
    hostUid: 165536,
    cgroup: "/",
    namespaces: { ...HOST_NAMESPACES, ipc: 4026532180, mnt: 4026532178, net: 4026532182, pid: 4026532181, pid_for_children: 4026532181, user: 4026532177, uts: 4026532179 },
  };
}

function baseSnapshot(): ProbeSnapshot {
  return {
    takenAtMs: 1_700_000_000_000,
    hostNamespaces: HOST_NAMESPACES,
    cgroup: readCgroupSnapshot({ version: 1, memory: `${V1}/memory`, cpu: `${V1}/cpu`, cpuacct: `${V1}/cpuacct`, pids: `${V1}/pids` }),
    processes: [sandboxProcess(15178, "bash"), sandboxProcess(15179, "sleep")],
  };
}

function change(delta: SnapshotDelta | null): Extract<SnapshotDelta, { kind: "change" }> {
  if (delta?.kind !== "change") throw new Error(`expected a change, got ${JSON.stringify(delta)}`);
  return delta;
}

describe("diffSnapshot", () => {
  it("sends the whole snapshot to a receiver that has nothing", () => {
    const snapshot = baseSnapshot();
    expect(diffSnapshot(null, snapshot)).toEqual({ kind: "full", snapshot });
  });

  it("returns null when only the time of reading differs", () => {
    const prev = baseSnapshot();
    const next = { ...structuredClone(prev), takenAtMs: prev.takenAtMs + 100 };
    expect(diffSnapshot(prev, next)).toBeNull();
  });

  it("returns only the values that changed, without their unchanged file and path", () => {
    const prev = baseSnapshot();
    const next = structuredClone(prev);
    next.takenAtMs += 100;
    next.cgroup.memory.usageBytes.value = 52_428_800;
    next.cgroup.memory.oomKillCount.value = 4;
    next.cgroup.cpu.usageNs.value = 1_146_104_716;
    expect(diffSnapshot(prev, next)).toEqual({
      kind: "change",
      takenAtMs: prev.takenAtMs + 100,
      cgroup: {
        memory: { usageBytes: { value: 52_428_800 }, oomKillCount: { value: 4 } },
        cpu: { usageNs: { value: 1_146_104_716 } },
      },
    });
  });

  it("reports processes that came, went, or changed — with only the changed fields", () => {
    const prev = baseSnapshot();
    const next = structuredClone(prev);
    // 15179 exited; 15178 ran `unshare --net` (exec: new command, new net namespace); 15180 started.
    next.processes = [
      { ...sandboxProcess(15178, "unshare"), namespaces: { ...sandboxProcess(15178, "").namespaces, net: 4026532300 } },
      sandboxProcess(15180, "top"),
    ];
    const delta = change(diffSnapshot(prev, next));
    expect(delta.cgroup).toBeUndefined();
    expect(delta.processes).toEqual({
      added: [sandboxProcess(15180, "top")],
      changed: [{ hostPid: 15178, command: "unshare", namespaces: { net: 4026532300 } }],
      removed: [15179],
    });
  });

  it("notices a reading that turned missing or unlimited", () => {
    const prev = baseSnapshot();
    const next = structuredClone(prev);
    next.cgroup.pids.limit.value = null;
    next.cgroup.memory.peakBytes = { ...next.cgroup.memory.peakBytes, value: null, missing: true };
    expect(change(diffSnapshot(prev, next)).cgroup).toEqual({
      pids: { limit: { value: null } },
      memory: { peakBytes: { value: null, missing: true } },
    });
  });

  it("produces deltas that survive JSON and rebuild the next snapshot exactly", () => {
    const first = baseSnapshot();
    const second = structuredClone(first);
    second.takenAtMs += 100;
    second.cgroup.memory.usageBytes.value = 1_000_000;
    second.processes.push(sandboxProcess(15190, "tail"));
    const third = structuredClone(second);
    third.takenAtMs += 100;
    third.processes = third.processes.filter((p) => p.hostPid !== 15190);
    third.cgroup.memory.oomKillCount.value = 4;
    third.processes = third.processes.map((p) => (p.hostPid === 15178 ? { ...p, cgroup: "/build", nsPids: [15178, 1, 1] } : p));

    let held: ProbeSnapshot | null = null;
    let prev: ProbeSnapshot | null = null;
    for (const next of [first, second, third]) {
      const delta = diffSnapshot(prev, next);
      if (delta) {
        // Plain data: nothing is lost on the way through JSON (no undefined, Map or class).
        expect(JSON.parse(JSON.stringify(delta))).toStrictEqual(delta);
        held = applySnapshotDelta(held, delta);
      }
      expect(held).toEqual(next);
      prev = next;
    }
  });

  it("refuses to apply a change without the snapshot it changes", () => {
    expect(() => applySnapshotDelta(null, { kind: "change", takenAtMs: 0 })).toThrow(/full update/);
  });
});
