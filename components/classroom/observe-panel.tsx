"use client";

// Looking over one learner's shoulder: their terminal, live and read-only, and their namespaces
// and cgroup as they see them, with what the instructor can do for them (a fresh sandbox, end
// it, other limits). The panel is a modal dialog: Escape or Close ends it and focus goes back to
// the card that opened it. Its lab connection exists only while it is open — the grid itself
// never holds one per learner. Removing the learner from the class closes it: there is nobody
// left to watch.

import { type KeyboardEvent, type SyntheticEvent, useCallback, useEffect, useId, useRef } from "react";
import { z } from "zod";

import type { ClassDetail, LearnerCard } from "../../common/classroom";
import { LabProvider } from "../lab/lab-provider";
import { LiveViews } from "../lab/live-views";
import { TerminalPanel } from "../terminal/terminal-panel";
import { callApi } from "./api";
import { doneStepIds, stepsText } from "./card-view";
import { ConfirmAction } from "./confirm-action";
import { LimitsChangeForm } from "./limits-change-form";
import { LEARNER_STATUS_MEANING, LearnerStatusBadge } from "./status-badge";

const Done = z.object({ ok: z.literal(true) });

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function ObservePanel({
  detail,
  card,
  onClose,
  onRemoved,
}: {
  detail: ClassDetail;
  card: LearnerCard;
  onClose: () => void;
  /** The learner was removed from the class: the dashboard drops their card and this panel. */
  onRemoved: () => void;
}) {
  const id = useId();
  const dialogRef = useRef<HTMLDialogElement>(null);
  const classId = detail.class.id;
  const memberId = card.memberId;

  useEffect(() => {
    const dialog = dialogRef.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    return () => dialog.close();
  }, []);

  // The terminal takes keys for itself (Escape included, when it has focus); the dialog hears
  // Escape first, so it always closes the panel.
  const onKeyDownCapture = (event: KeyboardEvent<HTMLDialogElement>) => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    event.stopPropagation();
    onClose();
  };
  // The browser's own close request (Escape where the key never reached the page): the same.
  const onCancel = (event: SyntheticEvent<HTMLDialogElement>) => {
    event.preventDefault();
    onClose();
  };

  const learnerAction = useCallback(
    async (action: "reset" | "end") => {
      const result = await callApi(`/api/classes/${classId}/learners/${memberId}/${action}`, Done, { body: {} });
      if (!result.ok) return { ok: false, message: result.message };
      return {
        ok: true,
        message: action === "reset" ? "A fresh sandbox is starting; their progress is kept." : "Their sandbox has ended; they can start a new one from their page.",
      };
    },
    [classId, memberId],
  );

  const remove = useCallback(async () => {
    const result = await callApi(`/api/classes/${classId}/learners/${memberId}/remove`, Done, { body: {} });
    if (!result.ok) return { ok: false, message: result.message };
    onRemoved();
    return { ok: true, message: "Removed from the class." };
  }, [classId, memberId, onRemoved]);

  const done = doneStepIds(card);
  const completedAt = new Map(card.steps.map((step) => [step.id, step.completedAtMs]));
  const base = card.sandbox?.limits ?? detail.settings.limits;

  return (
    <dialog
      ref={dialogRef}
      aria-labelledby={`${id}-title`}
      onKeyDownCapture={onKeyDownCapture}
      onCancel={onCancel}
      data-testid="observe-panel"
      data-member-id={memberId}
      className="m-auto h-[calc(100dvh-1rem)] max-h-none w-[calc(100vw-1rem)] max-w-[110rem] overflow-hidden rounded-xl border border-zinc-300 bg-white p-0 text-zinc-900 shadow-2xl backdrop:bg-zinc-950/60 sm:h-[calc(100dvh-3rem)] sm:w-[calc(100vw-3rem)] dark:border-zinc-700 dark:bg-zinc-950 dark:text-zinc-100"
    >
      <div className="flex h-full flex-col">
        <header className="flex flex-wrap items-center gap-x-4 gap-y-2 border-b border-zinc-200 px-4 py-3 dark:border-zinc-800">
          <h2 id={`${id}-title`} className="min-w-0 truncate text-lg font-semibold">
            Watching {card.name}
          </h2>
          <LearnerStatusBadge status={card.status} />
          <p className="text-sm text-zinc-600 dark:text-zinc-400">
            Steps <span className="font-mono">{stepsText(card, detail.steps.length)}</span>
            {card.oomKills > 0 ? ` · ${card.oomKills} OOM kill${card.oomKills === 1 ? "" : "s"}` : ""}
          </p>
          <button
            type="button"
            onClick={onClose}
            className="ml-auto rounded-md border border-zinc-300 px-3 py-1.5 text-sm font-medium hover:bg-zinc-100 dark:border-zinc-700 dark:hover:bg-zinc-800"
          >
            Close<span className="sr-only"> the panel</span>
            <kbd className="ml-2 hidden font-mono text-xs text-zinc-500 sm:inline dark:text-zinc-400" aria-hidden="true">
              Esc
            </kbd>
          </button>
        </header>

        <div className="grid min-h-0 flex-1 grid-cols-1 gap-4 overflow-y-auto p-4 lg:grid-cols-[minmax(0,3fr)_minmax(18rem,1fr)]">
          <div className="flex min-w-0 flex-col gap-3">
            {card.status === "ended" || card.status === "waiting" ? (
              <p className="rounded-md border border-zinc-300 px-3 py-2 text-sm dark:border-zinc-700" role="status">
                {LEARNER_STATUS_MEANING[card.status]}
                {card.endReason ? ` ${card.endReason}` : ""}
              </p>
            ) : null}
            {/* Never remounted for a reset: the server closes this watch with 4010 (Reset) and
                the provider's socket looks for the fresh sandbox itself a moment later, where a
                new provider would look at once, before the sandbox exists, and find none. A
                different learner gets a new provider because the panel is keyed by member
                (class-dashboard.tsx). */}
            <LabProvider lesson={detail.class.lesson} observe={{ classId, memberId }}>
              <div className="h-[26rem] shrink-0 lg:h-[32rem]">
                <TerminalPanel />
              </div>
              <LiveViews />
            </LabProvider>
          </div>

          <aside aria-label={`What you can do for ${card.name}`} className="flex min-w-0 flex-col gap-5">
            <section aria-labelledby={`${id}-steps`}>
              <h3 id={`${id}-steps`} className="text-base font-semibold">
                Lab steps
              </h3>
              <ol className="mt-2 space-y-1 text-sm">
                {detail.steps.map((step, index) => {
                  const at = completedAt.get(step.id);
                  return (
                    <li key={step.id} className="flex gap-2">
                      <span aria-hidden="true" className={done.has(step.id) ? "text-emerald-700 dark:text-emerald-400" : "text-zinc-400"}>
                        {done.has(step.id) ? "✓" : "○"}
                      </span>
                      <span>
                        {index + 1}. {step.title}
                        <span className="text-zinc-600 dark:text-zinc-400">
                          {at !== undefined ? ` — done at ${timeFormat.format(at)}` : <span className="sr-only"> — not yet</span>}
                        </span>
                      </span>
                    </li>
                  );
                })}
              </ol>
            </section>

            <section aria-labelledby={`${id}-sandbox`} className="space-y-3">
              <h3 id={`${id}-sandbox`} className="text-base font-semibold">
                Their sandbox
              </h3>
              <ConfirmAction
                label="Reset sandbox…"
                question={`Give ${card.name} a fresh sandbox? Everything running in the current one ends and its files are lost; their progress in the lesson is kept.`}
                confirmLabel="Reset the sandbox"
                onConfirm={() => learnerAction("reset")}
                danger
              />
              <ConfirmAction
                label="End session…"
                question={`End ${card.name}'s sandbox now? Their shell closes; they can start a new one from their page while the class is open.`}
                confirmLabel="End the session"
                onConfirm={() => learnerAction("end")}
                disabled={card.status === "ended" || card.sandbox === null}
                danger
              />
            </section>

            <section aria-labelledby={`${id}-membership`} className="space-y-3">
              <h3 id={`${id}-membership`} className="text-base font-semibold">
                Their place in the class
              </h3>
              <ConfirmAction
                label="Remove from class…"
                question={`Remove ${card.name} from ${detail.class.name}? Their sandbox ends, their card goes, and their place is free for someone else. They cannot join this class again, even with a new code.`}
                confirmLabel="Remove from the class"
                onConfirm={remove}
                disabled={detail.class.state === "archived"}
                danger
              />
            </section>

            <LimitsChangeForm
              endpoint={`/api/classes/${classId}/learners/${memberId}/limits`}
              base={base}
              heading="Their limits"
              headingLevel="h3"
              description={`For ${card.name} only, as docker update would change them; the others keep theirs.`}
            />
          </aside>
        </div>
      </div>
    </dialog>
  );
}
