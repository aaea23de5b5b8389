// The one loader of the course: lessons/course.json and each lessons/<slug>.mdx, read through a
// `readText` the caller gives (the pages' build and the server each read files their own way,
// and common/ has no file system) and validated with the schemas of ./lesson. Every problem is a
// LessonSourceError naming the file and, where there is one, the field, so `next build` and the
// server report a broken lesson in the same words.
//
// Nothing is cached here: the pages cache per render pass (React's cache()), the server for its
// whole life (server/lessons/lesson-steps.ts).

import { type Course, type LessonFrontmatter, type LessonSlug, LessonSourceError, type LessonSummary, parseCourse, parseLessonSource } from "./lesson";

export interface LessonFiles {
  /** The text of a file of the lessons directory, by its path there ("course.json",
   *  "<slug>.mdx"); rejects when the file cannot be read. */
  readText(relativePath: string): Promise<string>;
  /** The lessons directory as messages name it: errors say `${dir}/<slug>.mdx`. */
  dir: string;
}

/** A lesson file, read and checked. */
export interface LessonSource {
  slug: LessonSlug;
  /** The file as messages name it, e.g. "lessons/containers-vs-vms.mdx". */
  file: string;
  frontmatter: LessonFrontmatter;
  /** The MDX text, frontmatter blanked out so line numbers still match the file. */
  body: string;
}

export function courseFileName(files: LessonFiles): string {
  return `${files.dir}/course.json`;
}

export function lessonFileName(files: LessonFiles, slug: LessonSlug): string {
  return `${files.dir}/${slug}.mdx`;
}

export async function readCourse(files: LessonFiles): Promise<Course> {
  const file = courseFileName(files);
  let text: string;
  try {
    text = await files.readText("course.json");
  } catch (error) {
    throw new LessonSourceError(file, undefined, `cannot be read (${reason(error)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LessonSourceError(file, undefined, `not valid JSON (${reason(error)})`);
  }
  return parseCourse(json, file);
}

/** A lesson the course lists: its frontmatter validated, its body ready for MDX. */
export async function readLesson(files: LessonFiles, slug: LessonSlug): Promise<LessonSource> {
  const file = lessonFileName(files, slug);
  let text: string;
  try {
    text = await files.readText(`${slug}.mdx`);
  } catch {
    throw new LessonSourceError(courseFileName(files), "lessons", `lists "${slug}", but ${file} cannot be read`);
  }
  return { slug, file, ...parseLessonSource(text, file) };
}

/**
 * The course's lessons as the course page lists them, each checked against its place in the
 * course. `lessons` are the course's lessons in course order (readLesson of each slug).
 */
export function summarizeLessons(files: LessonFiles, course: Course, lessons: readonly LessonSource[]): LessonSummary[] {
  return course.lessons.map((slug, index) => {
    const lesson = lessons[index];
    if (lesson?.slug !== slug) throw new Error(`summarizeLessons: expected lesson "${slug}" at ${index}, got ${JSON.stringify(lesson?.slug)}`);
    // The course file decides the order; a lesson that claims another place is a mistake in
    // one of the two files, and silently picking one would hide it.
    if (lesson.frontmatter.order !== index + 1) {
      throw new LessonSourceError(lesson.file, "order", `is ${lesson.frontmatter.order}, but ${courseFileName(files)} puts the lesson at ${index + 1}`);
    }
    return { ...lesson.frontmatter, slug };
  });
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
