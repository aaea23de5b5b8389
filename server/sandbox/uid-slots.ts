// Host-wide allocation of uid/gid ranges: each sandbox's root maps to a range of 65536 host
// ids that no other sandbox uses at the same time, across every nslab server and `nslab run`
// on the host, whatever their run directories. A slot is a file created with O_EXCL in one
// fixed directory (UID_SLOTS_DIR), named by the first host id of its range; it names its
// owner, so a server that starts after a crash can tell a dead owner's slots from a live
// one's. Named by the range itself rather than by a position, two servers configured with
// different bases (NSLAB_UID_BASE, a multiple of 65536) still meet on the same file for the
// same ids.
//
// O_EXCL stays the only arbiter between claims. Within one process, a claim skips the slots
// this process holds without a system call and starts where the last claim left off, so with
// hundreds of sessions it usually succeeds at its first try instead of failing once per
// session ahead of it (each claim runs on the server's only thread). Going round the ring
// also leaves a range just released unused for as long as there are others free.
//
// Freeing a dead owner's slot is a read then an unlink, which O_EXCL does not make atomic: two
// servers sweeping at once could each read the dead owner's file, one unlink it, a claim make
// it again, and the other unlink that claim. So the unlink happens under an exclusive flock on
// the directory's lock file, after reading the file again there.
import fs from "node:fs";
import path from "node:path";

import { errno as lastErrno, libcFunction } from "../kernel/libc";
import { isOwnerAlive, selfOwner } from "../kernel/proc";

/** The one place on the host where uid slots live, whatever NSLAB_RUN_DIR says (/run is
 *  per host and emptied at boot, as the ranges' owners are). */
export const UID_SLOTS_DIR = "/run/nslab/uid-slots";
export const IDS_PER_SANDBOX = 65536;
/** Sandboxes a host can hold at once: as many as fit between sssd's range and systemd's foreign
 *  range, below 2^31. */
export const MAX_SLOTS = 2048;
/** First host id used by sandboxes unless NSLAB_UID_BASE says otherwise: the first multiple of
 *  65536 above sssd's default range (the highest of the ranges RESERVED_ID_RANGES names below
 *  it, and far above the ranges useradd puts in /etc/subuid, from 100000). Its 2048 ranges
 *  end at 2134441983, below systemd's foreign range and below 2^31: systemd advises against
 *  ids from 2^31 up, which tools that keep a uid in a signed 32-bit int get wrong. */
export const DEFAULT_UID_BASE = 30_521 * 65_536;
/** The default base, under its older name. */
export const UID_BASE_START = DEFAULT_UID_BASE;
/** The highest base whose ranges all fit below (uid_t)-1 = 2^32 - 1. */
export const MAX_UID_BASE = 2 ** 32 - MAX_SLOTS * IDS_PER_SANDBOX - IDS_PER_SANDBOX;

/** Host id ranges other services allocate from, whether or not they are installed here. */
export const RESERVED_ID_RANGES: ReadonlyArray<{ readonly first: number; readonly last: number; readonly owner: string }> = [
  { first: 200_000, last: 2_000_200_000, owner: "sssd's default id mapping range (ldap_idmap_range_min/max)" },
  { first: 524_288, last: 1_879_048_191, owner: "systemd's container range (systemd-nspawn --private-users=pick)" },
  { first: 2_147_352_576, last: 2_147_418_111, owner: "systemd's foreign uid range" },
];

/** The slot file of the range that starts at `uidBase`, in `dir`. */
export function uidSlotFile(uidBase: number, dir = UID_SLOTS_DIR): string {
  return path.join(dir, String(uidBase));
}

/**
 * Why sandboxes may not use the ids [base, base + MAX_SLOTS × 65536): a sentence per range of
 * /etc/subuid, /etc/subgid or RESERVED_ID_RANGES it overlaps (texts passed in, so tests use
 * fixtures), each saying what to do. Empty when the range is free.
 */
export function uidRangeConflicts(base: number, files: { subuid: string; subgid: string }): string[] {
  const first = base;
  const last = base + MAX_SLOTS * IDS_PER_SANDBOX - 1;
  const ours = `nslab's uid range ${first}-${last} (NSLAB_UID_BASE=${base})`;
  const fix = `set NSLAB_UID_BASE to a multiple of ${IDS_PER_SANDBOX} whose ${MAX_SLOTS * IDS_PER_SANDBOX} ids overlap none of these (the default ${DEFAULT_UID_BASE} is clear of the usual ones), or move that range`;
  const conflicts: string[] = [];
  for (const [file, text] of [["/etc/subuid", files.subuid], ["/etc/subgid", files.subgid]] as const) {
    for (const line of text.split("\n")) {
      // "name:first:count"; comments and blank lines are not ranges.
      const m = /^\s*([^:#\s][^:]*):(\d+):(\d+)\s*$/.exec(line);
      if (!m) continue;
      const start = Number(m[2]);
      const count = Number(m[3]);
      if (count > 0 && start <= last && start + count - 1 >= first) {
        conflicts.push(`${ours} overlaps ${file}'s ${m[1]}:${start}:${count}; ${fix}`);
      }
    }
  }
  for (const r of RESERVED_ID_RANGES) {
    if (r.first <= last && r.last >= first) conflicts.push(`${ours} overlaps ${r.owner}, ${r.first}-${r.last}; ${fix}`);
  }
  return conflicts;
}

/** uidRangeConflicts for this host's /etc/subuid and /etc/subgid (absent files: no ranges). */
export function hostUidRangeConflicts(base: number): string[] {
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };
  return uidRangeConflicts(base, { subuid: read("/etc/subuid"), subgid: read("/etc/subgid") });
}

export interface UidSlotsOptions {
  /** Where the slot files are (default UID_SLOTS_DIR; tests give one of their own). */
  dir?: string;
  /** The first host id of the first range (default DEFAULT_UID_BASE). */
  base?: number;
}

export interface UidSlot {
  index: number;
  uidBase: number;
  file: string;
}

export class UidSlots {
  readonly dir: string;
  readonly base: number;
  /** The slots this object claimed and has not released. */
  private readonly held = new Set<number>();
  /** Where the next claim starts trying: just past the slot claimed last. */
  private nextIndex = 0;

  constructor(options: UidSlotsOptions = {}) {
    const base = options.base ?? DEFAULT_UID_BASE;
    if (!Number.isInteger(base) || base < IDS_PER_SANDBOX || base > MAX_UID_BASE || base % IDS_PER_SANDBOX !== 0) {
      throw new Error(`uid base ${base}: use a multiple of ${IDS_PER_SANDBOX} from ${IDS_PER_SANDBOX} to ${MAX_UID_BASE} (NSLAB_UID_BASE)`);
    }
    this.base = base;
    this.dir = options.dir ?? UID_SLOTS_DIR;
    // The parent is the lab's run directory, which sandboxes' launchers look their roots up
    // through as an unprivileged uid: made here first, it must not be made private.
    fs.mkdirSync(path.dirname(this.dir), { recursive: true, mode: 0o711 });
    try {
      fs.mkdirSync(this.dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }

  /** Claim a free slot for `sessionId`, or null when all are in use. */
  claim(sessionId: string): UidSlot | null {
    if (this.held.size >= MAX_SLOTS) return null;
    for (let tried = 0; tried < MAX_SLOTS; tried++) {
      const index = (this.nextIndex + tried) % MAX_SLOTS;
      if (this.held.has(index)) continue;
      const uidBase = this.base + index * IDS_PER_SANDBOX;
      const file = uidSlotFile(uidBase, this.dir);
      try {
        fs.writeFileSync(file, `${selfOwner()} ${sessionId}\n`, { flag: "wx", mode: 0o600 });
      } catch (err) {
        // Another server's (or one this process released and someone else took since).
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
        throw err;
      }
      this.held.add(index);
      this.nextIndex = (index + 1) % MAX_SLOTS;
      return { index, uidBase, file };
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
    for (const file of this.slotFiles()) {
      const claim = readClaim(file);
      if (claim) owners.set(claim.sessionId, claim.owner);
    }
    return owners;
  }

  /** Free the slots whose owning process is gone, whoever's they were. Returns the session ids
   *  they held. */
  releaseOrphans(): string[] {
    // Read first without the lock: on most starts there is nothing to free, and then neither
    // the lock nor koffi (some 20 ms to load) is needed.
    const candidates = this.slotFiles().filter((file) => isOrphan(readClaim(file)));
    if (candidates.length === 0) return [];
    const freed: string[] = [];
    withLock(path.join(this.dir, ".lock"), () => {
      for (const file of candidates) {
        // Again under the lock: another sweeper may have freed it meanwhile, and a claim made
        // it anew for a live owner.
        const claim = readClaim(file);
        if (!claim || !isOrphan(claim)) continue;
        removeSlotFile(file);
        freed.push(claim.sessionId);
      }
    });
    return freed;
  }

  /** The slot files in the directory (its lock file and anything else left aside). */
  private slotFiles(): string[] {
    return fs.readdirSync(this.dir).filter((name) => /^\d+$/.test(name)).map((name) => path.join(this.dir, name));
  }
}

interface SlotClaim {
  owner: string;
  sessionId: string;
}

/** What a slot file says, or null when it is gone or still empty (a claim being written). */
function readClaim(file: string): SlotClaim | null {
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
  const [owner = "", sessionId] = text.trim().split(" ");
  return owner && sessionId ? { owner, sessionId } : null;
}

function isOrphan(claim: SlotClaim | null): boolean {
  return claim !== null && !isOwnerAlive(claim.owner);
}

const flock = libcFunction("int flock(int fd, int operation)");
const LOCK_EX = 2;
const EINTR = 4;

/** Run `fn` holding an exclusive flock on `lockFile` (made if absent); the lock goes with the
 *  descriptor, also if this process dies meanwhile. */
function withLock(lockFile: string, fn: () => void): void {
  // (libuv opens every file close-on-exec.)
  const fd = fs.openSync(lockFile, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    while ((flock(fd, LOCK_EX) as number) !== 0) {
      const errno = lastErrno();
      if (errno !== EINTR) throw new Error(`flock ${lockFile}: errno ${errno}`);
    }
    fn();
  } finally {
    fs.closeSync(fd);
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
