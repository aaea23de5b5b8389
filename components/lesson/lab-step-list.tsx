"use client";

// A lesson's lab steps with a tick for each one the learner has done. The server decides what is
// done, by checking kernel state, and says so in `progress` messages; before the sandbox
// connects (or while the lab is down or full) the stored progress from /api/progress fills in.
// A step that becomes done while the page is open is announced to screen readers.

import { useEffect, useMemo, useRef, useState } from "react";

import type { StepProgress } from "../../common/protocol";
import { useOptionalLab } from "../lab/lab-context";
import { fetchCourseProgress } from "./progress-api";

export interface LabStepSummary {
  id: string;
  title: string;
}

/** Which steps are done: stored progress first, then whatever the live session says on top. */
export function doneStepIds(stored: readonly StepProgress[], live: readonly StepProgress[]): Set<string> {
  const done = new Set(stored.filter((step) => step.done).map((step) => step.id));
  // The live list is the server's latest word; a step it knows is done stays done.
  for (const step of live) if (step.done) done.add(step.id);
  return done;
}

export function LabStepList({ lesson, steps }: { lesson: string; steps: LabStepSummary[] }) {
  const lab = useOptionalLab();
  const [stored, setStored] = useState<readonly StepProgress[]>([]);
  const [announcement, setAnnouncement] = useState("");

  useEffect(() => {
    const controller = new AbortController();
    void fetchCourseProgress(controller.signal).then((progress) => {
      const entry = progress?.lessons[lesson];
      if (entry && !controller.signal.aborted) setStored(entry.steps);
    });
    return () => controller.abort();
  }, [lesson]);

  const live = lab?.progress;
  const done = useMemo(() => doneStepIds(stored, live ?? []), [stored, live]);

  // Announce only steps that turn done while the page is open. What was done before — the stored
  // progress, and steps in the first live message that were completed before this page opened —
  // is the baseline, shown but not announced.
  const mountedAtMs = useRef(Date.now());
  const baseline = useRef(new Set<string>());
  const sawLive = useRef(false);
  const announced = useRef(new Set<string>());
  useEffect(() => {
    for (const step of stored) if (step.done) baseline.current.add(step.id);
  }, [stored]);
  useEffect(() => {
    if (!live || live.length === 0 || sawLive.current) return;
    sawLive.current = true;
    for (const step of live) {
      if (step.done && (step.completedAtMs === null || step.completedAtMs < mountedAtMs.current)) baseline.current.add(step.id);
    }
  }, [live]);
  useEffect(() => {
    const newlyDone = steps.filter((step) => done.has(step.id) && !baseline.current.has(step.id) && !announced.current.has(step.id));
    if (newlyDone.length === 0) return;
    for (const step of newlyDone) announced.current.add(step.id);
    const count = steps.filter((step) => done.has(step.id)).length;
    setAnnouncement(`Lab step done: ${newlyDone.map((step) => step.title).join("; ")}. ${count} of ${steps.length} done.`);
  }, [done, steps]);

  if (steps.length === 0) return null;
  const doneCount = steps.filter((step) => done.has(step.id)).length;

  return (
    <section
      aria-labelledby="lab-steps-heading"
      data-testid="lab-steps"
      className="my-8 rounded-xl border border-zinc-200 bg-zinc-50 p-4 dark:border-zinc-800 dark:bg-zinc-900/60"
    >
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="lab-steps-heading" className="text-base font-semibold">
          Lab steps
        </h2>
        <p className="text-sm text-zinc-600 dark:text-zinc-400" data-testid="lab-steps-count">
          {doneCount} of {steps.length} done
        </p>
      </div>
      <p className="mt-1 text-sm leading-6 text-zinc-600 dark:text-zinc-400">
        {lab
          ? "Each step ticks when the kernel shows it done in your sandbox, whatever way you got there."
          : "Each step ticks when the kernel shows it done in your sandbox; the lab is not connected right now."}
      </p>
      <ol className="mt-3 space-y-2">
        {steps.map((step, index) => {
          const isDone = done.has(step.id);
          return (
            <li key={step.id} data-step-id={step.id} data-done={isDone} className="flex items-start gap-3 text-sm leading-6">
              <span
                aria-hidden="true"
                className={`mt-0.5 inline-flex size-5 shrink-0 items-center justify-center rounded-full border text-xs font-bold ${
                  isDone
                    ? "border-emerald-600 bg-emerald-600 text-white dark:border-emerald-400 dark:bg-emerald-400 dark:text-zinc-950"
                    : "border-zinc-400 text-zinc-500 dark:border-zinc-600 dark:text-zinc-400"
                }`}
              >
                {isDone ? "✓" : index + 1}
              </span>
              <span className={isDone ? "text-zinc-600 dark:text-zinc-400" : ""}>
                {step.title}
                <span className="sr-only">{isDone ? " (done)" : " (not done yet)"}</span>
              </span>
            </li>
          );
        })}
      </ol>
      <p aria-live="polite" role="status" className="sr-only" data-testid="lab-steps-announcement">
        {announcement}
      </p>
    </section>
  );
}
