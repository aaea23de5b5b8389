import Link from "next/link";

import type { Lesson } from "./load-lesson";

export function LessonNav({ lesson }: { lesson: Lesson }) {
  const { previous, next } = lesson;
  return (
    <nav aria-label="Lessons" className="mt-12 flex flex-wrap justify-between gap-4 border-t border-zinc-200 pt-6 text-sm dark:border-zinc-800">
      {previous ? (
        <Link href={`/lessons/${previous.slug}`} className="rounded font-medium text-sky-700 hover:underline dark:text-sky-400">
          ← {previous.title}
        </Link>
      ) : (
        <Link href="/" className="rounded font-medium text-sky-700 hover:underline dark:text-sky-400">
          ← All lessons
        </Link>
      )}
      {next ? (
        <Link href={`/lessons/${next.slug}`} className="rounded font-medium text-sky-700 hover:underline dark:text-sky-400">
          {next.title} →
        </Link>
      ) : (
        <span className="text-zinc-500 dark:text-zinc-400">More lessons are on their way.</span>
      )}
    </nav>
  );
}
