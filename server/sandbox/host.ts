// What every sandbox of this host is made with: the cgroup driver, the uid ranges, the image
// and sizes, and the clean-up of whatever a previous, killed run left behind. It keeps no list
// of sandboxes: their owners do (the session registry for lab sessions, `nslab run` its one).
import fs from "node:fs";
import path from "node:path";

import { log } from "../log";
import { SIGKILL, signalIfInCgroup } from "../kernel/pidfd";
import { isOwnerAlive, ownerPid } from "../kernel/proc";
import type { CgroupDriver } from "./cgroup";
import type { Config } from "../config";
import type { Limits } from "./limits";
import {
  type PreparedSandbox,
  Sandbox,
  type SandboxHostSettings,
  type SandboxSpec,
  SandboxStartFailure,
  discardPrepared,
  prepareSandbox,
  removeSessionDir,
} from "./sandbox";
import { Spawner } from "./spawner";
import { StartGate, StartGateFull, defaultStartConcurrency } from "./start-gate";
import { DEFAULT_UID_BASE, UidSlots, hostUidRangeConflicts } from "./uid-slots";
import { LAYER_INODES, type LayerStorage, type LayerStorageSetting, layerImageOf, listLayerImages, openLayerStorage, removeLayerImage } from "./layer-disk";

/** Starts that may wait for a turn (StartGate): a few classes joining at once. The last of them
 *  waits a minute or so on a small host; more are refused at once rather than left waiting. */
const MAX_WAITING_STARTS = 256;
/** How long close() waits for the launchers to be gone from the helpers' cgroup. */
const HELPER_CGROUP_REMOVE_MS = 2_000;
/** After a failed preparation ahead of time, starts make their own for this long. */
const READY_RETRY_MS = 10_000;
/** How long after a start the sandboxes prepared ahead are topped up: a shell's login start-up
 *  takes some tens of ms of CPU on a small host, and on two cores a preparation beside it
 *  slowed a start by 10-20 % (bench/startup.ts, measured both ways). */
const PREPARE_AFTER_START_MS = 250;

/**
 * The launcher's child looks its new root up by path after it has become the sandbox's root: a
 * host uid of the sandbox's range, with no rights over host root's directories. Every directory
 * on the way to the session directories must therefore let others pass (x for others), or every
 * start fails with EACCES at that mount. The run directory and its sessions/ are the lab's own
 * and are opened up here; a directory above them is the operator's, so it is refused by name.
 */
export function openPathToSessions(runDir: string, sessionsDir: string): void {
  const ours = new Set([path.resolve(runDir), path.resolve(sessionsDir)]);
  for (let dir = path.resolve(sessionsDir); ; dir = path.dirname(dir)) {
    const { mode } = fs.statSync(dir);
    if ((mode & 0o001) === 0) {
      const shown = (mode & 0o7777).toString(8).padStart(4, "0");
      if (!ours.has(dir)) {
        throw new Error(
          `sandboxes cannot reach ${sessionsDir}: ${dir} (mode ${shown}) does not let other users through; ` +
            `run chmod o+x ${dir}, or set NSLAB_RUN_DIR to a directory whose parents do`,
        );
      }
      fs.chmodSync(dir, (mode & 0o7777) | 0o011);
      log.warn({ dir, mode: shown }, "opened the run directory to the sandboxes' users (it was private)");
    }
    if (dir === path.dirname(dir)) return;
  }
}

export interface SandboxHostOptions extends Omit<SandboxHostSettings, "sessionsDir" | "spawner" | "layers"> {
  /** NSLAB_DATA_DIR: the layers' images go in its layers/ (layer-disk.ts). Absent: tmpfs layers. */
  dataDir?: string;
  /** NSLAB_LAYER_STORAGE: "disk" fails here when the host cannot; default "auto". */
  layerStorage?: LayerStorageSetting;
  /** The run directory (NSLAB_RUN_DIR): sessions/ holds a directory per session, whichever
   *  nslab server or `nslab run` made them. */
  runDir: string;
  /** The first host id of the sandboxes' uid ranges (NSLAB_UID_BASE; default DEFAULT_UID_BASE). The ranges
   *  in use are kept host-wide in UID_SLOTS_DIR, whatever the run directory. */
  uidBase?: number;
  /** The terminal spawner (native/spawner.c), `nslab-spawner` beside the launcher by default.
   *  null: every terminal from node-pty, which forks this process: cheap for a short-lived
   *  one such as `nslab run`, a stall of every open terminal for a big server. */
  spawnerPath?: string | null;
  /** Sandboxes started at once (NSLAB_START_CONCURRENCY); default half the CPUs, at least one. */
  startConcurrency?: number;
  /** Sandboxes kept prepared ahead (uid range, session directory, cgroup with limits), made
   *  while no start is waiting: a start with the same limits skips that work. Default 0. */
  ready?: { count: number; limits: Readonly<Limits> };
}

export interface StartCounts {
  active: number;
  waiting: number;
  concurrency: number;
  /** Sandboxes prepared ahead of a start (their cgroups exist; no process runs in them). */
  ready: number;
}

/** Sandboxes the lab server keeps prepared ahead: a learner who arrives alone starts without
 *  waiting for the cgroup's set-up. */
const SERVER_READY_SANDBOXES = 2;

/** The host as the lab server makes it from its settings (bench/startup.ts times this one). */
export function serverHostOptions(config: Config): SandboxHostOptions {
  return {
    launcherPath: config.launcherPath,
    rootfs: config.NSLAB_ROOTFS,
    runDir: config.NSLAB_RUN_DIR,
    uidBase: config.NSLAB_UID_BASE,
    layerBytes: config.NSLAB_LAYER_BYTES,
    layerInodes: LAYER_INODES,
    tmpBytes: config.NSLAB_TMP_BYTES,
    dataDir: config.NSLAB_DATA_DIR,
    layerStorage: config.NSLAB_LAYER_STORAGE,
    startConcurrency: config.NSLAB_START_CONCURRENCY,
    ready: { count: SERVER_READY_SANDBOXES, limits: config.defaultLimits },
  };
}

export class SandboxHost {
  private readonly slots: UidSlots;
  private readonly settings: SandboxHostSettings;
  private readonly gate: StartGate;
  /** Whether a failure to move the spawner was logged (once: it fails alike every restart). */
  private adoptWarned = false;
  /** Prepared ahead of a start (options.ready), oldest first. */
  private readonly prepared: PreparedSandbox[] = [];
  /** The preparation under way ahead of time, if any (one at a time). */
  private preparing: Promise<void> | null = null;
  private preparedRetryAt = 0;
  /** While cleanupLeftovers() runs: nothing is prepared ahead meanwhile (it would be taken for
   *  a leftover before its owner file is written). */
  private cleaning = false;
  private closed = false;
  /** The terminal spawner, or null where terminals come from node-pty. Started here, at
   *  construction, while the server is still small: the one fork of it. */
  readonly spawner: Spawner | null;
  /** Where this host's writable layers go: the server logs it once, `nslab doctor` shows it. */
  readonly layers: LayerStorage;

  constructor(
    readonly driver: CgroupDriver,
    private readonly options: SandboxHostOptions,
  ) {
    const sessionsDir = path.join(options.runDir, "sessions");
    fs.mkdirSync(sessionsDir, { recursive: true, mode: 0o711 });
    openPathToSessions(options.runDir, sessionsDir);
    // Refused before anything is made: ids shared with another service's users would let a
    // learner's root own their files, and theirs drain a learner's per-uid pools.
    const uidBase = options.uidBase ?? DEFAULT_UID_BASE;
    const conflicts = hostUidRangeConflicts(uidBase);
    if (conflicts.length > 0) throw new Error(`cannot give sandboxes host ids: ${conflicts.join("; ")} (nslab doctor lists the overlaps)`);
    this.slots = new UidSlots({ base: uidBase });
    // Before the spawner, which is moved into the cpu one.
    for (const parent of Object.values(driver.parents)) fs.mkdirSync(parent, { recursive: true });
    const spawnerPath =
      options.spawnerPath === undefined ? path.join(path.dirname(options.launcherPath), "nslab-spawner") : options.spawnerPath;
    this.spawner = spawnerPath ? new Spawner(spawnerPath, { onHelperStarted: (pid) => this.adoptSpawner(pid) }) : null;
    this.gate = new StartGate(options.startConcurrency ?? defaultStartConcurrency(), MAX_WAITING_STARTS);
    // Once per host: the layers' directory, and the first time a layer size is used, its
    // template (one mkfs.ext4).
    this.layers = options.dataDir
      ? openLayerStorage({ dataDir: options.dataDir, layerBytes: options.layerBytes, layerInodes: options.layerInodes, setting: options.layerStorage ?? "auto" })
      : { mode: "tmpfs", reason: "no data directory was given for layer images" };
    this.settings = { ...options, sessionsDir, spawner: this.spawner, layers: this.layers };
  }

  /** A new sandbox, once a start is free (StartGate); the caller owns it and destroys it (it
   *  also tears itself down when its command exits). Throws SandboxStartFailure, or
   *  StartAbandoned when `signal` was aborted while the start waited for its turn. */
  async start(spec: SandboxSpec, signal?: AbortSignal): Promise<Sandbox> {
    if (this.closed) throw new SandboxStartFailure({ kind: "failed", message: "the sandbox host is closed" });
    try {
      return await this.gate.run(async () => {
        // Closed while this start waited for its turn: the spawner is gone too.
        if (this.closed) throw new SandboxStartFailure({ kind: "failed", message: "the sandbox host is closed" });
        const prepared = this.takePrepared(spec.limits) ?? (await prepareSandbox(this.settings, this.driver, this.slots, spec.limits));
        return Sandbox.start(this.settings, this.driver, this.slots, spec, prepared);
      }, signal);
    } catch (err) {
      if (err instanceof StartGateFull) {
        log.warn({ waiting: this.gate.waiting, concurrency: this.gate.concurrency }, "a sandbox start was refused: the line of starts is full");
        throw new SandboxStartFailure({ kind: "full", message: err.message });
      }
      throw err;
    } finally {
      // The sandbox just started has the machine to itself for a moment: its shell's own
      // start-up, not the next one's preparation (image, mount, cgroup), is what a learner waits
      // for. Unref'd: a short-lived process need not stay for it.
      setTimeout(() => this.prepareAhead(), PREPARE_AFTER_START_MS).unref();
    }
  }

  private takePrepared(limits: Limits): PreparedSandbox | null {
    const ready = this.options.ready?.limits;
    if (!ready || !sameLimits(ready, limits)) return null;
    return this.prepared.shift() ?? null;
  }

  /**
   * Top up the sandboxes prepared ahead, one at a time and only while no start is under way or
   * waiting: in a class joining at once the first start takes one, the others make their own
   * in turn (the work is the same), and the line is not made longer by work for later.
   */
  private prepareAhead(): void {
    const want = this.options.ready;
    if (!want || this.closed || this.cleaning || this.preparing || this.prepared.length >= want.count) return;
    if (this.gate.active > 0 || this.gate.waiting > 0 || Date.now() < this.preparedRetryAt) return;
    this.preparing = prepareSandbox(this.settings, this.driver, this.slots, { ...want.limits }).then(
      (prepared) => {
        this.preparing = null;
        // Part of this preparation, so that close() (which awaits it) waits for the removal.
        if (this.closed) return this.discard(prepared);
        this.prepared.push(prepared);
        this.prepareAhead();
        return undefined;
      },
      (err: unknown) => {
        this.preparing = null;
        this.preparedRetryAt = Date.now() + READY_RETRY_MS;
        log.warn({ err: (err as Error).message }, "could not prepare a sandbox ahead of time; starts make their own meanwhile");
      },
    );
  }

  /** Starts under way and waiting for a turn, and sandboxes prepared ahead, for /healthz. */
  get starts(): StartCounts {
    return { active: this.gate.active, waiting: this.gate.waiting, concurrency: this.gate.concurrency, ready: this.prepared.length };
  }

  /** Stop the terminal spawner, once every sandbox is destroyed: it kills what it still runs
   *  and exits; resolves when it has. (Left running, it exits with this process anyway.) */
  async close(): Promise<void> {
    this.closed = true;
    await this.preparing;
    await Promise.all(this.prepared.splice(0).map((prepared) => this.discard(prepared)));
    if (!this.spawner) return;
    this.spawner.close();
    await this.spawner.helperExited();
    // Its launchers die with it (their parent-death signal), a moment later.
    const by = Date.now() + HELPER_CGROUP_REMOVE_MS;
    while (!this.driver.removeHelperCgroup() && Date.now() < by) await new Promise((r) => setTimeout(r, 10));
  }

  /** A prepared sandbox no start will take. A cgroup that cannot be removed keeps its uid range
   *  claimed, so that no other sandbox is given the ids it was delegated to. */
  private async discard(prepared: PreparedSandbox): Promise<void> {
    try {
      if (!(await discardPrepared(this.driver, this.slots, prepared))) log.error({ sessionId: prepared.sessionId }, "a sandbox prepared ahead could not be removed");
    } catch (err) {
      log.error({ sessionId: prepared.sessionId, err }, "a sandbox prepared ahead could not be removed");
    }
  }

  /**
   * The spawner, and so every launcher it forks, is scheduled in a CPU cgroup of its own. Each
   * child it forks calls setsid() for its terminal, and a process in the root CPU cgroup that
   * does so gets an autogroup of its own: fifty launchers starting together were then fifty
   * entities each weighing as much as the whole server, which stalled every open terminal.
   */
  private adoptSpawner(pid: number): void {
    try {
      this.driver.adoptHelper(pid);
    } catch (err) {
      if (this.adoptWarned) return;
      this.adoptWarned = true;
      log.warn({ err: (err as Error).message, pid }, "the terminal spawner stays in the server's CPU cgroup: a class starting at once slows every open terminal");
    }
  }

  /**
   * Remove what a previous server run left behind: session cgroups and session directories whose
   * owner is no longer alive, with every process in them killed, and their uid ranges. Runs
   * before the server accepts connections.
   */
  async cleanupLeftovers(): Promise<number> {
    // This host's own prepared sandboxes have this process as their owner too: not leftovers.
    // None is begun while this runs, and the one under way is finished first.
    this.cleaning = true;
    try {
      return await this.removeLeftovers();
    } finally {
      this.cleaning = false;
      // Prepared ahead from now on.
      this.prepareAhead();
    }
  }

  private async removeLeftovers(): Promise<number> {
    const sessionsDir = this.settings.sessionsDir;
    while (this.preparing) await this.preparing;
    const mine = new Set(this.prepared.map((p) => p.sessionId));
    const orphaned = new Set<string>();
    // Another server on this host may be preparing a sandbox right now: its directory or its
    // cgroup can exist before its owner file does, and its uid slot says whose. The slot is
    // claimed first, so the slots are read after the sessions are listed: every session listed
    // has its slot by then.
    const ids = new Set([...fs.readdirSync(sessionsDir), ...this.driver.listSessions()]);
    const slotOwners = this.slots.owners();
    // (An owner file being written can be empty for a moment.)
    const ownerOf = (id: string) => readOr(path.join(sessionsDir, id, "owner"))?.trim() || slotOwners.get(id) || "0";
    for (const id of ids) {
      const owner = ownerOf(id);
      if (!isOwnerAlive(owner) || ownerPid(owner) === process.pid) orphaned.add(id);
    }
    for (const id of mine) orphaned.delete(id);
    for (const id of orphaned) {
      const cg = this.driver.open(id);
      const deadline = Date.now() + 5_000;
      for (;;) {
        const pids = this.driver.pids(cg);
        if (pids.length === 0 || Date.now() > deadline) break;
        for (const pid of pids) signalIfInCgroup(pid, SIGKILL, this.driver.procPath(id));
        await new Promise((r) => setTimeout(r, 5));
      }
      while (!this.driver.remove(cg) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      removeSessionDir(path.join(sessionsDir, id));
      if (this.layers.mode === "disk") await removeLayerImage(layerImageOf(this.layers.dir, id), false);
    }
    // Images whose session is gone but whose removal was cut short. An image is made after its
    // slot is claimed and removed before it is released, so the slots, read after the images
    // are listed, hold every live one.
    let strayImages = 0;
    if (this.layers.mode === "disk") {
      const images = listLayerImages(this.layers.dir);
      const claimed = this.slots.owners();
      for (const id of images) {
        const owner = claimed.get(id);
        const live = owner !== undefined && isOwnerAlive(owner) && ownerPid(owner) !== process.pid;
        if (live || mine.has(id) || orphaned.has(id)) continue;
        await removeLayerImage(layerImageOf(this.layers.dir, id), false);
        strayImages++;
      }
    }
    if (strayImages) log.warn({ images: strayImages }, "removed layer images left by a previous run");
    this.slots.releaseOrphans();
    if (orphaned.size) log.warn({ sessions: [...orphaned] }, "removed sandboxes left by a previous run");
    return orphaned.size;
  }
}

function sameLimits(a: Readonly<Limits>, b: Readonly<Limits>): boolean {
  const keys = Object.keys(a) as Array<keyof Limits>;
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function readOr(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}
