// Reads of kernel pseudo-files (/proc, cgroupfs) for the probes. What the probes watch can
// disappear between two reads — a process exits, a learner removes a child cgroup, the session
// is torn down — so "it is gone" is an answer (null), never an exception. Any other error
// (EACCES, EIO, …) is a broken assumption about the host and is thrown.
import fs from "node:fs";
import path from "node:path";

/**
 * errno codes that mean the object went away: ENOENT for a missing /proc/<pid> or cgroup file,
 * ESRCH for a task that exited while its /proc entry was open, ENODEV for a cgroup file read
 * while its cgroup is being removed. ENAMETOOLONG counts too: a learner can nest cgroups deeper
 * than PATH_MAX, and what lies past it is out of the probes' reach, like something gone.
 */
const GONE_CODES = new Set(["ENOENT", "ESRCH", "ENODEV", "ENAMETOOLONG"]);

export function isGoneError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && GONE_CODES.has(code);
}

/** The file's text, or null when it (or what it describes) no longer exists. */
export function readKernelFile(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if (isGoneError(err)) return null;
    throw err;
  }
}

/** A symlink's target (e.g. "net:[4026531840]" for /proc/<pid>/ns/net), or null when gone. */
export function readKernelLink(link: string): string | null {
  try {
    return fs.readlinkSync(link);
  } catch (err) {
    if (isGoneError(err)) return null;
    throw err;
  }
}

/** Sub-directories of a cgroup directory (its child cgroups); [] when it is gone. */
export function childDirectories(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isGoneError(err)) return [];
    throw err;
  }
  return entries.filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
}

/**
 * The most cgroups one walk of a session's subtree visits. A learner may create child cgroups
 * (the lessons ask for some), and cgroup v1 has no limit on how many; every tick walks the
 * subtree with synchronous reads, so an unbounded walk would let one sandbox stall the server.
 * Past this many, deeper cgroups are not read (their processes and event counts are missed
 * until the learner removes some) — the server stays responsive.
 */
export const MAX_SUBTREE_CGROUPS = 256;

/** `dir` and the directories below it, parents before children, at most `limit` of them. */
export function cgroupSubtree(dir: string, limit = MAX_SUBTREE_CGROUPS): string[] {
  const all = [dir];
  for (let i = 0; i < all.length && all.length < limit; i++) all.push(...childDirectories(all[i] ?? ""));
  return all.slice(0, limit);
}
