import { describe, expect, it } from "vitest";

import { MiB } from "../../common/limits";
import {
  STUCK_AFTER_MS,
  agoText,
  filterCounts,
  isStuck,
  lastProgressAtMs,
  screenLines,
  sortCards,
  stepsText,
  usageFraction,
  viewCards,
} from "./card-view";
import { MINUTE, T0, makeCard, memberId } from "./test-fixtures";

const steps = (...minutes: number[]) => minutes.map((m, i) => ({ id: `step-${i}`, completedAtMs: T0 + m * MINUTE }));

describe("stuck", () => {
  const context = (nowMs: number) => ({ stepCount: 3, nowMs });

  it("is a connected learner with no step five minutes after joining", () => {
    const card = makeCard({ status: "connected" });
    expect(isStuck(card, context(T0 + STUCK_AFTER_MS - 1))).toBe(false);
    expect(isStuck(card, context(T0 + STUCK_AFTER_MS))).toBe(true);
  });

  it("counts from the last step, not from joining", () => {
    const card = makeCard({ status: "idle", steps: steps(10) });
    expect(lastProgressAtMs(card)).toBe(T0 + 10 * MINUTE);
    expect(isStuck(card, context(T0 + 14 * MINUTE))).toBe(false);
    expect(isStuck(card, context(T0 + 15 * MINUTE))).toBe(true);
  });

  it("takes the latest step whatever order the steps come in", () => {
    const card = makeCard({ steps: [{ id: "b", completedAtMs: T0 + 9 * MINUTE }, { id: "a", completedAtMs: T0 + 2 * MINUTE }] });
    expect(lastProgressAtMs(card)).toBe(T0 + 9 * MINUTE);
  });

  it("is never a learner who is not at their sandbox", () => {
    for (const status of ["waiting", "reconnecting", "ended"] as const) {
      expect(isStuck(makeCard({ status }), context(T0 + 60 * MINUTE))).toBe(false);
    }
  });

  it("is never a learner who finished every step", () => {
    const card = makeCard({ steps: steps(1, 2, 3) });
    expect(isStuck(card, context(T0 + 60 * MINUTE))).toBe(false);
    expect(isStuck(card, { stepCount: 4, nowMs: T0 + 60 * MINUTE })).toBe(true);
  });
});

describe("filters", () => {
  const cards = [
    makeCard({ memberId: memberId(1), status: "connected" }),
    makeCard({ memberId: memberId(2), status: "idle", oomKills: 2, steps: steps(1) }),
    makeCard({ memberId: memberId(3), status: "ended", endReason: "The session lifetime passed.", sandbox: null }),
    makeCard({ memberId: memberId(4), status: "waiting", sandbox: null }),
  ];
  const context = { stepCount: 3, nowMs: T0 + 5 * MINUTE };

  it("counts what each filter shows", () => {
    expect(filterCounts(cards, context)).toEqual({ all: 4, stuck: 1, oom: 1, idle: 1, ended: 1 });
  });

  it("shows only the matching cards", () => {
    const ids = (filter: Parameters<typeof viewCards>[1]["filter"]) =>
      viewCards(cards, { ...context, sort: "joined", filter }).map((card) => card.memberId);
    expect(ids("stuck")).toEqual([memberId(1)]);
    expect(ids("oom")).toEqual([memberId(2)]);
    expect(ids("idle")).toEqual([memberId(2)]);
    expect(ids("ended")).toEqual([memberId(3)]);
    expect(ids("all")).toHaveLength(4);
  });
});

describe("sorting", () => {
  it("by name, as people read names, with the member id settling equal names", () => {
    const cards = [
      makeCard({ memberId: memberId(3), name: "learner 10" }),
      makeCard({ memberId: memberId(2), name: "Anna" }),
      makeCard({ memberId: memberId(1), name: "anna" }),
      makeCard({ memberId: memberId(4), name: "learner 9" }),
    ];
    expect(sortCards(cards, "name").map((card) => card.memberId)).toEqual([memberId(1), memberId(2), memberId(4), memberId(3)]);
  });

  it("by joining time, earliest first", () => {
    const cards = [makeCard({ name: "b", joinedAtMs: T0 + 2 }), makeCard({ name: "a", joinedAtMs: T0 + 1 })];
    expect(sortCards(cards, "joined").map((card) => card.name)).toEqual(["a", "b"]);
  });

  it("by progress, furthest first and, at the same step, whoever got there first", () => {
    const cards = [
      makeCard({ name: "one step", steps: steps(1) }),
      makeCard({ name: "two, late", steps: steps(1, 9) }),
      makeCard({ name: "two, early", steps: steps(1, 4) }),
      makeCard({ name: "none" }),
    ];
    expect(sortCards(cards, "progress").map((card) => card.name)).toEqual(["two, early", "two, late", "one step", "none"]);
  });

  it("counts a step reported twice once", () => {
    const card = makeCard({ steps: [{ id: "a", completedAtMs: T0 }, { id: "a", completedAtMs: T0 + 1 }] });
    expect(stepsText(card, 5)).toBe("1 / 5");
  });

  it("by memory used, most first, learners with no reading last", () => {
    const withMemory = (name: string, memoryBytes: number | null) => {
      const card = makeCard({ name });
      return { ...card, sandbox: card.sandbox && { ...card.sandbox, memoryBytes } };
    };
    const cards = [withMemory("small", 5 * MiB), makeCard({ name: "no sandbox", sandbox: null }), withMemory("big", 200 * MiB), withMemory("unread", null)];
    expect(sortCards(cards, "memory").map((card) => card.name)).toEqual(["big", "small", "no sandbox", "unread"]);
  });

  it("leaves the array it was given as it was", () => {
    const cards = [makeCard({ name: "b" }), makeCard({ name: "a" })];
    sortCards(cards, "name");
    expect(cards.map((card) => card.name)).toEqual(["b", "a"]);
  });
});

describe("card text", () => {
  it("shares of a limit, clamped, and none without a limit", () => {
    expect(usageFraction(64, 256)).toBe(0.25);
    expect(usageFraction(300, 256)).toBe(1);
    expect(usageFraction(3, -1)).toBeNull();
    expect(usageFraction(null, 256)).toBeNull();
  });

  it("says how long ago", () => {
    expect(agoText(T0, T0 + 30_000)).toBe("just now");
    expect(agoText(T0, T0 + 4 * MINUTE)).toBe("4 min ago");
    expect(agoText(T0, T0 + 125 * MINUTE)).toBe("2 h ago");
  });

  it("keeps the last lines of the screen, without the blank ones under the prompt", () => {
    expect(screenLines(["a", "b   ", "c", "", "  "], 2)).toEqual(["b", "c"]);
    expect(screenLines([], 6)).toEqual([]);
  });
});
