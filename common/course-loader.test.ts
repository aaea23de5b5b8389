import { describe, expect, it } from "vitest";

import { type LessonFiles, readCourse, readLesson, summarizeLessons } from "./course-loader";
import { LessonSourceError } from "./lesson";

function frontmatter(title: string, order: number): string {
  return `---\ntitle: ${title}\norder: ${order}\nminutes: 5\nsummary: About ${title}.\nobjectives:\n  - Learn ${title}\n---\n\n# ${title}\n`;
}

const COURSE = JSON.stringify({ slug: "course", title: "Course", summary: "A course.", lessons: ["first", "second"] });

/** Files of a lessons directory held in memory, recording what was asked for. */
function memoryFiles(contents: Record<string, string>, dir = "lessons"): LessonFiles & { asked: string[] } {
  const asked: string[] = [];
  return {
    dir,
    asked,
    readText: async (relativePath) => {
      asked.push(relativePath);
      const text = contents[relativePath];
      if (text === undefined) throw new Error(`ENOENT: no such file, open '${relativePath}'`);
      return text;
    },
  };
}

async function thrown(promise: Promise<unknown>): Promise<LessonSourceError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  if (error instanceof LessonSourceError) return error;
  throw new Error(`expected a LessonSourceError, got ${String(error)}`);
}

describe("the course loader", () => {
  it("reads the course and its lessons by their paths in the lessons directory", async () => {
    const files = memoryFiles({ "course.json": COURSE, "first.mdx": frontmatter("First", 1), "second.mdx": frontmatter("Second", 2) });
    const course = await readCourse(files);
    const lessons = await Promise.all(course.lessons.map((slug) => readLesson(files, slug)));
    expect(files.asked).toEqual(["course.json", "first.mdx", "second.mdx"]);
    expect(lessons[0]?.file).toBe("lessons/first.mdx");
    // The heading is on line 10 of the file, and of the body: frontmatter lines are blanked.
    expect(lessons[0]?.body.split("\n").indexOf("# First")).toBe(9);
    expect(lessons[0]?.body.startsWith("\n".repeat(9))).toBe(true);
    expect(summarizeLessons(files, course, lessons)).toEqual([
      { slug: "first", title: "First", order: 1, minutes: 5, summary: "About First.", objectives: ["Learn First"] },
      { slug: "second", title: "Second", order: 2, minutes: 5, summary: "About Second.", objectives: ["Learn Second"] },
    ]);
  });

  it("names the course file when it cannot be read or is not JSON", async () => {
    expect((await thrown(readCourse(memoryFiles({})))).message).toBe(
      "lessons/course.json: cannot be read (ENOENT: no such file, open 'course.json')",
    );
    const error = await thrown(readCourse(memoryFiles({ "course.json": "{ lessons: [" })));
    expect(error.file).toBe("lessons/course.json");
    expect(error.message).toMatch(/^lessons\/course\.json: not valid JSON \(/);
  });

  it("names the course field at fault", async () => {
    const error = await thrown(readCourse(memoryFiles({ "course.json": JSON.stringify({ slug: "c", title: "C", summary: "S", lessons: ["ok", "Not OK"] }) })));
    expect(error.field).toBe("lessons.1");
  });

  it("blames the course for a lesson it lists that cannot be read", async () => {
    const error = await thrown(readLesson(memoryFiles({ "course.json": COURSE }), "second"));
    expect(error.message).toBe('lessons/course.json: field "lessons": lists "second", but lessons/second.mdx cannot be read');
  });

  it("names the lesson file and its frontmatter field", async () => {
    const error = await thrown(readLesson(memoryFiles({ "first.mdx": "---\norder: 1\n---\n" }), "first"));
    expect(error.file).toBe("lessons/first.mdx");
    expect(error.message).toMatch(/^lessons\/first\.mdx: field "title": /);
  });

  it("refuses a lesson whose order is not its place in the course", async () => {
    const files = memoryFiles({ "course.json": COURSE, "first.mdx": frontmatter("First", 1), "second.mdx": frontmatter("Second", 3) });
    const course = await readCourse(files);
    const lessons = await Promise.all(course.lessons.map((slug) => readLesson(files, slug)));
    let error: unknown = null;
    try {
      summarizeLessons(files, course, lessons);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LessonSourceError);
    expect((error as Error).message).toBe('lessons/second.mdx: field "order": is 3, but lessons/course.json puts the lesson at 2');
  });

  it("names files under the directory label it is given", async () => {
    const files = memoryFiles({ "course.json": COURSE }, "server/lessons/fixtures");
    const error = await thrown(readLesson(files, "first"));
    expect(error.message).toBe('server/lessons/fixtures/course.json: field "lessons": lists "first", but server/lessons/fixtures/first.mdx cannot be read');
  });
});
