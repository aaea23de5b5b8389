// File operations on cgroup trees shared by both drivers.
import fs from "node:fs";
import path from "node:path";

export function writeCgroupFile(dir: string, file: string, value: string): void {
  try {
    fs.writeFileSync(path.join(dir, file), value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new Error(`write ${JSON.stringify(value)} to ${path.join(dir, file)}: ${code}`);
  }
}

/**
 * Visit `dir` and every cgroup below it. A learner can nest cgroups deeper than PATH_MAX, so
 * the walk never builds long paths: each level is opened through the previous level's file
 * descriptor (/proc/self/fd/N/name), and `visit` gets such a short path. `before` runs on the
 * way down, `after` on the way up (children first: the order rmdir needs). Stops descending
 * below `maxDepth`. A directory removed during the walk is skipped.
 */
export function walkCgroupTree(
  dir: string,
  visit: { before?: (dir: string) => void; after?: (dir: string) => void },
  maxDepth = 4096,
): void {
  visit.before?.(dir);
  let fd: number;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch {
    return;
  }
  try {
    if (maxDepth > 0) {
      const here = `/proc/self/fd/${fd}`;
      let entries: fs.Dirent[] = [];
      try {
        entries = fs.readdirSync(here, { withFileTypes: true });
      } catch {
        // removed meanwhile
      }
      for (const entry of entries) if (entry.isDirectory()) walkCgroupTree(`${here}/${entry.name}`, visit, maxDepth - 1);
    }
  } finally {
    fs.closeSync(fd);
  }
  visit.after?.(dir);
}

/** Pids listed in cgroup.procs of `dir` and every cgroup below it. */
export function readProcsRecursive(dir: string): number[] {
  const pids: number[] = [];
  walkCgroupTree(dir, {
    before: (sub) => {
      try {
        for (const line of fs.readFileSync(`${sub}/cgroup.procs`, "utf8").split("\n")) if (line) pids.push(Number(line));
      } catch {
        // removed meanwhile
      }
    },
  });
  return pids;
}

/** How many cgroups `dir` holds below itself, counting no further than `cap`. */
export function countDescendants(dir: string, cap: number): number {
  let count = -1; // `dir` itself is not a descendant
  try {
    walkCgroupTree(dir, {
      before: () => {
        count++;
        if (count > cap) throw new CountCapReached();
      },
    });
  } catch (err) {
    if (!(err instanceof CountCapReached)) throw err;
  }
  return Math.max(0, count);
}

class CountCapReached extends Error {}

/** rmdir the cgroup and its descendants, deepest first. True when nothing is left. */
export function removeTree(dir: string): boolean {
  let ok = true;
  walkCgroupTree(dir, {
    after: (sub) => {
      try {
        fs.rmdirSync(sub);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") ok = false;
      }
    },
  });
  return ok;
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
