// The Store in an embedded SQLite database (better-sqlite3 12), NSLAB_DATA_DIR/nslab.db.
//
// better-sqlite3 is synchronous, and a lab step is completed from inside the probe tick, so
// writes are never run inside the call that makes them. They wait in a bounded queue that is
// written on setImmediate, in one transaction, each write in its own savepoint so that one
// failing write does not fail the others. Reads write the queue first, so that they see every
// write made before them, and then run synchronously: they are small, indexed by primary key,
// and a page load does not need them off the event loop.
//
// Schema: migrations.ts, applied in order and recorded in schema_migrations. A database made
// by the first release (PRAGMA user_version = 1, the same tables as migration 1) is taken
// over as version 1, rows and all.
import fs from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";

import type { StepProgress } from "../../common/protocol";
import { MIGRATIONS, SCHEMA_MIGRATIONS_TABLE } from "./migrations";
import { CLASS_COLUMNS, type ClassRow, type EventRow, type LearnerRow, MEMBER_COLUMNS, type MemberRow, type MemberStepRow, type StepRow, classColumnValues, limitsColumns, rowReaders } from "./rows";
import { type Broadcast, ClassState } from "../../common/classroom";
import type { Limits } from "../../common/limits";
import {
  ClassCodeTakenError,
  type ClassEvent,
  ClassFullError,
  ClassMemberRemovedError,
  ClassNotOpenError,
  type ClassRecord,
  type ClassStore,
  type InstructorSessionStore,
  type JoinRequest,
  type Learner,
  type LearnerStore,
  MAX_EVENTS_PER_CLASS,
  MAX_PENDING_WRITES,
  type MemberRecord,
  type ProgressStore,
  type Store,
  StoreArgumentError,
  StoreClosedError,
  StoreOverloadedError,
  checkBroadcast,
  checkClassEvent,
  checkClassId,
  checkClassRecord,
  checkClassState,
  checkEventLimit,
  checkJoinCode,
  checkJoinRequest,
  checkLearnerId,
  checkLesson,
  checkLimits,
  checkMemberId,
  checkStepId,
  checkTimeMs,
  checkTokenHash,
} from "./store";

export interface SqliteStoreOptions {
  /** Writes the queue holds before refusing more; MAX_PENDING_WRITES unless told. */
  maxPendingWrites?: number;
  /** Events each class keeps; MAX_EVENTS_PER_CLASS unless told (the tests' small bound). */
  maxEventsPerClass?: number;
}

/** Opens (creating it and its directory if needed) and migrates the database at `file`, or
 *  an in-memory one for ":memory:", which lives as long as the store. Synchronous, as
 *  better-sqlite3 is; it throws when the database cannot be opened or migrated. */
export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): Store {
  if (file !== ":memory:") {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Learners' progress and the instructor's logins: root's alone. SQLite makes the -wal and
    // -shm files with the database's own mode, so the database is made (or set) 0600 first;
    // ones left by an older release are set too.
    fs.closeSync(fs.openSync(file, "a", 0o600));
    for (const part of [file, `${file}-wal`, `${file}-shm`]) {
      try {
        fs.chmodSync(part, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
  }
  const db = new Database(file);
  try {
    // WAL: readers never wait for the writer. NORMAL: in WAL mode a power cut can lose the
    // last few commits but never corrupts the database; for progress that is worth not
    // syncing the disk on every batch.
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db, file);
  } catch (error) {
    db.close();
    throw error;
  }
  const core = new SqliteCore(db, options.maxPendingWrites ?? MAX_PENDING_WRITES);
  return {
    learners: new SqliteLearnerStore(core),
    progress: new SqliteProgressStore(core),
    classes: new SqliteClassStore(core, options.maxEventsPerClass ?? MAX_EVENTS_PER_CLASS),
    instructorSessions: new SqliteInstructorSessionStore(core),
    close: () => core.close(),
  };
}

function migrate(db: Database.Database, file: string): void {
  // IMMEDIATE: a second server opening the same file waits here, then finds the work done.
  db.transaction(() => {
    db.exec(SCHEMA_MIGRATIONS_TABLE);
    const applied = new Set(db.prepare<[], { version: number }>("SELECT version FROM schema_migrations").all().map((r) => r.version));
    const record = db.prepare<[number, number]>("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?, ?)");
    const now = Date.now();
    if (applied.size === 0 && isFirstReleaseDatabase(db, file)) {
      record.run(1, now);
      applied.add(1);
    }
    const newest = Math.max(0, ...applied);
    if (newest > MIGRATIONS.length) {
      throw new Error(`${file}: the database is at schema version ${newest}, but this nslab knows versions up to ${MIGRATIONS.length}; run a newer nslab`);
    }
    MIGRATIONS.forEach((sql, index) => {
      const version = index + 1;
      if (applied.has(version)) return;
      db.exec(sql);
      record.run(version, now);
    });
  }).immediate();
}

/** The first release kept its version in PRAGMA user_version; 1 meant migration 1's tables. */
function isFirstReleaseDatabase(db: Database.Database, file: string): boolean {
  const userVersion = db.pragma("user_version", { simple: true });
  if (userVersion === 0) return false;
  if (userVersion !== 1) throw new Error(`${file}: PRAGMA user_version is ${String(userVersion)}, which no nslab release wrote; not guessing its schema`);
  const tables = db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('learners', 'step_progress')")
    .all();
  if (tables.length !== 2) throw new Error(`${file}: PRAGMA user_version is 1, but the tables learners and step_progress are not both there`);
  return true;
}

interface QueuedWrite {
  /** Runs the write's statements inside its savepoint, and hands back what settles its
   *  promise: that runs only once the batch is committed. */
  apply: () => () => void;
  reject: (error: unknown) => void;
}

type WriteOutcome = { ok: true; settle: () => void } | { ok: false; error: unknown };

/** The connection and its write queue, shared by the member stores. */
class SqliteCore {
  private pending: QueuedWrite[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly writeBatch: Database.Transaction<(batch: QueuedWrite[]) => WriteOutcome[]>;

  constructor(
    readonly db: Database.Database,
    private readonly maxPendingWrites: number,
  ) {
    // Called inside writeBatch's transaction, a transaction function runs in a savepoint: a
    // write that throws (a constraint, ClassFullError) is undone whole, and only it.
    const inSavepoint = db.transaction((apply: () => () => void) => apply());
    this.writeBatch = db.transaction((batch: QueuedWrite[]) =>
      batch.map((write): WriteOutcome => {
        try {
          return { ok: true, settle: inSavepoint(write.apply) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  /** Queues a write; it runs on the next setImmediate (or before the next read), and the
   *  promise gets what `apply` returned, or what it threw. */
  write<T>(apply: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    if (this.pending.length >= this.maxPendingWrites) return Promise.reject(new StoreOverloadedError(this.pending.length));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        apply: () => {
          const result = apply();
          return () => resolve(result);
        },
        reject,
      });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    });
  }

  /** Runs a query after every queued write, so that it sees them. */
  readNow<T>(query: () => T): T {
    if (this.closed) throw new StoreClosedError();
    this.flush();
    return query();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    try {
      this.flush();
      this.db.close();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.writeBatch.immediate(batch);
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of the batch is stored.
      for (const write of batch) write.reject(error);
      return;
    }
    batch.forEach((write, index) => {
      const outcome = outcomes[index] ?? { ok: false, error: new Error("the write batch lost a write's outcome") };
      if (outcome.ok) outcome.settle();
      else write.reject(outcome.error);
    });
  }
}

/** Whether `error` is SQLite refusing a row because it repeats a UNIQUE or PRIMARY KEY key
 *  on exactly these columns ("table.column", comma-separated as SQLite names them). */
function isUniqueViolation(error: unknown, columns: string): boolean {
  return (
    error instanceof Database.SqliteError &&
    (error.code === "SQLITE_CONSTRAINT_UNIQUE" || error.code === "SQLITE_CONSTRAINT_PRIMARYKEY") &&
    error.message === `UNIQUE constraint failed: ${columns}`
  );
}

const INSERT_LEARNER = "INSERT INTO learners (id, created_at_ms) VALUES (?, ?) ON CONFLICT DO NOTHING";

class SqliteLearnerStore implements LearnerStore {
  private readonly insert: Database.Statement<[string, number]>;
  private readonly select: Database.Statement<[string], LearnerRow<number>>;

  constructor(private readonly core: SqliteCore) {
    this.insert = core.db.prepare(INSERT_LEARNER);
    this.select = core.db.prepare("SELECT id, created_at_ms FROM learners WHERE id = ?");
  }

  async ensure(learnerId: string, atMs: number): Promise<boolean> {
    checkLearnerId(learnerId);
    checkTimeMs(atMs);
    return this.core.write(() => this.insert.run(learnerId, atMs).changes === 1);
  }

  async get(learnerId: string): Promise<Learner | null> {
    checkLearnerId(learnerId);
    const row = this.core.readNow(() => this.select.get(learnerId));
    return row ? fromRow.learner(row) : null;
  }
}

class SqliteProgressStore implements ProgressStore {
  private readonly insertLearner: Database.Statement<[string, number]>;
  private readonly insertStep: Database.Statement<[string, string, string, number]>;
  private readonly selectLesson: Database.Statement<[string, string], StepRow<number>>;
  private readonly selectAll: Database.Statement<[string], StepRow<number> & { lesson: string }>;

  constructor(private readonly core: SqliteCore) {
    this.insertLearner = core.db.prepare(INSERT_LEARNER);
    this.insertStep = core.db.prepare(
      "INSERT INTO step_progress (learner_id, lesson, step_id, completed_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    );
    this.selectLesson = core.db.prepare(
      "SELECT step_id, completed_at_ms FROM step_progress WHERE learner_id = ? AND lesson = ? ORDER BY completed_at_ms, step_id",
    );
    this.selectAll = core.db.prepare(
      "SELECT lesson, step_id, completed_at_ms FROM step_progress WHERE learner_id = ? ORDER BY lesson, completed_at_ms, step_id",
    );
  }

  async complete(learnerId: string, lesson: string, stepId: string, atMs: number): Promise<boolean> {
    checkLearnerId(learnerId);
    checkLesson(lesson);
    checkStepId(stepId);
    checkTimeMs(atMs);
    return this.core.write(() => {
      this.insertLearner.run(learnerId, atMs);
      return this.insertStep.run(learnerId, lesson, stepId, atMs).changes === 1;
    });
  }

  async completed(learnerId: string, lesson: string): Promise<Map<string, number>> {
    return this.completedSoFar(learnerId, lesson);
  }

  private completedSoFar(learnerId: string, lesson: string): Map<string, number> {
    checkLearnerId(learnerId);
    checkLesson(lesson);
    return fromRow.stepTimes(this.core.readNow(() => this.selectLesson.all(learnerId, lesson)));
  }

  async progress(learnerId: string, lesson: string, stepIds: readonly string[]): Promise<StepProgress[]> {
    checkLearnerId(learnerId);
    checkLesson(lesson);
    stepIds.forEach((id, index) => checkStepId(id, `stepIds[${index}]`));
    const done = this.completedSoFar(learnerId, lesson);
    return stepIds.map((id) => ({ id, done: done.has(id), completedAtMs: done.get(id) ?? null }));
  }

  async allCompleted(learnerId: string): Promise<Map<string, Map<string, number>>> {
    checkLearnerId(learnerId);
    return fromRow.stepTimesByLesson(this.core.readNow(() => this.selectAll.all(learnerId)));
  }
}

/** better-sqlite3 gives a BIGINT as a number (the store does not turn on safeIntegers), so a
 *  row's BIGINTs need no reading. */
const fromRow = rowReaders((value: number) => value);

class SqliteClassStore implements ClassStore {
  private readonly insertClass: Database.Statement<unknown[]>;
  private readonly selectClass: Database.Statement<[string], ClassRow<number>>;
  private readonly selectByCode: Database.Statement<[string], ClassRow<number>>;
  private readonly selectAll: Database.Statement<[], ClassRow<number>>;
  private readonly updateState: Database.Statement<[string, string]>;
  private readonly updateCode: Database.Statement<[string, string]>;
  private readonly updateLimits: Database.Statement<[number, number, number, number, string]>;
  private readonly updateBroadcast: Database.Statement<[string, number, string]>;
  private readonly insertLearner: Database.Statement<[string, number]>;
  private readonly insertMember: Database.Statement<[string, string, string, string, number, string]>;
  private readonly updateName: Database.Statement<[string, string, string]>;
  private readonly countMembers: Database.Statement<[string], { n: number }>;
  private readonly selectMember: Database.Statement<[string, string], MemberRow<number>>;
  private readonly memberRowExists: Database.Statement<[string, string], { found: number }>;
  private readonly selectJoined: Database.Statement<[string, string], MemberRow<number> & { removed_at_ms: number | null }>;
  private readonly markRemoved: Database.Statement<[number, string, string]>;
  private readonly selectMembership: Database.Statement<[string, string], MemberRow<number>>;
  private readonly selectMembers: Database.Statement<[string], MemberRow<number>>;
  private readonly selectMembershipsOf: Database.Statement<[string], MemberRow<number>>;
  private readonly selectProgress: Database.Statement<[string], MemberStepRow<number>>;
  private readonly classExists: Database.Statement<[string], { found: number }>;
  private readonly nextEventSeq: Database.Statement<[string], { seq: number }>;
  private readonly insertEvent: Database.Statement<[string, number, number, string, string | null, string]>;
  private readonly trimEvents: Database.Statement<[string, number]>;
  private readonly selectEvents: Database.Statement<[string, number], EventRow<number>>;

  constructor(
    private readonly core: SqliteCore,
    private readonly maxEventsPerClass: number,
  ) {
    const db = core.db;
    this.insertClass = db.prepare(`INSERT INTO classes (${CLASS_COLUMNS}) VALUES (${CLASS_COLUMNS.split(",").map(() => "?").join(", ")})`);
    this.selectClass = db.prepare(`SELECT ${CLASS_COLUMNS} FROM classes WHERE id = ?`);
    this.selectByCode = db.prepare(`SELECT ${CLASS_COLUMNS} FROM classes WHERE code = ?`);
    this.selectAll = db.prepare(`SELECT ${CLASS_COLUMNS} FROM classes ORDER BY created_at_ms DESC, id DESC`);
    this.updateState = db.prepare("UPDATE classes SET state = ? WHERE id = ?");
    this.updateCode = db.prepare("UPDATE classes SET code = ? WHERE id = ?");
    this.updateLimits = db.prepare("UPDATE classes SET memory_bytes = ?, memory_swap_bytes = ?, nano_cpus = ?, pids_limit = ? WHERE id = ?");
    this.updateBroadcast = db.prepare("UPDATE classes SET broadcast_text = ?, broadcast_sent_at_ms = ? WHERE id = ?");
    this.insertLearner = db.prepare(INSERT_LEARNER);
    // join_order: rows are never deleted (a removed member's is only marked), so one more than
    // the largest is the next place.
    this.insertMember = db.prepare(
      `INSERT INTO class_members (class_id, member_id, learner_id, display_name, joined_at_ms, join_order)
       SELECT ?, ?, ?, ?, ?, COALESCE(MAX(join_order), 0) + 1 FROM class_members WHERE class_id = ?`,
    );
    this.updateName = db.prepare("UPDATE class_members SET display_name = ? WHERE class_id = ? AND learner_id = ?");
    // Every read of members is of live ones (removed_at_ms IS NULL) but two: the join's own
    // look-up, which must find a removed learner to keep them out, and the event log's check,
    // which logs a removal under the removed member's id.
    this.countMembers = db.prepare("SELECT COUNT(*) AS n FROM class_members WHERE class_id = ? AND removed_at_ms IS NULL");
    this.selectMember = db.prepare(`SELECT ${MEMBER_COLUMNS} FROM class_members WHERE class_id = ? AND member_id = ? AND removed_at_ms IS NULL`);
    this.memberRowExists = db.prepare("SELECT COUNT(*) AS found FROM class_members WHERE class_id = ? AND member_id = ?");
    this.selectJoined = db.prepare(`SELECT ${MEMBER_COLUMNS}, removed_at_ms FROM class_members WHERE class_id = ? AND learner_id = ?`);
    this.markRemoved = db.prepare("UPDATE class_members SET removed_at_ms = ? WHERE class_id = ? AND member_id = ? AND removed_at_ms IS NULL");
    this.selectMembership = db.prepare(`SELECT ${MEMBER_COLUMNS} FROM class_members WHERE class_id = ? AND learner_id = ? AND removed_at_ms IS NULL`);
    this.selectMembers = db.prepare(`SELECT ${MEMBER_COLUMNS} FROM class_members WHERE class_id = ? AND removed_at_ms IS NULL ORDER BY join_order`);
    this.selectMembershipsOf = db.prepare(
      `SELECT ${MEMBER_COLUMNS} FROM class_members WHERE learner_id = ? AND removed_at_ms IS NULL ORDER BY joined_at_ms DESC, join_order DESC, class_id`,
    );
    // Every member, with the steps they did in the class's lesson (before or after joining):
    // the LEFT JOIN gives a member with none a row of NULLs.
    this.selectProgress = db.prepare(
      `SELECT m.member_id, p.step_id, p.completed_at_ms
       FROM class_members m
       JOIN classes c ON c.id = m.class_id
       LEFT JOIN step_progress p ON p.learner_id = m.learner_id AND p.lesson = c.lesson
       WHERE m.class_id = ? AND m.removed_at_ms IS NULL
       ORDER BY m.join_order, p.completed_at_ms, p.step_id`,
    );
    this.classExists = db.prepare("SELECT COUNT(*) AS found FROM classes WHERE id = ?");
    this.nextEventSeq = db.prepare("SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM class_events WHERE class_id = ?");
    this.insertEvent = db.prepare("INSERT INTO class_events (class_id, seq, at_ms, kind, member_id, detail) VALUES (?, ?, ?, ?, ?, ?)");
    this.trimEvents = db.prepare("DELETE FROM class_events WHERE class_id = ? AND seq <= ?");
    this.selectEvents = db.prepare(
      "SELECT class_id, at_ms, kind, member_id, detail FROM (SELECT * FROM class_events WHERE class_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
    );
  }

  async create(record: ClassRecord): Promise<void> {
    checkClassRecord(record);
    const values = classColumnValues(record);
    return this.core.write(() => {
      try {
        this.insertClass.run(...values);
      } catch (error) {
        if (isUniqueViolation(error, "classes.code")) throw new ClassCodeTakenError(record.code);
        if (isUniqueViolation(error, "classes.id")) throw new StoreArgumentError("id", `a class with the id ${record.id} exists already`);
        throw error;
      }
    });
  }

  async get(classId: string): Promise<ClassRecord | null> {
    checkClassId(classId);
    const row = this.core.readNow(() => this.selectClass.get(classId));
    return row ? fromRow.classRecord(row) : null;
  }

  async byCode(code: string): Promise<ClassRecord | null> {
    checkJoinCode(code);
    const row = this.core.readNow(() => this.selectByCode.get(code));
    return row ? fromRow.classRecord(row) : null;
  }

  async list(): Promise<ClassRecord[]> {
    return this.core.readNow(() => this.selectAll.all()).map(fromRow.classRecord);
  }

  async setState(classId: string, state: ClassState): Promise<boolean> {
    checkClassId(classId);
    checkClassState(state);
    return this.core.write(() => this.updateState.run(state, classId).changes === 1);
  }

  async setCode(classId: string, code: string): Promise<boolean> {
    checkClassId(classId);
    checkJoinCode(code);
    return this.core.write(() => {
      try {
        return this.updateCode.run(code, classId).changes === 1;
      } catch (error) {
        if (isUniqueViolation(error, "classes.code")) throw new ClassCodeTakenError(code);
        throw error;
      }
    });
  }

  async setLimits(classId: string, limits: Limits): Promise<boolean> {
    checkClassId(classId);
    checkLimits(limits);
    const columns = limitsColumns(limits);
    return this.core.write(() => this.updateLimits.run(...columns, classId).changes === 1);
  }

  async setLastBroadcast(classId: string, broadcast: Broadcast): Promise<boolean> {
    checkClassId(classId);
    checkBroadcast(broadcast);
    const { text, sentAtMs } = broadcast;
    return this.core.write(() => this.updateBroadcast.run(text, sentAtMs, classId).changes === 1);
  }

  async join(request: JoinRequest): Promise<{ member: MemberRecord; created: boolean }> {
    checkJoinRequest(request);
    const { classId, learnerId, memberId, displayName, atMs } = request;
    // One write, so one savepoint: the checks and the insert see the same rows, and a refusal
    // thrown here undoes this join alone, not the rest of its batch.
    return this.core.write(() => {
      const row = this.selectClass.get(classId);
      if (!row) throw new ClassNotOpenError("missing");
      const existing = this.selectJoined.get(classId, learnerId);
      // Before the state and the room: a removed learner is told that, not "closed" or "full".
      if (existing && existing.removed_at_ms !== null) throw new ClassMemberRemovedError(existing.member_id);
      if (existing) {
        this.updateName.run(displayName, classId, learnerId);
        return { member: { ...fromRow.member(existing), displayName }, created: false };
      }
      const state = ClassState.parse(row.state);
      if (state !== "open") throw new ClassNotOpenError(state);
      if ((this.countMembers.get(classId)?.n ?? 0) >= row.capacity) throw new ClassFullError(row.capacity);
      this.insertLearner.run(learnerId, atMs);
      try {
        this.insertMember.run(classId, memberId, learnerId, displayName, atMs, classId);
      } catch (error) {
        if (isUniqueViolation(error, "class_members.class_id, class_members.member_id")) {
          throw new StoreArgumentError("memberId", `another member of the class has the id ${memberId}`);
        }
        throw error;
      }
      return { member: { classId, memberId, learnerId, displayName, joinedAtMs: atMs }, created: true };
    });
  }

  async removeMember(classId: string, memberId: string, atMs: number): Promise<boolean> {
    checkClassId(classId);
    checkMemberId(memberId);
    checkTimeMs(atMs);
    return this.core.write(() => this.markRemoved.run(atMs, classId, memberId).changes === 1);
  }

  async member(classId: string, memberId: string): Promise<MemberRecord | null> {
    checkClassId(classId);
    checkMemberId(memberId);
    const row = this.core.readNow(() => this.selectMember.get(classId, memberId));
    return row ? fromRow.member(row) : null;
  }

  async membership(classId: string, learnerId: string): Promise<MemberRecord | null> {
    checkClassId(classId);
    checkLearnerId(learnerId);
    const row = this.core.readNow(() => this.selectMembership.get(classId, learnerId));
    return row ? fromRow.member(row) : null;
  }

  async members(classId: string): Promise<MemberRecord[]> {
    checkClassId(classId);
    return this.core.readNow(() => this.selectMembers.all(classId)).map(fromRow.member);
  }

  async membershipsOf(learnerId: string): Promise<MemberRecord[]> {
    checkLearnerId(learnerId);
    return this.core.readNow(() => this.selectMembershipsOf.all(learnerId)).map(fromRow.member);
  }

  async progress(classId: string): Promise<Map<string, Map<string, number>>> {
    checkClassId(classId);
    return fromRow.stepTimesByMember(this.core.readNow(() => this.selectProgress.all(classId)));
  }

  async addEvent(event: ClassEvent): Promise<void> {
    checkClassEvent(event);
    const { classId, atMs, kind, memberId, detail } = event;
    return this.core.write(() => {
      // Checked here rather than left to the foreign keys, whose failure names neither.
      if ((this.classExists.get(classId)?.found ?? 0) === 0) throw new StoreArgumentError("classId", `there is no class ${classId}`);
      if (memberId !== null && (this.memberRowExists.get(classId, memberId)?.found ?? 0) === 0) {
        throw new StoreArgumentError("memberId", `the class ${classId} has no member ${memberId}`);
      }
      const seq = this.nextEventSeq.get(classId)?.seq ?? 1;
      this.insertEvent.run(classId, seq, atMs, kind, memberId, detail);
      // Seqs only ever grow, and only the low end is cut: this keeps the newest maxEventsPerClass.
      this.trimEvents.run(classId, seq - this.maxEventsPerClass);
    });
  }

  async events(classId: string, limit: number): Promise<ClassEvent[]> {
    checkClassId(classId);
    checkEventLimit(limit);
    return this.core.readNow(() => this.selectEvents.all(classId, limit)).map(fromRow.event);
  }
}

class SqliteInstructorSessionStore implements InstructorSessionStore {
  private readonly insert: Database.Statement<[string, number, number]>;
  private readonly selectValid: Database.Statement<[string, number], { found: number }>;
  private readonly remove: Database.Statement<[string]>;
  private readonly removeExpired: Database.Statement<[number]>;

  constructor(private readonly core: SqliteCore) {
    const db = core.db;
    this.insert = db.prepare("INSERT INTO instructor_sessions (token_hash, created_at_ms, expires_at_ms) VALUES (?, ?, ?)");
    // Expired at nowMs means expires_at_ms <= nowMs: valid() and prune() draw the same line.
    this.selectValid = db.prepare("SELECT COUNT(*) AS found FROM instructor_sessions WHERE token_hash = ? AND expires_at_ms > ?");
    this.remove = db.prepare("DELETE FROM instructor_sessions WHERE token_hash = ?");
    this.removeExpired = db.prepare("DELETE FROM instructor_sessions WHERE expires_at_ms <= ?");
  }

  async create(tokenHash: string, createdAtMs: number, expiresAtMs: number): Promise<void> {
    checkTokenHash(tokenHash);
    checkTimeMs(createdAtMs, "createdAtMs");
    checkTimeMs(expiresAtMs, "expiresAtMs");
    if (expiresAtMs < createdAtMs) throw new StoreArgumentError("expiresAtMs", `${expiresAtMs} is before the session's creation at ${createdAtMs}`);
    return this.core.write(() => {
      try {
        this.insert.run(tokenHash, createdAtMs, expiresAtMs);
      } catch (error) {
        // 256 random bits do not repeat: a repeat is a token used twice.
        if (isUniqueViolation(error, "instructor_sessions.token_hash")) throw new StoreArgumentError("tokenHash", "a session with this token hash exists already");
        throw error;
      }
    });
  }

  async valid(tokenHash: string, nowMs: number): Promise<boolean> {
    checkTokenHash(tokenHash);
    checkTimeMs(nowMs, "nowMs");
    return this.core.readNow(() => (this.selectValid.get(tokenHash, nowMs)?.found ?? 0) > 0);
  }

  async revoke(tokenHash: string): Promise<boolean> {
    checkTokenHash(tokenHash);
    return this.core.write(() => this.remove.run(tokenHash).changes === 1);
  }

  async prune(nowMs: number): Promise<number> {
    checkTimeMs(nowMs, "nowMs");
    return this.core.write(() => this.removeExpired.run(nowMs).changes);
  }
}
