// `nslab run` as an operator or a test uses it: a real process, real sandboxes, exit statuses
// as docker and a shell give them, and a server restart that finds and removes what a killed
// run left behind.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, onTestFinished, describe, expect, it } from "vitest";

import { hostCgroupDriver } from "../sandbox/cgroup";
import { SandboxHost } from "../sandbox/host";
import { layerImageOf, layersDirOf } from "../sandbox/layer-disk";
import { LAUNCHER, PROJECT_ROOT, ROOTFS, sandboxUnavailable } from "../testing/kernel";
import { uidSlotsNaming } from "../testing/traces";

const unavailable = sandboxUnavailable();
const RUN_DIR = `/run/nslab-test-run-${process.pid}`;
const CGROUP_PARENT = `/nslab-test-run-${process.pid}`;
/** Where `nslab run` puts its sessions' layer images (layers/), this file's own. */
const DATA_DIR = `/var/lib/nslab-test-run-${process.pid}`;
const env = { ...process.env, NSLAB_RUN_DIR: RUN_DIR, NSLAB_CGROUP_PARENT: CGROUP_PARENT, NSLAB_DATA_DIR: DATA_DIR, LOG_LEVEL: "warn" };
const NSLAB = path.join(PROJECT_ROOT, "bin/nslab.mjs");

function nslab(args: string[], input = "") {
  const r = spawnSync(process.execPath, [NSLAB, ...args], { env, input, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function sessionCgroups(): string[] {
  const found = hostCgroupDriver(CGROUP_PARENT);
  return "driver" in found ? found.driver.listSessions() : [];
}

describe.skipIf(unavailable !== null)(`nslab run${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  afterAll(() => {
    const found = hostCgroupDriver(CGROUP_PARENT);
    if ("driver" in found) for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
    fs.rmSync(DATA_DIR, { recursive: true, force: true });
  });

  it("passes stdio through and exits with the command's status", () => {
    const r = nslab(["run", "--", "sh", "-c", "read line; echo \"got $line from pid $$\"; echo oops >&2; exit 3"], "hello\n");
    expect(r).toEqual({ status: 3, stdout: "got hello from pid 1\n", stderr: "oops\n" });
  });

  it("gives the command a terminal when stdin is one, named inside as /dev/console", () => {
    // script(1) runs nslab with a pseudo-terminal on stdin and stdout, as a person's shell does.
    const r = spawnSync("script", ["-qec", `${process.execPath} ${NSLAB} run -- sh -c 'tty; test -t 0 && echo stdin-is-a-tty; exit 5'`, "/dev/null"], {
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(5);
    // (script itself may echo a ^@ when its own stdin, not a terminal here, ends.)
    const lines = r.stdout.replace(/\r/g, "").replace(/\^@/g, "").split("\n").filter(Boolean);
    expect(lines).toEqual(["/dev/console", "stdin-is-a-tty"]);
  });

  it("exits 128+9 when the OOM killer ends the command", () => {
    const r = nslab(["run", "--memory", "16m", "--memory-swap", "16m", "--", "tail", "/dev/zero"]);
    expect(r.status).toBe(137);
  });

  it("exits 127 for a command that does not exist and 126 for one that cannot run", () => {
    expect(nslab(["run", "--", "no-such-command"])).toEqual({ status: 127, stdout: "", stderr: "nslab: no-such-command: No such file or directory\r\n" });
    expect(nslab(["run", "--", "/etc/passwd"]).status).toBe(126);
  });

  it("rejects a bad flag with one line and 125, before creating anything", () => {
    const before = sessionCgroups();
    expect(nslab(["run", "--cpus", "0", "--", "true"])).toEqual({
      status: 125,
      stdout: "",
      stderr: `nslab run: --cpus: range of CPUs is from 0.01 to ${os.cpus().length.toFixed(2)}, as there are only ${os.cpus().length} CPUs available\n`,
    });
    expect(sessionCgroups()).toEqual(before);
  });

  it("applies the flags to the sandbox's cgroup and hostname", () => {
    const r = nslab(["run", "--memory", "64m", "--pids-limit", "20", "--cpus", "0.25", "--hostname", "box-7", "--", "sh", "-c",
      "hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("box-7");
    // v1: memsw = memory + swap = 2 x 64m (docker's rule for --memory alone); v2: swap.max = 64m.
    expect(lines.slice(1)).toEqual(
      fs.existsSync("/sys/fs/cgroup/memory/memory.limit_in_bytes")
        ? ["67108864", "134217728", "20", "25000"]
        : ["67108864", "67108864", "20", "25000 100000"],
    );
  });

  it("writes the launcher's steps as JSON lines with --timeline", () => {
    const file = path.join(RUN_DIR, "timeline.jsonl");
    fs.mkdirSync(RUN_DIR, { recursive: true });
    expect(nslab(["run", "--timeline", file, "--", "true"]).status).toBe(0);
    const steps = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: string; tNs: number });
    expect(steps.map((s) => s.step)).toEqual(["start", "layer", "clone", "uid-map", "overlay", "cgroup", "identity", "mounts", "uts-net", "pivot-root", "exec"]);
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.tNs).toBeGreaterThanOrEqual(steps[i - 1]!.tNs);
  });

  it("a restarted server removes the sandbox a SIGKILLed one left behind", async () => {
    const child = spawn(process.execPath, [NSLAB, "run", "--", "sh", "-c", "sleep 1000 & echo started; wait"], { env, stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout.on("data", (d: Buffer) => d.toString().includes("started") && resolve()));
    const [sessionId] = sessionCgroups();
    expect(sessionId).toMatch(/^[0-9a-f]{16}$/);
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    // The sandbox outlives its killed owner...
    expect(sessionCgroups()).toEqual([sessionId]);
    expect(fs.existsSync(path.join(RUN_DIR, "sessions", sessionId!))).toBe(true);
    const image = layerImageOf(layersDirOf(DATA_DIR), sessionId!);
    const disk = fs.existsSync(image);
    if (process.env.CI === "true") expect(disk, "the writable layer is an image on disk").toBe(true);

    const found = hostCgroupDriver(CGROUP_PARENT);
    if (!("driver" in found)) throw new Error(found.reason);
    const host = new SandboxHost(found.driver, {
      launcherPath: LAUNCHER, rootfs: ROOTFS, runDir: RUN_DIR, dataDir: DATA_DIR,
      layerBytes: 64 << 20, layerInodes: 4096, tmpBytes: 16 << 20,
    });
    // ...until the next server starts. (Its spawner sits in the cpu parent until it is closed.)
    onTestFinished(() => host.close());
    expect(await host.cleanupLeftovers()).toBe(1);
    expect(sessionCgroups()).toEqual([]);
    expect(fs.existsSync(path.join(RUN_DIR, "sessions", sessionId!))).toBe(false);
    expect(uidSlotsNaming(sessionId!)).toEqual([]);
    if (disk) expect(fs.existsSync(image), "the layer image is removed").toBe(false);
    const stray = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        // A zombie waits for the host's init to reap it and holds nothing but its pid; on a
        // hybrid host it still names the session's leaf of the v2 hierarchy until then.
        if (/^State:\s+Z/m.test(fs.readFileSync(`/proc/${p}/status`, "utf8"))) return false;
        return fs.readFileSync(`/proc/${p}/cgroup`, "utf8").includes(sessionId!);
      } catch {
        return false;
      }
    });
    expect(stray).toEqual([]);
  });
});
