// One shape for what the kernel counts about a session's cgroup, whichever cgroup version the
// host runs. Every value carries the file it came from, so the page can say "on this host the
// limit lives in memory.limit_in_bytes; on cgroup v2 it is memory.max".
import path from "node:path";

import type { CgroupReading } from "../../common/lab-state";
import { cgroupSubtree, readKernelFile } from "./kernel-files";

export type { CgroupReading, CgroupSnapshot, CpuReadings, MemoryReadings, PidsReadings } from "../../common/lab-state";

/** A reading of a file that was there. */
export function present(dir: string, file: string, value: number | null): CgroupReading {
  return { value, file, path: path.join(dir, file), missing: false };
}

/** A reading of a file this kernel (or this session) does not have. */
export function missing(dir: string | null, file: string): CgroupReading {
  return { value: null, file, path: dir === null ? null : path.join(dir, file), missing: true };
}

/** The text of `file` in `dir`, or null when the file (or the whole directory) is not there. */
export function readCgroupText(dir: string | null, file: string): string | null {
  return dir === null ? null : readKernelFile(path.join(dir, file));
}

/** A reading of one file whose text `parse` turns into one number. */
export function readReading(dir: string | null, file: string, parse: (text: string, file: string) => number | null): CgroupReading {
  const text = readCgroupText(dir, file);
  return dir === null || text === null ? missing(dir, file) : present(dir, file, parse(text, file));
}

/**
 * Sum an event count over the session's cgroup and every cgroup a learner made below it, for
 * the counters the kernel keeps only where the event happened. The reading names the session's
 * own file: that is where a learner looks, and where the count of everything else adds in.
 */
export function sumOverSubtree(dir: string | null, file: string, pick: (text: string, file: string) => number | null): CgroupReading {
  const own = readCgroupText(dir, file);
  if (dir === null || own === null) return missing(dir, file);
  const ownCount = pick(own, file);
  if (ownCount === null) return missing(dir, file);
  let total = ownCount;
  for (const child of cgroupSubtree(dir).slice(1)) {
    const text = readCgroupText(child, file);
    // A child cgroup removed during the walk no longer contributes.
    if (text !== null) total += pick(text, file) ?? 0;
  }
  return present(dir, file, total);
}
