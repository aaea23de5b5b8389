import Link from "next/link";

export default function LessonNotFound() {
  return (
    <main className="mx-auto max-w-2xl px-4 py-16">
      <h1 className="text-2xl font-bold">There is no such lesson</h1>
      <p className="mt-3 text-zinc-700 dark:text-zinc-300">The address may be misspelt, or the lesson may have moved.</p>
      <Link href="/" className="mt-6 inline-block font-medium text-sky-700 underline underline-offset-2 dark:text-sky-400">
        See all lessons
      </Link>
    </main>
  );
}
