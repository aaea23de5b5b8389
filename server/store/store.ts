// What nslab keeps about learners, as interfaces every database implements: SQLite, embedded
// (sqlite-store.ts), and PostgreSQL, shared by the nodes of a cluster (pg-store.ts). Every
// method is async. PostgreSQL can only answer that way, and both stores' writes go through a
// queue that keeps them out of the probe tick that ticks a lab step. store-contract.ts holds the
// tests every implementation must pass.
//
// A Store is a set of member stores, one per concept: learners, their progress, the classroom's
// classes (with their members and event log), and the instructor's login sessions. Each new
// concept joins as a member with tables of its own added by a new migration.
//
// Ids are checked here, not only where they come from (the cookie, a frame). A store answers
// for what it keeps, and a bad id is a bug of the caller, so it is an error, not a result.

import {
  BROADCAST_MAX,
  type Broadcast,
  CLASS_NAME_MAX,
  ClassId,
  ClassState,
  DISPLAY_NAME_MAX,
  JoinCode,
  MemberId,
} from "../../common/classroom";
import { LabStep } from "../../common/lab-steps";
import { LessonSlug } from "../../common/lesson";
import { Limits } from "../../common/limits";
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

/** A class as the store keeps it. Times in milliseconds since the epoch. */
export interface ClassRecord {
  id: string;
  code: string;
  name: string;
  lesson: string;
  limits: Limits;
  capacity: number;
  reconnectGraceS: number;
  sessionLifetimeS: number;
  idleTimeoutS: number;
  state: ClassState;
  createdAtMs: number;
  lastBroadcast: Broadcast | null;
}

/** A learner in a class: the learner's cookie id, and the member id the instructor sees. */
export interface MemberRecord {
  classId: string;
  memberId: string;
  learnerId: string;
  displayName: string;
  joinedAtMs: number;
}

export const CLASS_EVENT_KINDS = ["join", "step", "reset", "end", "oom", "broadcast", "limits", "state", "remove", "code"] as const;
export type ClassEventKind = (typeof CLASS_EVENT_KINDS)[number];

/** One line of a class's event log. `detail` is a short text (a step id, a reason, a message). */
export interface ClassEvent {
  classId: string;
  atMs: number;
  kind: ClassEventKind;
  memberId: string | null;
  detail: string;
}

/** The most events one class keeps: past it, the oldest are dropped as new ones come. */
export const MAX_EVENTS_PER_CLASS = 20_000;

/** The longest `detail` an event may have; callers shorten longer texts before adding them. */
export const EVENT_DETAIL_MAX = 1_000;

/** A learner joining a class (ClassStore.join). */
export interface JoinRequest {
  classId: string;
  learnerId: string;
  memberId: string;
  displayName: string;
  atMs: number;
}

export interface ClassStore {
  /** Stores a new class. Rejects with ClassCodeTakenError when another class has its code
   *  (the caller draws another), StoreArgumentError for a bad field. */
  create(record: ClassRecord): Promise<void>;
  get(classId: string): Promise<ClassRecord | null>;
  /** The class with this join code, whatever its state. `code` must be a JoinCode (what a
   *  learner typed is checked against JoinCode first; anything else is a StoreArgumentError). */
  byCode(code: string): Promise<ClassRecord | null>;
  /** Every class, newest first. */
  list(): Promise<ClassRecord[]>;
  /** False when there is no such class. */
  setState(classId: string, state: ClassState): Promise<boolean>;
  /** A new join code for the class: the old one stops finding it at once. Rejects with
   *  ClassCodeTakenError when another class has the code (the caller draws another). False
   *  when there is no such class. */
  setCode(classId: string, code: string): Promise<boolean>;
  setLimits(classId: string, limits: Limits): Promise<boolean>;
  setLastBroadcast(classId: string, broadcast: Broadcast): Promise<boolean>;
  /**
   * The learner joins the class under `displayName` as member `memberId` (creating the
   * learner if needed), checked and done in one transaction: a learner already in the class
   * stays the member they were (their name is updated, `created` is false); a learner the
   * instructor removed stays out (ClassMemberRemovedError); otherwise the class must be open
   * (ClassNotOpenError) and have room (ClassFullError), removed members taking none.
   */
  join(request: JoinRequest): Promise<{ member: MemberRecord; created: boolean }>;
  /**
   * The instructor removes the member at `atMs`: from then on they are in none of the reads
   * below, their place is free, and their learner cannot join the class again. The row is
   * kept, marked, because the class's event log refers to it. False when the class has no
   * such member, or they were removed already.
   */
  removeMember(classId: string, memberId: string, atMs: number): Promise<boolean>;
  member(classId: string, memberId: string): Promise<MemberRecord | null>;
  /** The learner's membership of this class, if they joined it. */
  membership(classId: string, learnerId: string): Promise<MemberRecord | null>;
  /** The class's members, in the order they joined. */
  members(classId: string): Promise<MemberRecord[]>;
  /** Every class the learner joined, the latest join first. */
  membershipsOf(learnerId: string): Promise<MemberRecord[]>;
  /** The lab steps the class's members did in the class's lesson, by member id: every member,
   *  with an empty map for one who did none, and steps done before joining counted. */
  progress(classId: string): Promise<Map<string, Map<string, number>>>;
  /** Appends to the class's event log (bounded: MAX_EVENTS_PER_CLASS). Its member may be a
   *  removed one: their removal is logged with their id. */
  addEvent(event: ClassEvent): Promise<void>;
  /** The newest `limit` events of the class, oldest first. */
  events(classId: string, limit: number): Promise<ClassEvent[]>;
}

/** The instructor's login sessions, by the SHA-256 (hex) of the cookie's token. */
export interface InstructorSessionStore {
  create(tokenHash: string, createdAtMs: number, expiresAtMs: number): Promise<void>;
  /** Whether the session exists and has not expired at `nowMs`. */
  valid(tokenHash: string, nowMs: number): Promise<boolean>;
  /** Logs the session out; true when there was one. */
  revoke(tokenHash: string): Promise<boolean>;
  /** Forgets every session expired at `nowMs`; how many. */
  prune(nowMs: number): Promise<number>;
}

export interface Store {
  readonly learners: LearnerStore;
  readonly progress: ProgressStore;
  readonly classes: ClassStore;
  readonly instructorSessions: InstructorSessionStore;
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

export class ClassCodeTakenError extends Error {
  override name = "ClassCodeTakenError";
  constructor(readonly code: string) {
    super(`another class already has the join code ${code}`);
  }
}

export class ClassFullError extends Error {
  override name = "ClassFullError";
  constructor(readonly capacity: number) {
    super(`the class is full: all ${capacity} places are taken`);
  }
}

/** The learner was a member of the class and the instructor removed them: they cannot join
 *  it again, whatever its state or room. */
export class ClassMemberRemovedError extends Error {
  override name = "ClassMemberRemovedError";
  constructor(readonly memberId: string) {
    super(`the instructor removed this learner (member ${memberId}) from the class; they cannot join it again`);
  }
}

export class ClassNotOpenError extends Error {
  override name = "ClassNotOpenError";
  constructor(readonly state: ClassState | "missing") {
    super(state === "missing" ? "there is no such class" : `the class is ${state}: nobody new can join`);
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

export function checkTimeMs(atMs: number, field = "atMs"): void {
  if (!Number.isSafeInteger(atMs) || atMs < 0) throw new StoreArgumentError(field, `${atMs} is not a time in whole milliseconds since the epoch`);
}

/** The largest value of an INTEGER column: PostgreSQL's INTEGER is 32 bits. */
const INTEGER_MAX = 2 ** 31 - 1;

function checkWholeNumber(value: number, field: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > INTEGER_MAX) {
    throw new StoreArgumentError(field, `${value} is not a whole number from ${min} to ${INTEGER_MAX}`);
  }
}

function checkPattern(value: string, field: string, schema: typeof ClassId, what: string): void {
  if (!schema.safeParse(value).success) throw new StoreArgumentError(field, `${JSON.stringify(value)} is not ${what}`);
}

export function checkClassId(classId: string, field = "classId"): void {
  checkPattern(classId, field, ClassId, "a class id (16 lowercase hex digits)");
}

export function checkMemberId(memberId: string, field = "memberId"): void {
  checkPattern(memberId, field, MemberId, "a member id (16 lowercase hex digits)");
}

export function checkJoinCode(code: string, field = "code"): void {
  checkPattern(code, field, JoinCode, "a join code (6 capitals and digits of JOIN_CODE_ALPHABET)");
}

/** Text a person typed, as the classroom's schemas left it: the store keeps it, never tidies it. */
function checkText(text: string, field: string, min: number, max: number): void {
  if (typeof text !== "string" || text.length < min || text.length > max) {
    const found = typeof text === "string" ? `${text.length} characters long` : `a ${typeof text}, not text`;
    throw new StoreArgumentError(field, `${found}; it must be ${min} to ${max} characters long`);
  }
}

export function checkDisplayName(displayName: string, field = "displayName"): void {
  checkText(displayName, field, 1, DISPLAY_NAME_MAX);
}

export function checkClassState(state: ClassState, field = "state"): void {
  if (!ClassState.safeParse(state).success) throw new StoreArgumentError(field, `${JSON.stringify(state)} is not one of ${ClassState.options.join(", ")}`);
}

/** Nano-CPUs per CPU: limits keep `cpus` as docker's NanoCpus, a whole number that every
 *  database reads back exactly (migration 2's nano_cpus). */
export const NANO_CPUS_PER_CPU = 1e9;

export function checkLimits(limits: Limits, field = "limits"): void {
  const parsed = Limits.safeParse(limits);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue && issue.path.length > 0 ? `${field}.${issue.path.join(".")}` : field;
    throw new StoreArgumentError(at, issue?.message ?? "is not a set of limits");
  }
  const nanoCpus = Math.round(limits.cpus * NANO_CPUS_PER_CPU);
  if (!Number.isSafeInteger(nanoCpus) || nanoCpus < 1 || nanoCpus / NANO_CPUS_PER_CPU !== limits.cpus) {
    throw new StoreArgumentError(`${field}.cpus`, `${limits.cpus} is not a whole number of nano-CPUs (docker's --cpus has at most 9 decimal places)`);
  }
}

export function checkBroadcast(broadcast: Broadcast, field = "broadcast"): void {
  if (typeof broadcast !== "object" || broadcast === null) throw new StoreArgumentError(field, "is not a broadcast ({ text, sentAtMs })");
  checkText(broadcast.text, `${field}.text`, 1, BROADCAST_MAX);
  checkTimeMs(broadcast.sentAtMs, `${field}.sentAtMs`);
}

/** Every field of a class, named as ClassRecord names it. */
export function checkClassRecord(record: ClassRecord): void {
  checkClassId(record.id, "id");
  checkJoinCode(record.code);
  checkText(record.name, "name", 1, CLASS_NAME_MAX);
  checkLesson(record.lesson);
  checkLimits(record.limits);
  checkWholeNumber(record.capacity, "capacity", 1);
  checkWholeNumber(record.reconnectGraceS, "reconnectGraceS", 0);
  checkWholeNumber(record.sessionLifetimeS, "sessionLifetimeS", 0);
  checkWholeNumber(record.idleTimeoutS, "idleTimeoutS", 0);
  checkClassState(record.state);
  checkTimeMs(record.createdAtMs, "createdAtMs");
  if (record.lastBroadcast !== null) checkBroadcast(record.lastBroadcast, "lastBroadcast");
}

function isClassEventKind(kind: string): kind is ClassEventKind {
  return (CLASS_EVENT_KINDS as readonly string[]).includes(kind);
}

export function checkClassEventKind(kind: string, field = "kind"): asserts kind is ClassEventKind {
  if (typeof kind !== "string" || !isClassEventKind(kind)) throw new StoreArgumentError(field, `${JSON.stringify(kind)} is not one of ${CLASS_EVENT_KINDS.join(", ")}`);
}

export function checkClassEvent(event: ClassEvent): void {
  checkClassId(event.classId);
  checkTimeMs(event.atMs);
  checkClassEventKind(event.kind);
  if (event.memberId !== null) checkMemberId(event.memberId);
  checkText(event.detail, "detail", 0, EVENT_DETAIL_MAX);
}

export function checkJoinRequest(request: JoinRequest): void {
  checkClassId(request.classId);
  checkLearnerId(request.learnerId);
  checkMemberId(request.memberId);
  checkDisplayName(request.displayName);
  checkTimeMs(request.atMs);
}

export function checkEventLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new StoreArgumentError("limit", `${limit} is not a whole number of events (0 or more)`);
}

/** An instructor session's key: the SHA-256 of its cookie's token, in hex. */
export const TOKEN_HASH_PATTERN = /^[0-9a-f]{64}$/;

export function checkTokenHash(tokenHash: string): void {
  if (typeof tokenHash !== "string" || !TOKEN_HASH_PATTERN.test(tokenHash)) {
    throw new StoreArgumentError("tokenHash", `${JSON.stringify(tokenHash)} is not a SHA-256 in hex (64 lowercase hex digits)`);
  }
}
