// Small readers of /proc used by the server itself.
import fs from "node:fs";

/** A process's start time, in clock ticks after boot (field 22 of /proc/<pid>/stat), or null. */
function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

let self: string | null = null;

/**
 * This process as the owner files of its sandboxes and uid ranges name it: its pid and start
 * time. A pid alone does not tell a live owner from a dead one across a container restart:
 * pid numbers start again in each new pid namespace, so the old server's pid can name a live
 * process of the new container, or the new server itself.
 */
export function selfOwner(): string {
  self ??= `${process.pid}@${startTime(process.pid) ?? "0"}`;
  return self;
}

/** The pid an owner file names. */
export function ownerPid(owner: string): number {
  return Number(owner.split("@")[0]);
}

/** Whether the process an owner file names is still running: the same pid, started at the
 *  same time. A file with a pid alone (written before start times were) is judged by the pid. */
export function isOwnerAlive(owner: string): boolean {
  const [pid, start] = owner.trim().split("@");
  if (!isProcessAlive(Number(pid))) return false;
  if (start === undefined) return true;
  // A start time that cannot be read (/proc mounted with hidepid) leaves the pid to decide.
  const running = startTime(Number(pid));
  return running === null || running === start;
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Mount points (from /proc/self/mountinfo) that contain `marker` in their path. */
export function mountsContaining(marker: string, mountinfo = fs.readFileSync("/proc/self/mountinfo", "utf8")): string[] {
  return mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((mountPoint) => mountPoint.includes(marker));
}
