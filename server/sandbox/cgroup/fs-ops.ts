// File operations on cgroups shared by both drivers. Walking a tree is server/kernel/cgroup-tree.ts.
import fs from "node:fs";
import path from "node:path";

import { WHOLE_TREE, readCgroupTreeProcs, removeCgroupTree } from "../../kernel/cgroup-tree";
import { type SessionCgroup, sessionCgroupDirs } from "./session-cgroup";

export function writeCgroupFile(dir: string, file: string, value: string): void {
  try {
    fs.writeFileSync(path.join(dir, file), value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new Error(`write ${JSON.stringify(value)} to ${path.join(dir, file)}: ${code}`);
  }
}

/** Host pids of every process in the session's cgroup, in each of its hierarchies, and in
 *  every cgroup below it: teardown kills them all, so the whole tree is read. */
export function pidsInSessionCgroup(cgroup: SessionCgroup): number[] {
  const pids = new Set<number>();
  for (const dir of sessionCgroupDirs(cgroup)) for (const pid of readCgroupTreeProcs(dir, WHOLE_TREE).keys()) pids.add(pid);
  return [...pids];
}

/** rmdir the session's cgroup in each of its hierarchies with every cgroup below it. True when
 *  nothing is left. */
export function removeSessionCgroup(cgroup: SessionCgroup): boolean {
  let removed = true;
  for (const dir of sessionCgroupDirs(cgroup)) removed = removeCgroupTree(dir) && removed;
  return removed;
}

export function listSessionDirs(parent: string, pattern: RegExp): string[] {
  try {
    return fs
      .readdirSync(parent, { withFileTypes: true })
      .filter((e) => e.isDirectory() && pattern.test(e.name))
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** chown the cgroup directory and the named files in it to `uid` (and the same gid). */
export function delegate(dir: string, files: readonly string[], uid: number): void {
  fs.chownSync(dir, uid, uid);
  for (const file of files) {
    try {
      fs.chownSync(path.join(dir, file), uid, uid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}
