// The hub's updates on their own, with a stand-in for a learner's session (the sessions and
// their mirror are the integration test's, classroom.test.ts): when the changed cards go out,
// how they are gathered, and that no output is ever left off a card.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { DASHBOARD_UPDATE_MS, type DashboardEvent, type LearnerCard } from "../../common/classroom";
import { log } from "../log";
import type { LabSession, SessionListener } from "../sessions/lab-session";
import { openSqliteStore } from "../store/sqlite-store";
import type { ClassRecord, Store } from "../store/store";
import { ClassHub, type Dashboard, DASHBOARD_MAX_BUFFERED_BYTES, MAX_DASHBOARDS_PER_CLASS } from "./class-hub";

const CLASS_ID = "c1a55c1a55c1a55c";
const MEMBER = "0000000000000001";
const LEARNER = "a11ce000000000000000000000000001";

const record: ClassRecord = {
  id: CLASS_ID,
  code: "ABCDEF",
  name: "Room",
  lesson: "containers-vs-vms",
  limits: { memoryBytes: 256 * 1024 * 1024, memorySwapBytes: 256 * 1024 * 1024, cpus: 0.5, pids: 100 },
  capacity: 10,
  reconnectGraceS: 60,
  sessionLifetimeS: 3600,
  idleTimeoutS: 600,
  state: "open",
  createdAtMs: 1,
  lastBroadcast: null,
};

/** A session as the hub sees it: a screen the test writes, answered when the test says. */
class FakeSession {
  listener: SessionListener | null = null;
  screen: string[] = [];
  tailRequests = 0;
  private answers: Array<() => void> = [];
  state = "attached";
  lastInputAtMs: number | null = null;
  startedAtMs = Date.now();
  endReason: string | null = null;
  sandbox = { hostname: "lab-000001", limits: { ...record.limits } };
  classroom = { classId: CLASS_ID, memberId: MEMBER };
  setListener(listener: SessionListener | null) {
    this.listener = listener;
  }
  setDashboardWatched() {}
  screenTail(): Promise<string[] | null> {
    this.tailRequests++;
    // What is on screen when the request reaches the mirror, not when it is answered.
    const now = [...this.screen];
    return new Promise((resolve) => this.answers.push(() => resolve(now)));
  }
  answerTails() {
    for (const answer of this.answers.splice(0)) answer();
  }
  print(line: string) {
    this.screen.push(line);
    this.listener?.output();
  }
}

class FakeDashboard implements Dashboard {
  readonly events: DashboardEvent[] = [];
  bufferedBytes = 0;
  closedWith: string | null | undefined = undefined;
  send(event: DashboardEvent) {
    this.events.push(event);
  }
  close(reason: string | null) {
    this.closedWith = reason;
  }
  cardEvents(): LearnerCard[][] {
    return this.events.flatMap((e) => (e.type === "cards" ? [e.cards] : []));
  }
}

describe("ClassHub", () => {
  let store: Store;
  let hub: ClassHub;
  let session: FakeSession;

  beforeEach(async () => {
    store = openSqliteStore(":memory:");
    await store.classes.create(record);
    await store.classes.join({ classId: CLASS_ID, learnerId: LEARNER, memberId: MEMBER, displayName: "Ada", atMs: 1 });
    hub = await ClassHub.load(CLASS_ID, {
      store,
      log,
      detailBase: async () => ({
        class: { id: CLASS_ID, code: "ABCDEF", name: "Room", lesson: record.lesson, state: "open", createdAtMs: 1, capacity: 10, learners: 1, live: 1 },
        settings: { name: "Room", lesson: record.lesson, limits: record.limits, capacity: 10, reconnectGraceS: 60, sessionLifetimeS: 3600, idleTimeoutS: 600 },
        steps: [],
        lastBroadcast: null,
      }),
    });
    session = new FakeSession();
    hub.sessionStarted(MEMBER, session as unknown as LabSession);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  });

  afterEach(async () => {
    vi.useRealTimers();
    hub.closeDashboards(null);
    await store.close();
  });

  /** Lets the hub's timers and promises run for `ms`. */
  async function pass(ms: number) {
    await vi.advanceTimersByTimeAsync(ms);
  }

  it("sends the first change at once, then gathers what follows into one update per period", async () => {
    const dashboard = new FakeDashboard();
    await hub.subscribe(dashboard);
    expect(dashboard.events[0]?.type).toBe("detail");
    // The new dashboard's screens are read fresh.
    await pass(0);
    session.answerTails();
    await pass(0);
    const first = dashboard.cardEvents().length;
    expect(first).toBe(1);

    await pass(DASHBOARD_UPDATE_MS);
    session.print("one");
    await pass(0);
    session.answerTails();
    await pass(0);
    expect(dashboard.cardEvents().length).toBe(first + 1);
    expect(dashboard.cardEvents().at(-1)?.[0]?.screen).toEqual(["one"]);

    // Three lines within one period: one more update, after the period, with all three.
    session.print("two");
    session.print("three");
    session.print("four");
    await pass(DASHBOARD_UPDATE_MS - 10);
    expect(dashboard.cardEvents().length).toBe(first + 1);
    await pass(10);
    session.answerTails();
    await pass(0);
    expect(dashboard.cardEvents().length).toBe(first + 2);
    expect(dashboard.cardEvents().at(-1)?.[0]?.screen).toEqual(["one", "two", "three", "four"]);
    expect(session.tailRequests).toBe(3);
  });

  it("reads the screen again when output came after it was asked for, so no line is left off", async () => {
    const dashboard = new FakeDashboard();
    await hub.subscribe(dashboard);
    await pass(0);
    session.answerTails();
    await pass(DASHBOARD_UPDATE_MS);

    session.print("before");
    await pass(0);
    // The request is out; the mark comes before its answer.
    session.print("mark");
    session.answerTails();
    await pass(0);
    expect(dashboard.cardEvents().at(-1)?.[0]?.screen).toEqual(["before"]);
    await pass(DASHBOARD_UPDATE_MS);
    session.answerTails();
    await pass(0);
    expect(dashboard.cardEvents().at(-1)?.[0]?.screen).toEqual(["before", "mark"]);
  });

  it("sends a card whose screen is late without it, and the screen in the next update", async () => {
    const dashboard = new FakeDashboard();
    await hub.subscribe(dashboard);
    await pass(0);
    session.answerTails();
    await pass(DASHBOARD_UPDATE_MS);
    const before = dashboard.cardEvents().length;
    session.print("slow");
    // The mirror does not answer: the update goes out after its wait, with the old screen.
    await pass(300);
    expect(dashboard.cardEvents().length).toBe(before + 1);
    session.answerTails();
    await pass(DASHBOARD_UPDATE_MS);
    expect(dashboard.cardEvents().at(-1)?.[0]?.screen).toEqual(["slow"]);
  });

  it("takes a bounded number of dashboards, and lets go of one that stopped reading", async () => {
    const dashboards = Array.from({ length: MAX_DASHBOARDS_PER_CLASS }, () => new FakeDashboard());
    for (const dashboard of dashboards) expect(await hub.subscribe(dashboard)).not.toBeNull();
    expect(await hub.subscribe(new FakeDashboard())).toBeNull();

    const stuck = dashboards[0] as FakeDashboard;
    stuck.bufferedBytes = DASHBOARD_MAX_BUFFERED_BYTES + 1;
    await pass(DASHBOARD_UPDATE_MS);
    session.print("x");
    await pass(0);
    session.answerTails();
    await pass(DASHBOARD_UPDATE_MS);
    expect(stuck.closedWith).toMatch(/fell too far behind/);
    expect(hub.dashboardCount).toBe(MAX_DASHBOARDS_PER_CLASS - 1);
    // Its place is free again.
    expect(await hub.subscribe(new FakeDashboard())).not.toBeNull();
  });

  it("drops a removed member's card at once, tells every dashboard, and hears no more from their session", async () => {
    const dashboard = new FakeDashboard();
    await hub.subscribe(dashboard);
    await pass(0);
    session.answerTails();
    await pass(DASHBOARD_UPDATE_MS);
    const cardsBefore = dashboard.cardEvents().length;
    // Output waiting for the next update when the removal comes: that card never goes out.
    session.print("last words");
    hub.memberRemoved(MEMBER);
    expect(dashboard.events.at(-1)).toEqual({ type: "removed", memberIds: [MEMBER] });
    expect(hub.cardList()).toEqual([]);
    expect(hub.member(MEMBER)).toBeNull();
    expect(hub.session(MEMBER)).toBeNull();
    expect(hub.memberCount).toBe(0);
    expect(session.listener).toBeNull();
    session.answerTails();
    await pass(DASHBOARD_UPDATE_MS * 2);
    expect(dashboard.cardEvents().length).toBe(cardsBefore);
    // Twice is no second message.
    hub.memberRemoved(MEMBER);
    expect(dashboard.events.filter((e) => e.type === "removed")).toHaveLength(1);
  });

  it("counts OOM kills from the readings and logs them as the class's events", async () => {
    const reading = (oomKillCount: number) =>
      ({
        takenAtMs: Date.now(),
        hostNamespaces: {},
        processes: [],
        cgroup: {
          version: 1,
          memory: { usageBytes: { value: 1 }, oomKillCount: { value: oomKillCount } },
          pids: { current: { value: 1 } },
          cpu: {},
        },
      }) as never;
    session.listener?.reading(reading(0));
    session.listener?.reading(reading(2));
    session.listener?.reading(reading(2));
    // A loop being killed again and again: one line of the log per period, summed.
    session.listener?.reading(reading(3));
    session.listener?.reading(reading(5));
    expect(hub.cardList()[0]?.oomKills).toBe(5);
    const ooms = async () => (await store.classes.events(CLASS_ID, 10)).filter((e) => e.kind === "oom").map((e) => e.detail);
    await pass(10);
    expect(await ooms()).toEqual(["2"]);
    await pass(5_000);
    expect(await ooms()).toEqual(["2", "3"]);
  });
});
