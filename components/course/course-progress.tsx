"use client";

// The learner's progress on the course page: how many lab steps of each lesson they have done,
// read once from GET /api/progress (their cookie says who they are). Progress is a nicety: while
// it loads, or if it cannot be had, the page shows nothing extra.

import { type ReactNode, createContext, useContext, useEffect, useState } from "react";

import { type CourseProgress, fetchCourseProgress, stepsDone } from "../lesson/progress-api";

const ProgressContext = createContext<CourseProgress | null>(null);

export function CourseProgressProvider({ children }: { children: ReactNode }) {
  const [progress, setProgress] = useState<CourseProgress | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    void fetchCourseProgress(controller.signal).then((result) => {
      if (!controller.signal.aborted) setProgress(result);
    });
    return () => controller.abort();
  }, []);
  return <ProgressContext.Provider value={progress}>{children}</ProgressContext.Provider>;
}

/** "3 of 5 lab steps done" for one lesson, or nothing when that is not known. */
export function LessonProgressBadge({ slug }: { slug: string }) {
  const progress = useContext(ProgressContext);
  const entry = progress?.lessons[slug];
  if (!entry || entry.total === 0) return null;
  const { done, total } = stepsDone(entry);
  const complete = done === total;
  return (
    <p
      data-testid={`lesson-progress-${slug}`}
      className={`mt-3 inline-flex items-center gap-2 rounded-full px-2.5 py-0.5 text-xs font-medium ${
        complete
          ? "bg-emerald-100 text-emerald-900 dark:bg-emerald-900/50 dark:text-emerald-200"
          : "bg-zinc-100 text-zinc-800 dark:bg-zinc-800 dark:text-zinc-200"
      }`}
    >
      <span aria-hidden="true">{complete ? "✓" : "◔"}</span>
      {done} of {total} lab steps done
    </p>
  );
}
