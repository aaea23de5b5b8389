// The one cgroup-tree walker, against directory trees made in a temporary directory (a cgroup
// hierarchy is directories too): its order, its bounds, what it does with what vanishes, and
// trees nested deeper than PATH_MAX, which a learner can make and a path-based walk cannot reach.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { type VisitedCgroup, countCgroupsBelow, readCgroupProcs, readCgroupTreeProcs, removeCgroupTree, walkCgroupTree } from "./cgroup-tree";
import { deepChain } from "../testing/cgroup-trees";

const PATH_MAX = 4096;
const ALL = { maxCgroups: 1000, maxDepth: 1000 };

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-cgroup-tree-"));
});
afterEach(() => {
  // The deep trees are out of reach of fs.rmSync's paths: files go first, then each directory.
  walkCgroupTree(root, ALL, {
    leave: (c) => {
      for (const entry of fs.readdirSync(c.dir, { withFileTypes: true })) if (!entry.isDirectory()) fs.rmSync(path.join(c.dir, entry.name));
      fs.rmdirSync(c.dir);
    },
  });
});

function cgroup(relative: string, pids: number[] = []): string {
  const dir = path.join(root, relative);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "cgroup.procs"), pids.map((p) => `${p}\n`).join(""));
  return dir;
}

function visits(bounds = ALL): { entered: VisitedCgroup[]; left: string[]; complete: boolean; visited: number } {
  const entered: VisitedCgroup[] = [];
  const left: string[] = [];
  const walk = walkCgroupTree(root, bounds, { enter: (c) => entered.push(c), leave: (c) => left.push(c.relativePath) });
  return { entered, left, ...walk };
}

describe("walkCgroupTree", () => {
  it("enters each cgroup before the ones below it and leaves it after them, with its place below the root", () => {
    cgroup("a/b/c");
    cgroup("d");
    const { entered, left, complete, visited } = visits();
    const order = entered.map((c) => c.relativePath);
    expect([...order].sort()).toEqual(["/", "/a", "/a/b", "/a/b/c", "/d"]);
    expect(order[0]).toBe("/");
    expect(order.indexOf("/a")).toBeLessThan(order.indexOf("/a/b"));
    expect(order.indexOf("/a/b")).toBeLessThan(order.indexOf("/a/b/c"));
    expect(left.at(-1)).toBe("/");
    expect(left.indexOf("/a/b/c")).toBeLessThan(left.indexOf("/a/b"));
    expect(entered.map((c) => [c.relativePath, c.depth])).toContainEqual(["/a/b/c", 3]);
    expect(entered[0]?.dir).toBe(root);
    expect(entered.find((c) => c.relativePath === "/a/b")?.dir).toMatch(/^\/proc\/self\/fd\/\d+\/b$/);
    expect({ complete, visited }).toEqual({ complete: true, visited: 5 });
  });

  it("visits at most maxCgroups, and says the walk was cut short", () => {
    for (let i = 0; i < 10; i++) cgroup(`child-${i}`);
    const { entered, left, complete, visited } = visits({ maxCgroups: 4, maxDepth: 10 });
    expect(entered).toHaveLength(4);
    expect(left).toHaveLength(4); // every cgroup entered is left, also when a bound ends the walk
    expect({ complete, visited }).toEqual({ complete: false, visited: 4 });
    expect(visits({ maxCgroups: 11, maxDepth: 10 }).complete).toBe(true);
  });

  it("goes no deeper than maxDepth", () => {
    cgroup("a/b/c");
    expect(visits({ maxCgroups: 100, maxDepth: 2 })).toMatchObject({ visited: 3, complete: false });
    expect(visits({ maxCgroups: 100, maxDepth: 0 }).entered.map((c) => c.relativePath)).toEqual(["/"]);
    expect(visits({ maxCgroups: 100, maxDepth: 3 }).complete).toBe(true);
  });

  it("visits nothing of a cgroup that is gone, and skips one removed during the walk", () => {
    expect(walkCgroupTree(path.join(root, "no-such-session"), ALL, {})).toEqual({ visited: 0, complete: true });
    cgroup("a");
    cgroup("b");
    const seen: string[] = [];
    walkCgroupTree(root, ALL, {
      enter: (c) => {
        seen.push(c.relativePath);
        // Whichever child comes first removes the other before it is reached.
        if (c.depth === 1) for (const other of ["a", "b"]) if (`/${other}` !== c.relativePath) fs.rmSync(path.join(root, other), { recursive: true });
      },
    });
    expect(seen).toHaveLength(2);
  });

  it("reaches the bottom of a tree nested deeper than PATH_MAX, and names it", () => {
    const name = "d".repeat(250);
    deepChain(root, name, 20, (bottom) => fs.writeFileSync(`${bottom}/cgroup.procs`, "4242\n"));
    const { entered, complete } = visits();
    const bottom = entered.at(-1);
    expect(complete).toBe(true);
    expect(entered).toHaveLength(21);
    expect(bottom?.depth).toBe(20);
    expect(bottom?.relativePath.length).toBeGreaterThan(PATH_MAX);
    expect(bottom?.relativePath).toBe(`/${Array(20).fill(name).join("/")}`);
    expect(readCgroupTreeProcs(root, ALL)).toEqual(new Map([[4242, bottom?.relativePath]]));
  });
});

describe("readCgroupProcs", () => {
  it("reads one pid a line, and nothing from a cgroup that is gone", () => {
    expect(readCgroupProcs(cgroup("s1", [1, 22, 333]))).toEqual([1, 22, 333]);
    expect(readCgroupProcs(cgroup("empty"))).toEqual([]);
    expect(readCgroupProcs(path.join(root, "gone"))).toEqual([]);
  });

  it("throws, naming the file, on text that is not one pid a line", () => {
    const dir = cgroup("s1");
    fs.writeFileSync(path.join(dir, "cgroup.procs"), "1\nx\n");
    expect(() => readCgroupProcs(dir)).toThrow(/cgroup\.procs: expected one pid a line/);
  });
});

describe("readCgroupTreeProcs", () => {
  it("lists the processes of the root and of every cgroup below it, each with its cgroup", () => {
    cgroup(".", [15178]);
    cgroup("build", [8854]);
    cgroup("build/step", [8855, 8856]);
    expect(readCgroupTreeProcs(root, ALL)).toEqual(
      new Map([
        [15178, "/"],
        [8854, "/build"],
        [8855, "/build/step"],
        [8856, "/build/step"],
      ]),
    );
    expect([...readCgroupTreeProcs(root, { maxCgroups: 2, maxDepth: 10 }).keys()]).toEqual([15178, 8854]);
  });
});

describe("countCgroupsBelow", () => {
  it("counts the cgroups below the root, stopping one past the bound", () => {
    cgroup("a/b");
    cgroup("c");
    expect(countCgroupsBelow(root, 10)).toBe(3);
    for (let i = 0; i < 20; i++) cgroup(`flood-${i}`);
    expect(countCgroupsBelow(root, 10)).toBe(11);
    expect(countCgroupsBelow(path.join(root, "gone"), 10)).toBe(0);
  });

  it("counts a chain deeper than the bound as more than the bound", () => {
    deepChain(root, "x", 30);
    expect(countCgroupsBelow(root, 10)).toBe(11);
  });
});

describe("removeCgroupTree", () => {
  it("removes a tree nested deeper than PATH_MAX, deepest first", () => {
    const session = path.join(root, "session");
    fs.mkdirSync(session);
    fs.mkdirSync(path.join(session, "sibling"));
    deepChain(session, "d".repeat(250), 20);
    expect(removeCgroupTree(session)).toBe(true);
    expect(fs.existsSync(session)).toBe(false);
    expect(removeCgroupTree(session)).toBe(true); // nothing left is success, again
  });

  it("reports false while a directory cannot be removed", () => {
    // On cgroupfs a cgroup with processes refuses rmdir (EBUSY); a plain directory with a file
    // in it refuses it too (ENOTEMPTY).
    cgroup("busy", [1]);
    expect(removeCgroupTree(root)).toBe(false);
    expect(fs.existsSync(path.join(root, "busy"))).toBe(true);
  });
});
