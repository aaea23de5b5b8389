import Link from "next/link";

import type { LessonSummary } from "../../common/lesson";
import { CourseProgressProvider, LessonProgressBadge } from "./course-progress";

export function LessonList({ lessons }: { lessons: LessonSummary[] }) {
  return (
    <CourseProgressProvider>
      <ol className="space-y-4" aria-label="Lessons">
        {lessons.map((lesson) => (
          <li key={lesson.slug}>
            <Link
              href={`/lessons/${lesson.slug}`}
              className="group block rounded-xl border border-zinc-200 p-5 transition-colors hover:border-sky-600 hover:bg-sky-50/50 dark:border-zinc-800 dark:hover:border-sky-400 dark:hover:bg-sky-950/30"
            >
              <p className="text-xs font-medium tracking-wide text-zinc-500 uppercase dark:text-zinc-400">
                Lesson {lesson.order} · {lesson.minutes} min read
              </p>
              <h3 className="mt-1 text-lg font-semibold group-hover:text-sky-800 dark:group-hover:text-sky-300">{lesson.title}</h3>
              <p className="mt-2 leading-6 text-zinc-700 dark:text-zinc-300">{lesson.summary}</p>
              <LessonProgressBadge slug={lesson.slug} />
            </Link>
          </li>
        ))}
      </ol>
    </CourseProgressProvider>
  );
}
