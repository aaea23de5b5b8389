"use client";

// /teach: the instructor's classes and a form for a new one, or, for someone not logged in,
// the login form. Whether the browser is logged in only the server can tell (the cookie is
// HttpOnly), so the page asks for the classes and shows whichever the answer calls for. A
// browser with no cookie at all gets the login form from the first byte, so logging in works
// without script.

import Link from "next/link";
import { useCallback, useEffect, useState } from "react";

import { ClassList, type ClassSummary } from "../../common/classroom";
import type { Limits } from "../../common/limits";
import { Button } from "../ui/button";
import { callApi } from "./api";
import { CreateClassForm, type LessonChoice } from "./create-class-form";
import { FormAlert } from "./form-field";
import { type LoginError, LoginForm, LogoutButton } from "./login-form";
import { ClassStateBadge } from "./status-badge";

type View = { kind: "checking" } | { kind: "login" } | { kind: "classes"; classes: ClassSummary[]; defaultLimits: Limits } | { kind: "failed"; message: string };

export function TeachHome({ lessons, loginError, mayBeLoggedIn }: { lessons: LessonChoice[]; loginError: LoginError | null; mayBeLoggedIn: boolean }) {
  const [view, setView] = useState<View>(mayBeLoggedIn && !loginError ? { kind: "checking" } : { kind: "login" });

  const load = useCallback(async (signal?: AbortSignal) => {
    const result = await callApi("/api/classes", ClassList, { signal });
    if (result.ok) setView({ kind: "classes", classes: result.value.classes, defaultLimits: result.value.defaultLimits });
    else if (result.status === 401 || result.status === 403) setView({ kind: "login" });
    else setView({ kind: "failed", message: result.message });
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    load(controller.signal).catch(() => {
      // Aborted: the page went away before the answer came.
    });
    return () => controller.abort();
  }, [load]);

  const titles = Object.fromEntries(lessons.map((lesson) => [lesson.slug, lesson.title]));

  return (
    <main className="mx-auto max-w-5xl space-y-10 px-4 py-10">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div>
          <p className="text-sm font-medium text-sky-700 dark:text-sky-400">Classroom</p>
          <h1 className="mt-1 text-3xl font-bold tracking-tight sm:text-4xl">Teach</h1>
          <p className="mt-2 max-w-prose text-zinc-700 dark:text-zinc-300">
            Make a class, show its code, and watch every learner&apos;s sandbox from one page while they work through a lesson.
          </p>
        </div>
        {view.kind === "classes" ? <LogoutButton /> : null}
      </div>

      {view.kind === "checking" ? (
        <>
          <p role="status" className="text-zinc-700 dark:text-zinc-300">
            Loading your classes…
          </p>
          <noscript>
            <p>The class list needs JavaScript. Turn it on for this site, or log in again below.</p>
            <LoginForm error={null} />
          </noscript>
        </>
      ) : view.kind === "login" ? (
        <LoginForm error={loginError} />
      ) : view.kind === "failed" ? (
        <div className="space-y-3">
          <FormAlert>{view.message}</FormAlert>
          <Button variant="quiet" onClick={() => void load()}>
            Try again
          </Button>
        </div>
      ) : (
        <>
          <ClassListSection classes={view.classes} titles={titles} />
          <section className="rounded-xl border border-zinc-200 p-4 sm:p-6 dark:border-zinc-800">
            {lessons.length === 0 ? (
              <p>The course has no lessons, so there is nothing a class could work through yet.</p>
            ) : (
              <CreateClassForm lessons={lessons} defaults={view.defaultLimits} />
            )}
          </section>
        </>
      )}
    </main>
  );
}

const STATE_ORDER = { open: 0, closed: 1, archived: 2 } as const;

function ClassListSection({ classes, titles }: { classes: ClassSummary[]; titles: Record<string, string> }) {
  // Running classes first, newest first within each state; archived ones folded away.
  const sorted = [...classes].sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || b.createdAtMs - a.createdAtMs);
  const current = sorted.filter((summary) => summary.state !== "archived");
  const archived = sorted.filter((summary) => summary.state === "archived");
  return (
    <section aria-labelledby="classes-heading" className="space-y-4">
      <h2 id="classes-heading" className="text-xl font-semibold">
        Your classes
      </h2>
      {current.length === 0 ? (
        <p className="text-zinc-700 dark:text-zinc-300">No class is open or closed right now. Make one below.</p>
      ) : (
        <ClassRows classes={current} titles={titles} />
      )}
      {archived.length > 0 ? (
        <details className="rounded-xl border border-zinc-200 p-4 dark:border-zinc-800">
          <summary className="cursor-pointer font-medium">Archived ({archived.length})</summary>
          <div className="mt-3">
            <ClassRows classes={archived} titles={titles} />
          </div>
        </details>
      ) : null}
    </section>
  );
}

function ClassRows({ classes, titles }: { classes: ClassSummary[]; titles: Record<string, string> }) {
  return (
    <ul className="grid grid-cols-1 gap-3 md:grid-cols-2" data-testid="class-list">
      {classes.map((summary) => (
        <li key={summary.id} data-testid="class-row" data-class-id={summary.id}>
          <Link
            href={`/teach/classes/${summary.id}`}
            className="block h-full rounded-xl border border-zinc-200 p-4 transition-colors hover:border-sky-600 hover:bg-sky-50/50 dark:border-zinc-800 dark:hover:border-sky-400 dark:hover:bg-sky-950/30"
          >
            <div className="flex items-start justify-between gap-3">
              <h3 className="min-w-0 text-lg font-semibold break-words">{summary.name}</h3>
              <ClassStateBadge state={summary.state} />
            </div>
            <p className="mt-1 text-sm text-zinc-700 dark:text-zinc-300">{titles[summary.lesson] ?? summary.lesson}</p>
            <dl className="mt-3 flex flex-wrap gap-x-5 gap-y-1 text-sm">
              <div className="flex gap-1">
                <dt className="text-zinc-600 dark:text-zinc-400">Code</dt>
                <dd className="font-mono font-semibold tracking-wider">{summary.code}</dd>
              </div>
              <div className="flex gap-1">
                <dt className="text-zinc-600 dark:text-zinc-400">Learners</dt>
                <dd className="font-mono tabular-nums">
                  {summary.learners} / {summary.capacity}
                </dd>
              </div>
              <div className="flex gap-1">
                <dt className="text-zinc-600 dark:text-zinc-400">Live</dt>
                <dd className="font-mono tabular-nums">{summary.live}</dd>
              </div>
            </dl>
            <span className="mt-3 inline-block text-sm font-medium text-sky-700 dark:text-sky-400">
              Open the dashboard<span className="sr-only">: {summary.name}</span>
            </span>
          </Link>
        </li>
      ))}
    </ul>
  );
}
