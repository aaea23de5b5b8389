// One learner's sandbox: its cgroup, uid range, state directory and launcher process, owned in
// one place with one teardown path (destroy) that is safe to run twice and runs on every exit.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import * as pty from "node-pty";

import type { LaunchStep } from "../../common/protocol";
import { type Logger, log as rootLog } from "../log";
import { SIGKILL, signalIfInCgroup } from "../kernel/pidfd";
import type { CgroupDriver, LimitWrite, SessionCgroup } from "./cgroup";
import type { CgroupV2Driver } from "./cgroup/v2";
import { launcherArgv, sandboxEnv } from "./launcher-args";
import type { Limits } from "./limits";
import { MAX_CHILD_CGROUPS } from "./cgroup/driver";
import { countDescendants } from "./cgroup/fs-ops";
import { PtyInput } from "./pty-input";
import type { UidSlot, UidSlots } from "./uid-slots";

export interface SandboxHostSettings {
  launcherPath: string;
  rootfs: string;
  /** Host directory holding one sub-directory per live session. */
  sessionsDir: string;
  layerBytes: number;
  layerInodes: number;
  tmpBytes: number;
}

export interface SandboxSpec {
  limits: Limits;
  cols: number;
  rows: number;
  /** Defaults to an interactive login-like bash. */
  command?: string[];
  hostname?: string;
  /** Extra environment for the command (on top of the allow-listed base). */
  env?: Record<string, string>;
  /** "pty" (default): a new terminal the server reads and writes. "pipes": stdin, stdout and
   *  stderr are pipes the caller copies to and from (`nslab run` without a terminal): the
   *  sandbox never holds the caller's own files, whose host paths it could see and reopen. */
  stdio?: "pty" | "pipes";
  /** Shown in the learner's prompt; default TERM of the sandbox. */
  term?: string;
}

/** What the server holds of the launcher process, whichever way it was spawned. */
interface LauncherProcess {
  pid: number;
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  pause(): void;
  resume(): void;
  kill(signal: NodeJS.Signals): void;
}

export type SandboxStartError =
  | { kind: "full"; message: string }
  | { kind: "failed"; message: string };

export class SandboxStartFailure extends Error {
  constructor(readonly failure: SandboxStartError) {
    super(failure.message);
  }
}

interface StatusLine {
  step: string;
  pid: number;
  tNs: number;
  detail?: string;
}

const READY_TIMEOUT_MS = 10_000;
const CGROUP_WATCHDOG_MS = 250;
const KILL_TIMEOUT_MS = 5_000;

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}

export function newSessionId(): string {
  return randomBytes(8).toString("hex");
}

export function parseStatusLines(text: string): StatusLine[] {
  const steps: StatusLine[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const value = JSON.parse(line) as Partial<StatusLine>;
      if (typeof value.step === "string" && typeof value.tNs === "number" && typeof value.pid === "number") {
        steps.push(value as StatusLine);
      }
    } catch {
      // A torn last line while the launcher is still writing: read again later.
    }
  }
  return steps;
}

export class Sandbox {
  readonly sessionId: string;
  readonly hostname: string;
  /** The sandbox's pid 1, as the host sees it (0 until started). */
  hostPid = 0;
  startup: LaunchStep[] = [];
  /** The limits in force, and where each lives on this host with the value written. */
  limits: Limits;
  /** The limits the session started with: the most a learner may set from the page. */
  readonly initialLimits: Readonly<Limits>;
  cgroupFiles: LimitWrite[];
  private exitInfo: { exitCode: number | null; signal: number | null } | null = null;
  private readonly exitWaiters: Array<(info: { exitCode: number | null; signal: number | null }) => void> = [];
  private destroying: Promise<void> | null = null;
  private process: LauncherProcess | null = null;
  private readonly log: Logger;

  private constructor(
    private readonly settings: SandboxHostSettings,
    private readonly driver: CgroupDriver,
    private readonly slots: UidSlots,
    readonly cgroup: SessionCgroup,
    private readonly slot: UidSlot,
    readonly stateDir: string,
    limits: Limits,
  ) {
    this.limits = limits;
    this.initialLimits = Object.freeze({ ...limits });
    this.cgroupFiles = [...cgroup.writes];
    this.sessionId = cgroup.sessionId;
    this.hostname = `lab-${this.sessionId.slice(0, 6)}`;
    this.log = rootLog.child({ sessionId: this.sessionId });
  }

  /**
   * Create everything the sandbox owns and start its launcher; resolves once the command has
   * been exec'd inside. On any failure, everything created so far is torn down again.
   */
  static async start(
    settings: SandboxHostSettings,
    driver: CgroupDriver,
    slots: UidSlots,
    spec: SandboxSpec,
  ): Promise<Sandbox> {
    const sessionId = newSessionId();
    const slot = slots.claim(sessionId);
    if (!slot) throw new SandboxStartFailure({ kind: "full", message: "no free uid range for another sandbox" });
    const stateDir = path.join(settings.sessionsDir, sessionId);
    let cgroup: SessionCgroup;
    try {
      fs.mkdirSync(path.join(stateDir, "mnt"), { recursive: true, mode: 0o711 });
      fs.writeFileSync(path.join(stateDir, "owner"), `${process.pid}\n`);
      cgroup = driver.create(sessionId, spec.limits, slot.uidBase);
    } catch (err) {
      // create() may have made some directories before it failed.
      driver.remove(driver.open(sessionId));
      fs.rmSync(stateDir, { recursive: true, force: true });
      slots.release(slot);
      throw new SandboxStartFailure({ kind: "failed", message: `cannot prepare the sandbox: ${(err as Error).message}` });
    }
    const sandbox = new Sandbox(settings, driver, slots, cgroup, slot, stateDir, { ...spec.limits });
    if (spec.hostname) (sandbox as { hostname: string }).hostname = spec.hostname;
    try {
      await sandbox.launch(spec);
      // Not for a sandbox already exiting: its teardown may have run, and would not clear them.
      if (!sandbox.exitInfo && !sandbox.destroying) sandbox.watchChildCgroups();
    } catch (err) {
      await sandbox.destroy();
      throw err;
    }
    return sandbox;
  }

  private get statusFile(): string {
    return path.join(this.stateDir, "status");
  }

  private async launch(spec: SandboxSpec): Promise<void> {
    const cg = this.cgroup;
    const { file, args } = launcherArgv({
      launcherPath: this.settings.launcherPath,
      rootfs: this.settings.rootfs,
      stateDir: path.join(this.stateDir, "mnt"),
      uidBase: this.slot.uidBase,
      hostname: this.hostname,
      layerBytes: this.settings.layerBytes,
      layerInodes: this.settings.layerInodes,
      tmpBytes: this.settings.tmpBytes,
      cgroup: cg.version === 1 ? { version: 1, dirs: { ...cg.dirs } } : { version: 2, dir: cg.dirs.unified ?? "" },
      statusFile: this.statusFile,
      cwd: "/root",
      env: { ...sandboxEnv(this.hostname), ...spec.env },
      command: spec.command ?? ["/bin/bash", "--login"],
    });
    const started = Date.now();
    const onExit = (exitCode: number | null, signal: number | null) => {
      // Keep the launcher's report: teardown removes the state directory it lives in.
      this.finalStatusText = this.statusText();
      this.exitInfo = { exitCode, signal };
      this.log.info({ exitCode, signal, pid: this.process?.pid }, "sandbox exited");
      for (const w of this.exitWaiters.splice(0)) w(this.exitInfo);
      void this.destroy();
    };
    // The launcher's own environment: it passes none of it on (the shell gets --env only).
    // (Typed loosely: Next's global types make NODE_ENV a required key of ProcessEnv.)
    const launcherEnv = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } as unknown as NodeJS.ProcessEnv;
    if (spec.stdio === "pipes") {
      const child = spawn(file, args, { stdio: "pipe", cwd: "/", env: launcherEnv });
      this.pipes = { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr };
      child.on("exit", (code, signal) => onExit(code, signal ? signalNumber(signal) : null));
      this.process = {
        pid: child.pid ?? 0,
        write: () => undefined,
        resize: () => undefined,
        pause: () => undefined,
        resume: () => undefined,
        kill: (sig) => child.kill(sig),
      };
    } else {
      const terminal = pty.spawn(file, args, {
        name: spec.term ?? "xterm-256color",
        cols: spec.cols,
        rows: spec.rows,
        cwd: "/",
        env: launcherEnv,
        encoding: null,
      } as pty.IPtyForkOptions);
      this.process = terminal;
      // node-pty keeps the master's descriptor as `_fd` (not in its typings); input goes
      // through our bounded writer (pty-input.ts) rather than node-pty's unbounded one.
      const masterFd = (terminal as unknown as { _fd?: unknown })._fd;
      if (typeof masterFd !== "number") throw new SandboxStartFailure({ kind: "failed", message: "node-pty did not expose the terminal's descriptor" });
      this.input = new PtyInput(masterFd);
      // Output before the first listener attaches is kept, so nothing the shell prints is lost.
      this.buffered = [];
      this.dataSubscription = terminal.onData((data) => {
        const chunk = typeof data === "string" ? Buffer.from(data) : Buffer.from(data as unknown as Uint8Array);
        if (this.dataListener) this.dataListener(chunk);
        else this.buffered?.push(chunk);
      });
      terminal.onExit(({ exitCode, signal }) => onExit(exitCode, signal || null));
    }
    const launcherPid = this.process.pid;

    for (;;) {
      const steps = this.readStatus();
      const failed = steps.find((s) => s.step === "error");
      if (failed) throw new SandboxStartFailure({ kind: "failed", message: failed.detail ?? "the launcher failed" });
      if (steps.some((s) => s.step === "exec")) break;
      if (this.exitInfo) {
        const output = Buffer.concat(this.buffered ?? []).toString("utf8").trim();
        throw new SandboxStartFailure({
          kind: "failed",
          message: output || `the launcher exited with status ${this.exitInfo.exitCode} before starting the shell`,
        });
      }
      if (Date.now() - started > READY_TIMEOUT_MS) {
        throw new SandboxStartFailure({ kind: "failed", message: "the sandbox did not start within 10 seconds" });
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    this.log.info({ pid: this.hostPid, launcherPid, startupMs: this.startup.at(-1)?.atMs }, "sandbox started");
  }

  private finalStatusText: string | null = null;

  /** The launcher's report, as JSON lines (for `nslab run --timeline`). */
  statusText(): string {
    if (this.finalStatusText !== null) return this.finalStatusText;
    try {
      return fs.readFileSync(this.statusFile, "utf8");
    } catch {
      return "";
    }
  }

  private readStatus(): StatusLine[] {
    const text = this.statusText();
    const steps = parseStatusLines(text);
    const start = steps.find((s) => s.step === "start");
    const origin = start ? Number(start.detail ?? start.tNs) : (steps[0]?.tNs ?? 0);
    this.startup = steps.map((s) => ({ step: s.step, atMs: Math.max(0, (s.tNs - origin) / 1e6) }));
    const clone = steps.find((s) => s.step === "clone");
    if (clone?.detail) this.hostPid = Number(clone.detail);
    return steps;
  }

  private input: PtyInput | null = null;
  private dataListener: ((chunk: Buffer) => void) | null = null;
  private buffered: Buffer[] | null = null;
  private dataSubscription: { dispose(): void } | null = null;

  /** Receive the terminal's output; anything printed before this call is delivered first. */
  onData(listener: (chunk: Buffer) => void): void {
    this.dataListener = listener;
    const pending = this.buffered ?? [];
    this.buffered = null;
    for (const chunk of pending) listener(chunk);
  }

  onExit(listener: (info: { exitCode: number | null; signal: number | null }) => void): void {
    if (this.exitInfo) listener(this.exitInfo);
    else this.exitWaiters.push(listener);
  }

  /** With stdio "pipes": the command's standard streams. */
  pipes: { stdin: NodeJS.WritableStream; stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream } | null = null;

  /** Why nslab ended the sandbox itself (a bound the learner went past), or null. */
  endReason: string | null = null;
  private watchers: fs.FSWatcher[] = [];
  private watchdog: NodeJS.Timeout | null = null;

  /**
   * End the sandbox if it holds more than MAX_CHILD_CGROUPS child cgroups in any hierarchy.
   * inotify on each session directory reacts to a flood of mkdirs within milliseconds; the
   * timer catches cgroups made deeper down, which those watches do not see.
   */
  private watchChildCgroups(): void {
    let pending = false;
    const check = () => {
      pending = false;
      if (this.destroying) return;
      for (const dir of Object.values(this.cgroup.dirs)) {
        const held = countDescendants(dir, MAX_CHILD_CGROUPS);
        if (held <= MAX_CHILD_CGROUPS) continue;
        this.endReason = `Your sandbox made more than ${MAX_CHILD_CGROUPS} cgroups, so it was ended. Child cgroups are for dividing your limits; a few are enough.`;
        this.log.warn({ dir, limit: MAX_CHILD_CGROUPS }, "sandbox ended: too many child cgroups");
        void this.destroy();
        return;
      }
    };
    const soon = () => {
      if (pending) return;
      pending = true;
      setImmediate(check);
    };
    for (const dir of Object.values(this.cgroup.dirs)) {
      try {
        const watcher = fs.watch(dir, soon);
        watcher.on("error", () => watcher.close());
        this.watchers.push(watcher);
      } catch {
        // The timer still checks this hierarchy.
      }
    }
    this.watchdog = setInterval(check, CGROUP_WATCHDOG_MS);
    this.watchdog.unref();
  }

  /** docker update: apply new limits to the running sandbox's cgroup. Throws (naming the file)
   *  when the kernel refuses, e.g. a memory limit below what is in use right now. */
  setLimits(limits: Limits): LimitWrite[] {
    const writes = this.driver.update(this.cgroup, limits);
    this.limits = { ...limits };
    this.cgroupFiles = writes;
    this.log.info({ limits }, "sandbox limits changed");
    return writes;
  }

  /** The launcher process (outside the sandbox, in its own mount namespace). */
  get launcherPid(): number {
    return this.process?.pid ?? 0;
  }

  /** The writable layer as the host can reach it, through the launcher's mount namespace. */
  get upperDir(): string {
    return path.join(`/proc/${this.launcherPid}/root`, this.stateDir, "mnt", "upper");
  }

  get exited(): boolean {
    return this.exitInfo !== null;
  }

  /**
   * Keystrokes for the terminal, as bytes (a frame may end inside a multi-byte character that
   * the next completes). False when they were dropped: the program is not reading its input
   * and the queue is full.
   */
  write(data: string | Buffer): boolean {
    if (this.exitInfo || this.destroying || !this.input) return false;
    return this.input.write(typeof data === "string" ? Buffer.from(data, "utf8") : data);
  }

  resize(cols: number, rows: number): void {
    if (this.exitInfo || this.destroying) return;
    this.process?.resize(cols, rows);
  }

  pause(): void {
    this.process?.pause();
  }

  resume(): void {
    this.process?.resume();
  }

  /**
   * End the sandbox: kill every process in its cgroup, wait for them to be gone, remove the
   * cgroup (and any the learner created below it), the state directory and the uid range.
   * The mounts need no work: they live only in the launcher's and the sandbox's own mount
   * namespaces, which the kernel frees with their last process.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    this.input?.stop();
    for (const watcher of this.watchers.splice(0)) watcher.close();
    if (this.watchdog) clearInterval(this.watchdog);
    const marker = `/${this.sessionId}`;
    const deadline = Date.now() + KILL_TIMEOUT_MS;
    // pid 1 first: the kernel then kills every process of the pid namespace at once.
    if (this.hostPid) signalIfInCgroup(this.hostPid, SIGKILL, marker);
    if (this.cgroup.version === 2) (this.driver as CgroupV2Driver).killAll?.(this.cgroup);
    for (;;) {
      const pids = this.driver.pids(this.cgroup);
      if (pids.length === 0) break;
      for (const pid of pids) signalIfInCgroup(pid, SIGKILL, marker);
      if (Date.now() > deadline) {
        this.log.error({ pids }, "sandbox processes survived SIGKILL");
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    // The launcher itself sits outside the cgroup; it exits as soon as its child is gone.
    if (this.process && !this.exitInfo) {
      await Promise.race([
        new Promise<void>((resolve) => this.exitWaiters.push(() => resolve())),
        new Promise<void>((resolve) => setTimeout(resolve, 2_000)),
      ]);
      if (!this.exitInfo) {
        try {
          this.process.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    this.dataSubscription?.dispose();
    while (!this.driver.remove(this.cgroup)) {
      if (Date.now() > deadline) {
        this.log.error({ dirs: this.cgroup.dirs }, "sandbox cgroup could not be removed");
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    fs.rmSync(this.stateDir, { recursive: true, force: true });
    this.slots.release(this.slot);
    this.log.info({}, "sandbox removed");
  }
}
