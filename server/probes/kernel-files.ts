// Reads of kernel pseudo-files (/proc, cgroupfs) for the probes and the cgroup-tree walker
// (server/kernel/cgroup-tree.ts). What the probes watch can
// disappear between two reads — a process exits, a learner removes a child cgroup, the session
// is torn down — so "it is gone" is an answer (null), never an exception. Any other error
// (EACCES, EIO, …) is a broken assumption about the host and is thrown.
import fs from "node:fs";

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
