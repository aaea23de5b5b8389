// Reads the course and its lessons from lessons/ on the server. Pages call this at build time
// (the lesson routes are generated statically), so a broken lesson file fails `next build`
// with a message naming the file and the field, never a learner's page view. The reading and
// checking is common/course-loader.ts, which the lab server uses too; this module brings the
// file system and React's per-render cache.
//
// Server-only: it uses node:fs. Client components get plain props from the pages instead.

import { readFile } from "node:fs/promises";
import path from "node:path";

import { cache } from "react";

import { type LessonFiles, type LessonSource, readCourse, readLesson, summarizeLessons } from "../../common/course-loader";
import { type Course, LessonSlug, type LessonSummary } from "../../common/lesson";

/** The content directory; the server and `next build` both run from the project root. */
const LESSONS_DIR = path.join(process.cwd(), "lessons");

const files: LessonFiles = {
  dir: "lessons",
  readText: (relativePath) => readFile(path.join(LESSONS_DIR, relativePath), "utf8"),
};

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
export const loadCourse = cache((): Promise<Course> => readCourse(files));

const loadLessonFile = cache((slug: LessonSlug): Promise<LessonSource> => readLesson(files, slug));

/** Every lesson of the course, in course order, with its frontmatter checked against it. */
export const loadLessonSummaries = cache(async (): Promise<LessonSummary[]> => {
  const course = await loadCourse();
  return summarizeLessons(files, course, await Promise.all(course.lessons.map((slug) => loadLessonFile(slug))));
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
