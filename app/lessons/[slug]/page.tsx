import type { Metadata } from "next";
import { notFound } from "next/navigation";

import { ClassBanner } from "../../../components/classroom/class-banner";
import { LabProvider } from "../../../components/lab/lab-provider";
import { LiveViews } from "../../../components/lab/live-views";
import { LessonBody } from "../../../components/lesson/lesson-body";
import { LessonHeader } from "../../../components/lesson/lesson-header";
import { LessonNav } from "../../../components/lesson/lesson-nav";
import { loadCourse, loadLesson } from "../../../components/lesson/load-lesson";
import { TerminalPanel } from "../../../components/terminal/terminal-panel";

type LessonPageProps = { params: Promise<{ slug: string }> };

// Every lesson of the course is rendered at build time, text included; the lab (terminal, live
// views, and the lesson's Run buttons, which talk to it from inside the text) is the only part
// that needs the lab server. One LabProvider holds the page's one session for all of them.
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
    <LabProvider lesson={lesson.slug}>
      {/* A learner who joined a class sees which, as whom, and the instructor's messages. */}
      <ClassBanner />
      <div className="mx-auto grid max-w-[1600px] grid-cols-1 gap-8 px-4 py-6 lg:grid-cols-[minmax(0,5fr)_minmax(0,6fr)] lg:px-8">
        {/* The lesson has many buttons; a keyboard user can jump straight to the shell. */}
        <a
          href="#lab"
          className="sr-only rounded bg-white px-3 py-2 text-sm font-medium text-zinc-900 focus:not-sr-only focus:fixed focus:top-2 focus:left-2 focus:z-20 dark:bg-zinc-900 dark:text-zinc-100"
        >
          Skip to the lab
        </a>
        <main className="min-w-0">
          <article className="mx-auto max-w-prose lg:mx-0">
            <LessonHeader lesson={lesson} />
            <LessonBody body={lesson.body} file={lesson.file} />
            <LessonNav lesson={lesson} />
          </article>
        </main>
        {/* Beside the lesson on a laptop, pinned while the text scrolls, the terminal above the
            live views; below the lesson on a phone, everything stacked. */}
        {/* On a short screen the terminal keeps a usable height and the lab scrolls within
            itself to the live views (or the learner hides them). */}
        <aside
          id="lab"
          aria-label="Lab"
          className="flex scroll-mt-20 flex-col gap-3 lg:sticky lg:top-20 lg:h-[calc(100dvh-6.5rem)] lg:self-start lg:overflow-y-auto"
        >
          <div className="h-[32rem] shrink-0 lg:h-auto lg:min-h-[24rem] lg:flex-1">
            <TerminalPanel />
          </div>
          <div className="flex shrink-0 flex-col">
            <LiveViews />
          </div>
        </aside>
      </div>
    </LabProvider>
  );
}
