// Which learner cards the dashboard shows, in which order: the instructor's sort and filter,
// and the rule for "stuck". Pure functions of the cards and a clock reading, so that the grid
// and its tests agree on who is stuck at a given moment.

import type { LearnerCard } from "../../common/classroom";

/**
 * A learner working in their sandbox who has finished no step for this long — since they
 * joined, or since their last step — is "stuck": the instructor is probably needed there.
 */
export const STUCK_AFTER_MS = 5 * 60_000;

export const CARD_SORTS = [
  { id: "name", label: "Name" },
  { id: "joined", label: "Joined" },
  { id: "progress", label: "Progress" },
  { id: "memory", label: "Memory used" },
] as const;
export type CardSort = (typeof CARD_SORTS)[number]["id"];

export const CARD_FILTERS = [
  { id: "all", label: "All" },
  { id: "stuck", label: "Stuck" },
  { id: "oom", label: "OOM-killed" },
  { id: "idle", label: "Idle" },
  { id: "ended", label: "Ended" },
] as const;
export type CardFilter = (typeof CARD_FILTERS)[number]["id"];

/** What "stuck" depends on besides the card: the lesson's length and the time now. */
export interface StuckContext {
  /** Lab steps in the lesson; a learner who did them all is done, not stuck. */
  stepCount: number;
  nowMs: number;
}

/** The ids of the steps a learner finished, each once (a repeated report counts once). */
export function doneStepIds(card: LearnerCard): Set<string> {
  return new Set(card.steps.map((step) => step.id));
}

/** When the learner last moved forward: their latest step, or joining when they have none. */
export function lastProgressAtMs(card: LearnerCard): number {
  return card.steps.reduce((latest, step) => Math.max(latest, step.completedAtMs), card.joinedAtMs);
}

export function isStuck(card: LearnerCard, context: StuckContext): boolean {
  // Only someone at their sandbox can be stuck in it: a learner who has not started, whose page
  // went away or whose sandbox ended needs something else from the instructor.
  if (card.status !== "connected" && card.status !== "idle") return false;
  if (context.stepCount > 0 && doneStepIds(card).size >= context.stepCount) return false;
  return context.nowMs - lastProgressAtMs(card) >= STUCK_AFTER_MS;
}

export function matchesFilter(card: LearnerCard, filter: CardFilter, context: StuckContext): boolean {
  switch (filter) {
    case "all":
      return true;
    case "stuck":
      return isStuck(card, context);
    case "oom":
      return card.oomKills > 0;
    case "idle":
      return card.status === "idle";
    case "ended":
      return card.status === "ended";
  }
}

/** How many cards each filter would show, for the filter buttons' counts. */
export function filterCounts(cards: readonly LearnerCard[], context: StuckContext): Record<CardFilter, number> {
  const counts = Object.fromEntries(CARD_FILTERS.map(({ id }) => [id, 0])) as Record<CardFilter, number>;
  for (const card of cards) {
    for (const { id } of CARD_FILTERS) if (matchesFilter(card, id, context)) counts[id] += 1;
  }
  return counts;
}

// Names are compared as people read them: "anna" beside "Anna", "learner 9" before "learner 10".
const nameCollator = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });

function byName(a: LearnerCard, b: LearnerCard): number {
  // Two learners may share a name; the member id keeps their order the same on every update,
  // so cards do not swap places under the instructor's eyes.
  return nameCollator.compare(a.name, b.name) || (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0);
}

const comparators: Record<CardSort, (a: LearnerCard, b: LearnerCard) => number> = {
  name: byName,
  // Earliest first: the order of the room.
  joined: (a, b) => a.joinedAtMs - b.joinedAtMs || byName(a, b),
  // Furthest first; of two at the same step, whoever got there first.
  progress: (a, b) => doneStepIds(b).size - doneStepIds(a).size || lastProgressAtMs(a) - lastProgressAtMs(b) || byName(a, b),
  // Most memory first (who is about to meet the OOM killer); no sandbox, no reading: last.
  memory: (a, b) => (memoryUsed(b) ?? -1) - (memoryUsed(a) ?? -1) || byName(a, b),
};

function memoryUsed(card: LearnerCard): number | null {
  return card.sandbox?.memoryBytes ?? null;
}

export function sortCards(cards: readonly LearnerCard[], sort: CardSort): LearnerCard[] {
  return [...cards].sort(comparators[sort]);
}

/** The grid: the cards that pass the filter, in the chosen order. */
export function viewCards(cards: readonly LearnerCard[], options: { sort: CardSort; filter: CardFilter } & StuckContext): LearnerCard[] {
  return sortCards(
    cards.filter((card) => matchesFilter(card, options.filter, options)),
    options.sort,
  );
}

/** "2 / 5": steps done of the lesson's steps. */
export function stepsText(card: LearnerCard, stepCount: number): string {
  return `${doneStepIds(card).size} / ${stepCount}`;
}

/** Use as a share of its limit, from 0 to 1, for a bar; null without a reading or a limit. */
export function usageFraction(used: number | null | undefined, limit: number | null | undefined): number | null {
  if (used === null || used === undefined || limit === null || limit === undefined || limit <= 0) return null;
  return Math.min(1, Math.max(0, used / limit));
}

/** "just now", "4 min ago", "2 h ago": how long ago, as a glance at a card needs it. */
export function agoText(thenMs: number, nowMs: number): string {
  const minutes = Math.floor((nowMs - thenMs) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ago`;
}

/** The screen lines a card shows: trailing blanks trimmed, so the prompt sits at the bottom. */
export function screenLines(screen: readonly string[], maxLines: number): string[] {
  const lines = screen.map((line) => line.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.slice(-maxLines);
}
