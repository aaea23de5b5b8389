import { describe, expect, it } from "vitest";

import { applyDashboardAction, parseDashboardMessage, replaceCards } from "./dashboard-state";
import { makeCard, makeDetail, memberId } from "./test-fixtures";

describe("the dashboard's stream", () => {
  it("changes nothing before the first detail, which replaces everything", () => {
    const detail = makeDetail([makeCard()]);
    expect(applyDashboardAction(null, { type: "cards", cards: [makeCard()] })).toBeNull();
    expect(applyDashboardAction(null, { type: "detail", detail })).toBe(detail);
  });

  it("replaces cards by member id, keeps the others as they were, and adds new learners last", () => {
    const a = makeCard({ memberId: memberId(1), name: "a" });
    const b = makeCard({ memberId: memberId(2), name: "b" });
    const changedA = { ...a, status: "idle" as const };
    const c = makeCard({ memberId: memberId(3), name: "c" });
    const next = replaceCards([a, b], [c, changedA]);
    expect(next.map((card) => card.name)).toEqual(["a", "b", "c"]);
    expect(next[0]).toBe(changedA);
    expect(next[1]).toBe(b);
  });

  it("counts learners and live sandboxes from the cards, which change without a class message", () => {
    const a = makeCard({ memberId: memberId(1) });
    const detail = makeDetail([a]);
    const joined = applyDashboardAction(detail, { type: "cards", cards: [makeCard({ memberId: memberId(2), sandbox: null, status: "waiting" })] });
    expect(joined?.class).toMatchObject({ learners: 2, live: 1 });
    const ended = applyDashboardAction(joined, { type: "cards", cards: [{ ...a, sandbox: null, status: "ended", endReason: "time was up" }] });
    expect(ended?.class).toMatchObject({ learners: 2, live: 0 });
  });

  it("drops removed members' cards and counts again, keeping the other cards as they were", () => {
    const a = makeCard({ memberId: memberId(1), name: "a" });
    const b = makeCard({ memberId: memberId(2), name: "b", sandbox: null, status: "waiting" });
    const c = makeCard({ memberId: memberId(3), name: "c" });
    const detail = makeDetail([a, b, c]);
    const next = applyDashboardAction(detail, { type: "removed", memberIds: [memberId(1), memberId(2)] });
    expect(next?.learners).toEqual([c]);
    expect(next?.learners[0]).toBe(c);
    expect(next?.class).toMatchObject({ learners: 1, live: 1 });
    // The rest of the class is untouched.
    expect(next?.settings).toBe(detail.settings);
    expect(next?.steps).toBe(detail.steps);
  });

  it("takes a removal of a member it does not show (already gone, or never seen) as no change", () => {
    const detail = makeDetail([makeCard({ memberId: memberId(1) })]);
    expect(applyDashboardAction(detail, { type: "removed", memberIds: [memberId(9)] })).toBe(detail);
    expect(applyDashboardAction(detail, { type: "removed", memberIds: [] })).toBe(detail);
    const once = applyDashboardAction(detail, { type: "removed", memberIds: [memberId(1)] });
    expect(once?.class).toMatchObject({ learners: 0, live: 0 });
    expect(applyDashboardAction(once, { type: "removed", memberIds: [memberId(1)] })).toBe(once);
    // Before the first detail, as for every other message, there is nothing to change.
    expect(applyDashboardAction(null, { type: "removed", memberIds: [memberId(1)] })).toBeNull();
  });

  it("takes a class change whole: state, broadcast and settings", () => {
    const detail = makeDetail();
    const lastBroadcast = { text: "Break until 11:00", sentAtMs: 5 };
    const next = applyDashboardAction(detail, {
      type: "class",
      class: { ...detail.class, state: "closed" },
      lastBroadcast,
      settings: { ...detail.settings, capacity: 10 },
    });
    expect(next?.class.state).toBe("closed");
    expect(next?.lastBroadcast).toEqual(lastBroadcast);
    expect(next?.settings.capacity).toBe(10);
    expect(next?.learners).toBe(detail.learners);
  });

  it("applies the answers to the instructor's own actions", () => {
    const detail = makeDetail();
    expect(applyDashboardAction(detail, { type: "summary", class: { ...detail.class, state: "archived" } })?.class.state).toBe("archived");
    expect(applyDashboardAction(detail, { type: "broadcast", lastBroadcast: { text: "hi", sentAtMs: 1 } })?.lastBroadcast?.text).toBe("hi");
    const limits = { ...detail.settings.limits, pids: 50 };
    expect(applyDashboardAction(detail, { type: "limits", limits })?.settings.limits.pids).toBe(50);
  });

  it("reads only messages that are a DashboardEvent", () => {
    const cards = [makeCard()];
    expect(parseDashboardMessage(JSON.stringify({ type: "cards", cards }))).toEqual({ type: "cards", cards });
    expect(parseDashboardMessage(JSON.stringify({ type: "removed", memberIds: [memberId(4)] }))).toEqual({ type: "removed", memberIds: [memberId(4)] });
    expect(parseDashboardMessage(JSON.stringify({ type: "removed", memberIds: ["not-an-id"] }))).toBeNull();
    expect(parseDashboardMessage("not json")).toBeNull();
    expect(parseDashboardMessage(JSON.stringify({ type: "cards", cards: [{ name: "no id" }] }))).toBeNull();
    expect(parseDashboardMessage(JSON.stringify({ type: "surprise" }))).toBeNull();
  });
});
