import type { Lesson } from "./load-lesson";

export function LessonHeader({ lesson }: { lesson: Lesson }) {
  return (
    <header className="border-b border-zinc-200 pb-6 dark:border-zinc-800">
      <p className="text-xs font-medium tracking-wide text-zinc-500 uppercase dark:text-zinc-400">
        Lesson {lesson.position} of {lesson.lessonCount} · {lesson.minutes} min read
      </p>
      <h1 className="mt-2 text-3xl font-bold tracking-tight sm:text-4xl">{lesson.title}</h1>
      <p className="mt-3 text-lg leading-7 text-zinc-700 dark:text-zinc-300">{lesson.summary}</p>
      <section aria-labelledby="objectives-heading" className="mt-5">
        <h2 id="objectives-heading" className="text-sm font-semibold">
          In this lesson you will
        </h2>
        <ul className="mt-2 list-disc space-y-1 pl-5 text-sm leading-6 text-zinc-700 dark:text-zinc-300">
          {lesson.objectives.map((objective) => (
            <li key={objective}>{objective}</li>
          ))}
        </ul>
      </section>
      {/* On a phone the lab sits below the lesson; this is the way down to it. */}
      <a href="#lab" className="mt-5 inline-block text-sm font-medium text-sky-700 underline underline-offset-2 lg:hidden dark:text-sky-400">
        Go to the terminal
      </a>
    </header>
  );
}
