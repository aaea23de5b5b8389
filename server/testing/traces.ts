// Every trace a session could leave on the host, by its id: its cgroup directories, mounts,
// processes (in its cgroup, or still in its private mount namespace), its session directory
// and its uid slot. A session that ended cleanly leaves none of them.
import fs from "node:fs";
import path from "node:path";

import { mountsContaining } from "../kernel/proc";
import { type CgroupDriver, sessionCgroupDirs } from "../sandbox/cgroup";
import { UID_SLOTS_DIR } from "../sandbox/uid-slots";

export interface SessionTraces {
  cgroupDirs: string[];
  mounts: string[];
  processes: number[];
  sessionDir: boolean;
  uidSlot: boolean;
}

export function sessionTraces(driver: CgroupDriver, runDir: string, sessionId: string): SessionTraces {
  const cgroupDirs = sessionCgroupDirs(driver.open(sessionId)).filter((d) => fs.existsSync(d));
  const mounts = mountsContaining(sessionId);
  const processes: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cgroup`, "utf8").includes(sessionId)) processes.push(Number(entry));
      // A process still in the session's private mount namespace would show its mounts here.
      if (fs.readFileSync(`/proc/${entry}/mountinfo`, "utf8").includes(sessionId)) processes.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  const uidSlot = uidSlotsNaming(sessionId).length > 0;
  return { cgroupDirs, mounts, processes, sessionDir: fs.existsSync(`${runDir}/sessions/${sessionId}`), uidSlot };
}

/** The uid slot files whose text (owner and session) contains `text`. The slots are host-wide,
 *  whatever the run directory (UID_SLOTS_DIR), and other tests' sessions come and go in it. */
export function uidSlotsNaming(text: string): string[] {
  const slots = fs.existsSync(UID_SLOTS_DIR) ? fs.readdirSync(UID_SLOTS_DIR).filter((slot) => /^\d+$/.test(slot)) : [];
  return slots.filter((slot) => {
    try {
      return fs.readFileSync(path.join(UID_SLOTS_DIR, slot), "utf8").includes(text);
    } catch {
      return false; // released while we looked
    }
  });
}

export const NO_TRACES: SessionTraces = { cgroupDirs: [], mounts: [], processes: [], sessionDir: false, uidSlot: false };

export function leftNothing(traces: SessionTraces): boolean {
  return traces.cgroupDirs.length === 0 && traces.mounts.length === 0 && traces.processes.length === 0 && !traces.sessionDir && !traces.uidSlot;
}

export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
