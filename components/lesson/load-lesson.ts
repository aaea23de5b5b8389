// Reads the course and its lessons from lessons/ on the server. Pages call this at build time
// (the lesson routes are generated statically), so a broken lesson file fails `next build`
// with a message naming the file and the field, never a learner's page view.
//
// Server-only: it uses node:fs. Client components get plain props from the pages instead.

import { readFile } from "node:fs/promises";
import path from "node:path";

import { cache } from "react";

import {
  type Course,
  type LessonFrontmatter,
  LessonSlug,
  LessonSourceError,
  type LessonSummary,
  parseCourse,
  parseLessonSource,
} from "../../common/lesson";

/** The content directory; the server and `next build` both run from the project root. */
const LESSONS_DIR = path.join(process.cwd(), "lessons");
const COURSE_FILE = "lessons/course.json";

export type Lesson = LessonSummary & {
  /** Path relative to the project root, for error messages. */
  file: string;
  /** The MDX text, frontmatter blanked out so line numbers still match the file. */
  body: string;
  /** 1-based place in the course, and the course's length. */
  position: number;
  lessonCount: number;
  next: LessonSummary | null;
  previous: LessonSummary | null;
};

// cache(): one read per render pass, shared by generateMetadata and the page.
export const loadCourse = cache(async (): Promise<Course> => {
  const text = await readFile(path.join(LESSONS_DIR, "course.json"), "utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LessonSourceError(COURSE_FILE, undefined, `not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  return parseCourse(json, COURSE_FILE);
});

const loadLessonFile = cache(async (slug: LessonSlug): Promise<{ frontmatter: LessonFrontmatter; body: string; file: string }> => {
  const file = `lessons/${slug}.mdx`;
  let source: string;
  try {
    source = await readFile(path.join(LESSONS_DIR, `${slug}.mdx`), "utf8");
  } catch {
    throw new LessonSourceError(COURSE_FILE, "lessons", `lists "${slug}", but ${file} cannot be read`);
  }
  return { ...parseLessonSource(source, file), file };
});

/** Every lesson of the course, in course order, with its frontmatter checked against it. */
export const loadLessonSummaries = cache(async (): Promise<LessonSummary[]> => {
  const course = await loadCourse();
  return Promise.all(
    course.lessons.map(async (slug, index) => {
      const { frontmatter, file } = await loadLessonFile(slug);
      // The course file decides the order; a lesson that claims another place is a mistake
      // in one of the two files, and silently picking one would hide it.
      if (frontmatter.order !== index + 1) {
        throw new LessonSourceError(file, "order", `is ${frontmatter.order}, but ${COURSE_FILE} puts the lesson at ${index + 1}`);
      }
      return { ...frontmatter, slug };
    }),
  );
});

/** One lesson with its body and neighbours, or null when the course has no such lesson. */
export const loadLesson = cache(async (slug: string): Promise<Lesson | null> => {
  if (!LessonSlug.safeParse(slug).success) return null;
  const summaries = await loadLessonSummaries();
  const index = summaries.findIndex((lesson) => lesson.slug === slug);
  const summary = summaries[index];
  if (!summary) return null;
  const { body, file } = await loadLessonFile(summary.slug);
  return {
    ...summary,
    file,
    body,
    position: index + 1,
    lessonCount: summaries.length,
    previous: summaries[index - 1] ?? null,
    next: summaries[index + 1] ?? null,
  };
});
