import { LessonList } from "../components/course/lesson-list";
import { loadCourse, loadLessonSummaries } from "../components/lesson/load-lesson";

export default async function CoursePage() {
  const [course, lessons] = await Promise.all([loadCourse(), loadLessonSummaries()]);
  return (
    <main className="mx-auto max-w-3xl px-4 py-10 lg:py-16">
      <p className="text-sm font-medium text-sky-700 dark:text-sky-400">Course</p>
      <h1 className="mt-1 text-4xl font-bold tracking-tight">{course.title}</h1>
      <p className="mt-4 text-lg leading-8 text-zinc-700 dark:text-zinc-300">{course.summary}</p>
      <p className="mt-4 leading-7 text-zinc-700 dark:text-zinc-300">
        Each lesson opens a shell in a sandbox made for you alone, with its own namespaces and cgroup limits, so that what the
        text says about the kernel is something you can check on your own processes.
      </p>
      <h2 className="mt-10 mb-4 text-xl font-semibold">Lessons</h2>
      <LessonList lessons={lessons} />
    </main>
  );
}
