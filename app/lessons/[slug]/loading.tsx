export default function LessonLoading() {
  return (
    <div className="mx-auto max-w-[1600px] px-4 py-6 lg:px-8" aria-busy="true">
      <p role="status" className="text-sm text-zinc-600 dark:text-zinc-400">
        Loading the lesson…
      </p>
    </div>
  );
}
