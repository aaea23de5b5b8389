// The tests every Store implementation must pass, whatever database is behind it. An
// implementation's own test file calls describeStoreContract once per way it can be opened,
// then adds the tests only it needs (migrations of its own format, its queue).
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { type Store, StoreArgumentError, StoreClosedError } from "./store";

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
  });
}
