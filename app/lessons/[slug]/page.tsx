import type { Metadata } from "next";
import { notFound } from "next/navigation";

import { LessonBody } from "../../../components/lesson/lesson-body";
import { LessonHeader } from "../../../components/lesson/lesson-header";
import { LessonNav } from "../../../components/lesson/lesson-nav";
import { loadCourse, loadLesson } from "../../../components/lesson/load-lesson";
import { TerminalPanel } from "../../../components/terminal/terminal-panel";

type LessonPageProps = { params: Promise<{ slug: string }> };

// Every lesson of the course is rendered at build time, text included; the terminal is the
// only part that needs the lab server.
export async function generateStaticParams(): Promise<Array<{ slug: string }>> {
  const course = await loadCourse();
  return course.lessons.map((slug) => ({ slug }));
}

export async function generateMetadata({ params }: LessonPageProps): Promise<Metadata> {
  const lesson = await loadLesson((await params).slug);
  return lesson ? { title: lesson.title, description: lesson.summary } : { title: "Lesson not found" };
}

export default async function LessonPage({ params }: LessonPageProps) {
  const lesson = await loadLesson((await params).slug);
  if (!lesson) notFound();

  return (
    <div className="mx-auto grid max-w-[1600px] grid-cols-1 gap-8 px-4 py-6 lg:grid-cols-[minmax(0,5fr)_minmax(0,6fr)] lg:px-8">
      <main className="min-w-0">
        <article className="mx-auto max-w-prose lg:mx-0">
          <LessonHeader lesson={lesson} />
          <LessonBody body={lesson.body} file={lesson.file} />
          <LessonNav lesson={lesson} />
        </article>
      </main>
      {/* Beside the lesson on a laptop, pinned while the text scrolls; below it on a phone. */}
      <aside
        id="lab"
        aria-label="Lab"
        className="h-[32rem] scroll-mt-20 lg:sticky lg:top-20 lg:h-[calc(100dvh-6.5rem)] lg:min-h-[24rem] lg:self-start"
      >
        <TerminalPanel lesson={lesson.slug} />
      </aside>
    </div>
  );
}
