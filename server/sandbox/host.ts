// The sandboxes of one server process: the cgroup driver, the uid ranges, the capacity limit,
// and the clean-up of whatever a previous, killed run left behind.
import fs from "node:fs";
import path from "node:path";

import { log } from "../log";
import { SIGKILL, signalIfInCgroup } from "../kernel/pidfd";
import { isProcessAlive } from "../kernel/proc";
import type { CgroupDriver } from "./cgroup";
import { Sandbox, type SandboxHostSettings, type SandboxSpec, SandboxStartFailure } from "./sandbox";
import { UidSlots } from "./uid-slots";

export interface SandboxHostOptions extends Omit<SandboxHostSettings, "sessionsDir"> {
  stateDir: string;
  maxSessions: number;
}

export class SandboxHost {
  private readonly live = new Set<Sandbox>();
  private readonly slots: UidSlots;
  private readonly settings: SandboxHostSettings;
  private starting = 0;
  private closing = false;

  constructor(
    readonly driver: CgroupDriver,
    private readonly options: SandboxHostOptions,
  ) {
    const sessionsDir = path.join(options.stateDir, "sessions");
    fs.mkdirSync(sessionsDir, { recursive: true, mode: 0o711 });
    this.slots = new UidSlots(options.stateDir);
    this.settings = { ...options, sessionsDir };
    for (const parent of Object.values(driver.parents)) fs.mkdirSync(parent, { recursive: true });
  }

  get sessionCount(): number {
    return this.live.size;
  }

  get capacity(): number {
    return this.options.maxSessions;
  }

  async start(spec: SandboxSpec): Promise<Sandbox> {
    if (this.live.size + this.starting >= this.options.maxSessions) {
      throw new SandboxStartFailure({ kind: "full", message: `all ${this.options.maxSessions} sandboxes are in use` });
    }
    if (this.closing) throw new SandboxStartFailure({ kind: "failed", message: "the lab server is shutting down" });
    this.starting++;
    try {
      const sandbox = await Sandbox.start(this.settings, this.driver, this.slots, spec);
      if (this.closing) {
        // Shutdown began while this one was starting: it must not outlive the server.
        await sandbox.destroy();
        throw new SandboxStartFailure({ kind: "failed", message: "the lab server is shutting down" });
      }
      this.live.add(sandbox);
      sandbox.onExit(() => {
        void sandbox.destroy().finally(() => this.live.delete(sandbox));
      });
      return sandbox;
    } finally {
      this.starting--;
    }
  }

  async destroyAll(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.live].map((s) => s.destroy()));
    this.live.clear();
    // Those still starting see `closing` and destroy themselves; wait for them.
    while (this.starting > 0) await new Promise((r) => setTimeout(r, 10));
  }

  /**
   * Remove what a previous server run left behind: session cgroups and state directories whose
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
