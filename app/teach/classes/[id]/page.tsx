import type { Metadata } from "next";
import { notFound } from "next/navigation";

import { ClassId } from "../../../../common/classroom";
import { ClassDashboard } from "../../../../components/classroom/class-dashboard";
import { loadLessonSummaries } from "../../../../components/lesson/load-lesson";

export const metadata: Metadata = { title: "Class dashboard", robots: { index: false } };

type DashboardProps = { params: Promise<{ id: string }> };

// The page is a frame: the class itself comes from the server's stream once the instructor's
// browser opens it (their cookie goes with it), so nothing about a class is rendered here.
export default async function ClassDashboardRoute({ params }: DashboardProps) {
  const { id } = await params;
  if (!ClassId.safeParse(id).success) notFound();
  const lessons = await loadLessonSummaries();
  const lessonTitles = Object.fromEntries(lessons.map((lesson) => [lesson.slug, lesson.title]));
  return <ClassDashboard classId={id} lessonTitles={lessonTitles} />;
}
