"use client";

// The instructor's view of one class while it runs: the code to join by, what they can do to
// the class, and a card for every learner, all fed by one stream; a card opens a panel with that
// learner's live terminal.

import Link from "next/link";
import { useCallback, useRef, useState } from "react";

import { Button } from "../ui/button";
import { ClassControls } from "./class-controls";
import { DashboardHeader } from "./dashboard-header";
import { FormAlert } from "./form-field";
import { LearnerGrid } from "./learner-grid";
import { ObservePanel } from "./observe-panel";
import { useDashboardStream } from "./use-dashboard-stream";
import { useNow } from "./use-now";

/** How often "stuck" and "4 min ago" are judged again. */
const CLOCK_PERIOD_MS = 15_000;

export function ClassDashboard({ classId, lessonTitles }: { classId: string; lessonTitles: Record<string, string> }) {
  const { detail, dispatch, connection, problem, retry } = useDashboardStream(classId);
  const nowMs = useNow(CLOCK_PERIOD_MS);
  const [watching, setWatching] = useState<string | null>(null);
  const openerRef = useRef<HTMLButtonElement | null>(null);
  const gridHeadingRef = useRef<HTMLDivElement>(null);

  const open = useCallback((memberId: string, opener: HTMLButtonElement) => {
    openerRef.current = opener;
    setWatching(memberId);
  }, []);

  const close = useCallback(() => {
    setWatching(null);
    // Back to the card that opened the panel; if a filter has hidden it meanwhile, to the grid.
    const opener = openerRef.current;
    requestAnimationFrame(() => {
      if (opener?.isConnected) opener.focus();
      else gridHeadingRef.current?.focus();
    });
  }, []);

  // Applied at once, as every answer to the instructor is; the stream says the same to the
  // class's other dashboards (and to this one, where it is no change).
  const removed = useCallback(() => {
    if (watching) dispatch({ type: "removed", memberIds: [watching] });
    close();
  }, [watching, dispatch, close]);

  if (!detail) {
    return (
      <main className="mx-auto max-w-3xl px-4 py-10">
        <h1 className="text-2xl font-bold">Class dashboard</h1>
        {problem ? (
          <div className="mt-4 space-y-4">
            <FormAlert>{problem.message}</FormAlert>
            <div className="flex flex-wrap gap-3">
              {problem.status === 403 || problem.status === 401 ? (
                <Link href="/teach" className="inline-flex items-center rounded-md bg-sky-700 px-3 py-1.5 text-sm font-medium text-white dark:bg-sky-500 dark:text-zinc-950">
                  Log in
                </Link>
              ) : null}
              {problem.status === 404 ? (
                <Link href="/teach" className="text-sm font-medium text-sky-700 underline underline-offset-2 dark:text-sky-400">
                  Your classes
                </Link>
              ) : (
                <Button variant="quiet" onClick={retry}>
                  Try again
                </Button>
              )}
            </div>
          </div>
        ) : (
          <p role="status" className="mt-4 text-zinc-700 dark:text-zinc-300">
            {connection === "reconnecting" || connection === "connecting" ? "Connecting to the class…" : "Loading…"}
          </p>
        )}
      </main>
    );
  }

  const watched = watching ? detail.learners.find((card) => card.memberId === watching) : undefined;

  return (
    <main className="mx-auto max-w-[1800px] space-y-6 px-4 py-6 lg:px-8">
      <DashboardHeader detail={detail} lessonTitle={lessonTitles[detail.class.lesson] ?? detail.class.lesson} connection={connection} />
      {problem ? (
        <div className="flex flex-wrap items-center gap-3">
          <FormAlert>{problem.message}</FormAlert>
          {connection === "stopped" ? (
            <Button variant="quiet" onClick={retry}>
              Try again
            </Button>
          ) : null}
        </div>
      ) : null}
      <ClassControls detail={detail} dispatch={dispatch} />
      <div ref={gridHeadingRef} tabIndex={-1}>
        <LearnerGrid detail={detail} nowMs={nowMs} onOpen={open} />
      </div>
      {watched ? <ObservePanel key={watched.memberId} detail={detail} card={watched} onClose={close} onRemoved={removed} /> : null}
    </main>
  );
}
