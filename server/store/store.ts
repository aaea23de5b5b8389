// What nslab keeps about learners, as interfaces every database implements: SQLite today
// (sqlite-store.ts), PostgreSQL later. Every method is async. PostgreSQL can only answer that
// way, and SQLite's writes go through a queue that keeps them out of the probe tick that ticks a
// lab step. store-contract.ts holds the tests every implementation must pass.
//
// A Store is a set of member stores, one per concept. The classroom (classes, join codes, class
// memberships, events) will join as further members beside `learners` and `progress`, with
// tables added by new migrations. Adding them changes none of the interfaces below.
//
// Ids are checked here, not only where they come from (the cookie, a frame). A store answers
// for what it keeps, and a bad id is a bug of the caller, so it is an error, not a result.

import { LabStep } from "../../common/lab-steps";
import { LessonSlug } from "../../common/lesson";
import type { StepProgress } from "../../common/protocol";

/** An anonymous learner's id, as the nslab_learner cookie carries it: 128 random bits in hex. */
export const LEARNER_ID_PATTERN = /^[0-9a-f]{32}$/;

/** Writes waiting for the database, at most, before a store refuses more (see StoreOverloadedError). */
export const MAX_PENDING_WRITES = 10_000;

export interface Learner {
  id: string;
  /** When the store first heard of the learner, in milliseconds since the epoch. */
  createdAtMs: number;
}

export interface LearnerStore {
  /** Records the learner as created at `atMs` unless they are known already. True when this
   *  call created them. */
  ensure(learnerId: string, atMs: number): Promise<boolean>;
  get(learnerId: string): Promise<Learner | null>;
}

/**
 * Lab steps done, per learner and lesson. A step is stored once, the first time its check
 * holds, and never undone: the first completion time wins.
 */
export interface ProgressStore {
  /** Records the step as done at `atMs` (creating the learner if needed). True when this call
   *  recorded it, false when it was done already. */
  complete(learnerId: string, lesson: string, stepId: string, atMs: number): Promise<boolean>;
  /** When each done step of the lesson was done, by step id. */
  completed(learnerId: string, lesson: string): Promise<Map<string, number>>;
  /** The given steps in the given order, each done or not. */
  progress(learnerId: string, lesson: string, stepIds: readonly string[]): Promise<StepProgress[]>;
  /** Every done step of the learner: lesson → step id → when. */
  allCompleted(learnerId: string): Promise<Map<string, Map<string, number>>>;
}

export interface Store {
  readonly learners: LearnerStore;
  readonly progress: ProgressStore;
  /** Writes every queued write, then closes. Safe to call twice. Any call after it rejects. */
  close(): Promise<void>;
}

/** An argument no stored row could have: a bug of the caller. `field` names the argument. */
export class StoreArgumentError extends Error {
  override name = "StoreArgumentError";
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

export class StoreClosedError extends Error {
  override name = "StoreClosedError";
  constructor() {
    super("the store is closed: nothing can be read or written any more");
  }
}

/** More writes are waiting than the store will hold: the database cannot keep up. The write
 *  was not queued; the caller logs it and carries on, as for any failed write. */
export class StoreOverloadedError extends Error {
  override name = "StoreOverloadedError";
  constructor(readonly pendingWrites: number) {
    super(`the progress store is overloaded; ${pendingWrites} writes are already waiting for the database, so this one was refused`);
  }
}

// The checks every implementation makes of its arguments before it queues or runs anything,
// with the alphabets of the protocol and the lesson schemas.

const STEP_ID = LabStep.shape.id;

export function checkLearnerId(learnerId: string): void {
  if (typeof learnerId !== "string" || !LEARNER_ID_PATTERN.test(learnerId)) {
    throw new StoreArgumentError("learnerId", `${JSON.stringify(learnerId)} is not a learner id (32 lowercase hex digits)`);
  }
}

export function checkLesson(lesson: string): void {
  if (!LessonSlug.safeParse(lesson).success) throw new StoreArgumentError("lesson", `${JSON.stringify(lesson)} is not a lesson slug`);
}

export function checkStepId(stepId: string, field = "stepId"): void {
  if (!STEP_ID.safeParse(stepId).success) throw new StoreArgumentError(field, `${JSON.stringify(stepId)} is not a lab step id`);
}

export function checkTimeMs(atMs: number): void {
  if (!Number.isSafeInteger(atMs) || atMs < 0) throw new StoreArgumentError("atMs", `${atMs} is not a time in whole milliseconds since the epoch`);
}
