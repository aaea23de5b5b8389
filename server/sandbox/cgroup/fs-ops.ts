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

/** Pids listed in cgroup.procs of `dir` and every cgroup below it. */
export function readProcsRecursive(dir: string): number[] {
  const pids: number[] = [];
  let text = "";
  try {
    text = fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8");
  } catch {
    return pids; // already removed
  }
  for (const line of text.split("\n")) if (line) pids.push(Number(line));
  for (const child of childCgroups(dir)) pids.push(...readProcsRecursive(child));
  return pids;
}

export function childCgroups(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
}

/** rmdir the cgroup and its descendants, deepest first. True when nothing is left. */
export function removeTree(dir: string): boolean {
  if (!fs.existsSync(dir)) return true;
  let ok = true;
  for (const child of childCgroups(dir)) ok = removeTree(child) && ok;
  try {
    fs.rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") ok = false;
  }
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
