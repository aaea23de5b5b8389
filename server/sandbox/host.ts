// What every sandbox of this host is made with: the cgroup driver, the uid ranges, the image
// and sizes, and the clean-up of whatever a previous, killed run left behind. It keeps no list
// of sandboxes: their owners do (the session registry for lab sessions, `nslab run` its one).
import fs from "node:fs";
import path from "node:path";

import { log } from "../log";
import { SIGKILL, signalIfInCgroup } from "../kernel/pidfd";
import { isProcessAlive } from "../kernel/proc";
import type { CgroupDriver } from "./cgroup";
import { Sandbox, type SandboxHostSettings, type SandboxSpec } from "./sandbox";
import { Spawner } from "./spawner";
import { UidSlots } from "./uid-slots";

export interface SandboxHostOptions extends Omit<SandboxHostSettings, "sessionsDir" | "spawner"> {
  /** The host-wide run directory (NSLAB_RUN_DIR): sessions/ holds a directory per session,
   *  uid-slots/ the uid ranges in use, whichever nslab server or `nslab run` made them. */
  runDir: string;
  /** The terminal spawner (native/spawner.c), `nslab-spawner` beside the launcher by default.
   *  null: every terminal from node-pty, which forks this process: cheap for a short-lived
   *  one such as `nslab run`, a stall of every open terminal for a big server. */
  spawnerPath?: string | null;
}

export class SandboxHost {
  private readonly slots: UidSlots;
  private readonly settings: SandboxHostSettings;
  /** Started here, at construction, while the server is still small: the one fork of it. */
  /** The terminal spawner, or null where terminals come from node-pty. */
  readonly spawner: Spawner | null;

  constructor(
    readonly driver: CgroupDriver,
    private readonly options: SandboxHostOptions,
  ) {
    const sessionsDir = path.join(options.runDir, "sessions");
    fs.mkdirSync(sessionsDir, { recursive: true, mode: 0o711 });
    this.slots = new UidSlots(options.runDir);
    const spawnerPath =
      options.spawnerPath === undefined ? path.join(path.dirname(options.launcherPath), "nslab-spawner") : options.spawnerPath;
    this.spawner = spawnerPath ? new Spawner(spawnerPath) : null;
    this.settings = { ...options, sessionsDir, spawner: this.spawner };
    for (const parent of Object.values(driver.parents)) fs.mkdirSync(parent, { recursive: true });
  }

  /** A new sandbox; the caller owns it and destroys it (it also tears itself down when its
   *  command exits). Throws SandboxStartFailure. */
  start(spec: SandboxSpec): Promise<Sandbox> {
    return Sandbox.start(this.settings, this.driver, this.slots, spec);
  }

  /** Stop the terminal spawner, once every sandbox is destroyed: it kills what it still runs
   *  and exits. (Left running, it exits with this process anyway.) */
  close(): void {
    this.spawner?.close();
  }

  /**
   * Remove what a previous server run left behind: session cgroups and session directories whose
   * owner is no longer alive, with every process in them killed, and their uid ranges. Runs
   * before the server accepts connections.
   */
  async cleanupLeftovers(): Promise<number> {
    const sessionsDir = this.settings.sessionsDir;
    const orphaned = new Set<string>();
    for (const id of fs.readdirSync(sessionsDir)) {
      const owner = Number((readOr(path.join(sessionsDir, id, "owner")) ?? "0").trim());
      if (!isProcessAlive(owner) || owner === process.pid) orphaned.add(id);
    }
    for (const id of this.driver.listSessions()) {
      const owner = Number((readOr(path.join(sessionsDir, id, "owner")) ?? "0").trim());
      if (!isProcessAlive(owner) || owner === process.pid) orphaned.add(id);
    }
    for (const id of orphaned) {
      const cg = this.driver.open(id);
      const deadline = Date.now() + 5_000;
      for (;;) {
        const pids = this.driver.pids(cg);
        if (pids.length === 0 || Date.now() > deadline) break;
        for (const pid of pids) signalIfInCgroup(pid, SIGKILL, `/${id}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      while (!this.driver.remove(cg) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      fs.rmSync(path.join(sessionsDir, id), { recursive: true, force: true });
    }
    this.slots.releaseOrphans();
    if (orphaned.size) log.warn({ sessions: [...orphaned] }, "removed sandboxes left by a previous run");
    return orphaned.size;
  }
}

function readOr(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}
