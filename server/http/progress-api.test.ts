import path from "node:path";

import { describe, expect, it } from "vitest";

import { CourseProgress } from "../../common/api";
import { LessonCatalog } from "../lessons/lesson-steps";
import { openSqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";
import { progressResponse } from "./progress-api";

const FIXTURES = path.join(import.meta.dirname, "../lessons/fixtures");
const LEARNER = "0123456789abcdef0123456789abcdef";
const STRANGER = "ffffffffffffffffffffffffffffffff";
const notDone = (id: string) => ({ id, done: false, completedAtMs: null });

describe("GET /api/progress's body", () => {
  it("lists every lesson's steps in the lesson's order, with the learner's done ones and when", async () => {
    const store = openSqliteStore(":memory:");
    const lessons = new LessonCatalog(FIXTURES);
    await store.progress.complete(LEARNER, "checks-demo", "oom", 2_000);
    await store.progress.complete(LEARNER, "checks-demo", "new-netns", 1_000);
    await store.progress.complete(LEARNER, "another-lesson", "oom", 3_000); // not in the course: not listed

    const body = await progressResponse(LEARNER, { lessons, store });
    expect(body).toEqual({
      lessons: {
        "checks-demo": {
          steps: [{ id: "new-netns", done: true, completedAtMs: 1_000 }, notDone("nested-pidns"), notDone("child-limit"), { id: "oom", done: true, completedAtMs: 2_000 }],
          total: 4,
        },
      },
    });
    // What the page gets back parses, unchanged, with the page's schema.
    expect(CourseProgress.parse(JSON.parse(JSON.stringify(body)))).toEqual(body);

    expect(await progressResponse(STRANGER, { lessons, store })).toEqual({
      lessons: { "checks-demo": { steps: ["new-netns", "nested-pidns", "child-limit", "oom"].map(notDone), total: 4 } },
    });
    await store.close();
  });

  it("reads every step as not done without a store, and lists nothing without lessons", async () => {
    const lessons = new LessonCatalog(FIXTURES);
    expect(await progressResponse(LEARNER, { lessons, store: null })).toEqual({
      lessons: { "checks-demo": { steps: ["new-netns", "nested-pidns", "child-limit", "oom"].map(notDone), total: 4 } },
    });
    const store = openSqliteStore(":memory:");
    expect(await progressResponse(LEARNER, { lessons: null, store })).toEqual({ lessons: {} });
    await store.close();
  });

  it("refuses to answer with a body the page's schema would reject, naming the field", async () => {
    // A store with a bug: JSON.stringify would send its NaN as null, which the page cannot tell from "not done".
    const real = openSqliteStore(":memory:");
    const broken: Store = {
      ...real,
      progress: {
        complete: async () => false,
        completed: async () => new Map(),
        allCompleted: async () => new Map(),
        progress: async (_learner, _lesson, ids) => ids.map((id) => ({ id, done: true, completedAtMs: Number.NaN })),
      },
    };
    const error = await progressResponse(LEARNER, { lessons: new LessonCatalog(FIXTURES), store: broken }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^the \/api\/progress body does not match CourseProgress:\n/);
    expect((error as Error).message).toContain('✖ Invalid input: expected number, received NaN\n  → at lessons["checks-demo"].steps[0].completedAtMs');
    await real.close();
  });
});
