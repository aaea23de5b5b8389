// What every hostile suite shares: the static probe, `nslab run` as a lab session builds it,
// and the checks that a session left nothing behind and the host is unchanged. The suites
// (native/hostile*.test.ts) each cover one area of attack.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, afterEach, beforeAll, expect, it } from "vitest";

import { hostCgroupDriver, hostCgroupLayout } from "../server/sandbox/cgroup";
import type { CgroupDriver } from "../server/sandbox/cgroup";
import { uidSlotFile } from "../server/sandbox/uid-slots";
import { LAUNCHER, PROJECT_ROOT, ROOTFS, sandboxUnavailable } from "../server/testing/kernel";

export const unavailable = sandboxUnavailable();
export const NSLAB = path.join(PROJECT_ROOT, "bin", "nslab.mjs");
export const RUN_DIR = process.env.NSLAB_RUN_DIR ?? "/run/nslab";
const RUN_TIMEOUT_MS = 30_000;
export const MiB = 1024 * 1024;

/** The environment a sandbox gets, whatever the server's own holds (launcher-args.ts). */
export const ENV_ALLOW_LIST = ["HOME", "HOSTNAME", "LANG", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

/** Root's capabilities inside: the bounding set native/launcher.c keeps, by name. */
export const CAPS_KEPT = [
  "cap_chown", "cap_dac_override", "cap_fowner", "cap_fsetid", "cap_kill", "cap_setgid", "cap_setuid",
  "cap_setpcap", "cap_net_bind_service", "cap_net_admin", "cap_ipc_owner", "cap_sys_chroot",
  "cap_sys_ptrace", "cap_sys_admin", "cap_sys_time", "cap_setfcap",
];
export const CAPS_KEPT_MASK = "00000000822c95fb";

// ---------------------------------------------------------------------------------------------
// The probe: built once, statically, so it runs in the image whatever its libc.

function buildProbe(): { file: string } | { reason: string } {
  if (unavailable) return { reason: unavailable };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-hostile-"));
  const file = path.join(dir, "hostile-probe");
  try {
    execFileSync(process.env.CC ?? "cc", ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-pthread",
      "-o", file, path.join(PROJECT_ROOT, "native", "hostile-probe.c")], { stdio: "pipe" });
    return { file };
  } catch (err) {
    const reason = `cannot build native/hostile-probe.c statically (needs cc and libc6-dev): ${(err as Error).message.split("\n")[0]}`;
    if (process.env.CI === "true") throw new Error(reason);
    return { reason };
  }
}

const probe = buildProbe();
export const PROBE = "file" in probe ? fs.readFileSync(probe.file) : null;
export const itWithProbe = (name: string, fn: () => Promise<void>, timeout?: number) =>
  it.skipIf(!PROBE)(PROBE ? name : `${name} (skipped: ${"reason" in probe ? probe.reason : ""})`, fn, timeout);

/** The scripts read limits and counters where cgroup v1 keeps them (memory.oom_control,
 *  pids.events, cpu.stat under /sys/fs/cgroup/<controller>/): on a v2 host those tests skip. */
export const CGROUP_V1 = unavailable === null && hostCgroupLayout().version === 1;
export const V1_ONLY = " (skipped: written for cgroup v1 paths, this host has v2)";
export const itOnV1 = (name: string, fn: () => Promise<void>, timeout?: number) =>
  it.skipIf(!CGROUP_V1)(CGROUP_V1 ? name : `${name}${V1_ONLY}`, fn, timeout);
export const itOnV1WithProbe = (name: string, fn: () => Promise<void>, timeout?: number) =>
  CGROUP_V1 ? itWithProbe(name, fn, timeout) : it.skipIf(true)(`${name}${V1_ONLY}`, fn, timeout);

/** Shell lines that install the probe from stdin as /tmp/probe (pass PROBE as stdin). */
export const INSTALL_PROBE = "cat > /tmp/probe && chmod +x /tmp/probe\n";

// ---------------------------------------------------------------------------------------------
// Running a sandbox

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** "lab-xxxxxx": the first six characters of the session id (sandbox.ts names it so). */
  hostname: string | null;
  uidBase: number | null;
}

export interface RunOptions {
  flags?: string[];
  env?: Record<string, string>;
  stdin?: Buffer;
  /** A descriptor of this process to hand over as stdin instead of a pipe. */
  stdinFd?: number;
  timeoutMs?: number;
  onStdout?: (text: string) => void;
}

/** Every sandbox this file started during the current test, for the leftover check after it. */
export const runsOfThisTest: RunResult[] = [];

/** Every script first says which session it is, from builtins only (no fork needed). */
export const PREAMBLE = 'read -r _ nslab_base _ < /proc/self/uid_map; echo "@session $HOSTNAME $nslab_base"\n';

export function nslabRun(command: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [NSLAB, "run", ...(options.flags ?? []), "--", ...command], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...options.env },
      stdio: [options.stdinFd ?? "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      options.onStdout?.(stdout);
    });
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.stdin?.on("error", () => undefined); // the command may not read all of it
    child.stdin?.end(options.stdin ?? Buffer.alloc(0));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
    }, options.timeoutMs ?? RUN_TIMEOUT_MS);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      const session = /^@session (lab-[0-9a-f]{6}) (\d+)$/m.exec(stdout);
      const result: RunResult = {
        status,
        signal,
        timedOut,
        stdout: stdout.replace(/^@session .*\n/m, ""),
        stderr,
        hostname: session?.[1] ?? /^HOSTNAME=(lab-[0-9a-f]{6})$/m.exec(stdout)?.[1] ?? null,
        uidBase: session ? Number(session[2]) : null,
      };
      runsOfThisTest.push(result);
      resolve(result);
    });
  });
}

/** `sh -c SCRIPT` in a fresh sandbox (dash, as /bin/sh is in the image). */
export function sandboxSh(script: string, options: RunOptions = {}): Promise<RunResult> {
  return nslabRun(["sh", "-c", PREAMBLE + script], options);
}

// ---------------------------------------------------------------------------------------------
// What a session may leave on the host, and the host's own state

let driver: CgroupDriver | null = null;

/** The host's cgroup driver, found once: the parents a session's cgroups go under. */
export function hostDriver(): CgroupDriver {
  if (!driver) {
    const found = hostCgroupDriver(process.env.NSLAB_CGROUP_PARENT);
    if (!("driver" in found)) throw new Error(found.reason);
    driver = found.driver;
  }
  return driver;
}

export function readOr(file: string, fallback = ""): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

export function listOr(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export function hostPids(): number[] {
  return listOr("/proc").filter((e) => /^\d+$/.test(e)).map(Number);
}

/** Traces of one session, by the session-id prefix its hostname carries. */
export function leftoversOf(run: RunResult): string[] {
  expect(run.hostname, "the sandbox reported its session").not.toBeNull();
  const prefix = (run.hostname ?? "").slice("lab-".length);
  const found: string[] = [];
  for (const parent of Object.values(hostDriver().parents)) {
    for (const entry of listOr(parent)) if (entry.startsWith(prefix)) found.push(`cgroup ${parent}/${entry}`);
  }
  for (const entry of listOr(path.join(RUN_DIR, "sessions"))) if (entry.startsWith(prefix)) found.push(`session dir ${entry}`);
  if (run.uidBase !== null) {
    const slot = uidSlotFile(run.uidBase);
    if (readOr(slot).includes(` ${prefix}`)) found.push(`uid slot ${slot}`);
  }
  for (const pid of hostPids()) {
    if (readOr(`/proc/${pid}/cgroup`).includes(`/nslab/${prefix}`)) found.push(`process ${pid}`);
  }
  if (readOr("/proc/self/mountinfo").includes(prefix)) found.push("a mount in the host's mount namespace");
  return found;
}

export function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** What an escape would change on the host. Not the run directory's listings: other test files
 *  and servers start, kill and sweep sandboxes beside this one (the uid slots are host-wide),
 *  and what this file's own sessions left there is leftoversOf's to find. */
export function hostState() {
  const releaseAgents = listOr("/sys/fs/cgroup")
    .map((h) => `/sys/fs/cgroup/${h}/release_agent`)
    .filter((f) => fs.existsSync(f))
    .map((f) => `${f}=${readOr(f).trim()}`);
  return {
    hostname: os.hostname(),
    mountinfo: readOr("/proc/self/mountinfo"),
    sysctls: ["kernel/core_pattern", "kernel/sysrq", "kernel/hostname", "kernel/modprobe", "net/ipv4/ip_forward", "vm/overcommit_memory"]
      .map((k) => `${k}=${readOr(`/proc/sys/${k}`, "(absent)").trim()}`),
    transparentHugepages: readOr("/sys/kernel/mm/transparent_hugepage/enabled", "(absent)").trim(),
    releaseAgents,
    launcher: sha256(LAUNCHER),
    imageMarker: sha256(path.join(ROOTFS, ".nslab-image")),
    imageMotd: sha256(path.join(ROOTFS, "etc", "motd")),
    imageBinaries: listOr(path.join(ROOTFS, "usr", "bin")).length,
  };
}

/** Lines of a text, for exact-line assertions. */
export function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}


/** The checks every hostile file runs: after each test, nothing of its sessions is left and the
 *  host is as it was before the file's first test. Call once at the top of the describe. */
export function checkHostAfterEachTest(): { baseline(): ReturnType<typeof hostState> } {
  let baselineHost: ReturnType<typeof hostState> | undefined;

  beforeAll(() => {
    hostDriver();
    baselineHost = hostState();
  });

  // Checked by session rather than against a snapshot of everything, so that other sandboxes on
  // the same host (another nslab server, another test file) cannot make this file fail.
  afterEach(() => {
    const runs = runsOfThisTest.splice(0).filter((run) => run.hostname !== null);
    for (const run of runs) expect(leftoversOf(run), `what session ${run.hostname} left behind`).toEqual([]);
    expect(hostState(), "the host is unchanged").toEqual(baselineHost);
  });

  afterAll(() => {
    if ("file" in probe) fs.rmSync(path.dirname(probe.file), { recursive: true, force: true });
  });

  return {
    baseline() {
      if (!baselineHost) throw new Error("the host's state is recorded before the first test");
      return baselineHost;
    },
  };
}
