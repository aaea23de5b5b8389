import type { Metadata } from "next";
import { cookies } from "next/headers";

import { INSTRUCTOR_COOKIE } from "../../common/classroom";
import { loginErrorFromQuery } from "../../components/classroom/login-form";
import { TeachHome } from "../../components/classroom/teach-home";
import { loadLessonSummaries } from "../../components/lesson/load-lesson";

export const metadata: Metadata = { title: "Teach", robots: { index: false } };

type TeachProps = { searchParams: Promise<Record<string, string | string[] | undefined>> };

// The lessons a class can take come from the course on the server; whether this browser is
// logged in is for the API to say. A browser that sends no instructor cookie at all certainly is
// not, so its first HTML is the login form, which posts without script.
export default async function TeachRoute({ searchParams }: TeachProps) {
  const [lessons, query, jar] = await Promise.all([loadLessonSummaries(), searchParams, cookies()]);
  return (
    <TeachHome
      lessons={lessons.map((lesson) => ({ slug: lesson.slug, title: lesson.title }))}
      loginError={loginErrorFromQuery(query.error)}
      mayBeLoggedIn={jar.has(INSTRUCTOR_COOKIE)}
    />
  );
}
