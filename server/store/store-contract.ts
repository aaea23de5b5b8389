// The tests every Store implementation must pass, whatever database is behind it. An
// implementation's own test file calls describeStoreContract once per way it can be opened,
// then adds the tests only it needs (migrations of its own format, its queue).
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { MiB } from "../../common/limits";
import {
  ClassCodeTakenError,
  type ClassEvent,
  ClassFullError,
  ClassMemberRemovedError,
  ClassNotOpenError,
  type ClassRecord,
  EVENT_DETAIL_MAX,
  type MemberRecord,
  type Store,
  StoreArgumentError,
  StoreClosedError,
} from "./store";

export interface OpenedStore {
  store: Store;
  /** Opens the same database again after `store` is closed; absent for one that dies with its
   *  store (SQLite's ":memory:"). */
  reopen?: () => Promise<Store>;
  /** Removes what open() made (files, a test schema). Runs after the store is closed. */
  cleanup(): Promise<void>;
}

const ALICE = "a11ce000000000000000000000000001";
const BOB = "b0b00000000000000000000000000002";
const CAROL = "ca501000000000000000000000000003";
const LESSON = "containers-vs-vms";
const OTHER_LESSON = "cgroups-memory";

const CLASS_A = "c1a55000000000a1";
const CLASS_B = "c1a55000000000b2";
const CLASS_C = "c1a55000000000c3";
const MISSING_CLASS = "0000000000000000";
const member = (n: number) => n.toString(16).padStart(16, "0");
const HASH_1 = "1".repeat(64);
const HASH_2 = "2".repeat(64);
const HASH_3 = "3".repeat(64);

function classRecord(overrides: Partial<ClassRecord> = {}): ClassRecord {
  return {
    id: CLASS_A,
    code: "ABC234",
    name: "Containers, Tuesday",
    lesson: LESSON,
    limits: { memoryBytes: 256 * MiB, memorySwapBytes: 512 * MiB, cpus: 0.5, pids: 128 },
    capacity: 3,
    reconnectGraceS: 300,
    sessionLifetimeS: 10_800,
    idleTimeoutS: 1_800,
    state: "open",
    createdAtMs: 1_000,
    lastBroadcast: null,
    ...overrides,
  };
}

function event(overrides: Partial<ClassEvent> = {}): ClassEvent {
  return { classId: CLASS_A, atMs: 5_000, kind: "join", memberId: null, detail: "", ...overrides };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to reject, but it resolved");
}

async function expectArgumentError(promise: Promise<unknown>, field: string): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(StoreArgumentError);
  expect((error as StoreArgumentError).field).toBe(field);
  expect((error as Error).message.startsWith(`${field}: `)).toBe(true);
}

/** `survivesRestart`: the database outlives its store (a file, a server), so the suite also
 *  holds it to keeping progress across a restart; `open` must then give `reopen`. */
export function describeStoreContract(name: string, open: () => Promise<OpenedStore>, { survivesRestart }: { survivesRestart: boolean }): void {
  describe(`the Store contract: ${name}`, () => {
    let opened: OpenedStore;
    let store: Store;
    /** Stores opened by a test with reopen(), closed after it. */
    const reopened: Store[] = [];

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });

    afterEach(async () => {
      for (const again of reopened.splice(0)) await again.close();
      await store.close();
      await opened.cleanup();
    });

    it("reads a completed step back from completed() and progress()", async () => {
      expect(await store.progress.complete(ALICE, LESSON, "new-netns", 1_000)).toBe(true);
      expect(await store.progress.completed(ALICE, LESSON)).toEqual(new Map([["new-netns", 1_000]]));
      expect(await store.progress.progress(ALICE, LESSON, ["new-netns"])).toEqual([{ id: "new-netns", done: true, completedAtMs: 1_000 }]);
    });

    it("keeps the first completion time, and a second complete() returns false", async () => {
      expect(await store.progress.complete(ALICE, LESSON, "oom", 1_000)).toBe(true);
      expect(await store.progress.complete(ALICE, LESSON, "oom", 2_000)).toBe(false);
      // The first time wins, not the earliest: a step is never re-dated.
      expect(await store.progress.complete(ALICE, LESSON, "oom", 500)).toBe(false);
      expect(await store.progress.completed(ALICE, LESSON)).toEqual(new Map([["oom", 1_000]]));
    });

    it("keeps the steps of other learners and other lessons apart", async () => {
      await store.progress.complete(ALICE, LESSON, "new-netns", 1);
      await store.progress.complete(BOB, LESSON, "oom", 2);
      await store.progress.complete(ALICE, OTHER_LESSON, "new-netns", 3);
      expect(await store.progress.completed(ALICE, LESSON)).toEqual(new Map([["new-netns", 1]]));
      expect(await store.progress.completed(BOB, LESSON)).toEqual(new Map([["oom", 2]]));
      expect(await store.progress.completed(ALICE, OTHER_LESSON)).toEqual(new Map([["new-netns", 3]]));
      expect(await store.progress.completed(BOB, OTHER_LESSON)).toEqual(new Map());
      expect(await store.progress.completed(CAROL, LESSON)).toEqual(new Map());
    });

    it("answers progress() in the order asked, with steps not done as done: false", async () => {
      await store.progress.complete(ALICE, LESSON, "child-limit", 7);
      expect(await store.progress.progress(ALICE, LESSON, ["oom", "child-limit", "new-netns"])).toEqual([
        { id: "oom", done: false, completedAtMs: null },
        { id: "child-limit", done: true, completedAtMs: 7 },
        { id: "new-netns", done: false, completedAtMs: null },
      ]);
      expect(await store.progress.progress(ALICE, LESSON, [])).toEqual([]);
      expect(await store.progress.progress(CAROL, LESSON, ["child-limit"])).toEqual([{ id: "child-limit", done: false, completedAtMs: null }]);
    });

    it("lists every lesson's done steps in allCompleted()", async () => {
      await store.progress.complete(ALICE, LESSON, "new-netns", 1);
      await store.progress.complete(ALICE, LESSON, "oom", 2);
      await store.progress.complete(ALICE, OTHER_LESSON, "child-limit", 3);
      await store.progress.complete(BOB, LESSON, "oom", 4);
      expect(await store.progress.allCompleted(ALICE)).toEqual(
        new Map([
          [LESSON, new Map([["new-netns", 1], ["oom", 2]])],
          [OTHER_LESSON, new Map([["child-limit", 3]])],
        ]),
      );
      expect(await store.progress.allCompleted(CAROL)).toEqual(new Map());
    });

    it("creates a learner once: ensure() is idempotent and get() keeps the first time", async () => {
      expect(await store.learners.get(ALICE)).toBeNull();
      expect(await store.learners.ensure(ALICE, 100)).toBe(true);
      expect(await store.learners.ensure(ALICE, 200)).toBe(false);
      expect(await store.learners.get(ALICE)).toEqual({ id: ALICE, createdAtMs: 100 });
      // complete() creates a learner it has not seen, at the step's time.
      await store.progress.complete(BOB, LESSON, "oom", 300);
      expect(await store.learners.get(BOB)).toEqual({ id: BOB, createdAtMs: 300 });
      expect(await store.learners.ensure(BOB, 400)).toBe(false);
      expect(await store.learners.get(BOB)).toEqual({ id: BOB, createdAtMs: 300 });
    });

    it("lets a read see the writes made before it, even those not yet awaited", async () => {
      const ensured = store.learners.ensure(CAROL, 50);
      const completed = store.progress.complete(ALICE, LESSON, "oom", 60);
      expect(await store.learners.get(CAROL)).toEqual({ id: CAROL, createdAtMs: 50 });
      expect(await store.progress.completed(ALICE, LESSON)).toEqual(new Map([["oom", 60]]));
      expect(await ensured).toBe(true);
      expect(await completed).toBe(true);
    });

    it("resolves 500 complete() calls made in one tick, each with its own answer", async () => {
      const learners = Array.from({ length: 50 }, (_, index) => index.toString(16).padStart(32, "0"));
      const calls: Array<Promise<boolean>> = [];
      for (let index = 0; index < 500; index++) {
        const learner = learners[index % 50] ?? "";
        calls.push(store.progress.complete(learner, LESSON, `step-${Math.floor(index / 50)}`, 10_000 + index));
      }
      // Repeats of a step in the same tick: only the first records it.
      const repeats = Array.from({ length: 5 }, (_, index) => store.progress.complete(learners[0] ?? "", LESSON, "step-0", 20_000 + index));
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 500 }, () => true));
      expect(await Promise.all(repeats)).toEqual([false, false, false, false, false]);
      const third = await store.progress.completed(learners[3] ?? "", LESSON);
      expect(third).toEqual(new Map(Array.from({ length: 10 }, (_, step) => [`step-${step}`, 10_000 + step * 50 + 3] as const)));
      expect((await store.progress.completed(learners[0] ?? "", LESSON)).get("step-0")).toBe(10_000);
    });

    // Only for a database that outlives its store: for ":memory:" there is nothing to restart.
    if (survivesRestart) it("keeps progress across a restart", async () => {
      const reopen = opened.reopen;
      if (!reopen) throw new Error(`${name}: survivesRestart needs open() to give reopen`);
      await store.learners.ensure(CAROL, 5);
      await store.progress.complete(ALICE, LESSON, "new-netns", 42);
      // Not awaited: close() must write it before closing.
      const last = store.progress.complete(ALICE, OTHER_LESSON, "oom", 43);
      await store.close();
      expect(await last).toBe(true);
      const again = await reopen();
      reopened.push(again);
      expect(await again.progress.allCompleted(ALICE)).toEqual(
        new Map([
          [LESSON, new Map([["new-netns", 42]])],
          [OTHER_LESSON, new Map([["oom", 43]])],
        ]),
      );
      expect(await again.learners.get(CAROL)).toEqual({ id: CAROL, createdAtMs: 5 });
      expect(await again.progress.complete(ALICE, LESSON, "new-netns", 99)).toBe(false);
    });

    if (survivesRestart) it("keeps classes, their members and events, and instructor sessions across a restart", async () => {
      const reopen = opened.reopen;
      if (!reopen) throw new Error(`${name}: survivesRestart needs open() to give reopen`);
      const created = classRecord({ lastBroadcast: { text: "Start with step 1", sentAtMs: 1_500 } });
      await store.classes.create(created);
      const alice = await store.classes.join({ classId: CLASS_A, learnerId: ALICE, memberId: member(1), displayName: "Alice", atMs: 2_000 });
      await store.classes.setState(CLASS_A, "closed");
      await store.progress.complete(ALICE, LESSON, "oom", 2_500);
      await store.classes.addEvent(event({ kind: "join", memberId: member(1), atMs: 2_000 }));
      await store.instructorSessions.create(HASH_1, 1_000, 9_000);
      // Not awaited: close() must write them before closing.
      const lastEvent = store.classes.addEvent(event({ kind: "state", detail: "closed", atMs: 3_000 }));
      const bobRefused = rejection(store.classes.join({ classId: CLASS_A, learnerId: BOB, memberId: member(2), displayName: "Bob", atMs: 3_000 }));
      await store.close();
      await lastEvent;
      // The class was closed before Bob joined: close() settles the refusal, too.
      expect(await bobRefused).toBeInstanceOf(ClassNotOpenError);

      const again = await reopen();
      reopened.push(again);
      expect(await again.classes.get(CLASS_A)).toEqual({ ...created, state: "closed" });
      expect(await again.classes.byCode("ABC234")).toEqual({ ...created, state: "closed" });
      expect(await again.classes.members(CLASS_A)).toEqual([alice.member]);
      expect(await again.classes.membershipsOf(ALICE)).toEqual([alice.member]);
      expect(await again.classes.progress(CLASS_A)).toEqual(new Map([[member(1), new Map([["oom", 2_500]])]]));
      expect(await again.classes.events(CLASS_A, 10)).toEqual([
        event({ kind: "join", memberId: member(1), atMs: 2_000 }),
        event({ kind: "state", detail: "closed", atMs: 3_000 }),
      ]);
      expect(await again.instructorSessions.valid(HASH_1, 5_000)).toBe(true);
      // The join code is still taken, and the rejoin finds the member it was.
      expect(await rejection(again.classes.create(classRecord({ id: CLASS_B })))).toBeInstanceOf(ClassCodeTakenError);
      expect(await again.classes.join({ classId: CLASS_A, learnerId: ALICE, memberId: member(9), displayName: "Alice", atMs: 4_000 })).toEqual({
        member: alice.member,
        created: false,
      });
    });

    it("writes what was queued before close(), then rejects every call", async () => {
      const queued = store.progress.complete(ALICE, LESSON, "oom", 1);
      await store.close();
      expect(await queued).toBe(true);
      await store.close(); // twice is fine
      const calls: Array<Promise<unknown>> = [
        store.progress.complete(ALICE, LESSON, "new-netns", 2),
        store.progress.completed(ALICE, LESSON),
        store.progress.progress(ALICE, LESSON, ["oom"]),
        store.progress.allCompleted(ALICE),
        store.learners.ensure(BOB, 3),
        store.learners.get(ALICE),
        store.classes.create(classRecord()),
        store.classes.get(CLASS_A),
        store.classes.byCode("ABC234"),
        store.classes.list(),
        store.classes.setState(CLASS_A, "closed"),
        store.classes.setCode(CLASS_A, "XYZ789"),
        store.classes.removeMember(CLASS_A, member(1), 1),
        store.classes.join({ classId: CLASS_A, learnerId: ALICE, memberId: member(1), displayName: "Alice", atMs: 1 }),
        store.classes.members(CLASS_A),
        store.classes.progress(CLASS_A),
        store.classes.addEvent(event()),
        store.classes.events(CLASS_A, 10),
        store.instructorSessions.create(HASH_1, 1, 2),
        store.instructorSessions.valid(HASH_1, 1),
        store.instructorSessions.revoke(HASH_1),
        store.instructorSessions.prune(1),
      ];
      for (const call of calls) expect(await rejection(call)).toBeInstanceOf(StoreClosedError);
    });

    it("rejects ids no learner, lesson or step could have, naming the argument", async () => {
      for (const bad of ["", "not-a-learner", ALICE.toUpperCase(), `${ALICE}0`]) {
        await expectArgumentError(store.progress.complete(bad, LESSON, "oom", 1), "learnerId");
        await expectArgumentError(store.progress.completed(bad, LESSON), "learnerId");
        await expectArgumentError(store.progress.progress(bad, LESSON, ["oom"]), "learnerId");
        await expectArgumentError(store.progress.allCompleted(bad), "learnerId");
        await expectArgumentError(store.learners.ensure(bad, 1), "learnerId");
        await expectArgumentError(store.learners.get(bad), "learnerId");
      }
      await expectArgumentError(store.progress.complete(ALICE, "Not A Lesson", "oom", 1), "lesson");
      await expectArgumentError(store.progress.complete(ALICE, LESSON, "no spaces", 1), "stepId");
      await expectArgumentError(store.progress.progress(ALICE, LESSON, ["oom", "Bad!"]), "stepIds[1]");
      await expectArgumentError(store.progress.complete(ALICE, LESSON, "oom", -1), "atMs");
      await expectArgumentError(store.learners.ensure(ALICE, 1.5), "atMs");
      // Nothing of the refused calls was stored.
      expect(await store.learners.get(ALICE)).toBeNull();
      expect(await store.progress.allCompleted(ALICE)).toEqual(new Map());
    });

    describe("classes", () => {
      const join = (learnerId: string, memberNumber: number, overrides: { classId?: string; displayName?: string; atMs?: number } = {}) =>
        store.classes.join({
          classId: overrides.classId ?? CLASS_A,
          learnerId,
          memberId: member(memberNumber),
          displayName: overrides.displayName ?? `Learner ${memberNumber}`,
          atMs: overrides.atMs ?? 2_000 + memberNumber,
        });

      it("stores a class and reads it back by id and by code, fractional CPUs and all", async () => {
        const a = classRecord();
        const b = classRecord({
          id: CLASS_B,
          code: "XYZ789",
          lesson: OTHER_LESSON,
          limits: { memoryBytes: 6 * MiB, memorySwapBytes: -1, cpus: 0.1, pids: -1 },
          state: "archived",
          lastBroadcast: { text: "Well done, everyone", sentAtMs: 1_234 },
        });
        const c = classRecord({ id: CLASS_C, code: "PQR345", limits: { memoryBytes: 2 ** 40, memorySwapBytes: 2 ** 41, cpus: 1.000000001, pids: 4_194_304 } });
        for (const record of [a, b, c]) await store.classes.create(record);
        expect(await store.classes.get(CLASS_A)).toEqual(a);
        expect(await store.classes.get(CLASS_B)).toEqual(b);
        expect(await store.classes.get(CLASS_C)).toEqual(c);
        expect(await store.classes.byCode("XYZ789")).toEqual(b);
        expect(await store.classes.get(MISSING_CLASS)).toBeNull();
        expect(await store.classes.byCode("ZZZ222")).toBeNull();
      });

      it("lists every class, newest first", async () => {
        await store.classes.create(classRecord({ id: CLASS_A, code: "AAA222", createdAtMs: 1 }));
        await store.classes.create(classRecord({ id: CLASS_B, code: "BBB333", createdAtMs: 3 }));
        await store.classes.create(classRecord({ id: CLASS_C, code: "CCC444", createdAtMs: 2 }));
        expect((await store.classes.list()).map((c) => c.id)).toEqual([CLASS_B, CLASS_C, CLASS_A]);
      });

      it("refuses a class whose join code another class has, with ClassCodeTakenError, storing nothing of it", async () => {
        await store.classes.create(classRecord({ state: "archived" }));
        const error = await rejection(store.classes.create(classRecord({ id: CLASS_B, name: "Another" })));
        expect(error).toBeInstanceOf(ClassCodeTakenError);
        expect((error as ClassCodeTakenError).code).toBe("ABC234");
        expect((error as Error).message).toBe("another class already has the join code ABC234");
        expect(await store.classes.get(CLASS_B)).toBeNull();
        expect((await store.classes.list()).map((c) => c.id)).toEqual([CLASS_A]);
        // With another code, it goes in.
        await store.classes.create(classRecord({ id: CLASS_B, code: "ABC235" }));
        expect((await store.classes.byCode("ABC235"))?.id).toBe(CLASS_B);
      });

      it("refuses a second class with the same id, naming the id", async () => {
        await store.classes.create(classRecord());
        await expectArgumentError(store.classes.create(classRecord({ code: "XYZ789" })), "id");
        expect(await store.classes.byCode("XYZ789")).toBeNull();
      });

      it("changes a class's state, limits and last broadcast, and answers false for a class that does not exist", async () => {
        const created = classRecord();
        await store.classes.create(created);
        await store.classes.create(classRecord({ id: CLASS_B, code: "XYZ789" }));
        const limits = { memoryBytes: 64 * MiB, memorySwapBytes: 64 * MiB, cpus: 0.25, pids: 32 };
        const broadcast = { text: "Five minutes left", sentAtMs: 9_000 };
        expect(await store.classes.setState(CLASS_A, "closed")).toBe(true);
        expect(await store.classes.setLimits(CLASS_A, limits)).toBe(true);
        expect(await store.classes.setLastBroadcast(CLASS_A, broadcast)).toBe(true);
        expect(await store.classes.get(CLASS_A)).toEqual({ ...created, state: "closed", limits, lastBroadcast: broadcast });
        // The other class is untouched.
        expect(await store.classes.get(CLASS_B)).toEqual(classRecord({ id: CLASS_B, code: "XYZ789" }));
        const newer = { text: "Time is up", sentAtMs: 9_500 };
        expect(await store.classes.setLastBroadcast(CLASS_A, newer)).toBe(true);
        expect((await store.classes.get(CLASS_A))?.lastBroadcast).toEqual(newer);

        expect(await store.classes.setState(MISSING_CLASS, "closed")).toBe(false);
        expect(await store.classes.setLimits(MISSING_CLASS, limits)).toBe(false);
        expect(await store.classes.setLastBroadcast(MISSING_CLASS, broadcast)).toBe(false);
        expect(await store.classes.get(MISSING_CLASS)).toBeNull();
      });

      it("joins a learner once: joining again keeps their member id and join time, and takes the new name", async () => {
        await store.classes.create(classRecord());
        const first = await join(ALICE, 1, { displayName: "Alice", atMs: 2_000 });
        const alice: MemberRecord = { classId: CLASS_A, memberId: member(1), learnerId: ALICE, displayName: "Alice", joinedAtMs: 2_000 };
        expect(first).toEqual({ member: alice, created: true });
        // join() creates the learner it has not seen, at the join's time.
        expect(await store.learners.get(ALICE)).toEqual({ id: ALICE, createdAtMs: 2_000 });
        const again = await join(ALICE, 7, { displayName: "Alice B.", atMs: 3_000 });
        expect(again).toEqual({ member: { ...alice, displayName: "Alice B." }, created: false });
        expect(await store.classes.members(CLASS_A)).toEqual([{ ...alice, displayName: "Alice B." }]);
        expect(await store.classes.member(CLASS_A, member(7))).toBeNull();
        expect(await store.learners.get(ALICE)).toEqual({ id: ALICE, createdAtMs: 2_000 });
      });

      it("joins a learner the store knows already without re-dating them", async () => {
        await store.classes.create(classRecord());
        await store.learners.ensure(BOB, 10);
        expect((await join(BOB, 2, { atMs: 2_000 })).created).toBe(true);
        expect(await store.learners.get(BOB)).toEqual({ id: BOB, createdAtMs: 10 });
      });

      it("refuses a join when every place is taken, storing nothing of it, but lets a member back", async () => {
        await store.classes.create(classRecord({ capacity: 2 }));
        await join(ALICE, 1);
        await join(BOB, 2);
        const error = await rejection(join(CAROL, 3));
        expect(error).toBeInstanceOf(ClassFullError);
        expect((error as ClassFullError).capacity).toBe(2);
        expect((error as Error).message).toBe("the class is full: all 2 places are taken");
        expect(await store.classes.membership(CLASS_A, CAROL)).toBeNull();
        expect(await store.classes.member(CLASS_A, member(3))).toBeNull();
        expect(await store.learners.get(CAROL)).toBeNull();
        expect((await store.classes.members(CLASS_A)).map((m) => m.learnerId)).toEqual([ALICE, BOB]);
        expect((await join(BOB, 9, { displayName: "Bob" })).created).toBe(false);
      });

      it("refuses new learners of a closed or archived class, but lets its members back", async () => {
        await store.classes.create(classRecord());
        await join(ALICE, 1);
        for (const state of ["closed", "archived"] as const) {
          await store.classes.setState(CLASS_A, state);
          const error = await rejection(join(BOB, 2));
          expect(error).toBeInstanceOf(ClassNotOpenError);
          expect((error as ClassNotOpenError).state).toBe(state);
          expect((error as Error).message).toBe(`the class is ${state}: nobody new can join`);
          expect(await store.classes.membership(CLASS_A, BOB)).toBeNull();
          expect(await store.learners.get(BOB)).toBeNull();
          expect(await join(ALICE, 1, { displayName: `Alice, ${state}` })).toMatchObject({ created: false, member: { memberId: member(1), displayName: `Alice, ${state}` } });
        }
        await store.classes.setState(CLASS_A, "open");
        expect((await join(BOB, 2)).created).toBe(true);
      });

      it("refuses a join to a class that does not exist", async () => {
        const error = await rejection(join(ALICE, 1, { classId: MISSING_CLASS }));
        expect(error).toBeInstanceOf(ClassNotOpenError);
        expect((error as ClassNotOpenError).state).toBe("missing");
        expect((error as Error).message).toBe("there is no such class");
        expect(await store.learners.get(ALICE)).toBeNull();
      });

      it("refuses a new member whose member id another member of the class has", async () => {
        await store.classes.create(classRecord());
        await join(ALICE, 1);
        await expectArgumentError(join(BOB, 1), "memberId");
        expect(await store.classes.membership(CLASS_A, BOB)).toBeNull();
        // Member ids are per class: another class may give the same one.
        await store.classes.create(classRecord({ id: CLASS_B, code: "XYZ789" }));
        expect((await join(BOB, 1, { classId: CLASS_B })).created).toBe(true);
      });

      it("lets exactly `capacity` of many joins made at once in, and refuses the rest as full", async () => {
        await store.classes.create(classRecord({ capacity: 3 }));
        await join(ALICE, 1);
        const racers = Array.from({ length: 8 }, (_, index) => (index + 16).toString(16).padStart(32, "0"));
        // Not awaited in between: all eight race for the last two places.
        const calls = racers.map((learnerId, index) => join(learnerId, 100 + index));
        const settled = await Promise.allSettled(calls);
        const joined = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
        const refused = settled.flatMap((s) => (s.status === "rejected" ? [s.reason as unknown] : []));
        expect(joined).toHaveLength(2);
        expect(joined.every((j) => j.created)).toBe(true);
        expect(refused).toHaveLength(6);
        for (const reason of refused) expect(reason).toBeInstanceOf(ClassFullError);
        const members = await store.classes.members(CLASS_A);
        expect(members).toHaveLength(3);
        expect(new Set(members.slice(1).map((m) => m.memberId))).toEqual(new Set(joined.map((j) => j.member.memberId)));
      });

      it("lists a class's members in the order they joined, even in the same millisecond", async () => {
        await store.classes.create(classRecord({ capacity: 10 }));
        const order = [CAROL, ALICE, BOB];
        for (const [index, learnerId] of order.entries()) await join(learnerId, 10 - index, { atMs: 5_000 });
        const members = await store.classes.members(CLASS_A);
        expect(members.map((m) => m.learnerId)).toEqual(order);
        expect(members.map((m) => m.memberId)).toEqual([member(10), member(9), member(8)]);
        expect(await store.classes.member(CLASS_A, member(9))).toEqual(members[1]);
        expect(await store.classes.membership(CLASS_A, BOB)).toEqual(members[2]);
        expect(await store.classes.members(CLASS_B)).toEqual([]);
      });

      it("lists every class a learner joined, the latest join first", async () => {
        await store.classes.create(classRecord({ id: CLASS_A, code: "AAA222" }));
        await store.classes.create(classRecord({ id: CLASS_B, code: "BBB333" }));
        await store.classes.create(classRecord({ id: CLASS_C, code: "CCC444" }));
        await join(ALICE, 1, { classId: CLASS_B, atMs: 10 });
        await join(ALICE, 2, { classId: CLASS_A, atMs: 30 });
        await join(ALICE, 3, { classId: CLASS_C, atMs: 20 });
        await join(BOB, 4, { classId: CLASS_A, atMs: 40 });
        // A rejoin is not a new join: it keeps its place.
        await join(ALICE, 5, { classId: CLASS_B, atMs: 50 });
        expect((await store.classes.membershipsOf(ALICE)).map((m) => [m.classId, m.memberId])).toEqual([
          [CLASS_A, member(2)],
          [CLASS_C, member(3)],
          [CLASS_B, member(1)],
        ]);
        expect(await store.classes.membership(CLASS_B, BOB)).toBeNull();
        expect(await store.classes.membershipsOf(CAROL)).toEqual([]);
      });

      it("reads the class's progress: the steps its members did in its lesson, by member id", async () => {
        await store.classes.create(classRecord({ lesson: LESSON }));
        await store.classes.create(classRecord({ id: CLASS_B, code: "XYZ789", lesson: OTHER_LESSON }));
        // A step done before joining counts: it is the learner's progress in the lesson.
        await store.progress.complete(ALICE, LESSON, "new-netns", 1);
        await join(ALICE, 1);
        await join(BOB, 2);
        await join(ALICE, 3, { classId: CLASS_B });
        await store.progress.complete(ALICE, LESSON, "oom", 5);
        await store.progress.complete(ALICE, OTHER_LESSON, "child-limit", 6);
        // Carol did the lesson but is in neither class.
        await store.progress.complete(CAROL, LESSON, "oom", 7);
        expect(await store.classes.progress(CLASS_A)).toEqual(
          new Map([
            [member(1), new Map([["new-netns", 1], ["oom", 5]])],
            [member(2), new Map()],
          ]),
        );
        expect(await store.classes.progress(CLASS_B)).toEqual(new Map([[member(3), new Map([["child-limit", 6]])]]));
        expect(await store.classes.progress(MISSING_CLASS)).toEqual(new Map());
      });

      it("removes a member from every read, frees their place, and keeps their learner out", async () => {
        await store.classes.create(classRecord({ lesson: LESSON, capacity: 2 }));
        await store.classes.create(classRecord({ id: CLASS_B, code: "XYZ789" }));
        await store.progress.complete(ALICE, LESSON, "oom", 1);
        const alice = await join(ALICE, 1);
        const bob = await join(BOB, 2);
        await join(ALICE, 3, { classId: CLASS_B });
        expect(await rejection(join(CAROL, 4))).toBeInstanceOf(ClassFullError);

        expect(await store.classes.removeMember(CLASS_A, member(1), 3_000)).toBe(true);
        // Once only, and only a member of this class.
        expect(await store.classes.removeMember(CLASS_A, member(1), 3_001)).toBe(false);
        expect(await store.classes.removeMember(CLASS_A, member(9), 3_001)).toBe(false);
        expect(await store.classes.removeMember(MISSING_CLASS, member(2), 3_001)).toBe(false);

        expect(await store.classes.members(CLASS_A)).toEqual([bob.member]);
        expect(await store.classes.member(CLASS_A, member(1))).toBeNull();
        expect(await store.classes.membership(CLASS_A, ALICE)).toBeNull();
        expect((await store.classes.membershipsOf(ALICE)).map((m) => m.classId)).toEqual([CLASS_B]);
        expect(await store.classes.progress(CLASS_A)).toEqual(new Map([[member(2), new Map()]]));
        // Her progress is hers, not the class's: it stays.
        expect(await store.progress.completed(ALICE, LESSON)).toEqual(new Map([["oom", 1]]));

        // The place she held is free: Carol takes it, after Bob in the join order.
        expect((await join(CAROL, 4)).created).toBe(true);
        expect((await store.classes.members(CLASS_A)).map((m) => m.learnerId)).toEqual([BOB, CAROL]);

        // With a place free again (Carol removed too), Alice still cannot come back, under a
        // new member id or another name, and nothing of the attempt is stored.
        await store.classes.removeMember(CLASS_A, member(4), 3_002);
        const refused = await rejection(join(ALICE, 5, { displayName: "Alice again" }));
        expect(refused).toBeInstanceOf(ClassMemberRemovedError);
        expect((refused as ClassMemberRemovedError).memberId).toBe(alice.member.memberId);
        expect(await store.classes.member(CLASS_A, member(5))).toBeNull();
        expect(await store.classes.members(CLASS_A)).toEqual([bob.member]);
        // Even a closed class says so, rather than "closed".
        await store.classes.setState(CLASS_A, "closed");
        expect(await rejection(join(ALICE, 6))).toBeInstanceOf(ClassMemberRemovedError);

        // The row is kept: the log may name her, as her removal is logged.
        await store.classes.addEvent(event({ kind: "remove", memberId: member(1), atMs: 3_000 }));
        expect(await store.classes.events(CLASS_A, 10)).toEqual([event({ kind: "remove", memberId: member(1), atMs: 3_000 })]);
      });

      it("gives a class a new join code, refusing one another class has", async () => {
        await store.classes.create(classRecord());
        await store.classes.create(classRecord({ id: CLASS_B, code: "XYZ789" }));
        expect(await store.classes.setCode(CLASS_A, "NEW234")).toBe(true);
        expect(await store.classes.byCode("ABC234")).toBeNull();
        expect(await store.classes.byCode("NEW234")).toEqual(classRecord({ code: "NEW234" }));
        // The old code is free for another class.
        expect(await store.classes.setCode(CLASS_B, "ABC234")).toBe(true);
        expect((await store.classes.byCode("ABC234"))?.id).toBe(CLASS_B);

        const error = await rejection(store.classes.setCode(CLASS_A, "ABC234"));
        expect(error).toBeInstanceOf(ClassCodeTakenError);
        expect((error as ClassCodeTakenError).code).toBe("ABC234");
        expect((await store.classes.get(CLASS_A))?.code).toBe("NEW234");
        // Its own code again is no clash.
        expect(await store.classes.setCode(CLASS_A, "NEW234")).toBe(true);
        expect(await store.classes.setCode(MISSING_CLASS, "QRS567")).toBe(false);
      });

      it("keeps a class's events in the order they were added and answers the newest `limit`, oldest first", async () => {
        await store.classes.create(classRecord());
        await store.classes.create(classRecord({ id: CLASS_B, code: "XYZ789" }));
        await join(ALICE, 1);
        const added = [
          event({ kind: "join", memberId: member(1), atMs: 10 }),
          event({ kind: "step", memberId: member(1), detail: "new-netns", atMs: 20 }),
          // Added later, though dated earlier: the log keeps the order of adding.
          event({ kind: "oom", memberId: member(1), detail: "memory.max 256m", atMs: 15 }),
          event({ kind: "broadcast", detail: "Five minutes left", atMs: 30 }),
          event({ kind: "state", detail: "closed", atMs: 40 }),
        ];
        for (const one of added) await store.classes.addEvent(one);
        await store.classes.addEvent(event({ classId: CLASS_B, kind: "limits", detail: "x".repeat(EVENT_DETAIL_MAX), atMs: 50 }));
        expect(await store.classes.events(CLASS_A, 100)).toEqual(added);
        // "All of them", as the dashboard asks for them.
        expect(await store.classes.events(CLASS_A, Number.MAX_SAFE_INTEGER)).toEqual(added);
        expect(await store.classes.events(CLASS_A, 2)).toEqual(added.slice(3));
        expect(await store.classes.events(CLASS_A, 0)).toEqual([]);
        expect(await store.classes.events(CLASS_B, 10)).toEqual([event({ classId: CLASS_B, kind: "limits", detail: "x".repeat(EVENT_DETAIL_MAX), atMs: 50 })]);
        expect(await store.classes.events(CLASS_C, 10)).toEqual([]);
      });

      it("refuses an event of a class or a member that does not exist, naming which", async () => {
        await store.classes.create(classRecord());
        await store.classes.create(classRecord({ id: CLASS_B, code: "XYZ789" }));
        await store.classes.join({ classId: CLASS_B, learnerId: ALICE, memberId: member(1), displayName: "Alice", atMs: 1 });
        await expectArgumentError(store.classes.addEvent(event({ classId: MISSING_CLASS })), "classId");
        // A member of another class is not a member of this one.
        await expectArgumentError(store.classes.addEvent(event({ memberId: member(1) })), "memberId");
        expect(await store.classes.events(CLASS_A, 10)).toEqual([]);
      });

      it("rejects arguments no class, member or event could have, naming the field, and stores nothing", async () => {
        const bad: Array<[Partial<ClassRecord>, string]> = [
          [{ id: "C1A55000000000A1" }, "id"],
          [{ id: "c1a55" }, "id"],
          [{ code: "abc234" }, "code"],
          [{ code: "ABC23O" }, "code"],
          [{ name: "" }, "name"],
          [{ name: "n".repeat(81) }, "name"],
          [{ lesson: "Not A Lesson" }, "lesson"],
          [{ limits: { memoryBytes: 0, memorySwapBytes: -1, cpus: 1, pids: -1 } }, "limits.memoryBytes"],
          [{ limits: { memoryBytes: MiB, memorySwapBytes: -2, cpus: 1, pids: -1 } }, "limits.memorySwapBytes"],
          [{ limits: { memoryBytes: MiB, memorySwapBytes: -1, cpus: 0, pids: -1 } }, "limits.cpus"],
          [{ limits: { memoryBytes: MiB, memorySwapBytes: -1, cpus: 1e-10, pids: -1 } }, "limits.cpus"],
          [{ limits: { memoryBytes: MiB, memorySwapBytes: -1, cpus: 1, pids: 1.5 } }, "limits.pids"],
          [{ capacity: 0 }, "capacity"],
          [{ capacity: 2.5 }, "capacity"],
          [{ reconnectGraceS: -1 }, "reconnectGraceS"],
          [{ sessionLifetimeS: 2 ** 31 }, "sessionLifetimeS"],
          [{ idleTimeoutS: Number.NaN }, "idleTimeoutS"],
          [{ state: "paused" as ClassRecord["state"] }, "state"],
          [{ createdAtMs: -1 }, "createdAtMs"],
          [{ lastBroadcast: { text: "", sentAtMs: 1 } }, "lastBroadcast.text"],
          [{ lastBroadcast: { text: "m".repeat(501), sentAtMs: 1 } }, "lastBroadcast.text"],
          [{ lastBroadcast: { text: "Hello", sentAtMs: 1.5 } }, "lastBroadcast.sentAtMs"],
        ];
        for (const [overrides, field] of bad) await expectArgumentError(store.classes.create(classRecord(overrides)), field);
        expect(await store.classes.list()).toEqual([]);

        await store.classes.create(classRecord());
        const limits = classRecord().limits;
        for (const badId of ["", MISSING_CLASS.slice(1), "G000000000000000"]) {
          await expectArgumentError(store.classes.get(badId), "classId");
          await expectArgumentError(store.classes.setState(badId, "open"), "classId");
          await expectArgumentError(store.classes.setCode(badId, "XYZ789"), "classId");
          await expectArgumentError(store.classes.removeMember(badId, member(1), 1), "classId");
          await expectArgumentError(store.classes.setLimits(badId, limits), "classId");
          await expectArgumentError(store.classes.setLastBroadcast(badId, { text: "Hi", sentAtMs: 1 }), "classId");
          await expectArgumentError(store.classes.members(badId), "classId");
          await expectArgumentError(store.classes.member(badId, member(1)), "classId");
          await expectArgumentError(store.classes.membership(badId, ALICE), "classId");
          await expectArgumentError(store.classes.progress(badId), "classId");
          await expectArgumentError(store.classes.events(badId, 1), "classId");
          await expectArgumentError(store.classes.addEvent(event({ classId: badId })), "classId");
        }
        await expectArgumentError(store.classes.byCode("abc-234"), "code");
        await expectArgumentError(store.classes.setState(CLASS_A, "gone" as ClassRecord["state"]), "state");
        await expectArgumentError(store.classes.setLimits(CLASS_A, { ...limits, cpus: -0.5 }), "limits.cpus");
        await expectArgumentError(store.classes.setLastBroadcast(CLASS_A, { text: "", sentAtMs: 1 }), "broadcast.text");
        await expectArgumentError(store.classes.member(CLASS_A, "1"), "memberId");
        await expectArgumentError(store.classes.removeMember(CLASS_A, "1", 1), "memberId");
        await expectArgumentError(store.classes.removeMember(CLASS_A, member(1), -1), "atMs");
        await expectArgumentError(store.classes.setCode(CLASS_A, "abc234"), "code");
        await expectArgumentError(store.classes.setCode(CLASS_A, "ABC23O"), "code");
        await expectArgumentError(store.classes.membership(CLASS_A, "not-a-learner"), "learnerId");
        await expectArgumentError(store.classes.membershipsOf(ALICE.toUpperCase()), "learnerId");
        await expectArgumentError(store.classes.events(CLASS_A, -1), "limit");
        await expectArgumentError(store.classes.events(CLASS_A, 1.5), "limit");

        const request = { classId: CLASS_A, learnerId: ALICE, memberId: member(1), displayName: "Alice", atMs: 1 };
        await expectArgumentError(store.classes.join({ ...request, classId: "x" }), "classId");
        await expectArgumentError(store.classes.join({ ...request, learnerId: "x" }), "learnerId");
        await expectArgumentError(store.classes.join({ ...request, memberId: member(1).toUpperCase().replace("0", "A") }), "memberId");
        await expectArgumentError(store.classes.join({ ...request, displayName: "" }), "displayName");
        await expectArgumentError(store.classes.join({ ...request, displayName: "d".repeat(41) }), "displayName");
        await expectArgumentError(store.classes.join({ ...request, atMs: -5 }), "atMs");
        // A name of exactly 40 characters is fine.
        expect((await store.classes.join({ ...request, displayName: "d".repeat(40) })).member.displayName).toBe("d".repeat(40));

        await expectArgumentError(store.classes.addEvent(event({ kind: "party" as ClassEvent["kind"] })), "kind");
        await expectArgumentError(store.classes.addEvent(event({ memberId: "zz" })), "memberId");
        await expectArgumentError(store.classes.addEvent(event({ atMs: 0.5 })), "atMs");
        await expectArgumentError(store.classes.addEvent(event({ detail: "x".repeat(EVENT_DETAIL_MAX + 1) })), "detail");

        // Nothing of the refused calls was stored.
        expect(await store.classes.get(CLASS_A)).toEqual(classRecord());
        expect(await store.classes.events(CLASS_A, 10)).toEqual([]);
        expect((await store.classes.members(CLASS_A)).map((m) => m.displayName)).toEqual(["d".repeat(40)]);
      });
    });

    describe("instructor sessions", () => {
      it("knows a session until it expires, and forgets it once revoked", async () => {
        await store.instructorSessions.create(HASH_1, 1_000, 2_000);
        expect(await store.instructorSessions.valid(HASH_1, 1_000)).toBe(true);
        expect(await store.instructorSessions.valid(HASH_1, 1_999)).toBe(true);
        // Expired at its expiry time.
        expect(await store.instructorSessions.valid(HASH_1, 2_000)).toBe(false);
        expect(await store.instructorSessions.valid(HASH_2, 1_500)).toBe(false);
        expect(await store.instructorSessions.revoke(HASH_1)).toBe(true);
        expect(await store.instructorSessions.valid(HASH_1, 1_500)).toBe(false);
        expect(await store.instructorSessions.revoke(HASH_1)).toBe(false);
        expect(await store.instructorSessions.revoke(HASH_2)).toBe(false);
      });

      it("prunes the sessions expired at the time given, and says how many", async () => {
        await store.instructorSessions.create(HASH_1, 0, 2_000);
        await store.instructorSessions.create(HASH_2, 0, 3_000);
        await store.instructorSessions.create(HASH_3, 0, 5_000);
        expect(await store.instructorSessions.prune(1_000)).toBe(0);
        expect(await store.instructorSessions.prune(3_000)).toBe(2);
        expect(await store.instructorSessions.prune(3_000)).toBe(0);
        expect(await store.instructorSessions.valid(HASH_3, 3_000)).toBe(true);
        // A pruned session is gone, not merely expired: nothing is left to revoke.
        expect(await store.instructorSessions.revoke(HASH_2)).toBe(false);
        expect(await store.instructorSessions.revoke(HASH_3)).toBe(true);
      });

      it("rejects a token hash that is not SHA-256 in hex, impossible times, and a token used twice", async () => {
        for (const bad of ["", "1".repeat(63), "A".repeat(64), "g".repeat(64), "1".repeat(65)]) {
          await expectArgumentError(store.instructorSessions.create(bad, 1, 2), "tokenHash");
          await expectArgumentError(store.instructorSessions.valid(bad, 1), "tokenHash");
          await expectArgumentError(store.instructorSessions.revoke(bad), "tokenHash");
        }
        await expectArgumentError(store.instructorSessions.create(HASH_1, -1, 2), "createdAtMs");
        await expectArgumentError(store.instructorSessions.create(HASH_1, 1, 2.5), "expiresAtMs");
        await expectArgumentError(store.instructorSessions.create(HASH_1, 10, 5), "expiresAtMs");
        await expectArgumentError(store.instructorSessions.valid(HASH_1, -1), "nowMs");
        await expectArgumentError(store.instructorSessions.prune(Number.NaN), "nowMs");
        expect(await store.instructorSessions.valid(HASH_1, 1)).toBe(false);
        await store.instructorSessions.create(HASH_1, 1, 100);
        await expectArgumentError(store.instructorSessions.create(HASH_1, 2, 200), "tokenHash");
        // The first one stands as it was.
        expect(await store.instructorSessions.valid(HASH_1, 150)).toBe(false);
        expect(await store.instructorSessions.valid(HASH_1, 50)).toBe(true);
      });
    });
  });
}
