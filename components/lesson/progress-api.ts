// The learner's stored progress, as `GET /api/progress` returns it for the learner's cookie:
// per lesson, the steps done and how many there are. Read by the course page (steps done per
// lesson) and by a lesson's step list (so ticks show before the sandbox connects, and while the
// lab is down or full). Every answer is parsed with the schema the server validates it with
// (common/api.ts); anything unexpected counts as "no progress known", because progress is a
// nicety the pages must work without.

import { CourseProgress, type LessonProgress, PROGRESS_PATH } from "../../common/api";

export type { CourseProgress } from "../../common/api";

/** The stored progress, or null when it cannot be had (no server, an error, a bad answer). */
export async function fetchCourseProgress(signal?: AbortSignal): Promise<CourseProgress | null> {
  try {
    const response = await fetch(PROGRESS_PATH, { credentials: "same-origin", cache: "no-store", signal });
    if (!response.ok) return null;
    const parsed = CourseProgress.safeParse(await response.json());
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Steps done out of the total, for one lesson's entry. */
export function stepsDone(entry: LessonProgress): { done: number; total: number } {
  const done = entry.steps.filter((step) => step.done).length;
  return { done: Math.min(done, entry.total), total: entry.total };
}
