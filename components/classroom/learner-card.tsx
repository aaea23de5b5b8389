// One learner at a glance: who, where they stand, how far they got, how close their sandbox is
// to its limits, and the last lines of their screen as text. No terminal here: a grid of 200
// learners must stay light, so a card is plain markup redrawn only when its card changes, and
// the live terminal lives in the panel a card opens.
//
// Everything a learner typed (their name, their screen) is rendered as React text, which
// escapes it; nothing here sets HTML.

import { memo } from "react";

import { CARD_SCREEN_LINES, type LearnerCard as LearnerCardData } from "../../common/classroom";
import { formatBytes } from "../charts/format";
import { agoText, doneStepIds, screenLines, stepsText, usageFraction } from "./card-view";
import { CardFlag, LEARNER_STATUS_MEANING, LearnerStatusBadge } from "./status-badge";

export interface StepInfo {
  id: string;
  title: string;
}

type LearnerCardProps = {
  card: LearnerCardData;
  steps: readonly StepInfo[];
  stuck: boolean;
  nowMs: number;
  onOpen: (memberId: string, opener: HTMLButtonElement) => void;
};

export const LearnerCard = memo(function LearnerCard({ card, steps, stuck, nowMs, onOpen }: LearnerCardProps) {
  const done = doneStepIds(card);
  const sandbox = card.sandbox;
  const nameId = `learner-${card.memberId}-name`;
  return (
    <article
      data-testid="learner-card"
      data-member-id={card.memberId}
      data-status={card.status}
      aria-labelledby={nameId}
      className={`relative flex h-full flex-col gap-[0.6em] rounded-[0.75em] border bg-white p-[0.85em] text-[1em] shadow-sm focus-within:ring-2 focus-within:ring-sky-600 hover:border-sky-600 dark:bg-zinc-900 dark:focus-within:ring-sky-400 dark:hover:border-sky-400 ${
        stuck ? "border-amber-600 dark:border-amber-400" : "border-zinc-300 dark:border-zinc-700"
      }`}
    >
      <div className="flex items-start justify-between gap-[0.5em]">
        <h3 id={nameId} className="min-w-0 text-[1.05em] leading-tight font-semibold">
          {/* The whole card opens the panel (the button's box stretches over it), while the
              name stays the button's text, so the card reads as one control with a name. */}
          <button
            type="button"
            onClick={(event) => onOpen(card.memberId, event.currentTarget)}
            className="block max-w-full text-left outline-none after:absolute after:inset-0 after:rounded-[0.75em] after:content-['']"
            title={card.name}
            // The name is shown truncated; the button's name is the whole of it and what it does.
            aria-label={`${card.name}: watch their terminal`}
          >
            <span className="block truncate">{card.name}</span>
          </button>
        </h3>
        <LearnerStatusBadge status={card.status} />
      </div>

      {stuck || card.oomKills > 0 ? (
        <p className="flex flex-wrap gap-[0.4em]">
          {stuck ? (
            <CardFlag tone="warn" title="No step done for 5 minutes while at their sandbox">
              stuck
            </CardFlag>
          ) : null}
          {card.oomKills > 0 ? (
            <CardFlag tone="alert" title="Processes of theirs the kernel's OOM killer ended">
              {card.oomKills} OOM kill{card.oomKills === 1 ? "" : "s"}
            </CardFlag>
          ) : null}
        </p>
      ) : null}

      <div className="flex items-center gap-[0.6em] text-[0.85em]">
        <span className="text-zinc-600 dark:text-zinc-400">Steps</span>
        <span data-testid="card-steps" className="font-mono font-semibold tabular-nums">
          {stepsText(card, steps.length)}
        </span>
        {/* Above the card's button, so that a pointer resting on a step shows its title. */}
        <ol className="relative z-10 flex flex-1 gap-[0.25em]" aria-label="Lab steps">
          {steps.map((step) => {
            const isDone = done.has(step.id);
            return (
              <li
                key={step.id}
                title={`${step.title}: ${isDone ? "done" : "not yet"}`}
                className={`h-[0.5em] min-w-[0.5em] flex-1 rounded-full ${isDone ? "bg-emerald-600 dark:bg-emerald-400" : "bg-zinc-300 dark:bg-zinc-700"}`}
              >
                <span className="sr-only">
                  {step.title}: {isDone ? "done" : "not yet"}
                </span>
              </li>
            );
          })}
        </ol>
      </div>

      {sandbox ? (
        <div className="grid gap-[0.35em] text-[0.8em]">
          <UsageBar
            label="Memory"
            value={sandbox.memoryBytes === null ? "–" : formatBytes(sandbox.memoryBytes)}
            limit={formatBytes(sandbox.limits.memoryBytes)}
            fraction={usageFraction(sandbox.memoryBytes, sandbox.limits.memoryBytes)}
          />
          <UsageBar
            label="Processes"
            value={sandbox.pids === null ? "–" : String(sandbox.pids)}
            limit={sandbox.limits.pids === -1 ? "no limit" : String(sandbox.limits.pids)}
            fraction={usageFraction(sandbox.pids, sandbox.limits.pids)}
          />
        </div>
      ) : (
        <p className="text-[0.8em] text-zinc-600 dark:text-zinc-400">{LEARNER_STATUS_MEANING[card.status]}</p>
      )}

      <pre
        data-testid="card-screen"
        aria-label={`The last lines of ${card.name}'s screen`}
        className="overflow-hidden rounded-[0.4em] bg-zinc-950 px-[0.6em] py-[0.4em] font-mono text-[0.7em] leading-[1.35] whitespace-pre text-zinc-100"
        style={{ height: `calc(${CARD_SCREEN_LINES} * 1.35em + 0.8em)` }}
      >
        {screenLines(card.screen, CARD_SCREEN_LINES).join("\n") || " "}
      </pre>

      <p className="mt-auto text-[0.75em] text-zinc-600 dark:text-zinc-400">
        {card.status === "ended" && card.endReason ? (
          <span data-testid="card-end-reason" className="text-rose-800 dark:text-rose-300">
            Ended: {card.endReason}
          </span>
        ) : card.lastInputAtMs !== null ? (
          `Typed ${agoText(card.lastInputAtMs, nowMs)}`
        ) : (
          `Joined ${agoText(card.joinedAtMs, nowMs)}`
        )}
      </p>
    </article>
  );
});

function UsageBar({ label, value, limit, fraction }: { label: string; value: string; limit: string; fraction: number | null }) {
  // Red from 90 %: where the next allocation may meet the OOM killer or fork may fail.
  const colour = fraction !== null && fraction >= 0.9 ? "bg-rose-600 dark:bg-rose-400" : fraction !== null && fraction >= 0.7 ? "bg-amber-500" : "bg-sky-600 dark:bg-sky-400";
  return (
    <div>
      <div className="flex justify-between gap-[0.5em]">
        <span className="text-zinc-600 dark:text-zinc-400">{label}</span>
        <span className="font-mono tabular-nums">
          {value} / {limit}
        </span>
      </div>
      <div aria-hidden="true" className="mt-[0.15em] h-[0.4em] overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800">
        <div className={`h-full rounded-full ${colour}`} style={{ width: `${Math.round((fraction ?? 0) * 100)}%` }} />
      </div>
    </div>
  );
}
