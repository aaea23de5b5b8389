import { describe, expect, it } from "vitest";

import courseJson from "../lessons/course.json";
import {
  CodeMetaError,
  LessonSourceError,
  checkRunnableCode,
  commandLines,
  parseCodeMeta,
  parseCourse,
  parseLabSteps,
  parseLessonSource,
  splitFrontmatter,
} from "./lesson";

// common/ compiles without Node's types, because it must also run in the browser. This test
// reaches the file system through a dynamic import whose shape it declares itself; paths are
// relative to the project root, where vitest runs.
type ReadFile = (path: string, encoding: "utf8") => Promise<string>;
async function readProjectFile(path: string): Promise<string> {
  const fsModule: string = "node:fs/promises";
  const { readFile } = (await import(fsModule)) as { readFile: ReadFile };
  return readFile(path, "utf8");
}

const realLesson = await readProjectFile("lessons/containers-vs-vms.mdx");

function lessonWith(frontmatter: string, body = "Body text.\n"): string {
  return `---\n${frontmatter}\n---\n${body}`;
}

function thrown(fn: () => unknown): LessonSourceError {
  try {
    fn();
  } catch (error) {
    if (error instanceof LessonSourceError) return error;
    throw error;
  }
  throw new Error("expected a LessonSourceError, but nothing was thrown");
}

describe("lesson frontmatter", () => {
  it("accepts the frontmatter of the real first lesson", () => {
    const { frontmatter, body } = parseLessonSource(realLesson, "lessons/containers-vs-vms.mdx");
    expect(frontmatter.title).toBe("Containers vs VMs");
    expect(frontmatter.order).toBe(1);
    expect(frontmatter.minutes).toBeGreaterThanOrEqual(18);
    expect(frontmatter.minutes).toBeLessThanOrEqual(25);
    expect(frontmatter.summary.length).toBeGreaterThan(20);
    expect(frontmatter.objectives.length).toBeGreaterThanOrEqual(3);
    expect(body).toContain("## Two ways to share one machine");
  });

  it("keeps the body on the same line numbers as in the file, for MDX's error messages", () => {
    const { body } = parseLessonSource(realLesson, "lessons/containers-vs-vms.mdx");
    const fileLines = realLesson.split("\n");
    const bodyLines = body.split("\n");
    const heading = fileLines.indexOf("## Two ways to share one machine");
    expect(heading).toBeGreaterThan(0);
    expect(bodyLines[heading]).toBe("## Two ways to share one machine");
    // Everything up to the closing "---" is blank; what follows is the file's own text.
    const fence = fileLines.indexOf("---", 1);
    expect(bodyLines.slice(0, fence + 1).every((line) => line === "")).toBe(true);
    expect(bodyLines.slice(fence + 1)).toEqual(fileLines.slice(fence + 1));
  });

  it("reads numbers, quoted strings and lists", () => {
    const { fields } = splitFrontmatter(lessonWith('title: "Quoted: with a colon"\norder: 2\nobjectives:\n  - one\n  - \'two\''), "x.mdx");
    expect(fields).toEqual({ title: "Quoted: with a colon", order: 2, objectives: ["one", "two"] });
  });

  it("rejects a missing title, naming the file and the field", () => {
    const error = thrown(() =>
      parseLessonSource(lessonWith("order: 1\nminutes: 5\nsummary: S\nobjectives:\n  - O"), "lessons/broken.mdx"),
    );
    expect(error.file).toBe("lessons/broken.mdx");
    expect(error.field).toBe("title");
    expect(error.message).toMatch(/^lessons\/broken\.mdx: field "title": /);
  });

  it("rejects an unknown field by name", () => {
    const error = thrown(() =>
      parseLessonSource(lessonWith("title: T\norder: 1\nminutes: 5\nsummary: S\nobjectives:\n  - O\nauthor: someone"), "lessons/extra.mdx"),
    );
    expect(error.field).toBe("author");
    expect(error.message).toBe('lessons/extra.mdx: field "author": is not a known field');
  });

  it("lists every problem at once, a misspelt field included", () => {
    const error = thrown(() =>
      parseLessonSource(lessonWith("titel: T\norder: 1\nminutes: 5\nsummary: S\nobjectives:\n  - O"), "lessons/typo.mdx"),
    );
    expect(error.message).toMatch(/^lessons\/typo\.mdx: field "title": .+; field "titel": is not a known field$/);
  });

  it("rejects a field of the wrong type by name", () => {
    const error = thrown(() =>
      parseLessonSource(lessonWith("title: T\norder: first\nminutes: 5\nsummary: S\nobjectives:\n  - O"), "lessons/order.mdx"),
    );
    expect(error.field).toBe("order");
  });

  it("rejects a field given twice", () => {
    const error = thrown(() => splitFrontmatter(lessonWith("title: A\ntitle: B"), "lessons/twice.mdx"));
    expect(error.message).toBe('lessons/twice.mdx: field "title": given twice (line 3)');
  });

  it("rejects a file without a frontmatter block", () => {
    const error = thrown(() => splitFrontmatter("# Just a heading\n", "lessons/bare.mdx"));
    expect(error.message).toMatch(/^lessons\/bare\.mdx: must start with a "---" line/);
  });

  it("rejects a frontmatter block that is never closed", () => {
    const error = thrown(() => splitFrontmatter("---\ntitle: T\n", "lessons/open.mdx"));
    expect(error.message).toMatch(/no closing "---" line/);
  });
});

describe("course file", () => {
  it("accepts the real course, whose first lesson is containers-vs-vms", () => {
    const course = parseCourse(courseJson, "lessons/course.json");
    expect(course.title).toBe("Docker & Containerization");
    expect(course.lessons[0]).toBe("containers-vs-vms");
  });

  it("rejects a lesson slug that could not be a URL segment, naming its place", () => {
    const error = thrown(() =>
      parseCourse({ slug: "c", title: "C", summary: "S", lessons: ["ok", "Not OK"] }, "lessons/course.json"),
    );
    expect(error.field).toBe("lessons.1");
  });
});

describe("code block meta", () => {
  it("reads run, destructive, cgroup, exit and fails", () => {
    expect(parseCodeMeta("run")).toMatchObject({ run: true, destructive: false, cgroup: null, expect: { kind: "success" } });
    expect(parseCodeMeta("run destructive cgroup=v1 exit=137")).toMatchObject({
      run: true,
      destructive: true,
      cgroup: "v1",
      expect: { kind: "exit", status: 137 },
    });
    expect(parseCodeMeta("run fails").expect).toEqual({ kind: "fails" });
    expect(parseCodeMeta("host")).toMatchObject({ run: false, host: true });
    expect(parseCodeMeta(undefined)).toMatchObject({ run: false, host: false });
  });

  it("rejects unknown words, repeats, and words that need run", () => {
    expect(() => parseCodeMeta("run destructiv")).toThrow(/unknown word "destructiv"/);
    expect(() => parseCodeMeta("run run")).toThrow(/given twice/);
    expect(() => parseCodeMeta("destructive")).toThrow(/add "run"/);
    expect(() => parseCodeMeta("run exit=256")).toThrow(CodeMetaError);
    expect(() => parseCodeMeta("run exit=1 fails")).toThrow(/cannot be given together/);
    expect(() => parseCodeMeta("run host")).toThrow(/cannot have "run"/);
    expect(() => parseCodeMeta("run cgroup=v3")).toThrow(/unknown word/);
  });

  it("splits a block into the commands a shell would read", () => {
    expect(commandLines("# a comment\necho $$\n\nls \\\n  -la /\nhostname\n")).toEqual(["echo $$", "ls \\\n  -la /", "hostname"]);
  });

  it("allows a destructive block only as one one-line command", () => {
    const destructive = parseCodeMeta("run destructive");
    expect(() => checkRunnableCode("tail /dev/zero", destructive)).not.toThrow();
    expect(() => checkRunnableCode("# why\ntail /dev/zero", destructive)).not.toThrow();
    expect(() => checkRunnableCode("mkdir x\ntail /dev/zero", destructive)).toThrow(/single one-line command/);
    expect(() => checkRunnableCode("tail \\\n/dev/zero", destructive)).toThrow(/single one-line command/);
    expect(() => checkRunnableCode("# only a comment", parseCodeMeta("run"))).toThrow(/at least one command/);
  });
});

describe("lab steps export", () => {
  it("accepts valid steps and treats a missing export as none", () => {
    expect(parseLabSteps(undefined, "lessons/x.mdx")).toEqual([]);
    const steps = parseLabSteps([{ id: "oom", title: "Be killed", check: { kind: "oom-kill" } }], "lessons/x.mdx");
    expect(steps[0]?.id).toBe("oom");
  });

  it("names the file and the step field at fault", () => {
    const error = thrown(() =>
      parseLabSteps([{ id: "ok", title: "T", check: { kind: "memory-limit", bytes: -1 } }], "lessons/bad-steps.mdx"),
    );
    expect(error.file).toBe("lessons/bad-steps.mdx");
    expect(error.field).toBe("labSteps.0.check.bytes");
    expect(error.message).toMatch(/^lessons\/bad-steps\.mdx: field "labSteps\.0\.check\.bytes": /);
  });

  it("rejects duplicate step ids", () => {
    const step = { id: "same", title: "T", check: { kind: "oom-kill" } };
    expect(() => parseLabSteps([step, step], "lessons/dup.mdx")).toThrow(/step ids must be unique/);
  });
});
