// GET /api/progress: the learner's lab steps per lesson, for the course page and for a lesson's
// step list before its sandbox connects. The body is checked against CourseProgress
// (common/api.ts), the schema the page parses it with, before it is sent. A body that does not
// match is a bug here: sent, the page would quietly discard it (or, after JSON turned a NaN
// into null, misread it), so it fails the request instead and the server logs it.
import { z } from "zod";

import { CourseProgress, PROGRESS_PATH } from "../../common/api";
import type { LessonCatalog } from "../lessons/lesson-steps";
import type { Store } from "../store/store";

export interface ProgressSources {
  /** Without a catalog there are no lessons to report. */
  lessons?: LessonCatalog | null;
  /** Without a store every step reads as not done. */
  store?: Store | null;
}

export async function progressResponse(learnerId: string, { lessons, store }: ProgressSources): Promise<CourseProgress> {
  const body: CourseProgress = { lessons: {} };
  if (!lessons) return body;
  for (const slug of await lessons.lessonSlugs()) {
    const ids = (await lessons.steps(slug)).map((step) => step.id);
    const steps = store ? await store.progress.progress(learnerId, slug, ids) : ids.map((id) => ({ id, done: false, completedAtMs: null }));
    body.lessons[slug] = { steps, total: ids.length };
  }
  const checked = CourseProgress.safeParse(body);
  if (!checked.success) throw new Error(`the ${PROGRESS_PATH} body does not match CourseProgress:\n${z.prettifyError(checked.error)}`);
  return checked.data;
}
