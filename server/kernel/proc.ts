// Small readers of /proc used by the server itself.
import fs from "node:fs";

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

/** The inode of a namespace link such as /proc/self/ns/net ("net:[4026531833]" -> 4026531833). */
export function namespaceInode(pid: number | "self", type: string): number {
  const link = fs.readlinkSync(`/proc/${pid}/ns/${type}`);
  const m = /\[(\d+)\]$/.exec(link);
  if (!m) throw new Error(`unexpected namespace link ${link}`);
  return Number(m[1]);
}
