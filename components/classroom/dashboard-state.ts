// The dashboard's picture of its class, and how each message of its stream (and each answer to
// the instructor's own actions) changes it. Cards are replaced whole, by member id: the stream
// sends a card again whenever anything on it changed, so there is nothing to merge field by field.

import { type Broadcast, type ClassDetail, type ClassSettings, type ClassSummary, DashboardEvent, type LearnerCard } from "../../common/classroom";

export type DashboardAction =
  | DashboardEvent
  /** The answer to close, reopen or archive, applied before the stream repeats it. */
  | { type: "summary"; class: ClassSummary }
  /** The answer to a broadcast. */
  | { type: "broadcast"; lastBroadcast: Broadcast }
  /** The answer to a change of everyone's limits: the class's default for new sandboxes. */
  | { type: "limits"; limits: ClassSettings["limits"] };

export function applyDashboardAction(detail: ClassDetail | null, action: DashboardAction): ClassDetail | null {
  if (action.type === "detail") return action.detail;
  // Until the first detail arrives there is nothing to change; the detail will carry it all.
  if (!detail) return null;
  switch (action.type) {
    case "cards": {
      if (action.cards.length === 0) return detail;
      const learners = replaceCards(detail.learners, action.cards);
      // The stream says "class" only when the class itself changes; a join, or a sandbox that
      // starts or ends, comes as cards alone, so the head counts follow the cards.
      return { ...detail, learners, class: { ...detail.class, ...headCounts(learners) } };
    }
    case "removed": {
      // Sent once by the stream and applied again by the page that asked for the removal, so a
      // member already gone (or never seen) is no change.
      const gone = new Set(action.memberIds);
      const learners = detail.learners.filter((card) => !gone.has(card.memberId));
      if (learners.length === detail.learners.length) return detail;
      return { ...detail, learners, class: { ...detail.class, ...headCounts(learners) } };
    }
    case "class":
      return { ...detail, class: action.class, lastBroadcast: action.lastBroadcast, settings: action.settings };
    case "summary":
      return { ...detail, class: action.class };
    case "broadcast":
      return { ...detail, lastBroadcast: action.lastBroadcast };
    case "limits":
      return { ...detail, settings: { ...detail.settings, limits: action.limits } };
  }
}

/** The summary's counts, as the cards show them: who joined, and who has a sandbox now. */
export function headCounts(cards: readonly LearnerCard[]): Pick<ClassSummary, "learners" | "live"> {
  return { learners: cards.length, live: cards.filter((card) => card.sandbox !== null).length };
}

/**
 * The cards with each changed one in its place, and new learners after the others. Cards that
 * did not change keep their identity, so the grid redraws only the ones that did.
 */
export function replaceCards(cards: readonly LearnerCard[], changed: readonly LearnerCard[]): LearnerCard[] {
  const byId = new Map(changed.map((card) => [card.memberId, card]));
  const next = cards.map((card) => {
    const replacement = byId.get(card.memberId);
    if (!replacement) return card;
    byId.delete(card.memberId);
    return replacement;
  });
  // What is left over is learners who joined since the detail (in the order the server sent them).
  for (const card of byId.values()) next.push(card);
  return next;
}

/** Reads one server-sent message: JSON of a DashboardEvent, or null when it is not one. */
export function parseDashboardMessage(data: string): DashboardEvent | null {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  const parsed = DashboardEvent.safeParse(json);
  return parsed.success ? parsed.data : null;
}
