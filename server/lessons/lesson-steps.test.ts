import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { LessonSourceError } from "../../common/lesson";
import { LessonCatalog } from "./lesson-steps";

const FIXTURES = path.join(import.meta.dirname, "fixtures");

let dir: string | null = null;
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** A copy of the fixture course that a test may change. */
function fixtureCopy(): string {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-lessons-"));
  fs.cpSync(FIXTURES, dir, { recursive: true });
  return dir;
}

const lessonWithSteps = (steps: string) =>
  `---\ntitle: Checks demo\norder: 1\nminutes: 5\nsummary: S.\nobjectives:\n  - O\n---\n\nexport const labSteps = ${steps};\n`;

describe("the server's lesson catalog", () => {
  it("lists the course's lessons and evaluates a lesson's lab steps from its MDX", async () => {
    const catalog = new LessonCatalog(FIXTURES);
    expect(await catalog.lessonSlugs()).toEqual(["checks-demo"]);
    const steps = await catalog.steps("checks-demo");
    expect(steps.map((step) => step.id)).toEqual(["new-netns", "nested-pidns", "child-limit", "oom"]);
    expect(steps[2]?.check).toEqual({ kind: "memory-limit", bytes: 67108864 });
    expect(await catalog.steps("not-in-the-course")).toEqual([]);
  });

  it("reads the course once, and a lesson's steps once, for its whole life", async () => {
    const lessons = fixtureCopy();
    const catalog = new LessonCatalog(lessons);
    await catalog.load();
    fs.writeFileSync(path.join(lessons, "course.json"), "not json");
    fs.writeFileSync(path.join(lessons, "checks-demo.mdx"), "no frontmatter");
    expect(await catalog.lessonSlugs()).toEqual(["checks-demo"]);
    expect((await catalog.steps("checks-demo")).length).toBe(4);
  });

  it("in development, evaluates a lesson again once its file changed", async () => {
    const lessons = fixtureCopy();
    const catalog = new LessonCatalog(lessons, "lessons", true);
    await catalog.load();
    expect((await catalog.steps("checks-demo")).length).toBe(4);
    const file = path.join(lessons, "checks-demo.mdx");
    fs.writeFileSync(file, lessonWithSteps('[{ id: "only-one", title: "T", check: { kind: "oom-kill" } }]'));
    // A different mtime than the one evaluated, whatever the filesystem's clock resolution.
    const later = new Date(fs.statSync(file).mtimeMs + 5_000);
    fs.utimesSync(file, later, later);
    expect((await catalog.steps("checks-demo")).map((step) => step.id)).toEqual(["only-one"]);
  });

  it("load() fails on a lesson's bad lab steps, naming the file and the field", async () => {
    const lessons = fixtureCopy();
    fs.writeFileSync(path.join(lessons, "checks-demo.mdx"), lessonWithSteps('[{ id: "Bad Id", title: "T", check: { kind: "oom-kill" } }]'));
    const error = await new LessonCatalog(lessons).load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LessonSourceError);
    expect((error as Error).message).toMatch(/^lessons\/checks-demo\.mdx: field "labSteps\.0\.id": /);
  });

  it("load() checks what the pages' build checks: frontmatter and its place in the course", async () => {
    const lessons = fixtureCopy();
    fs.writeFileSync(path.join(lessons, "checks-demo.mdx"), lessonWithSteps("[]").replace("order: 1", "order: 2"));
    const error = await new LessonCatalog(lessons, "fixtures").load().catch((e: unknown) => e);
    expect((error as Error).message).toBe('fixtures/checks-demo.mdx: field "order": is 2, but fixtures/course.json puts the lesson at 1');
  });

  it("does not remember a failed read: the next call tries again", async () => {
    const lessons = fixtureCopy();
    const course = fs.readFileSync(path.join(lessons, "course.json"), "utf8");
    fs.rmSync(path.join(lessons, "course.json"));
    const catalog = new LessonCatalog(lessons);
    const error = await catalog.lessonSlugs().catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^lessons\/course\.json: cannot be read \(ENOENT/);
    fs.writeFileSync(path.join(lessons, "course.json"), course);
    expect(await catalog.lessonSlugs()).toEqual(["checks-demo"]);
  });
});
