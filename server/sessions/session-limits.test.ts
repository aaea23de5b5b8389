// Nobody may hold every sandbox: against a real server and real sandboxes, a learner keeps as
// many live sandboxes as the lab allows (a new start replaces the oldest), an address is
// refused past its bound while another address is not (and a class behind one NAT is not
// counted), and the lab ends a sandbox that idles or outlives its lifetime, telling its page
// before it does and taking an idle warning back when the learner types.
import path from "node:path";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { CloseCode, type ServerMessage } from "../../common/protocol";
import { LessonCatalog } from "../lessons/lesson-steps";
import { openSqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";
import { sandboxUnavailable } from "../testing/kernel";
import { LabClient, type SessionReady, learnerCookie } from "../testing/lab-client";
import { type TestLab, type TestLabOptions, startTestLab } from "../testing/test-lab";
import { waitUntil } from "../testing/traces";

const unavailable = sandboxUnavailable();
const skipped = unavailable ? ` (skipped: ${unavailable})` : "";
const LESSON = "checks-demo";

type Expiring = Extract<ServerMessage, { type: "session.expiring" }>;

/** A learner id: 32 hex digits, told apart by `n`. */
function learner(n: number): string {
  return `1e55${String(n).padStart(28, "0")}`;
}

/** A page of `learnerId` whose connection a trusted proxy (the test's 127.0.0.1) forwarded for `forwardedFor`. */
function page(lab: TestLab, learnerId: string, forwardedFor?: string): LabClient {
  return new LabClient(lab.url, { ...learnerCookie(learnerId), ...(forwardedFor ? { "x-forwarded-for": forwardedFor } : {}) });
}

function expirings(client: LabClient): Expiring[] {
  return client.messages.filter((m): m is Expiring => m.type === "session.expiring");
}

async function closeAll(clients: LabClient[]): Promise<void> {
  for (const client of clients) if (client.closeCode === null) client.close();
  await Promise.all(clients.map((c) => c.closed()));
}

/** A lab of its own for each group of tests, its sessions ended after each test. */
function useLab(options: Omit<TestLabOptions, "name"> & { name: string }) {
  const state: { lab: TestLab | null; store: Store | null; clients: LabClient[] } = { lab: null, store: null, clients: [] };
  beforeAll(async () => {
    state.store = openSqliteStore(":memory:");
    state.lab = await startTestLab({ store: state.store, lessons: new LessonCatalog(path.join(import.meta.dirname, "../lessons/fixtures")), ...options });
  });
  afterEach(async () => {
    await closeAll(state.clients.splice(0));
    const lab = state.lab;
    if (!lab) return;
    for (const session of lab.registry.all()) void session.end("the test is over", { cause: "shutdown" });
    await waitUntil(() => lab.registry.size === 0, "every session ended");
  });
  afterAll(async () => {
    await state.lab?.close();
    await state.store?.close();
  });
  return {
    get lab(): TestLab {
      if (!state.lab) throw new Error("no lab");
      return state.lab;
    },
    page(learnerId: string, forwardedFor?: string): LabClient {
      const client = page(this.lab, learnerId, forwardedFor);
      state.clients.push(client);
      return client;
    },
  };
}

describe.skipIf(unavailable !== null)(`one sandbox per learner, four per address${skipped}`, () => {
  const t = useLab({
    name: "bounds",
    capacity: 10,
    graceMs: 3_000,
    limits: { perLearner: 1, perAddress: 4 },
    trustedProxies: ["127.0.0.1"],
    instructorSecret: "a secret for the limits test",
  });

  it("ends the learner's first sandbox when they start a second, and tells its page why", async () => {
    const first = t.page(learner(1), "198.51.100.1");
    const firstReady = await first.start(80, 24, LESSON);
    const second = t.page(learner(1), "198.51.100.1");
    const secondReady = await second.start(80, 24, LESSON);
    expect(await first.closed()).toBe(CloseCode.SessionGone);
    expect(first.errors().at(-1)?.message).toBe(
      "Your sandbox was ended: You started a new sandbox (in another tab or lesson), and the lab keeps one per learner, so this one was ended.",
    );
    await waitUntil(() => t.lab.registry.find(firstReady.sessionId) === undefined, "the first sandbox gone");
    expect(t.lab.registry.byLearner(learner(1)).map((s) => s.id)).toEqual([secondReady.sessionId]);

    // A sandbox waiting for its page (detached) is replaced the same way.
    second.close();
    await second.closed();
    await waitUntil(() => t.lab.registry.find(secondReady.sessionId)?.state === "detached", "the second detached");
    const third = t.page(learner(1), "198.51.100.1");
    const thirdReady = await third.start(80, 24, LESSON);
    await waitUntil(() => t.lab.registry.find(secondReady.sessionId) === undefined, "the detached one replaced");
    expect(t.lab.registry.byLearner(learner(1)).map((s) => s.id)).toEqual([thirdReady.sessionId]);
  });

  it("refuses the fifth sandbox from one address, saying it is that address's bound, while another address still gets one", async () => {
    // One address however it is written: plain, IPv4-mapped, and behind a header the client
    // wrote itself (to the left of what the proxy appended).
    const forms = ["198.51.100.7", "::ffff:198.51.100.7", "203.0.113.1, 198.51.100.7", "198.51.100.7"];
    const held: LabClient[] = [];
    for (const [i, form] of forms.entries()) {
      const client = t.page(learner(10 + i), form);
      await client.start(80, 24, LESSON);
      held.push(client);
    }
    const fifth = t.page(learner(20), "6.6.6.6, ::ffff:198.51.100.7");
    await expect(fifth.start(80, 24, LESSON)).rejects.toThrow(/lab_full/);
    expect(await fifth.closed()).toBe(CloseCode.LabFull);
    expect(fifth.errors().at(-1)?.message).toBe("This network already runs 4 sandboxes: end one (exit its shell) or ask the lab's operator.");
    expect(t.lab.registry.size).toBe(4);

    const elsewhere = t.page(learner(21), "198.51.100.8");
    expect((await elsewhere.start(80, 24, LESSON)).role).toBe("owner");

    // Ending one (its shell exits) makes room for the address again.
    held[0]?.type("exit\r");
    expect(await held[0]?.closed()).toBe(CloseCode.SessionEnded);
    await waitUntil(() => t.lab.registry.size === 4, "the exited one gone");
    const again = t.page(learner(20), "198.51.100.7");
    expect((await again.start(80, 24, LESSON)).role).toBe("owner");
  });

  it("does not count class members against their address: a room behind one NAT all gets sandboxes", async () => {
    const classrooms = t.lab.classrooms;
    if (!classrooms) throw new Error("no classroom");
    const detail = await classrooms.create({ name: "Behind one NAT", lesson: LESSON, capacity: 6 });
    const members: LabClient[] = [];
    for (let i = 0; i < 5; i++) {
      await classrooms.join(detail.class.code, `Learner ${i}`, learner(30 + i));
      const client = t.page(learner(30 + i), "192.0.2.50");
      expect((await client.start(80, 24, LESSON)).classroom?.classId).toBe(detail.class.id);
      members.push(client);
    }
    // The address's own bound is still whole for learners on their own.
    for (let i = 0; i < 4; i++) await t.page(learner(40 + i), "192.0.2.50").start(80, 24, LESSON);
    await expect(t.page(learner(44), "192.0.2.50").start(80, 24, LESSON)).rejects.toThrow(/lab_full/);
    expect(t.lab.registry.size).toBe(9);
  });
});

describe.skipIf(unavailable !== null)(`a lab that keeps two sandboxes per learner${skipped}`, () => {
  const t = useLab({ name: "bounds2", capacity: 4, graceMs: 3_000, limits: { perLearner: 2 } });

  it("keeps the learner's two newest sandboxes and ends the oldest at the third start", async () => {
    const started: SessionReady[] = [];
    for (let i = 0; i < 3; i++) started.push(await t.page(learner(50)).start(80, 24, LESSON));
    await waitUntil(() => t.lab.registry.find(started[0]?.sessionId ?? "") === undefined, "the oldest ended");
    expect(t.lab.registry.byLearner(learner(50)).map((s) => s.id).sort()).toEqual([started[1]?.sessionId, started[2]?.sessionId].sort());
  });
});

describe.skipIf(unavailable !== null)(`the idle timeout${skipped}`, () => {
  // A 3 s timeout: the page is warned half of it before (1.5 s), not a minute.
  const t = useLab({ name: "idle", capacity: 2, graceMs: 3_000, limits: { expiry: { idleMs: 3_000, lifetimeMs: 0 } } });

  it("warns the page, takes the warning back when the learner types, and ends the sandbox once it idles again, saying why", async () => {
    const client = t.page(learner(60));
    const ready = await client.start(80, 24, LESSON);
    await client.waitFor(() => expirings(client).length >= 1, "the first warning");
    const [warning] = expirings(client);
    expect(warning).toMatchObject({ type: "session.expiring", reason: "idle", limitS: 3 });
    expect(warning?.inSeconds).toBeGreaterThanOrEqual(0);
    expect(warning?.inSeconds).toBeLessThanOrEqual(2);

    client.type(":\r");
    await client.waitFor(() => expirings(client).length >= 2, "the warning taken back");
    expect(expirings(client)[1]).toEqual({ type: "session.expiring", reason: "idle", inSeconds: null, limitS: 3 });

    // Neither output nor the page's own traffic (pings, acks, state.watch) is the learner.
    client.type("while :; do echo tick; sleep 0.2; done\r");
    client.sendJson({ type: "state.watch", watch: true });
    const pings = setInterval(() => client.sendJson({ type: "ping", at: Date.now() }), 200);
    try {
      expect(await client.closed()).toBe(CloseCode.SessionGone);
    } finally {
      clearInterval(pings);
    }
    // It was warned again before it ended: the keystroke had moved the deadline on.
    expect(expirings(client).map((m) => m.inSeconds === null)).toEqual([false, true, false]);
    expect(client.errors().at(-1)?.message).toBe("Your sandbox was ended: Nothing was typed into it for 3 s, so it was ended to make room for others.");
    expect(client.output).toContain("tick");
    await waitUntil(() => t.lab.registry.find(ready.sessionId) === undefined, "the session gone");

    // A page that comes back to it later is told why it is gone.
    const late = t.page(learner(60));
    await late.opened();
    await expect(late.resume(ready)).rejects.toThrow(/session_gone/);
    expect(late.errors().at(-1)?.message).toMatch(/Nothing was typed into it for 3 s/);
  });
});

describe.skipIf(unavailable !== null)(`the session lifetime${skipped}`, () => {
  const t = useLab({ name: "lifetime", capacity: 2, graceMs: 3_000, limits: { expiry: { idleMs: 0, lifetimeMs: 4_000 } } });

  it("ends even a sandbox in use at the end of its lifetime, warning first, and warns a page that reloads meanwhile", async () => {
    const first = t.page(learner(70));
    const ready = await first.start(80, 24, LESSON);
    let typist = first;
    const typing = setInterval(() => {
      if (typist.closeCode === null && typist.ws.readyState === typist.ws.OPEN) typist.type(" ");
    }, 250);
    try {
      await first.waitFor(() => expirings(first).length >= 1, "the lifetime warning");
      expect(expirings(first)[0]).toMatchObject({ type: "session.expiring", reason: "lifetime", limitS: 4 });
      // A reload while the warning holds is warned too, right after session.ready.
      const reloaded = t.page(learner(70));
      const from = reloaded.messages.length;
      await reloaded.resume(ready);
      typist = reloaded;
      const after = reloaded.messages.slice(from).map((m) => m.type);
      expect(after.indexOf("session.expiring")).toBeGreaterThan(after.indexOf("session.ready"));
      expect(await reloaded.closed()).toBe(CloseCode.SessionGone);
      // Typing never took a lifetime's warning back.
      expect([...expirings(first), ...expirings(reloaded)].every((m) => m.reason === "lifetime" && m.inSeconds !== null)).toBe(true);
      expect(reloaded.errors().at(-1)?.message).toBe(
        "Your sandbox was ended: This lab's sandboxes last at most 4 s, and this one's time was up. Start a new one to go on.",
      );
    } finally {
      clearInterval(typing);
    }
  });
});


describe.skipIf(unavailable !== null)(`a lifetime longer than a timer holds${skipped}`, () => {
  // 30 days, the most the configuration takes: past 2^31-1 ms, which setTimeout would fire at
  // once, again and again, for every session.
  const t = useLab({ name: "longlife", capacity: 2, graceMs: 3_000, limits: { expiry: { idleMs: 0, lifetimeMs: 30 * 86_400_000 } } });

  it("sleeps until the warning is due instead of waking every millisecond", async () => {
    const overflows: string[] = [];
    const onWarning = (warning: Error) => {
      if (warning.name === "TimeoutOverflowWarning") overflows.push(warning.message);
    };
    process.on("warning", onWarning);
    try {
      const page = t.page(learner(90));
      await page.start(80, 24, LESSON);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(overflows).toEqual([]);
      expect(expirings(page)).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
