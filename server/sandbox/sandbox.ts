// One learner's sandbox: its cgroup, uid range, session directory and launcher process, owned in
// one place with one teardown path (destroy) that is safe to run twice and runs on every exit.
import { spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import type net from "node:net";
import path from "node:path";

import type * as NodePty from "node-pty";

import { type LaunchEvent, type LaunchStep, launchSteps } from "../../common/launch-events";
import { type Logger, log as rootLog } from "../log";
import { SIGKILL, signalIfInCgroup } from "../kernel/pidfd";
import { selfOwner } from "../kernel/proc";
import { randomBytes } from "../kernel/random";
import { type CgroupDriver, type CreatedCgroup, type LimitWrite, type SessionCgroup, sessionCgroupDirs } from "./cgroup";
import type { CgroupV2Driver } from "./cgroup/v2";
import { ChildCgroupWatch } from "./cgroup/child-cgroup-watch";
import { activateSocketAccounting } from "./cgroup/v1";
import { launcherArgv, sandboxEnv } from "./launcher-args";
import { LaunchReport, LaunchReportPipe } from "./launch-report";
import type { Limits } from "./limits";
import { type SetupFs, synchronousSetup, threadPoolSetup } from "./setup-fs";
import { type LayerStorage, layerImageOf, layerSizes, removeLayerImage, writeLayerImage } from "./layer-disk";
import { MAX_CHILD_CGROUPS } from "./cgroup/driver";
import { PtyInput } from "./pty-input";
import type { Spawner, SpawnResult } from "./spawner";
import type { UidSlot, UidSlots } from "./uid-slots";

// node-pty is loaded by the first terminal it opens: `nslab run` without a terminal (pipes)
// and a server whose spawner opens every terminal never load its addon. Loading it starts no
// program, so the status pipe, inheritable for that one spawn, still reaches only the launcher.
let nodePty: typeof NodePty | null = null;
const pty = {
  spawn(...args: Parameters<typeof NodePty.spawn>): NodePty.IPty {
    nodePty ??= createRequire(import.meta.url)("node-pty") as typeof NodePty;
    return nodePty.spawn(...args);
  },
};
// Its types under the same name, beside the loader above.
declare namespace pty {
  type IPty = NodePty.IPty;
  type IPtyForkOptions = NodePty.IPtyForkOptions;
}

export interface SandboxHostSettings {
  launcherPath: string;
  rootfs: string;
  /** Host directory holding one session directory per live session (<runDir>/sessions). */
  sessionsDir: string;
  layerBytes: number;
  layerInodes: number;
  tmpBytes: number;
  /** Where writable layers go (layer-disk.ts): an ext4 image per session on disk, or tmpfs
   *  (also when absent) sized against the memory limit. */
  layers?: LayerStorage;
  /** Where terminals come from without forking this process (spawner.ts); absent or unusable:
   *  node-pty, which forks it for each one. */
  spawner?: Spawner | null;
  /** How a sandbox's set-up makes its file calls (setup-fs.ts): on the thread pool (default),
   *  or at once in a process with nothing else to serve. */
  setupFs?: SetupFs;
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
  /** scope "class": the learner's class has no room, though the lab may. */
  | { kind: "full"; message: string; scope?: "class" }
  | { kind: "failed"; message: string };

export class SandboxStartFailure extends Error {
  constructor(readonly failure: SandboxStartError) {
    super(failure.message);
  }
}

const READY_TIMEOUT_MS = 10_000;
/** The launcher's --layer-fd, beside its report's 3 (LAYER_FD in native/launcher.c). */
const LAYER_FD = 4;
const KILL_TIMEOUT_MS = 5_000;

/** The launcher's mount points, in the session's directory: the writable layer is mounted
 *  here, and with it the overlay's upper and work directories and the new root. */
function mountDirOf(sessionDir: string): string {
  return path.join(sessionDir, "mnt");
}

/**
 * Remove a session directory and everything in it. As prepareSandbox made it, that is three
 * calls: the owner file, mnt/ (empty as the host sees it: the launcher's mounts on it are in
 * its own mount namespace) and the directory. Any other state (something added, something
 * missing, the whole directory gone) takes Node's recursive removal, which removes whatever is
 * there and is content with nothing; its first use in a process costs some 3 ms to load.
 */
export function removeSessionDir(sessionDir: string): void {
  try {
    fs.unlinkSync(path.join(sessionDir, "owner"));
    fs.rmdirSync(mountDirOf(sessionDir));
    fs.rmdirSync(sessionDir);
  } catch {
    fs.rmSync(sessionDir, { recursive: true, force: true });
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}

export function newSessionId(): string {
  return randomBytes(8).toString("hex");
}

/** What a sandbox is started in, made before its launcher runs: a session id, its uid range, its
 *  session directory and its cgroup with `limits` written and delegated to the range's root. */
export interface PreparedSandbox {
  readonly sessionId: string;
  readonly slot: UidSlot;
  readonly sessionDir: string;
  readonly created: CreatedCgroup;
  readonly limits: Readonly<Limits>;
  /** The session's ext4 image (a disk layer), or null for a tmpfs layer. */
  readonly layerImage: string | null;
  /** That image mounted ahead by the spawner (makeLayer): the mount's root, whose descriptor
   *  holds the filesystem until the session's teardown closes it. Null where the launcher
   *  mounts the image itself (no spawner, or it could not) or the layer is a tmpfs. */
  readonly layerMount: number | null;
}

/** Why layers are mounted by each launcher rather than ahead, each reason logged once. */
const layerFallbacks = new Set<string>();

/** Close a prepared layer's descriptor on the thread pool. Once no sandbox's mount namespace
 *  holds the mount any more, this is its last reference: the close then unmounts the
 *  filesystem (a few ms) and the loop device detaches itself. */
function closeLayerMount(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

/** Make what a sandbox with these limits starts in. Throws SandboxStartFailure, with anything
 *  made so far removed again. */
export async function prepareSandbox(settings: SandboxHostSettings, driver: CgroupDriver, slots: UidSlots, limits: Limits): Promise<PreparedSandbox> {
  const sessionId = newSessionId();
  const slot = slots.claim(sessionId);
  if (!slot) throw new SandboxStartFailure({ kind: "full", message: "no free uid range for another sandbox" });
  const sessionDir = path.join(settings.sessionsDir, sessionId);
  const io = settings.setupFs ?? threadPoolSetup;
  const layers = settings.layers;
  const layerImage = layers?.mode === "disk" ? layerImageOf(layers.dir, sessionId) : null;
  // The session directory and the cgroup are made side by side and, in the server, off the
  // event loop: other sessions' keystrokes are served meanwhile. Both settle before anything
  // is cleaned up.
  let layerMount: number | null = null;
  const [dirMade, cgroupMade] = await Promise.allSettled([
    (async () => {
      await io.mkdir(mountDirOf(sessionDir), { recursive: true, mode: 0o711 });
      await io.writeFile(path.join(sessionDir, "owner"), `${selfOwner()}\n`);
      // After the owner file: an image is a leftover only once its session's owner is gone.
      if (layerImage && layers?.mode === "disk") await writeLayerImage(layerImage, layers.template, io === synchronousSetup);
      // Mounted now, by the spawner, rather than by the launcher during the learner's start.
      const spawner = settings.spawner;
      if (layerImage && spawner?.ready) {
        const made = await spawner.makeLayer(layerImage);
        if (made.ok) layerMount = made.fd;
        // The spawner may still mount it: a launcher's mount beside that one would corrupt the
        // layer. This preparation fails, and its clean-up removes the image.
        else if (!made.surely) throw new Error(`the writable layer was not mounted: ${made.message}`);
        else if (layerFallbacks.size < 16 && !layerFallbacks.has(made.message)) {
          layerFallbacks.add(made.message);
          rootLog.warn({ reason: made.message }, "layers are mounted by each launcher as its sandbox starts: the spawner could not mount one ahead");
        }
      }
    })(),
    driver.create(sessionId, limits, slot.uidBase, io),
  ]);
  // The session directory's failure first: it is what a sequential set-up would have hit.
  const failure = [dirMade, cgroupMade].find((made): made is PromiseRejectedResult => made.status === "rejected");
  if (failure || cgroupMade.status === "rejected") {
    // create() may have made some directories before it failed.
    driver.remove(driver.open(sessionId));
    await io.rm(sessionDir, { recursive: true, force: true });
    if (layerMount !== null) await closeLayerMount(layerMount);
    if (layerImage) await io.rm(layerImage, { force: true });
    slots.release(slot);
    throw new SandboxStartFailure({ kind: "failed", message: `cannot prepare the sandbox: ${(failure?.reason as Error).message}` });
  }
  return { sessionId, slot, sessionDir, created: cgroupMade.value, limits: Object.freeze({ ...limits }), layerImage, layerMount };
}

/** Undo prepareSandbox for one that no sandbox was started in. True when nothing is left. */
export async function discardPrepared(driver: CgroupDriver, slots: UidSlots, prepared: PreparedSandbox): Promise<boolean> {
  const removed = driver.remove(prepared.created.cgroup);
  removeSessionDir(prepared.sessionDir);
  if (prepared.layerMount !== null) await closeLayerMount(prepared.layerMount);
  // Nothing was written to it: a truncated file and the template's few hundred KiB.
  if (prepared.layerImage) fs.rmSync(prepared.layerImage, { force: true });
  slots.release(prepared.slot);
  return removed;
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
    sessionId: string,
    /** Where the session's cgroup is. */
    readonly cgroup: SessionCgroup,
    cgroupFiles: readonly LimitWrite[],
    private readonly slot: UidSlot,
    /** The session's own host directory (<runDir>/sessions/<id>): its owner, the launcher's
     *  report, its mount points. */
    readonly sessionDir: string,
    limits: Limits,
    /** The session's ext4 image on disk, or null for a tmpfs layer. */
    private readonly layerImage: string | null = null,
    /** That image mounted ahead (PreparedSandbox.layerMount), until the teardown closes it. */
    private layerMount: number | null = null,
  ) {
    this.limits = limits;
    this.initialLimits = Object.freeze({ ...limits });
    this.cgroupFiles = [...cgroupFiles];
    this.sessionId = sessionId;
    this.hostname = `lab-${this.sessionId.slice(0, 6)}`;
    this.log = rootLog.child({ sessionId: this.sessionId });
  }

  /**
   * Start the sandbox's launcher in what `prepared` made (prepareSandbox, now or ahead of
   * time); resolves once the command has been exec'd inside. On any failure, everything is torn
   * down again, the prepared parts with it.
   */
  static async start(
    settings: SandboxHostSettings,
    driver: CgroupDriver,
    slots: UidSlots,
    spec: SandboxSpec,
    prepared: PreparedSandbox,
  ): Promise<Sandbox> {
    const { sessionId, slot, sessionDir, created } = prepared;
    const sandbox = new Sandbox(settings, driver, slots, sessionId, created.cgroup, created.writes, slot, sessionDir, { ...prepared.limits }, prepared.layerImage, prepared.layerMount);
    if (spec.hostname) (sandbox as { hostname: string }).hostname = spec.hostname;
    try {
      await sandbox.launch(spec);
    } catch (err) {
      await sandbox.destroy();
      throw err;
    }
    return sandbox;
  }

  /** The directory the launcher is given for its mount points (`--mount-dir`). */
  private get mountDir(): string {
    return mountDirOf(this.sessionDir);
  }

  private async launch(spec: SandboxSpec): Promise<void> {
    const pipes = spec.stdio === "pipes";
    // A terminal from the host's spawner when it has a working one: no fork of this (big)
    // process on its only thread. Otherwise node-pty's, which forks it.
    const spawner = !pipes && this.settings.spawner?.ready ? this.settings.spawner : null;
    // child_process makes the report's socket itself, as the launcher's descriptor 3; node-pty
    // and the spawner are handed the write end of a pipe made here.
    const pipe = pipes ? null : new LaunchReportPipe();
    this.report = pipe;
    // A layer mounted ahead reaches the launcher through the spawner only; any other way, the
    // launcher mounts the image, which must not be mounted twice: the prepared mount goes first.
    const mountedLayer = spawner ? this.layerMount : null;
    if (!spawner) await this.releaseLayerMount();
    // Sized against the memory limit the sandbox starts with, so that what is memory-backed
    // (/dev/shm; a tmpfs layer and /tmp) fills up before the memory limit does.
    const sizes = layerSizes(this.layerImage ? "disk" : "tmpfs", this.settings, this.initialLimits.memoryBytes);
    const { file, args } = launcherArgv({
      launcherPath: this.settings.launcherPath,
      rootfs: this.settings.rootfs,
      mountDir: this.mountDir,
      uidBase: this.slot.uidBase,
      hostname: this.hostname,
      layer: mountedLayer !== null ? { mountFd: LAYER_FD } : this.layerImage ? { image: this.layerImage } : (sizes.tmpfs ?? this.settings),
      shmBytes: sizes.shmBytes,
      cgroup: this.cgroup,
      // Through child_process and the spawner the report's descriptor is the launcher's 3;
      // node-pty's forkpty passes every inheritable descriptor on under its own number.
      statusFd: pipe && !spawner ? pipe.writeFd : 3,
      cwd: "/root",
      env: { ...sandboxEnv(this.hostname), ...spec.env },
      command: spec.command ?? ["/bin/bash", "--login"],
    });
    const onExit = (exitCode: number | null, signal: number | null) => {
      this.exitInfo = { exitCode, signal };
      this.log.info({ exitCode, signal, pid: this.process?.pid }, "sandbox exited");
      for (const w of this.exitWaiters.splice(0)) w(this.exitInfo);
      void this.destroy();
    };
    // The launcher's own environment: it passes none of it on (the shell gets --env only).
    // (Typed loosely: Next's global types make NODE_ENV a required key of ProcessEnv.)
    const launcherEnvironment = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
    const launcherEnv = launcherEnvironment as unknown as NodeJS.ProcessEnv;
    let report: LaunchReport;
    if (!pipe) {
      // Descriptor 3 a socket of its own (the launcher takes a pipe or a socket): no pipe of
      // this process, and so no libc call through koffi, for a start without a terminal.
      const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe", "pipe"], cwd: "/", env: launcherEnv });
      report = new LaunchReport(child.stdio[3] as net.Socket);
      this.report = report;
      if (!child.stdin || !child.stdout || !child.stderr) throw new SandboxStartFailure({ kind: "failed", message: "the launcher's standard streams were not created" });
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
    } else if (spawner) {
      report = pipe;
      let spawning: Promise<SpawnResult>;
      try {
        spawning = spawner.spawn({
          file,
          args,
          env: launcherEnvironment,
          cols: spec.cols,
          rows: spec.rows,
          passFd: { fd: pipe.writeFd, target: 3 },
          layerFd: mountedLayer !== null ? { fd: mountedLayer, target: LAYER_FD } : undefined,
        });
      } finally {
        // The spawner holds its own copy until the helper has it.
        pipe.closeWriteEnd();
      }
      const spawned = await spawning;
      if (!spawned.ok) throw new SandboxStartFailure({ kind: "failed", message: spawned.message });
      const terminal = spawned.terminal;
      this.process = {
        pid: terminal.pid,
        write: () => undefined,
        resize: (cols, rows) => terminal.resize(cols, rows),
        pause: () => terminal.pause(),
        resume: () => terminal.resume(),
        // Through the spawner, the launcher's parent: it signals only a child it has not reaped.
        kill: (sig) => terminal.kill(signalNumber(sig)),
      };
      this.input = new PtyInput(terminal.inputFd);
      this.buffered = [];
      const output = terminal.onData((chunk) => {
        if (this.dataListener) this.dataListener(chunk);
        else this.buffered?.push(chunk);
      });
      // Disposed in teardown, which then releases the terminal's descriptors too.
      this.dataSubscription = {
        dispose: () => {
          output.dispose();
          terminal.close();
        },
      };
      terminal.onExit(({ exitCode, signal }) => onExit(exitCode, signal));
    } else {
      report = pipe;
      let terminal: pty.IPty;
      // The write end is inheritable only for the span of this one synchronous spawn.
      pipe.inheritWriteEnd();
      try {
        terminal = pty.spawn(file, args, {
          name: spec.term ?? "xterm-256color",
          cols: spec.cols,
          rows: spec.rows,
          cwd: "/",
          env: launcherEnv,
          encoding: null,
        } as pty.IPtyForkOptions);
      } finally {
        pipe.closeWriteEnd();
      }
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
    // Watched from now on, while the launcher builds the sandbox (on another CPU, where there
    // is one): nothing of the sandbox runs in its cgroup before the launcher moves it there.
    // Not for a sandbox already exiting: its teardown may have run, and would not close them.
    if (!this.exitInfo && !this.destroying) this.watchChildCgroups();

    // The report says exec (or why not); the launcher's exit or a deadline ends the wait too.
    let deadline: NodeJS.Timeout | undefined;
    let outcome = await Promise.race([
      report.outcome,
      new Promise<"exited">((resolve) => this.exitWaiters.push(() => resolve("exited"))),
      new Promise<"timeout">((resolve) => {
        deadline = setTimeout(() => resolve("timeout"), READY_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(deadline));
    // An exit seen before the report's last lines: the pipe ends with the launcher, and its
    // `error` line names the failing call better than anything else.
    if (outcome === "exited") outcome = await report.outcome;
    this.startup = launchSteps(report.events);
    if (typeof outcome === "object" && outcome.kind === "exec") {
      this.hostPid = outcome.hostPid;
      const via = pipes ? "pipes" : spawner ? "spawner" : "node-pty";
      this.log.info({ pid: this.hostPid, launcherPid, startupMs: this.startup.at(-1)?.atMs, terminal: via }, "sandbox started");
      return;
    }
    if (typeof outcome === "object" && outcome.kind === "failed") throw new SandboxStartFailure({ kind: "failed", message: outcome.message });
    if (outcome === "timeout") throw new SandboxStartFailure({ kind: "failed", message: "the sandbox did not start within 10 seconds" });
    // The launcher is gone (or going) without a report: what it printed says why.
    await new Promise<void>((resolve) => this.onExit(() => resolve()));
    const output = Buffer.concat(this.buffered ?? []).toString("utf8").trim();
    throw new SandboxStartFailure({
      kind: "failed",
      message: output || `the launcher exited with status ${this.exitInfo?.exitCode ?? "unknown"} before starting the shell`,
    });
  }

  private report: LaunchReport | null = null;

  /** Close the layer mounted ahead, if this sandbox still holds it: once no process of the
   *  sandbox is left, that unmounts it. */
  private async releaseLayerMount(): Promise<void> {
    const fd = this.layerMount;
    if (fd === null) return;
    this.layerMount = null;
    await closeLayerMount(fd);
  }

  /** The launcher's report, as JSON lines (for `nslab run --timeline`). */
  statusText(): string {
    return this.report?.text() ?? "";
  }

  /** The launcher's report, as it came. */
  get launchEvents(): readonly LaunchEvent[] {
    return this.report?.events ?? [];
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
  private childCgroups: ChildCgroupWatch | null = null;

  /**
   * End the sandbox if it holds more than MAX_CHILD_CGROUPS child cgroups in any hierarchy.
   * inotify on every cgroup of its trees reacts to a flood of mkdirs at any depth within
   * milliseconds, and counts only then: an idle sandbox costs no CPU (child-cgroup-watch.ts).
   */
  private watchChildCgroups(): void {
    // On v2 the kernel holds the bound on live cgroups itself (cgroup.max.descendants, written
    // by the driver), not on removed ones still dying: those are bounded here on both versions.
    const watch = new ChildCgroupWatch({
      dirs: sessionCgroupDirs(this.cgroup),
      maxChildren: MAX_CHILD_CGROUPS,
      maxCreations: MAX_CHILD_CGROUPS,
      onCreationsStopped: (dir) => this.log.warn({ dir, limit: MAX_CHILD_CGROUPS }, "sandbox may make no more cgroups: too many made and removed"),
      onNewChild: activateSocketAccounting,
      onTooMany: (dir) => {
        if (this.destroying) return;
        this.endReason = `Your sandbox made more than ${MAX_CHILD_CGROUPS} cgroups, so it was ended. Child cgroups are for dividing your limits; a few are enough.`;
        this.log.warn({ dir, limit: MAX_CHILD_CGROUPS }, "sandbox ended: too many child cgroups");
        void this.destroy();
      },
    });
    this.childCgroups = watch;
    watch.start();
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
    return path.join(`/proc/${this.launcherPid}/root`, this.mountDir, "upper");
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
   * cgroup (and any the learner created below it), the session directory and the uid range.
   * The mounts live in the launcher's and the sandbox's own mount namespaces, which the kernel
   * frees with their last process; a layer mounted ahead is then unmounted as this closes its
   * descriptor.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    this.input?.stop();
    this.childCgroups?.close();
    // Only a process of this session's cgroup tree is signalled (pidfd.ts).
    const marker = this.driver.procPath(this.sessionId);
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
    // The launcher itself sits outside the cgroup; it exits as soon as its child is gone. Its
    // exit comes from whoever is its parent: node-pty, child_process, or the spawner (which
    // reports a SIGKILL for each of its launchers if it dies itself: they die with it).
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
    this.report?.close();
    while (!this.driver.remove(this.cgroup)) {
      if (Date.now() > deadline) {
        this.log.error({ cgroup: this.cgroup }, "sandbox cgroup could not be removed");
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    removeSessionDir(this.sessionDir);
    await this.releaseLayerMount();
    // Off the event loop: a full layer is hundreds of MiB, a learner's 100 000 files included.
    // Before the uid range is released, so an image whose slot is free is a leftover (host.ts).
    if (this.layerImage) {
      await removeLayerImage(this.layerImage, this.settings.setupFs === synchronousSetup).catch((err: unknown) => this.log.error({ err, file: this.layerImage }, "the sandbox's layer image could not be removed"));
    }
    this.slots.release(this.slot);
    this.log.info({}, "sandbox removed");
  }
}
