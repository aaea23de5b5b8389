// The probes against this machine's real kernel: a scratch cgroup v1 session with a 64 MiB
// memory limit and no swap, a memory hog the OOM killer must kill, and processes in namespaces
// of their own. Needs root and cgroup v1 memory, cpu, cpuacct and pids hierarchies; elsewhere it skips
// and says why, except under CI=true, where a missing feature fails the run.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { V1_CONTROLLERS, type V1Controller, type V1SessionCgroup, hostCgroupLayout, sessionCgroupDirs } from "../sandbox/cgroup";
import { readCgroupProcs } from "../kernel/cgroup-tree";
import { readHostNamespaces } from "./namespaces";
import { SessionReadings, WATCHED_INTERVAL_MS } from "../sessions/session-readings";
import type { ProbeSnapshot } from "./probe-snapshot";
import { readProcessTree } from "./process-tree";
import { applySnapshotDelta } from "./snapshot-diff";

const MiB = 1024 * 1024;
const SESSION_NAME = `nslab-probe-test-${process.pid}`;
/** The scratch session's cgroup, a directory in each v1 hierarchy it needs, or why there is none. */
function scratchCgroup(): { cgroup: V1SessionCgroup } | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: "creating cgroups needs root" };
  const layout = hostCgroupLayout();
  if (layout.version !== 1) return { reason: layout.version === 2 ? "this host runs cgroup v2, and this test drives v1 files" : layout.reason };
  const mountPoint = (controller: V1Controller) => layout.hierarchies.find((h) => h.controllers.includes(controller))?.mountPoint ?? "";
  const dirIn = (controller: V1Controller) => path.join(mountPoint(controller), SESSION_NAME);
  if (!fs.existsSync(path.join(mountPoint("memory"), "memory.memsw.limit_in_bytes"))) {
    return { reason: "no swap accounting (memory.memsw.*): boot with swapaccount=1" };
  }
  if (!fs.existsSync("/usr/bin/unshare")) return { reason: "util-linux unshare is not installed" };
  return { cgroup: { version: 1, memory: dirIn("memory"), cpu: dirIn("cpu"), cpuacct: dirIn("cpuacct"), pids: dirIn("pids") } };
}

const scratch = scratchCgroup();
const unavailable = "reason" in scratch ? scratch.reason : null;
const mustRun = process.env.CI === "true";

/** Poll until `probe` returns something (never a fixed sleep); fail after timeoutMs saying what was awaited. */
async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = probe();
    if (result !== null && result !== undefined && result !== false) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(unavailable !== null && !mustRun)(`probes on this kernel${unavailable && !mustRun ? ` (skipped: ${unavailable})` : ""}`, () => {
  const nowhere = "/nonexistent-nslab-probe-test";
  const cgroup: V1SessionCgroup = "cgroup" in scratch ? scratch.cgroup : { version: 1, memory: nowhere, cpu: nowhere, cpuacct: nowhere, pids: nowhere };
  const dirs = sessionCgroupDirs(cgroup);
  const children: ChildProcess[] = [];
  const dirOf = (controller: V1Controller): string => cgroup[controller];

  /** Start `command` inside the scratch cgroup of each of `controllers` (the shell moves itself, then execs). */
  function startInSession(command: string, controllers: readonly V1Controller[] = V1_CONTROLLERS): ChildProcess {
    const joins = [...new Set(controllers.map(dirOf))].map((dir) => `echo $$ > ${dir}/cgroup.procs`).join(" && ");
    const child = spawn("sh", ["-c", `${joins} && exec ${command}`], { stdio: "ignore" });
    children.push(child);
    return child;
  }

  const inTree = (pid: number | undefined, command?: string) => () =>
    readProcessTree(cgroup).find((p) => p.hostPid === pid && (command === undefined || p.command === command));

  beforeAll(() => {
    if (unavailable !== null) throw new Error(`CI needs this kernel feature, but: ${unavailable}`);
    for (const dir of dirs) fs.mkdirSync(dir);
    const memory = dirOf("memory");
    // memsw (memory + swap) may never be below the memory limit: memory first, then memsw.
    fs.writeFileSync(path.join(memory, "memory.limit_in_bytes"), String(64 * MiB));
    fs.writeFileSync(path.join(memory, "memory.memsw.limit_in_bytes"), String(64 * MiB));
    fs.writeFileSync(path.join(dirOf("cpu"), "cpu.cfs_quota_us"), "50000");
    fs.writeFileSync(path.join(dirOf("pids"), "pids.max"), "50");
  });

  afterAll(async () => {
    // Everything in the scratch cgroups was started by this test: the shells it spawned and
    // whatever they forked (unshare --fork's child).
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    const members = () => dirs.flatMap((dir) => readCgroupProcs(dir));
    for (const pid of members()) killQuietly(pid);
    await waitFor("the scratch cgroups to empty", () => members().length === 0, 10_000).catch(() => undefined);
    for (const dir of dirs) if (fs.existsSync(dir)) fs.rmdirSync(dir);
  });

  it("sees the OOM-kill count go from 0 to 1 when a memory hog hits 64 MiB, and the hog leave the tree", async () => {
    const sleeper = startInSession("sleep 30");
    await waitFor("the sleeper in the session", inTree(sleeper.pid, "sleep"));

    let held: ProbeSnapshot | null = null;
    const readErrors: string[] = [];
    // The session's own readings, at the pace of a watching page.
    const loop = new SessionReadings({ cgroup }, (_snapshot, change) => {
      if (change) held = applySnapshotDelta(held, change);
    }, { onError: (error) => readErrors.push(error.message) });
    loop.setIntervalMs(WATCHED_INTERVAL_MS);
    try {
      const first = await waitFor("the first snapshot", () => held);
      expect(first.cgroup.version).toBe(1);
      expect(first.cgroup.memory.oomKillCount).toMatchObject({ value: 0, file: "memory.oom_control", missing: false });
      expect(first.cgroup.memory.limitBytes).toMatchObject({ value: 64 * MiB, file: "memory.limit_in_bytes", path: `${dirOf("memory")}/memory.limit_in_bytes` });
      expect(first.cgroup.memory.swapLimitBytes).toMatchObject({ value: 0, file: "memory.memsw.limit_in_bytes" });
      expect(first.cgroup.pids.limit.value).toBe(50);
      expect(first.cgroup.pids.current.value).toBeGreaterThanOrEqual(1);
      expect(first.cgroup.cpu.quotaUs.value).toBe(50000);
      expect(first.cgroup.cpu.periodUs.value).toBe(100000);
      expect(first.processes.map((p) => p.hostPid)).toContain(sleeper.pid);

      // tail buffers its last "line" forever, and /dev/zero has no newline.
      const hog = startInSession("tail /dev/zero", ["memory"]);
      const hogExit = new Promise<NodeJS.Signals | null>((resolve) => hog.on("exit", (_code, signal) => resolve(signal)));
      const afterKill = await waitFor("oomKillCount to reach 1", () => {
        const count = held?.cgroup.memory.oomKillCount.value;
        return count !== null && count !== undefined && count >= 1 ? held : null;
      });
      expect(afterKill.cgroup.memory.oomKillCount.value).toBe(1);
      expect(await hogExit).toBe("SIGKILL");
      const settled = await waitFor("the hog to leave the tree", () => (held?.processes.some((p) => p.hostPid === hog.pid) ? null : held));
      expect(settled.processes.map((p) => p.hostPid)).toEqual([sleeper.pid]);
      expect(settled.cgroup.memory.peakBytes.value).toBeGreaterThan(32 * MiB);
      expect(readErrors).toEqual([]);
    } finally {
      loop.stop();
    }
  });

  it("shows a process after `unshare --net` in a net namespace of its own and the host's mount namespace", async () => {
    const child = startInSession("unshare --net sleep 30");
    // unshare execs sleep in the same process once the namespace exists.
    const sandboxed = await waitFor("unshare to exec sleep", inTree(child.pid, "sleep"));
    const host = readHostNamespaces();
    expect(sandboxed.namespaces.net).not.toBeNull();
    expect(sandboxed.namespaces.net).not.toBe(host.net);
    expect(sandboxed.namespaces.mnt).toBe(host.mnt);
    expect(sandboxed.namespaces.pid).toBe(host.pid);
    expect(sandboxed.namespaces.user).toBe(host.user);
    expect(sandboxed.nsPids).toEqual([child.pid]);
  });

  it("shows the pid chain of a process in a pid namespace of its own", async () => {
    const child = startInSession("unshare --pid --fork --kill-child sleep 30");
    const sleeper = await waitFor("the forked sleep", () => readProcessTree(cgroup).find((p) => p.ppid === child.pid && p.command === "sleep"));
    const host = readHostNamespaces();
    expect(sleeper.nsPids).toEqual([sleeper.hostPid, 1]);
    expect(sleeper.namespaces.pid).not.toBe(host.pid);
    const unshare = readProcessTree(cgroup).find((p) => p.hostPid === child.pid);
    // unshare itself stays in the host's pid namespace; its children are born in the new one.
    expect(unshare?.namespaces.pid).toBe(host.pid);
    expect(unshare?.namespaces.pid_for_children).toBe(sleeper.namespaces.pid);
  });
});

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
