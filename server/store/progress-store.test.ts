import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { ProgressStore } from "./progress-store";

const learner = "0123456789abcdef0123456789abcdef";
let dir: string | null = null;
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
});

describe("progress store (SQLite)", () => {
  it("records a step once, keeps its first completion time, and lists a lesson in order", () => {
    const store = new ProgressStore(":memory:");
    expect(store.complete(learner, "containers-vs-vms", "new-netns", 1000)).toBe(true);
    expect(store.complete(learner, "containers-vs-vms", "new-netns", 2000)).toBe(false);
    expect(store.progress(learner, "containers-vs-vms", ["oom", "new-netns"])).toEqual([
      { id: "oom", done: false, completedAtMs: null },
      { id: "new-netns", done: true, completedAtMs: 1000 },
    ]);
    expect(store.progress("ffffffffffffffffffffffffffffffff", "containers-vs-vms", ["new-netns"])).toEqual([
      { id: "new-netns", done: false, completedAtMs: null },
    ]);
  });

  it("keeps progress in a real database file across a restart", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-store-"));
    const file = path.join(dir, "nested", "nslab.db");
    const first = new ProgressStore(file);
    first.complete(learner, "containers-vs-vms", "oom", 42);
    first.close();
    const second = new ProgressStore(file);
    expect(second.allCompleted(learner)).toEqual(new Map([["containers-vs-vms", new Map([["oom", 42]])]]));
    second.close();
  });
});
