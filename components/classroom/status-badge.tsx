// How a learner's status and a class's state look: always a word, never a colour alone, with
// colours that keep their contrast on a projector in a lit room as on a dark screen.

import type { ReactNode } from "react";

import type { ClassState, LearnerStatus } from "../../common/classroom";

const BADGE = "inline-flex items-center gap-[0.35em] rounded-full border px-[0.6em] py-[0.1em] font-semibold whitespace-nowrap";

export const LEARNER_STATUS_TEXT: Record<LearnerStatus, string> = {
  waiting: "waiting",
  connected: "connected",
  idle: "idle",
  reconnecting: "reconnecting",
  ended: "ended",
};

/** What each status means, for its tooltip and for screen readers. */
export const LEARNER_STATUS_MEANING: Record<LearnerStatus, string> = {
  waiting: "Joined; their sandbox has not started yet.",
  connected: "Their page is open on their sandbox.",
  idle: "Their page is open, but they have not typed for a while.",
  reconnecting: "Their page went away; the sandbox waits for it to come back.",
  ended: "Their sandbox has ended.",
};

const learnerColours: Record<LearnerStatus, string> = {
  waiting: "border-zinc-400 bg-zinc-100 text-zinc-800 dark:border-zinc-500 dark:bg-zinc-800 dark:text-zinc-100",
  connected: "border-emerald-600 bg-emerald-50 text-emerald-900 dark:border-emerald-400 dark:bg-emerald-950 dark:text-emerald-100",
  idle: "border-amber-600 bg-amber-50 text-amber-900 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-100",
  reconnecting: "border-sky-600 bg-sky-50 text-sky-900 dark:border-sky-400 dark:bg-sky-950 dark:text-sky-100",
  ended: "border-rose-600 bg-rose-50 text-rose-900 dark:border-rose-400 dark:bg-rose-950 dark:text-rose-100",
};

const dotColours: Record<LearnerStatus, string> = {
  waiting: "bg-zinc-500",
  connected: "bg-emerald-600 dark:bg-emerald-400",
  idle: "bg-amber-600 dark:bg-amber-400",
  reconnecting: "bg-sky-600 motion-safe:animate-pulse dark:bg-sky-400",
  ended: "bg-rose-600 dark:bg-rose-400",
};

export function LearnerStatusBadge({ status }: { status: LearnerStatus }) {
  return (
    <span className={`${BADGE} text-[0.75em] ${learnerColours[status]}`} title={LEARNER_STATUS_MEANING[status]} data-testid="card-status">
      <span aria-hidden="true" className={`inline-block size-[0.55em] rounded-full ${dotColours[status]}`} />
      {LEARNER_STATUS_TEXT[status]}
    </span>
  );
}

/** A flag on a card beside the status: "stuck", "2 OOM kills". */
export function CardFlag({ tone, children, title }: { tone: "warn" | "alert"; children: ReactNode; title?: string }) {
  const colours =
    tone === "warn"
      ? "border-amber-700 bg-amber-100 text-amber-950 dark:border-amber-300 dark:bg-amber-900 dark:text-amber-50"
      : "border-rose-700 bg-rose-100 text-rose-950 dark:border-rose-300 dark:bg-rose-900 dark:text-rose-50";
  return (
    <span className={`${BADGE} text-[0.75em] ${colours}`} title={title}>
      {children}
    </span>
  );
}

export const CLASS_STATE_TEXT: Record<ClassState, string> = { open: "open", closed: "closed", archived: "archived" };

export const CLASS_STATE_MEANING: Record<ClassState, string> = {
  open: "Learners can join with the code.",
  closed: "Nobody new can join; members keep working.",
  archived: "Over: its sandboxes have ended; its progress is kept.",
};

const classColours: Record<ClassState, string> = {
  open: "border-emerald-600 bg-emerald-50 text-emerald-900 dark:border-emerald-400 dark:bg-emerald-950 dark:text-emerald-100",
  closed: "border-amber-600 bg-amber-50 text-amber-900 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-100",
  archived: "border-zinc-400 bg-zinc-100 text-zinc-800 dark:border-zinc-500 dark:bg-zinc-800 dark:text-zinc-100",
};

export function ClassStateBadge({ state }: { state: ClassState }) {
  return (
    <span className={`${BADGE} text-sm ${classColours[state]}`} title={CLASS_STATE_MEANING[state]} data-testid="class-state">
      {CLASS_STATE_TEXT[state]}
    </span>
  );
}
