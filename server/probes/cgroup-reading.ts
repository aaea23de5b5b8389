// One shape for what the kernel counts about a session's cgroup, whichever cgroup version the
// host runs. Every value carries the file it came from, so the page can say "on this host the
// limit lives in memory.limit_in_bytes; on cgroup v2 it is memory.max".
import fs from "node:fs";
import path from "node:path";

import type { CgroupReading } from "../../common/lab-state";
import { type CgroupTreeBounds, walkCgroupTree } from "../kernel/cgroup-tree";
import { isGoneError, kernelFiles } from "./kernel-files";

export type { CgroupReading, CgroupSnapshot, CpuReadings, MemoryReadings, PidsReadings } from "../../common/lab-state";

/**
 * The most cgroups one walk of a session's subtree visits. A learner may create child cgroups
 * (the lessons ask for some), and cgroup v1 has no limit on how many; every tick walks the
 * subtree with synchronous reads, so an unbounded walk would let one sandbox stall the server.
 * Past this many, further cgroups are not read (their processes and event counts are missed
 * until the learner removes some) — the server stays responsive.
 */
export const MAX_SUBTREE_CGROUPS = 256;

/** The bounds of every walk the probes make (server/kernel/cgroup-tree.ts). */
export const SUBTREE_WALK: CgroupTreeBounds = { maxCgroups: MAX_SUBTREE_CGROUPS, maxDepth: MAX_SUBTREE_CGROUPS };

/** A reading of a file that was there. */
export function present(dir: string, file: string, value: number | null): CgroupReading {
  return { value, file, path: path.join(dir, file), missing: false };
}

/** A reading of a file this kernel (or this session) does not have. */
export function missing(dir: string, file: string): CgroupReading {
  return { value: null, file, path: path.join(dir, file), missing: true };
}

/** The text of `file` in `dir`, or null when the file (or the whole directory) is not there. */
export function readCgroupText(dir: string, file: string): string | null {
  return kernelFiles.read(path.join(dir, file));
}

/**
 * False when `dir` certainly has no subdirectory — no child cgroup — so a walk of its subtree
 * can be skipped: a directory's link count is 2 plus one per subdirectory on cgroupfs (kernfs),
 * as on most filesystems. Any other count (overlayfs reports 1) means "maybe", and the caller
 * walks. A gone directory has none.
 */
export function mayHaveChildCgroups(dir: string): boolean {
  try {
    return fs.statSync(dir).nlink !== 2;
  } catch (err) {
    if (isGoneError(err)) return false;
    throw err;
  }
}

/** A reading of one file whose text `parse` turns into one number. */
export function readReading(dir: string, file: string, parse: (text: string, file: string) => number | null): CgroupReading {
  const text = readCgroupText(dir, file);
  return text === null ? missing(dir, file) : present(dir, file, parse(text, file));
}

/**
 * Sum an event count over the session's cgroup and every cgroup a learner made below it, for
 * the counters the kernel keeps only where the event happened. The reading names the session's
 * own file: that is where a learner looks, and where the count of everything else adds in.
 */
export function sumOverSubtree(dir: string, file: string, pick: (text: string, file: string) => number | null): CgroupReading {
  const own = readCgroupText(dir, file);
  if (own === null) return missing(dir, file);
  const ownCount = pick(own, file);
  if (ownCount === null) return missing(dir, file);
  let total = ownCount;
  if (!mayHaveChildCgroups(dir)) return present(dir, file, total);
  walkCgroupTree(dir, SUBTREE_WALK, {
    enter: (cgroup) => {
      if (cgroup.depth === 0) return; // counted above
      const text = readCgroupText(cgroup.dir, file);
      // A child cgroup removed during the walk no longer contributes.
      if (text !== null) total += pick(text, file) ?? 0;
    },
  });
  return present(dir, file, total);
}
