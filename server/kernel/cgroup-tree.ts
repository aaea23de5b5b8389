// Walking a cgroup and the cgroups below it, and reading who is in them: the one walker the
// drivers (teardown), the sandbox's watchdog, the probes and the lab-step checks all use.
//
// A learner owns their session's cgroup directory and can nest child cgroups deeper than
// PATH_MAX (4096 bytes), so the walk never builds long paths: each level is opened through
// the open descriptor of the level above (/proc/self/fd/N/name), and files are read and
// directories removed through such short paths. It keeps one descriptor open per level, and
// no recursion: depth costs neither stack nor path length.
//
// Names are bytes: a learner can name a cgroup with bytes that are not UTF-8 (mkdir $'\xff'),
// and a JavaScript string cannot hold such a name, so one listed as a string would not open,
// and the tree below it would be neither counted nor removed. Children are listed as bytes and
// opened by them.
//
// What is being walked changes under the walk — a learner removes a child cgroup, a session
// is torn down — so a cgroup that is gone is simply not there (the rule of
// server/probes/kernel-files.ts); any other error is a broken assumption and is thrown.
import fs from "node:fs";
import path from "node:path";

import { isGoneError, readKernelFile } from "../probes/kernel-files";

/** How much of a tree one walk may visit: every walk is bounded, because a learner decides
 *  how big the tree is and the walks run synchronously on the server's only thread. */
export interface CgroupTreeBounds {
  /** The most cgroups visited, the root included. */
  readonly maxCgroups: number;
  /** The deepest level visited: 0 is the root alone, 1 adds its children, and so on. */
  readonly maxDepth: number;
}

/**
 * For teardown, which must find every process and remove every cgroup however many and however
 * deep: far past what a session's kernel memory lets it create, bounded only so that a walk of
 * a tree that keeps growing still ends.
 */
export const WHOLE_TREE: CgroupTreeBounds = { maxCgroups: 1 << 20, maxDepth: 1 << 20 };

export interface VisitedCgroup {
  /** Where the cgroup is below the walk's root: "/" for the root, "/build/step-1" below it.
   *  It may be longer than PATH_MAX: it names a cgroup, it never opens one (and shows a byte
   *  that is not UTF-8 as U+FFFD, so two cgroups can share one). */
  readonly relativePath: string;
  /** A short path to the cgroup's directory (the root's own path, /proc/self/fd/N/name below
   *  it, or /proc/self/fd/N, the cgroup's own descriptor, for a name that is not UTF-8), good
   *  until the visit returns: read its files through this. */
  readonly dir: string;
  /** The cgroup as its parent names it, through the parent's descriptor (the root's own path
   *  for the root), byte for byte; good until the visit returns: what rmdir takes. */
  readonly entry: string | Buffer;
  /** Levels below the root: 0 for the root. */
  readonly depth: number;
}

export interface CgroupTreeVisitor {
  /** On the way down: a cgroup before any cgroup below it. */
  enter?: (cgroup: VisitedCgroup) => void;
  /** On the way up: a cgroup after every cgroup below it (the order rmdir needs). Called for
   *  every cgroup entered, also when a bound ends the walk. */
  leave?: (cgroup: VisitedCgroup) => void;
}

export interface CgroupTreeWalk {
  /** Cgroups visited, the root included (0 when the root is gone). */
  readonly visited: number;
  /** False when a bound left cgroups unvisited. */
  readonly complete: boolean;
}

interface Level {
  readonly cgroup: VisitedCgroup;
  readonly fd: number;
  readonly children: readonly Buffer[];
  next: number;
}

/** Visit `root` and the cgroups below it, depth first, within `bounds`. */
export function walkCgroupTree(root: string, bounds: CgroupTreeBounds, visitor: CgroupTreeVisitor): CgroupTreeWalk {
  let visited = 0;
  let complete = true;
  const levels: Level[] = [];
  /** Open and enter one cgroup; false when a bound ends the walk here. `dir` is its short path
   *  as a string, null when its name has none. */
  const descend = (entry: string | Buffer, dir: string | null, relativePath: string, depth: number): boolean => {
    if (visited >= bounds.maxCgroups) {
      complete = false;
      return false;
    }
    const fd = openDirectory(entry);
    if (fd === null) return true; // removed since its parent was listed
    visited++;
    const cgroup: VisitedCgroup = { relativePath, dir: dir ?? `/proc/self/fd/${fd}`, entry, depth };
    let children: Buffer[];
    try {
      visitor.enter?.(cgroup);
      children = childDirectoryNames(fd);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    if (depth >= bounds.maxDepth && children.length > 0) {
      complete = false;
      children = [];
    }
    levels.push({ cgroup, fd, children, next: 0 });
    return true;
  };
  try {
    let going = descend(root, root, "/", 0);
    for (let level = levels.at(-1); level !== undefined; level = levels.at(-1)) {
      const name = going ? level.children[level.next++] : undefined;
      if (name !== undefined) {
        const text = name.toString("utf8");
        const relativePath = level.cgroup.relativePath === "/" ? `/${text}` : `${level.cgroup.relativePath}/${text}`;
        const viaParent = `/proc/self/fd/${level.fd}/`;
        const depth = level.cgroup.depth + 1;
        going = Buffer.from(text, "utf8").equals(name)
          ? descend(viaParent + text, viaParent + text, relativePath, depth)
          : descend(Buffer.concat([Buffer.from(viaParent), name]), null, relativePath, depth);
        continue;
      }
      levels.pop();
      // Its own descriptor stays open through leave: a `dir` may be that descriptor.
      try {
        visitor.leave?.(level.cgroup);
      } finally {
        fs.closeSync(level.fd);
      }
    }
  } finally {
    // Only when a visitor threw: a walk that ends normally has closed every level.
    for (const level of levels) fs.closeSync(level.fd);
  }
  return { visited, complete };
}

function openDirectory(dir: string | Buffer): number | null {
  try {
    return fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    if (isGoneError(err)) return null;
    throw err;
  }
}

function childDirectoryNames(fd: number): Buffer[] {
  try {
    // A directory's link count is 2 plus one per subdirectory on cgroupfs (kernfs): with 2
    // there is no child cgroup, and the listing of its thirty-odd control files is skipped.
    // (Any other count, such as overlayfs's 1 in a test's fixture tree, is listed.)
    if (fs.fstatSync(fd).nlink === 2) return [];
    return fs
      .readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true, encoding: "buffer" })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch (err) {
    if (isGoneError(err)) return [];
    throw err;
  }
}

/** The pids in a cgroup's cgroup.procs (processes, not threads): one a line. [] when the cgroup
 *  is gone. A line that is not a pid means this code misreads the kernel, and throws. */
export function readCgroupProcs(dir: string): number[] {
  const file = path.join(dir, "cgroup.procs");
  const text = readKernelFile(file);
  if (text === null) return [];
  const pids: number[] = [];
  for (const line of text.split("\n")) {
    const value = line.trim();
    if (value === "") continue;
    if (!/^\d+$/.test(value)) throw new Error(`${file}: expected one pid a line, read ${JSON.stringify(line)}`);
    pids.push(Number(value));
  }
  return pids;
}

/** Host pid -> the cgroup it is in, relative to `root`, for `root` and the cgroups below it. */
export function readCgroupTreeProcs(root: string, bounds: CgroupTreeBounds): Map<number, string> {
  const members = new Map<number, string>();
  walkCgroupTree(root, bounds, {
    enter: (cgroup) => {
      // A process moved during the walk can be listed twice; the first place found stands.
      for (const pid of readCgroupProcs(cgroup.dir)) if (!members.has(pid)) members.set(pid, cgroup.relativePath);
    },
  });
  return members;
}

/** How many cgroups `root` holds below itself, counting no further than `atMost` + 1: enough
 *  to tell whether there are more than `atMost`, without walking a tree of any size. `visitor`
 *  sees each cgroup counted (the child-cgroup watch adds its inotify watches there). */
export function countCgroupsBelow(root: string, atMost: number, visitor: CgroupTreeVisitor = {}): number {
  const { visited } = walkCgroupTree(root, { maxCgroups: atMost + 2, maxDepth: atMost + 1 }, visitor);
  return Math.max(0, visited - 1);
}

/** rmdir `root` and every cgroup below it, deepest first. True when none of them is left; false
 *  while any still holds a process (EBUSY), or when one could not be reached. */
export function removeCgroupTree(root: string): boolean {
  let removed = true;
  const walk = walkCgroupTree(root, WHOLE_TREE, {
    leave: (cgroup) => {
      try {
        fs.rmdirSync(cgroup.entry);
      } catch (err) {
        if (!isGoneError(err)) removed = false;
      }
    },
  });
  return removed && walk.complete;
}
