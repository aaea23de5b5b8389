// The frame of both join pages: what joining means, said before the form (no account; this
// browser is how the class knows you again), then the form itself.

import type { ReactNode } from "react";

export function JoinPage({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="mx-auto max-w-xl px-4 py-10 sm:py-16">
      <p className="text-sm font-medium text-sky-700 dark:text-sky-400">Classroom</p>
      <h1 className="mt-1 text-3xl font-bold tracking-tight sm:text-4xl">{title}</h1>
      <div className="mt-4 space-y-3 leading-7 text-zinc-700 dark:text-zinc-300">
        <p>
          You need no account: type the name your class should see, and you get a sandbox of your own beside the lesson, which
          your instructor can look at while you work.
        </p>
        <p>
          This browser remembers that you joined. Come back in the same browser, even after closing it, and you are the same
          learner, with your progress; another browser or device joins as someone new.
        </p>
      </div>
      <div className="mt-8 rounded-xl border border-zinc-200 p-5 shadow-sm sm:p-6 dark:border-zinc-800">{children}</div>
    </main>
  );
}
