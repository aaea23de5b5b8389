// What the two stores' own test files (sqlite-store.test.ts, pg-store.test.ts) share: the ids
// and the class they write, and the tests of their write queues that are the same for both but
// for how the test looks at the database behind the store. What every store must do, seen
// only through the Store interface, is store-contract.ts's.
import { expect } from "vitest";

import { MiB } from "../../common/limits";
import { ClassFullError, ClassNotOpenError, type ClassRecord, type Store } from "./store";

export const LEARNER = "0123456789abcdef0123456789abcdef";
export const STRANGER = "ffffffffffffffffffffffffffffffff";
export const CLASS = "00000000000000c1";
export const OTHER_CLASS = "00000000000000c2";
export const MEMBER = "000000000000000a";
export const OTHER_MEMBER = "000000000000000b";

/** The class CLASS, open, with room for 30; `overrides` changes any of it. */
export function classRecord(overrides: Partial<ClassRecord> = {}): ClassRecord {
  return {
    id: CLASS,
    code: "ABC234",
    name: "Containers, Tuesday",
    lesson: "containers-vs-vms",
    limits: { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 1, pids: 128 },
    capacity: 30,
    reconnectGraceS: 300,
    sessionLifetimeS: 10_800,
    idleTimeoutS: 1_800,
    state: "open",
    createdAtMs: 1,
    lastBroadcast: null,
    ...overrides,
  };
}

/** Proves, on a store with nothing in it yet, that join() writes nothing inside the call, and
 *  that a refused join fails only itself: a join that fits, one the class is too full for and
 *  one into a missing class are queued together with a step and an event, and all but the two
 *  refused are stored. `countMembers` counts class_members' rows through the test's own
 *  connection, as the store cannot be asked before its queue is written. */
export async function expectRefusedJoinsFailAlone(store: Store, countMembers: () => Promise<number | null | undefined> | number | undefined): Promise<void> {
  await store.classes.create(classRecord({ capacity: 1 }));
  const first = store.classes.join({ classId: CLASS, learnerId: LEARNER, memberId: MEMBER, displayName: "Ada", atMs: 1 });
  const full = store.classes.join({ classId: CLASS, learnerId: STRANGER, memberId: OTHER_MEMBER, displayName: "Bea", atMs: 2 });
  const missing = store.classes.join({ classId: OTHER_CLASS, learnerId: STRANGER, memberId: OTHER_MEMBER, displayName: "Bea", atMs: 3 });
  const step = store.progress.complete(STRANGER, "containers-vs-vms", "oom", 4);
  const event = store.classes.addEvent({ classId: CLASS, atMs: 5, kind: "join", memberId: MEMBER, detail: "" });
  expect(await countMembers()).toBe(0);
  expect((await first).created).toBe(true);
  await expect(full).rejects.toBeInstanceOf(ClassFullError);
  await expect(missing).rejects.toBeInstanceOf(ClassNotOpenError);
  expect(await step).toBe(true);
  await event;
  expect(await countMembers()).toBe(1);
  // The learner the refused joins would have created exists only through the step.
  expect(await store.learners.get(STRANGER)).toEqual({ id: STRANGER, createdAtMs: 4 });
  expect(await store.classes.events(CLASS, 10)).toEqual([{ classId: CLASS, atMs: 5, kind: "join", memberId: MEMBER, detail: "" }]);
}
