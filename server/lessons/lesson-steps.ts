// The lab steps each lesson declares (`export const labSteps = [...]` in its MDX file), loaded
// by the server so that it, not the page, decides when a step is done. The course and the
// lesson files are read and checked by the same loader the pages' build uses
// (common/course-loader.ts), and the same file the page renders is evaluated here, so the two
// can never disagree.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { evaluate } from "@mdx-js/mdx";
import * as runtime from "react/jsx-runtime";

import { type LessonFiles, type LessonSource, readCourse, readLesson, summarizeLessons } from "../../common/course-loader";
import type { LabStep } from "../../common/lab-steps";
import { type Course, parseLabSteps } from "../../common/lesson";

export interface LessonSteps {
  slug: string;
  steps: LabStep[];
}

export class LessonCatalog {
  private readonly files: LessonFiles;
  private course: Promise<Course> | null = null;
  private readonly stepsBySlug = new Map<string, Promise<LabStep[]>>();

  /** When each lesson's steps were evaluated from its file (its mtime), for `reload`. */
  private readonly evaluatedMtime = new Map<string, number>();

  /**
   * `label` is how messages name the directory ("lessons/<slug>.mdx"). With `reload` (in
   * development only) a lesson whose file changed since its steps were evaluated is evaluated
   * again when a session asks for them, so an author sees an edit without a restart; in
   * production a lesson is evaluated once, before the server listens.
   */
  constructor(
    private readonly lessonsDir: string,
    label = "lessons",
    private readonly reload = false,
  ) {
    this.files = { dir: label, readText: (relativePath) => readFile(path.join(lessonsDir, relativePath), "utf8") };
  }

  /**
   * Reads the course and every lesson, checked as the pages' build checks them, and evaluates
   * each lesson's lab steps; rejects with the first broken file. Run before the server
   * listens, so that a broken lesson stops the start instead of failing a learner's session.
   */
  async load(): Promise<void> {
    const course = await this.loadCourse();
    const lessons = await Promise.all(course.lessons.map((slug) => readLesson(this.files, slug)));
    summarizeLessons(this.files, course, lessons);
    await Promise.all(lessons.map((lesson) => this.cachedSteps(lesson.slug, () => this.evaluateSteps(lesson))));
  }

  /** The course's lesson slugs, in order. */
  async lessonSlugs(): Promise<string[]> {
    return (await this.loadCourse()).lessons;
  }

  /** The lab steps of a lesson ([] for a lesson without any, or one the course does not list). */
  async steps(slug: string): Promise<LabStep[]> {
    const course = await this.loadCourse();
    // Only the course's own lessons are cached, so a client naming lessons at random cannot
    // grow the cache.
    if (!course.lessons.includes(slug)) return [];
    if (this.reload) {
      const mtime = (await stat(path.join(this.lessonsDir, `${slug}.mdx`)).catch(() => null))?.mtimeMs;
      if (mtime !== undefined && mtime !== this.evaluatedMtime.get(slug)) this.stepsBySlug.delete(slug);
    }
    return this.cachedSteps(slug, async () => this.evaluateSteps(await readLesson(this.files, slug)));
  }

  /** The course, read once for the life of the server; a failed read is not remembered. */
  private loadCourse(): Promise<Course> {
    if (!this.course) {
      const loading = readCourse(this.files);
      this.course = loading;
      loading.catch(() => {
        if (this.course === loading) this.course = null;
      });
    }
    return this.course;
  }

  private cachedSteps(slug: string, load: () => Promise<LabStep[]>): Promise<LabStep[]> {
    let loading = this.stepsBySlug.get(slug);
    if (!loading) {
      const started = load();
      loading = started;
      this.stepsBySlug.set(slug, started);
      // A failed load is not remembered: the next session tries again.
      started.catch(() => {
        if (this.stepsBySlug.get(slug) === started) this.stepsBySlug.delete(slug);
      });
    }
    return loading;
  }

  private async evaluateSteps(lesson: LessonSource): Promise<LabStep[]> {
    if (this.reload) {
      const mtime = (await stat(path.join(this.lessonsDir, `${lesson.slug}.mdx`)).catch(() => null))?.mtimeMs;
      if (mtime !== undefined) this.evaluatedMtime.set(lesson.slug, mtime);
    }
    const baseUrl = pathToFileURL(path.join(this.lessonsDir, `${lesson.slug}.mdx`)).href;
    const module = (await evaluate(lesson.body, { ...runtime, baseUrl })) as { labSteps?: unknown };
    return parseLabSteps(module.labSteps, lesson.file);
  }
}
