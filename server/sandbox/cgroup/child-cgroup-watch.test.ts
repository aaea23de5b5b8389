// The child-cgroup bound on trees of directories made in a temporary directory (inotify and
// the walker treat a cgroup hierarchy as directories too). Each watch here is part of a sweep
// that never ticks unless the test ticks it, so what ends a tree is the watches' own events:
// floods at the top, below PATH_MAX's reach, inside renamed, re-made and non-UTF-8 cgroups.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { removeCgroupTree } from "../../kernel/cgroup-tree";
import { waitUntil } from "../../testing/traces";
import { ChildCgroupSweep, ChildCgroupWatch, MAX_EVENTS_PER_SECOND, MIN_COUNT_GAP_MS } from "./child-cgroup-watch";
import { deepChain } from "../../testing/cgroup-trees";

const MAX = 40;

let root: string;
let sweep: ChildCgroupSweep;
let watches: ChildCgroupWatch[];
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-child-watch-"));
  sweep = new ChildCgroupSweep({ timer: false });
  watches = [];
});
afterEach(() => {
  vi.restoreAllMocks();
  for (const watch of watches) watch.close();
  removeCgroupTree(root);
});

/** A watch on `dirs` (default: the temporary root), started, and what it reported. */
function watchTrees(dirs = [root]): { watch: ChildCgroupWatch; tooMany: string[] } {
  const tooMany: string[] = [];
  const watch = new ChildCgroupWatch({ dirs, maxChildren: MAX, onTooMany: (dir) => tooMany.push(dir), sweep });
  watches.push(watch);
  watch.start();
  return { watch, tooMany };
}

function flood(dir: string, count: number): void {
  for (let i = 0; i < count; i++) fs.mkdirSync(path.join(dir, `flood-${i}`));
}

describe("ChildCgroupWatch", () => {
  it("watches the cgroups made before it started, and ends a tree flooded past the bound", async () => {
    fs.mkdirSync(path.join(root, "early/child"), { recursive: true });
    const { watch, tooMany } = watchTrees();
    expect(watch.watchCount).toBe(3);
    flood(root, MAX);
    await waitUntil(() => tooMany.length > 0, "the flood reported");
    expect(tooMany).toEqual([root]);
    // It closed itself: no watch left, and out of the sweep.
    expect(watch.watchCount).toBe(0);
    expect(sweep.size).toBe(0);
  });

  it("leaves a tree within the bound alone, its watches following what is made and removed", async () => {
    const { watch, tooMany } = watchTrees();
    fs.mkdirSync(path.join(root, "a/b/c"), { recursive: true });
    await waitUntil(() => watch.watchCount === 4, "a watch on each new level");
    fs.rmSync(path.join(root, "a/b"), { recursive: true });
    await waitUntil(() => watch.watchCount === 2, "the removed levels' watches dropped");
    flood(root, MAX - 1);
    await waitUntil(() => watch.watchCount === MAX + 1, "the whole flood watched");
    expect(tooMany).toEqual([]);
  });

  it("sees every level of a tree nested deeper than PATH_MAX", async () => {
    const { watch, tooMany } = watchTrees();
    const name = "d".repeat(250);
    deepChain(root, name, 20);
    await waitUntil(() => watch.watchCount === 21, "a watch on all 20 levels");
    expect(tooMany).toEqual([]);
    // A flood at the bottom only, where no absolute path reaches: 20 + 25 cgroups.
    let fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    for (let i = 0; i < 20; i++) {
      const next = fs.openSync(`/proc/self/fd/${fd}/${name}`, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      fs.closeSync(fd);
      fd = next;
    }
    flood(`/proc/self/fd/${fd}`, 25);
    fs.closeSync(fd);
    await waitUntil(() => tooMany.length > 0, "the flood at the bottom reported");
  });

  it("keeps watching a cgroup renamed, and one removed and made again under its name", async () => {
    const { watch, tooMany } = watchTrees();
    fs.mkdirSync(path.join(root, "a/b"), { recursive: true });
    await waitUntil(() => watch.watchCount === 3, "a and b watched");
    fs.renameSync(path.join(root, "a"), path.join(root, "c"));
    fs.rmdirSync(path.join(root, "c/b"));
    // Made again at once, in the same turn as its removal.
    fs.mkdirSync(path.join(root, "c/b"));
    await waitUntil(() => watch.watchCount === 3, "c and the new b watched");
    flood(path.join(root, "c/b"), MAX);
    await waitUntil(() => tooMany.length > 0, "the flood inside the new b reported");
  });

  it("sees a cgroup whose name is not UTF-8, and the tree below it", async () => {
    const { watch, tooMany } = watchTrees();
    const odd = Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0xff, 0xfe])]);
    fs.mkdirSync(odd);
    await waitUntil(() => watch.watchCount === 2, "the odd name watched");
    for (let i = 0; i < MAX; i++) fs.mkdirSync(Buffer.concat([odd, Buffer.from(`/flood-${i}`)]));
    await waitUntil(() => tooMany.length > 0, "the flood below the odd name reported");
  });

  it("ends whichever hierarchy goes past the bound, once", async () => {
    const dirs = ["memory", "pids"].map((h) => path.join(root, h));
    for (const dir of dirs) fs.mkdirSync(dir);
    const { tooMany } = watchTrees(dirs);
    flood(dirs[1] ?? "", MAX + 1);
    flood(dirs[0] ?? "", MAX + 1);
    await waitUntil(() => tooMany.length > 0, "a flood reported");
    // Whichever count ran first; the watch closed before the second could report.
    expect(tooMany).toHaveLength(1);
    expect(dirs).toContain(tooMany[0]);
  });
});

describe("ChildCgroupSweep", () => {
  it("counts a tree the host would not give watches every tick", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, watch"), { code: "ENOSPC" });
    vi.spyOn(fs, "watch").mockImplementation(() => {
      throw enospc;
    });
    const { watch, tooMany } = watchTrees();
    expect(watch.unwatched).toBe(true);
    flood(root, MAX + 1);
    sweep.tick();
    expect(tooMany).toEqual([root]);
  });

  it("re-counts watched trees one a tick, in turn", () => {
    const dirs = ["first", "second"].map((name) => path.join(root, name));
    for (const dir of dirs) fs.mkdirSync(dir);
    const reports = dirs.map((dir) => watchTrees([dir]));
    // Floods whose events have not been read yet (this test does not yield): only the sweep
    // can see them.
    for (const dir of dirs) flood(dir, MAX + 1);
    sweep.tick();
    expect(reports.map((r) => r.tooMany.length)).toEqual([1, 0]);
    sweep.tick();
    expect(reports.map((r) => r.tooMany.length)).toEqual([1, 1]);
  });
});

describe("a learner who floods the watches", () => {
  it("costs one count per MIN_COUNT_GAP_MS, whatever the rate of mkdir and rmdir", async () => {
    const { watch, tooMany } = watchTrees();
    const counts = vi.spyOn(watch as unknown as { count: (trees: unknown[]) => void }, "count");
    const started = Date.now();
    // Made and removed in a loop, as fast as the learner can, for a quarter of a second.
    while (Date.now() - started < 250) {
      fs.mkdirSync(path.join(root, "a"));
      fs.rmdirSync(path.join(root, "a"));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, MIN_COUNT_GAP_MS * 2));
    const elapsed = Date.now() - started;
    expect(counts.mock.calls.length).toBeGreaterThan(0);
    expect(counts.mock.calls.length).toBeLessThanOrEqual(Math.ceil(elapsed / MIN_COUNT_GAP_MS) + 1);
    expect(tooMany).toEqual([]);
  });

  it("drops its watches under a flood of writes, leaves the tree to the sweep, and the bound still holds", async () => {
    const { watch, tooMany } = watchTrees();
    fs.mkdirSync(path.join(root, "child"));
    await waitUntil(() => watch.watchCount === 2, "the child watched");
    // A write loop in a child cgroup the learner owns, alternating between two files so that
    // inotify cannot fold the events together: every write is an event.
    const files = ["memory.limit_in_bytes", "memory.soft_limit_in_bytes"].map((name) => path.join(root, "child", name));
    for (let i = 0; i < MAX_EVENTS_PER_SECOND * 4; i++) {
      fs.writeFileSync(files[i % 2]!, String(i));
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await waitUntil(() => watch.watchCount === 0, "the watches shed");
    expect(watch.unwatched).toBe(true);
    // Past the bound while unwatched: the sweep's next tick finds it.
    flood(root, MAX + 1);
    sweep.tick();
    expect(tooMany).toEqual([root]);
  });

  describe("with a bound on the cgroups made over the session's life", () => {
    const LEARNER = 1_234_567;

    /** A watch with maxCreations MAX on a tree owned by the learner, and what it reported. */
    function watchCreations(): { stopped: string[]; tooMany: string[] } {
      fs.mkdirSync(path.join(root, "kept"));
      for (const dir of [root, path.join(root, "kept")]) fs.chownSync(dir, LEARNER, LEARNER);
      const stopped: string[] = [];
      const tooMany: string[] = [];
      const watch = new ChildCgroupWatch({
        dirs: [root],
        maxChildren: MAX,
        onTooMany: (dir) => tooMany.push(dir),
        maxCreations: MAX,
        onCreationsStopped: (dir) => stopped.push(dir),
        sweep,
      });
      watches.push(watch);
      watch.start();
      return { stopped, tooMany };
    }

    it("gives the tree back to host root once as many cgroups as the bound were made and removed", async () => {
      const { stopped, tooMany } = watchCreations();
      // Never more than one at a time: the live bound alone would never be reached.
      for (let i = 0; i < MAX + 5 && stopped.length === 0; i++) {
        fs.mkdirSync(path.join(root, "x"));
        fs.rmdirSync(path.join(root, "x"));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waitUntil(() => stopped.length > 0, "creations stopped");
      expect(stopped).toEqual([root]);
      expect(tooMany).toEqual([]);
      // Every directory of the tree, the learner's own child included, is host root's now.
      expect([root, path.join(root, "kept")].map((dir) => fs.statSync(dir).uid)).toEqual([0, 0]);
    });

    /** mkdir and rmdir of `dir` until the watch reports a stop (or `cycles` are done). */
    async function cycle(dir: string, cycles: number, done: () => boolean): Promise<void> {
      for (let i = 0; i < cycles && !done(); i++) {
        fs.mkdirSync(dir);
        fs.rmdirSync(dir);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }

    it("closes directories the learner opened to everyone beforehand, not only their owner", async () => {
      const { stopped } = watchCreations();
      for (const dir of [root, path.join(root, "kept")]) fs.chmodSync(dir, 0o777);
      await cycle(path.join(root, "x"), 2 * MAX, () => stopped.length > 0);
      await waitUntil(() => stopped.length > 0, "creations stopped");
      expect([root, path.join(root, "kept")].map((dir) => fs.statSync(dir).mode & 0o7777)).toEqual([0o755, 0o755]);
    });

    it("counts a child named like its parent (kept/kept), which a self event cannot be told from by name", async () => {
      const { stopped } = watchCreations();
      const kept = path.join(root, "kept");
      await waitUntil(() => fs.existsSync(kept), "kept");
      await cycle(path.join(kept, "kept"), 2 * MAX, () => stopped.length > 0);
      await waitUntil(() => stopped.length > 0, "creations stopped");
      expect(stopped).toEqual([root]);
    });

    it("ends the session when cgroups go on being made after the stop (the stop was got round)", async () => {
      const { stopped, tooMany } = watchCreations();
      await cycle(path.join(root, "x"), 2 * MAX, () => stopped.length > 0);
      await waitUntil(() => stopped.length > 0, "creations stopped");
      // Host root here may still make them; a learner who could would be ended the same way.
      await cycle(path.join(root, "x"), 4 * MAX, () => tooMany.length > 0);
      await waitUntil(() => tooMany.length > 0, "the session ended");
      expect(tooMany).toEqual([root]);
    });

    it("stops creations in a tree it cannot watch (the host's inotify watches used up): they would go uncounted", () => {
      const enospc = Object.assign(new Error("ENOSPC: no space left on device, watch"), { code: "ENOSPC" });
      vi.spyOn(fs, "watch").mockImplementation(() => {
        throw enospc;
      });
      const { stopped, tooMany } = watchCreations();
      expect(stopped).toEqual([root]);
      expect(tooMany).toEqual([]);
      expect(fs.statSync(root).uid).toBe(0);
    });

    it("leaves a tree whose cgroups come and go a few times alone", async () => {
      const { stopped } = watchCreations();
      for (let i = 0; i < MAX / 2; i++) {
        fs.mkdirSync(path.join(root, "x"));
        fs.rmdirSync(path.join(root, "x"));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, MIN_COUNT_GAP_MS * 2));
      expect(stopped).toEqual([]);
      expect(fs.statSync(root).uid).toBe(LEARNER);
    });

    it("stops creations where cgroup v2 counts more dying descendants than the bound", () => {
      fs.writeFileSync(path.join(root, "cgroup.stat"), `nr_descendants 1\nnr_dying_descendants ${MAX + 1}\n`);
      const { stopped } = watchCreations();
      expect(stopped).toEqual([root]);
      expect(fs.statSync(path.join(root, "kept")).uid).toBe(0);
    });
  });
});
