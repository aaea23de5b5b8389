// The rows of migrations.ts's tables as the stores read and write them, and the mappers between
// those rows and the records of store.ts. sqlite-store.ts and pg-store.ts share one schema, so
// a row means the same from either database and one mapper serves both; what stays in each
// store is its SQL dialect and its driver.
//
// The drivers differ in one way that reaches the rows: a BIGINT column comes from better-sqlite3
// as a number, and from node-postgres as text (a JavaScript number cannot hold every BIGINT).
// So each row type takes the type its BIGINT columns come as (`Big`), and rowReaders() takes
// the function that turns one into a number. INTEGER columns are numbers from both drivers.
import { ClassState } from "../../common/classroom";
import type { Limits } from "../../common/limits";
import { CLASS_EVENT_KINDS, type ClassEvent, type ClassEventKind, type ClassRecord, type Learner, type MemberRecord, NANO_CPUS_PER_CPU } from "./store";

/** The columns of classes, in the order classColumnValues() gives a record's values. */
export const CLASS_COLUMNS =
  "id, code, name, lesson, memory_bytes, memory_swap_bytes, nano_cpus, pids_limit, capacity, reconnect_grace_s, session_lifetime_s, idle_timeout_s, state, created_at_ms, broadcast_text, broadcast_sent_at_ms";

export const MEMBER_COLUMNS = "class_id, member_id, learner_id, display_name, joined_at_ms";

export interface LearnerRow<Big> {
  id: string;
  created_at_ms: Big;
}

export interface ClassRow<Big> {
  id: string;
  code: string;
  name: string;
  lesson: string;
  memory_bytes: Big;
  memory_swap_bytes: Big;
  nano_cpus: Big;
  pids_limit: Big;
  capacity: number;
  reconnect_grace_s: number;
  session_lifetime_s: number;
  idle_timeout_s: number;
  state: string;
  created_at_ms: Big;
  broadcast_text: string | null;
  broadcast_sent_at_ms: Big | null;
}

export interface MemberRow<Big> {
  class_id: string;
  member_id: string;
  learner_id: string;
  display_name: string;
  joined_at_ms: Big;
}

export interface EventRow<Big> {
  class_id: string;
  at_ms: Big;
  kind: string;
  member_id: string | null;
  detail: string;
}

/** A step a learner did, from step_progress. */
export interface StepRow<Big> {
  step_id: string;
  completed_at_ms: Big;
}

/** A member with a step they did in the class's lesson; a member who did none comes once,
 *  with NULLs (the LEFT JOIN of a class's progress query). */
export interface MemberStepRow<Big> {
  member_id: string;
  step_id: string | null;
  completed_at_ms: Big | null;
}

/** A class's limits as its four columns: memory_bytes, memory_swap_bytes, nano_cpus, pids_limit.
 *  CPUs are stored as docker's whole NanoCpus, so that 0.3 reads back as 0.3 (migration 2). */
export function limitsColumns(limits: Limits): [number, number, number, number] {
  return [limits.memoryBytes, limits.memorySwapBytes, Math.round(limits.cpus * NANO_CPUS_PER_CPU), limits.pids];
}

/** A record's values for INSERT INTO classes (CLASS_COLUMNS), in that order: kept beside the
 *  list so that the two cannot drift apart. */
export function classColumnValues(record: ClassRecord): Array<string | number | null> {
  const broadcast = record.lastBroadcast;
  return [
    record.id,
    record.code,
    record.name,
    record.lesson,
    ...limitsColumns(record.limits),
    record.capacity,
    record.reconnectGraceS,
    record.sessionLifetimeS,
    record.idleTimeoutS,
    record.state,
    record.createdAtMs,
    broadcast?.text ?? null,
    broadcast?.sentAtMs ?? null,
  ];
}

function storedEventKind(kind: string): ClassEventKind {
  const known = CLASS_EVENT_KINDS.find((k) => k === kind);
  if (!known) throw new Error(`class_events holds an event of kind ${JSON.stringify(kind)}, which no nslab writes`);
  return known;
}

/** The mappers from rows to records, for a driver whose BIGINT columns come as `Big`. Plain
 *  functions (no `this`), so that they can be handed to rows.map(). */
export interface RowReaders<Big> {
  learner(row: LearnerRow<Big>): Learner;
  classRecord(row: ClassRow<Big>): ClassRecord;
  member(row: MemberRow<Big>): MemberRecord;
  event(row: EventRow<Big>): ClassEvent;
  /** Step id → when it was done, in the rows' order. */
  stepTimes(rows: readonly StepRow<Big>[]): Map<string, number>;
  /** Lesson → step id → when it was done. */
  stepTimesByLesson(rows: readonly (StepRow<Big> & { lesson: string })[]): Map<string, Map<string, number>>;
  /** Member id → step id → when it was done; a member with no steps gets an empty map. */
  stepTimesByMember(rows: readonly MemberStepRow<Big>[]): Map<string, Map<string, number>>;
}

/** `readBigint(value, "table.column")` turns a BIGINT as the driver gives it into a number; the
 *  column is for its error, should the value be one it refuses. */
export function rowReaders<Big>(readBigint: (value: Big, column: string) => number): RowReaders<Big> {
  const classRecord = (row: ClassRow<Big>): ClassRecord => ({
    id: row.id,
    code: row.code,
    name: row.name,
    lesson: row.lesson,
    limits: {
      memoryBytes: readBigint(row.memory_bytes, "classes.memory_bytes"),
      memorySwapBytes: readBigint(row.memory_swap_bytes, "classes.memory_swap_bytes"),
      cpus: readBigint(row.nano_cpus, "classes.nano_cpus") / NANO_CPUS_PER_CPU,
      pids: readBigint(row.pids_limit, "classes.pids_limit"),
    },
    capacity: row.capacity,
    reconnectGraceS: row.reconnect_grace_s,
    sessionLifetimeS: row.session_lifetime_s,
    idleTimeoutS: row.idle_timeout_s,
    // A state this nslab never writes means the database was edited by hand: say so, do not guess.
    state: ClassState.parse(row.state),
    createdAtMs: readBigint(row.created_at_ms, "classes.created_at_ms"),
    lastBroadcast:
      row.broadcast_text === null || row.broadcast_sent_at_ms === null
        ? null
        : { text: row.broadcast_text, sentAtMs: readBigint(row.broadcast_sent_at_ms, "classes.broadcast_sent_at_ms") },
  });
  const completedAt = (value: Big) => readBigint(value, "step_progress.completed_at_ms");
  return {
    learner: (row) => ({ id: row.id, createdAtMs: readBigint(row.created_at_ms, "learners.created_at_ms") }),
    classRecord,
    member: (row) => ({
      classId: row.class_id,
      memberId: row.member_id,
      learnerId: row.learner_id,
      displayName: row.display_name,
      joinedAtMs: readBigint(row.joined_at_ms, "class_members.joined_at_ms"),
    }),
    event: (row) => ({
      classId: row.class_id,
      atMs: readBigint(row.at_ms, "class_events.at_ms"),
      kind: storedEventKind(row.kind),
      memberId: row.member_id,
      detail: row.detail,
    }),
    stepTimes: (rows) => new Map(rows.map((row) => [row.step_id, completedAt(row.completed_at_ms)])),
    stepTimesByLesson: (rows) => {
      const byLesson = new Map<string, Map<string, number>>();
      for (const row of rows) {
        const lesson = byLesson.get(row.lesson) ?? new Map<string, number>();
        lesson.set(row.step_id, completedAt(row.completed_at_ms));
        byLesson.set(row.lesson, lesson);
      }
      return byLesson;
    },
    stepTimesByMember: (rows) => {
      const byMember = new Map<string, Map<string, number>>();
      for (const row of rows) {
        const steps = byMember.get(row.member_id) ?? new Map<string, number>();
        if (row.step_id !== null && row.completed_at_ms !== null) steps.set(row.step_id, completedAt(row.completed_at_ms));
        byMember.set(row.member_id, steps);
      }
      return byMember;
    },
  };
}
