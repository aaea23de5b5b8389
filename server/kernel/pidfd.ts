// Kernel calls Node has no API for, through koffi: process file descriptors, so that
// signalling a sandbox process never hits an unrelated process that reused its pid
// (pidfd_open(2), pidfd_send_signal(2)).
import fs from "node:fs";

import { errno as lastErrno, libcFunction } from "./libc";

const pidfdOpen = libcFunction("int pidfd_open(int pid, unsigned int flags)");
const pidfdSendSignal = libcFunction("int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)");

const ESRCH = 3;

export const SIGKILL = 9;
export const SIGTERM = 15;

/** An open pidfd, or null when the process is already gone. */
export function openPidfd(pid: number): number | null {
  const fd = pidfdOpen(pid, 0) as number;
  if (fd >= 0) return fd;
  const errno = lastErrno();
  if (errno === ESRCH) return null;
  throw new Error(`pidfd_open ${pid}: errno ${errno}`);
}

/** Send `signal` through the pidfd. False when the process has exited meanwhile. */
export function signalPidfd(fd: number, signal: number): boolean {
  if ((pidfdSendSignal(fd, signal, null, 0) as number) === 0) return true;
  const errno = lastErrno();
  if (errno === ESRCH) return false;
  throw new Error(`pidfd_send_signal: errno ${errno}`);
}

export function closePidfd(fd: number): void {
  fs.closeSync(fd);
}

/**
 * Signal `pid` only if, once pinned by a pidfd, it is still a member of the cgroup at
 * `cgroupPath` or of one below it, in some hierarchy. `cgroupPath` is the session's cgroup as
 * /proc/<pid>/cgroup names it ("/nslab/<session id>": CgroupDriver.procPath). Between reading
 * a pid from cgroup.procs and signalling it, the process may exit and its pid be reused; the
 * pidfd makes the check and the signal refer to the same process.
 */
export function signalIfInCgroup(pid: number, signal: number, cgroupPath: string): boolean {
  // No process with this pid, or one outside the cgroup, right now: false, as the check after
  // pinning would have answered a moment later, without a pidfd (nor koffi loaded for one). Only
  // the pinned check can let a signal go out; what enters the cgroup afterwards is found by the
  // caller's next reading of its members (teardown reads them until none is left).
  if (!inCgroup(pid, cgroupPath)) return false;
  const fd = openPidfd(pid);
  if (fd === null) return false;
  try {
    if (!inCgroup(pid, cgroupPath)) return false;
    return signalPidfd(fd, signal);
  } finally {
    closePidfd(fd);
  }
}

/**
 * Whether a /proc/<pid>/cgroup text puts the process in `cgroupPath` or below it: a line whose
 * path is exactly it, or it followed by "/". A substring would not do: session "abc" would
 * claim the processes of session "abcd", of "/x/abc", and of a learner's child cgroup that a
 * session named "abc".
 */
export function cgroupFileHasPath(procCgroup: string, cgroupPath: string): boolean {
  if (!cgroupPath.startsWith("/") || cgroupPath === "/" || cgroupPath.endsWith("/")) throw new Error(`not a cgroup path below the root: ${JSON.stringify(cgroupPath)}`);
  for (const line of procCgroup.split("\n")) {
    // "<hierarchy id>:<controllers>:<path>"; the path, last, may itself hold colons.
    const m = /^\d+:[^:]*:(.*)$/.exec(line);
    const member = m?.[1];
    if (member !== undefined && (member === cgroupPath || member.startsWith(`${cgroupPath}/`))) return true;
  }
  return false;
}

function inCgroup(pid: number, cgroupPath: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return false;
  }
  return cgroupFileHasPath(text, cgroupPath);
}
