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
import {
  type Learner,
  type LearnerStore,
  MAX_PENDING_WRITES,
  type ProgressStore,
  type Store,
  StoreClosedError,
  StoreOverloadedError,
  checkLearnerId,
  checkLesson,
  checkStepId,
  checkTimeMs,
} from "./store";

export interface SqliteStoreOptions {
  /** Writes the queue holds before refusing more; MAX_PENDING_WRITES unless told. */
  maxPendingWrites?: number;
}

/** Opens (creating it and its directory if needed) and migrates the database at `file`, or
 *  an in-memory one for ":memory:", which lives as long as the store. Synchronous, as
 *  better-sqlite3 is; it throws when the database cannot be opened or migrated. */
export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): Store {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
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
  const learners = new SqliteLearnerStore(core);
  const progress = new SqliteProgressStore(core);
  return {
    learners,
    progress,
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
  /** Runs the write's statements; true when it added a row. */
  apply: () => boolean;
  resolve: (added: boolean) => void;
  reject: (error: unknown) => void;
}

type WriteOutcome = { ok: true; added: boolean } | { ok: false; error: unknown };

/** The connection and its write queue, shared by the member stores (and the classroom's, later). */
class SqliteCore {
  private pending: QueuedWrite[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly writeBatch: Database.Transaction<(batch: QueuedWrite[]) => WriteOutcome[]>;

  constructor(
    readonly db: Database.Database,
    private readonly maxPendingWrites: number,
  ) {
    // Called inside writeBatch's transaction, a transaction function runs in a savepoint.
    const inSavepoint = db.transaction((apply: () => boolean) => apply());
    this.writeBatch = db.transaction((batch: QueuedWrite[]) =>
      batch.map((write): WriteOutcome => {
        try {
          return { ok: true, added: inSavepoint(write.apply) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  /** Queues a write; it runs on the next setImmediate (or before the next read). */
  write(apply: () => boolean): Promise<boolean> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    if (this.pending.length >= this.maxPendingWrites) return Promise.reject(new StoreOverloadedError(this.pending.length));
    return new Promise((resolve, reject) => {
      this.pending.push({ apply, resolve, reject });
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
      if (outcome.ok) write.resolve(outcome.added);
      else write.reject(outcome.error);
    });
  }
}

const INSERT_LEARNER = "INSERT INTO learners (id, created_at_ms) VALUES (?, ?) ON CONFLICT DO NOTHING";

class SqliteLearnerStore implements LearnerStore {
  private readonly insert: Database.Statement<[string, number]>;
  private readonly select: Database.Statement<[string], { id: string; created_at_ms: number }>;

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
    return row ? { id: row.id, createdAtMs: row.created_at_ms } : null;
  }
}

class SqliteProgressStore implements ProgressStore {
  private readonly insertLearner: Database.Statement<[string, number]>;
  private readonly insertStep: Database.Statement<[string, string, string, number]>;
  private readonly selectLesson: Database.Statement<[string, string], { step_id: string; completed_at_ms: number }>;
  private readonly selectAll: Database.Statement<[string], { lesson: string; step_id: string; completed_at_ms: number }>;

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
    return this.core.readNow(() => new Map(this.selectLesson.all(learnerId, lesson).map((r) => [r.step_id, r.completed_at_ms])));
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
    const rows = this.core.readNow(() => this.selectAll.all(learnerId));
    const byLesson = new Map<string, Map<string, number>>();
    for (const row of rows) {
      const lesson = byLesson.get(row.lesson) ?? new Map<string, number>();
      lesson.set(row.step_id, row.completed_at_ms);
      byLesson.set(row.lesson, lesson);
    }
    return byLesson;
  }
}
