// Host-wide allocation of uid/gid ranges: each sandbox's root maps to a range of 65536 host
// ids that no other sandbox uses at the same time, even across several nslab servers on one
// host. A slot is a file created with O_EXCL under the run directory; it names its owner, so
// a server that starts after a crash can tell a dead owner's slots from a live one's.
//
// O_EXCL stays the only arbiter between processes. Within one, a claim skips the slots this
// process holds without a system call and starts where the last claim left off, so with
// hundreds of sessions it usually succeeds at its first try instead of failing once per
// session ahead of it (each claim runs on the server's only thread). Going round the ring
// also leaves a range just released unused for as long as there are others free.
import fs from "node:fs";
import path from "node:path";

import { isOwnerAlive, selfOwner } from "../kernel/proc";

/** First host id used by sandboxes: well above system and regular users. */
export const UID_BASE_START = 1 << 20;
export const IDS_PER_SANDBOX = 65536;
export const MAX_SLOTS = 4096;

export interface UidSlot {
  index: number;
  uidBase: number;
  file: string;
}

export class UidSlots {
  private readonly dir: string;
  /** The slots this object claimed and has not released. */
  private readonly held = new Set<number>();
  /** Where the next claim starts trying: just past the slot claimed last. */
  private nextIndex = 0;

  constructor(runDir: string) {
    this.dir = path.join(runDir, "uid-slots");
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Claim a free slot for `sessionId`, or null when all are in use. */
  claim(sessionId: string): UidSlot | null {
    if (this.held.size >= MAX_SLOTS) return null;
    for (let tried = 0; tried < MAX_SLOTS; tried++) {
      const index = (this.nextIndex + tried) % MAX_SLOTS;
      if (this.held.has(index)) continue;
      const file = path.join(this.dir, String(index));
      try {
        fs.writeFileSync(file, `${selfOwner()} ${sessionId}\n`, { flag: "wx", mode: 0o600 });
      } catch (err) {
        // Another server's (or one this process released and someone else took since).
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
        throw err;
      }
      this.held.add(index);
      this.nextIndex = (index + 1) % MAX_SLOTS;
      return { index, uidBase: UID_BASE_START + index * IDS_PER_SANDBOX, file };
    }
    return null;
  }

  release(slot: UidSlot): void {
    removeSlotFile(slot.file);
    this.held.delete(slot.index);
  }

  /** The owner each session's slot names, by session id. A session's slot is claimed before
   *  its directory and cgroup are made, so it names the owner of a sandbox still being
   *  prepared, whose own owner file is not written yet. */
  owners(): Map<string, string> {
    const owners = new Map<string, string>();
    for (const name of fs.readdirSync(this.dir)) {
      let text = "";
      try {
        text = fs.readFileSync(path.join(this.dir, name), "utf8");
      } catch {
        continue;
      }
      const [owner, sessionId] = text.trim().split(" ");
      if (owner && sessionId) owners.set(sessionId, owner);
    }
    return owners;
  }

  /** Free the slots whose owning server process is gone. Returns the session ids they held. */
  releaseOrphans(): string[] {
    const freed: string[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const file = path.join(this.dir, name);
      let text = "";
      try {
        text = fs.readFileSync(file, "utf8");
      } catch {
        continue;
      }
      const [owner = "", sessionId] = text.trim().split(" ");
      // A slot being claimed this instant is empty until its claim is written: not an orphan.
      if (!sessionId || isOwnerAlive(owner)) continue;
      removeSlotFile(file);
      if (sessionId) freed.push(sessionId);
    }
    return freed;
  }
}

/** unlink, not fs.rmSync: the same for a file that may be gone already, without loading
 *  Node's recursive removal (some 3 ms on a process's first use). */
function removeSlotFile(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
