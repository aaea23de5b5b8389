// File operations on cgroups shared by both drivers. Walking a tree is server/kernel/cgroup-tree.ts.
import fs from "node:fs";
import path from "node:path";

import { WHOLE_TREE, readCgroupTreeProcs, removeCgroupTree } from "../../kernel/cgroup-tree";
import type { SetupFs } from "../setup-fs";
import { type SessionCgroup, sessionCgroupDirs } from "./session-cgroup";

export function writeCgroupFile(dir: string, file: string, value: string): void {
  try {
    fs.writeFileSync(path.join(dir, file), value);
  } catch (err) {
    throw writeError(dir, file, value, err);
  }
}

/** writeCgroupFile as part of a session's set-up: through `io`, on the thread pool for the
 *  server (others are served meanwhile) or at once for `nslab run` (setup-fs.ts). */
export async function writeCgroupFileAsync(io: SetupFs, dir: string, file: string, value: string): Promise<void> {
  try {
    await io.writeFile(path.join(dir, file), value);
  } catch (err) {
    throw writeError(dir, file, value, err);
  }
}

function writeError(dir: string, file: string, value: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code ?? "error";
  return new Error(`write ${JSON.stringify(value)} to ${path.join(dir, file)}: ${code}`);
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

/** chown the cgroup directory and the named files in it to `uid` (and the same gid); a file
 *  this kernel does not provide is skipped. All at once (their order does not matter), each
 *  settled before this returns. */
export async function delegate(io: SetupFs, dir: string, files: readonly string[], uid: number): Promise<void> {
  const chowns = await Promise.allSettled([
    io.chown(dir, uid, uid),
    ...files.map((file) =>
      io.chown(path.join(dir, file), uid, uid).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      }),
    ),
  ]);
  for (const chown of chowns) if (chown.status === "rejected") throw chown.reason;
}
