// The Store in PostgreSQL (node-postgres 8), shared by every node of a lab cluster.
//
// Writes keep the order they were made in, as SQLite's do: they wait in one bounded queue per
// store and are written by one connection at a time, in batches, each batch one transaction
// and each write in its own savepoint, so that a write that fails (a constraint, a full class)
// is undone alone and the rest of its batch commits. A write's promise settles once its batch
// has committed. A read waits for the writes queued before it, then runs on any connection of
// the pool: it sees them, and reads run side by side.
//
// Other nodes write the same tables at the same time, so a write that checks before it writes
// (a join's room, an event's next seq) first locks its class's row with SELECT ... FOR UPDATE:
// a second node's join into the class waits for the first's batch to commit and then counts
// its member (READ COMMITTED reads anew at each statement). Batches of two nodes that lock
// rows in opposite orders can deadlock; PostgreSQL then aborts one (40P01), whose whole batch
// is rolled back and run again.
//
// Schema: migrations.ts, applied when the store opens, under an advisory lock so that nodes
// starting together migrate once. BIGINT columns come back from node-postgres as strings (a
// JavaScript number cannot hold every BIGINT); the row mappers (rows.ts, shared with SQLite,
// given bigint() below) turn them into numbers, refusing any past Number.MAX_SAFE_INTEGER.
// They do it per column, not with a type parser on the pool, because the pool is shared
// (PgStore.pool) and its other users read BIGINTs as pg gives them.
import pg from "pg";

import type { StepProgress } from "../../common/protocol";
import { MIGRATIONS, SCHEMA_MIGRATIONS_TABLE } from "./migrations";
import { CLASS_COLUMNS, type ClassRow, type EventRow, type LearnerRow, MEMBER_COLUMNS, type MemberRow, type MemberStepRow, type StepRow, classColumnValues, limitsColumns, rowReaders } from "./rows";
import { type Broadcast, ClassState } from "../../common/classroom";
import type { Limits } from "../../common/limits";
import { log } from "../log";
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

export interface PgStoreOptions {
  /** Connections of the pool, at most (one of them writes at a time; reads share the rest); 10 unless told. */
  maxConnections?: number;
  /** How long a new connection may take before it fails; 10 s unless told (node-postgres's own
   *  default waits as long as the operating system does, minutes for a host that never answers). */
  connectionTimeoutMs?: number;
  /** Writes the queue holds before refusing more; MAX_PENDING_WRITES unless told. */
  maxPendingWrites?: number;
  /** Events each class keeps; MAX_EVENTS_PER_CLASS unless told (the tests' small bound). */
  maxEventsPerClass?: number;
}

export interface PgStore extends Store {
  /** The store's connections, for the cluster's own tables (nodes, live_sessions). close() ends it. */
  readonly pool: pg.Pool;
}

/** The advisory lock held while migrating: "nslabmig" as a 64-bit number. Any fixed key does,
 *  as long as nothing else in the database takes it; it goes as text, as it is past 2^53. */
export const MIGRATION_LOCK_KEY = "7958824132012763495";

/** Writes in one transaction, at most. A backend keeps the ids of 64 subtransactions (each
 *  savepoint that writes is one) in shared memory; past that every other backend's snapshot is
 *  marked overflowed and must look in pg_subtrans (PGPROC_MAX_CACHED_SUBXIDS, src/include/storage/proc.h). */
const MAX_WRITES_PER_BATCH = 64;

/** Runs of a batch that deadlocked with another node's, before its writes fail one by one. */
const MAX_BATCH_ATTEMPTS = 5;

/** Opens the store on the database at `url` (postgres://USER:PASSWORD@HOST:PORT/DATABASE) and
 *  brings its schema to the newest version. Rejects with an error that names the database
 *  (never the password) and says what to check when it cannot connect or migrate. */
export async function openPgStore(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
  const where = describeDatabase(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    // A connection a NAT or load balancer dropped without a word is found by TCP keepalive,
    // not left holding a query (and the write queue behind it) for ever.
    keepAlive: true,
  });
  // An idle connection that breaks (the server restarts) is an 'error' of the pool, and an
  // EventEmitter's 'error' with no listener ends the process. The pool drops that connection
  // and opens another when one is next needed.
  pool.on("error", (error) => log.warn({ database: where, err: error.message }, "an idle PostgreSQL connection failed; the pool replaces it"));
  try {
    await migrate(pool, where);
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  const core = new PgCore(pool, options.maxPendingWrites ?? MAX_PENDING_WRITES);
  return {
    pool,
    learners: new PgLearnerStore(core),
    progress: new PgProgressStore(core),
    classes: new PgClassStore(core, options.maxEventsPerClass ?? MAX_EVENTS_PER_CLASS),
    instructorSessions: new PgInstructorSessionStore(core),
    close: () => core.close(),
  };
}

/** "database D on HOST:PORT as USER", as node-postgres reads the URL (and PG* variables). */
function describeDatabase(url: string): string {
  const redacted = typeof url === "string" ? url.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, "$1:*****@") : String(url);
  if (typeof url !== "string" || !/^postgres(ql)?:\/\//.test(url)) {
    throw new Error(`${redacted} is not a PostgreSQL URL; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  let target: pg.Client;
  try {
    // Only reads the URL: a Client connects when told to.
    target = new pg.Client({ connectionString: url });
  } catch (error) {
    throw new Error(`the PostgreSQL URL ${redacted} cannot be read (${errorText(error)}); write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  const host = target.host.includes(":") ? `[${target.host}]` : target.host;
  return `database ${target.database ?? "(none)"} on ${host}:${target.port} as ${target.user ?? "(no user)"}`;
}

function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(errorText).join("; ");
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

function errorCode(error: unknown): string | undefined {
  if (error instanceof AggregateError) return errorCode(error.errors[0]);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** What to check, for a connection that failed with this error. */
function connectHint(error: unknown): string {
  const code = errorCode(error);
  const message = errorText(error);
  if (code === "ECONNREFUSED") return "nothing accepts connections there: check that PostgreSQL is running, and that the URL's host and port are where it listens (listen_addresses, port)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "the host name does not resolve: check the URL's host";
  if (code === "ETIMEDOUT" || code === "EHOSTUNREACH" || /timeout/i.test(message)) return "the server did not answer in time: check the URL's host and port, and any firewall between";
  if (code === "28P01" || code === "28000") return "the server refused the login: check the URL's user and password, and the server's pg_hba.conf";
  if (code === "3D000") return "the database does not exist: create it (createdb --owner USER DATABASE) or fix its name in the URL";
  return "check that PostgreSQL is running and that the URL names the right host, port, database and user";
}

async function migrate(pool: pg.Pool, where: string): Promise<void> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw new Error(`cannot connect to PostgreSQL (${where}): ${errorText(error)}; ${connectHint(error)}`, { cause: error });
  }
  try {
    // A session lock, taken before anything else: CREATE TABLE IF NOT EXISTS is not safe
    // against itself in two sessions, and the second node must find the work done, not redo it.
    await client.query("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
    await client.query("BEGIN");
    await client.query(SCHEMA_MIGRATIONS_TABLE);
    const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
    const applied = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > MIGRATIONS.length) {
      throw new Error(`${where}: the database is at schema version ${newest}, but this nslab knows versions up to ${MIGRATIONS.length}; run a newer nslab`);
    }
    const now = Date.now();
    for (const [index, sql] of MIGRATIONS.entries()) {
      const version = index + 1;
      if (applied.has(version)) continue;
      try {
        // No parameters: the simple query protocol, which takes several statements at once.
        await client.query(sql);
      } catch (error) {
        throw new Error(`${where}: migration ${version} failed: ${errorText(error)}; the user must be allowed to create tables in the database (its owner, or GRANT CREATE ON SCHEMA public)`, { cause: error });
      }
      await client.query("INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)", [version, now]);
    }
    await client.query("COMMIT");
    await client.query("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY]);
    client.release();
  } catch (error) {
    // Destroyed, not returned to the pool: its session may still hold the lock and an open
    // transaction, and the server drops both with the session.
    client.release(true);
    if (error instanceof Error && error.message.startsWith(where)) throw error;
    throw new Error(`${where}: cannot migrate the schema: ${errorText(error)}`, { cause: error });
  }
}

interface QueuedWrite {
  /** Its place in the order writes were made, from 1. */
  seq: number;
  /** The write's statements, run inside its savepoint on the batch's connection. */
  apply: (client: pg.PoolClient) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type WriteOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Another node's transaction and this one's wait for each other (deadlock_detected), or a
 *  serialization failure: nothing is wrong with the writes, and they succeed when run again. */
function isTransient(error: unknown): boolean {
  return error instanceof pg.DatabaseError && (error.code === "40P01" || error.code === "40001");
}

/** The pool and the write queue, shared by the member stores. */
class PgCore {
  private pending: QueuedWrite[] = [];
  /** Writes of the batch being written: still waiting for the database. */
  private writing = 0;
  private draining: Promise<void> | null = null;
  private queued = 0;
  private written = 0;
  private readonly readers: Array<{ after: number; wake: () => void }> = [];
  private readonly reads = new Set<Promise<unknown>>();
  private closing: Promise<void> | null = null;

  constructor(
    readonly pool: pg.Pool,
    private readonly maxPendingWrites: number,
  ) {}

  /** Queues a write; the promise gets what `apply` returned once its batch has committed, or
   *  what it threw (and then nothing of it is stored). */
  write<T>(apply: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new StoreClosedError());
    const waiting = this.pending.length + this.writing;
    if (waiting >= this.maxPendingWrites) return Promise.reject(new StoreOverloadedError(waiting));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ seq: ++this.queued, apply, resolve: resolve as (value: unknown) => void, reject });
      this.draining ??= this.drain();
    });
  }

  /** Runs a query once every write queued before it is written, so that it sees them. */
  read<T>(query: (pool: pg.Pool) => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new StoreClosedError());
    const after = this.queued;
    const run = (async () => {
      if (this.written < after) await new Promise<void>((wake) => this.readers.push({ after, wake }));
      return query(this.pool);
    })();
    this.reads.add(run);
    const done = () => this.reads.delete(run);
    run.then(done, done);
    return run;
  }

  /** Writes every queued write, waits for the reads under way, then ends the pool. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.draining;
      await Promise.allSettled([...this.reads]);
      await this.pool.end();
    })();
    return this.closing;
  }

  private async drain(): Promise<void> {
    // The writes made in this turn of the event loop go in one batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_WRITES_PER_BATCH);
      this.writing = batch.length;
      await this.writeBatch(batch);
      this.writing = 0;
      this.written = batch.at(-1)?.seq ?? this.written;
      for (let index = this.readers.length - 1; index >= 0; index--) {
        const reader = this.readers[index];
        if (reader && reader.after <= this.written) {
          this.readers.splice(index, 1);
          reader.wake();
        }
      }
    }
    this.draining = null;
  }

  /** Writes the batch and settles each of its writes; never throws. */
  private async writeBatch(batch: QueuedWrite[]): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      for (const write of batch) write.reject(error);
      return;
    }
    let outcomes: WriteOutcome[] | null = null;
    let broken: Error | undefined;
    try {
      for (let attempt = 1; outcomes === null; attempt++) outcomes = await runBatch(client, batch, attempt < MAX_BATCH_ATTEMPTS);
    } catch (error) {
      // The connection failed, or the commit did: nothing of the batch is known to be stored.
      broken = error instanceof Error ? error : new Error(String(error));
      for (const write of batch) write.reject(error);
    } finally {
      client.release(broken);
    }
    if (!outcomes) return;
    batch.forEach((write, index) => {
      const outcome = outcomes[index] ?? { ok: false, error: new Error("the write batch lost a write's outcome") };
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    });
  }
}

/** One run of a batch in one transaction: each write's outcome once it has committed, or null
 *  when it deadlocked and was rolled back whole, to be run again (only while `mayRetry`).
 *  Throws when the connection or the commit fails. */
async function runBatch(client: pg.PoolClient, batch: QueuedWrite[], mayRetry: boolean): Promise<WriteOutcome[] | null> {
  await client.query("BEGIN");
  const outcomes: WriteOutcome[] = [];
  for (const write of batch) {
    await client.query("SAVEPOINT nslab_write");
    try {
      const value = await write.apply(client);
      await client.query("RELEASE SAVEPOINT nslab_write");
      outcomes.push({ ok: true, value });
    } catch (error) {
      if (mayRetry && isTransient(error)) {
        await client.query("ROLLBACK");
        return null;
      }
      try {
        await client.query("ROLLBACK TO SAVEPOINT nslab_write");
        await client.query("RELEASE SAVEPOINT nslab_write");
      } catch {
        // The connection is gone: what broke it is the write's own error, not the rollback's.
        throw error;
      }
      outcomes.push({ ok: false, error });
    }
  }
  const committed = await client.query("COMMIT");
  // COMMIT of a transaction in the aborted state answers ROLLBACK, without an error.
  if (committed.command !== "COMMIT") throw new Error(`the write batch's transaction ended in ${committed.command} instead of COMMIT; none of its writes is stored`);
  return outcomes;
}

/** The names PostgreSQL gives the constraints of migrations.ts: <table>_pkey for a primary key,
 *  <table>_<column>_key for a UNIQUE column. */
const CONSTRAINT = {
  classId: "classes_pkey",
  classCode: "classes_code_key",
  memberId: "class_members_pkey",
  tokenHash: "instructor_sessions_pkey",
} as const;

function isUniqueViolation(error: unknown, constraint: string): boolean {
  return error instanceof pg.DatabaseError && error.code === "23505" && error.constraint === constraint;
}

/** A BIGINT as node-postgres gives it (text), as a number; one no number keeps exactly is an error. */
function bigint(value: string, column: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new Error(`${column} holds ${value}, which is not a whole number JavaScript keeps exactly (at most 2^53 - 1)`);
  return parsed;
}

/** The mappers of rows.ts, reading each BIGINT column with bigint(). */
const fromRow = rowReaders(bigint);

const INSERT_LEARNER = "INSERT INTO learners (id, created_at_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING";

class PgLearnerStore implements LearnerStore {
  constructor(private readonly core: PgCore) {}

  async ensure(learnerId: string, atMs: number): Promise<boolean> {
    checkLearnerId(learnerId);
    checkTimeMs(atMs);
    return this.core.write(async (client) => (await client.query(INSERT_LEARNER, [learnerId, atMs])).rowCount === 1);
  }

  async get(learnerId: string): Promise<Learner | null> {
    checkLearnerId(learnerId);
    const { rows } = await this.core.read((pool) => pool.query<LearnerRow<string>>("SELECT id, created_at_ms FROM learners WHERE id = $1", [learnerId]));
    return rows[0] ? fromRow.learner(rows[0]) : null;
  }
}

class PgProgressStore implements ProgressStore {
  constructor(private readonly core: PgCore) {}

  async complete(learnerId: string, lesson: string, stepId: string, atMs: number): Promise<boolean> {
    checkLearnerId(learnerId);
    checkLesson(lesson);
    checkStepId(stepId);
    checkTimeMs(atMs);
    return this.core.write(async (client) => {
      await client.query(INSERT_LEARNER, [learnerId, atMs]);
      const inserted = await client.query(
        "INSERT INTO step_progress (learner_id, lesson, step_id, completed_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        [learnerId, lesson, stepId, atMs],
      );
      return inserted.rowCount === 1;
    });
  }

  async completed(learnerId: string, lesson: string): Promise<Map<string, number>> {
    checkLearnerId(learnerId);
    checkLesson(lesson);
    // COLLATE "C": text in code-point order, as SQLite orders it, whatever the database's locale.
    const { rows } = await this.core.read((pool) =>
      pool.query<StepRow<string>>(
        `SELECT step_id, completed_at_ms FROM step_progress WHERE learner_id = $1 AND lesson = $2 ORDER BY completed_at_ms, step_id COLLATE "C"`,
        [learnerId, lesson],
      ),
    );
    return fromRow.stepTimes(rows);
  }

  async progress(learnerId: string, lesson: string, stepIds: readonly string[]): Promise<StepProgress[]> {
    checkLearnerId(learnerId);
    checkLesson(lesson);
    stepIds.forEach((id, index) => checkStepId(id, `stepIds[${index}]`));
    const done = await this.completed(learnerId, lesson);
    return stepIds.map((id) => ({ id, done: done.has(id), completedAtMs: done.get(id) ?? null }));
  }

  async allCompleted(learnerId: string): Promise<Map<string, Map<string, number>>> {
    checkLearnerId(learnerId);
    const { rows } = await this.core.read((pool) =>
      pool.query<StepRow<string> & { lesson: string }>(
        `SELECT lesson, step_id, completed_at_ms FROM step_progress WHERE learner_id = $1 ORDER BY lesson COLLATE "C", completed_at_ms, step_id COLLATE "C"`,
        [learnerId],
      ),
    );
    return fromRow.stepTimesByLesson(rows);
  }
}

class PgClassStore implements ClassStore {
  constructor(
    private readonly core: PgCore,
    private readonly maxEventsPerClass: number,
  ) {}

  async create(record: ClassRecord): Promise<void> {
    checkClassRecord(record);
    const values = classColumnValues(record);
    const placeholders = values.map((_, index) => `$${index + 1}`).join(", ");
    return this.core.write(async (client) => {
      try {
        await client.query(`INSERT INTO classes (${CLASS_COLUMNS}) VALUES (${placeholders})`, values);
      } catch (error) {
        if (isUniqueViolation(error, CONSTRAINT.classCode)) throw new ClassCodeTakenError(record.code);
        if (isUniqueViolation(error, CONSTRAINT.classId)) throw new StoreArgumentError("id", `a class with the id ${record.id} exists already`);
        throw error;
      }
    });
  }

  async get(classId: string): Promise<ClassRecord | null> {
    checkClassId(classId);
    const { rows } = await this.core.read((pool) => pool.query<ClassRow<string>>(`SELECT ${CLASS_COLUMNS} FROM classes WHERE id = $1`, [classId]));
    return rows[0] ? fromRow.classRecord(rows[0]) : null;
  }

  async byCode(code: string): Promise<ClassRecord | null> {
    checkJoinCode(code);
    const { rows } = await this.core.read((pool) => pool.query<ClassRow<string>>(`SELECT ${CLASS_COLUMNS} FROM classes WHERE code = $1`, [code]));
    return rows[0] ? fromRow.classRecord(rows[0]) : null;
  }

  async list(): Promise<ClassRecord[]> {
    const { rows } = await this.core.read((pool) => pool.query<ClassRow<string>>(`SELECT ${CLASS_COLUMNS} FROM classes ORDER BY created_at_ms DESC, id COLLATE "C" DESC`));
    return rows.map(fromRow.classRecord);
  }

  async setState(classId: string, state: ClassState): Promise<boolean> {
    checkClassId(classId);
    checkClassState(state);
    return this.core.write(async (client) => (await client.query("UPDATE classes SET state = $1 WHERE id = $2", [state, classId])).rowCount === 1);
  }

  async setCode(classId: string, code: string): Promise<boolean> {
    checkClassId(classId);
    checkJoinCode(code);
    return this.core.write(async (client) => {
      try {
        return (await client.query("UPDATE classes SET code = $1 WHERE id = $2", [code, classId])).rowCount === 1;
      } catch (error) {
        if (isUniqueViolation(error, CONSTRAINT.classCode)) throw new ClassCodeTakenError(code);
        throw error;
      }
    });
  }

  async setLimits(classId: string, limits: Limits): Promise<boolean> {
    checkClassId(classId);
    checkLimits(limits);
    const columns = limitsColumns(limits);
    return this.core.write(
      async (client) =>
        (await client.query("UPDATE classes SET memory_bytes = $1, memory_swap_bytes = $2, nano_cpus = $3, pids_limit = $4 WHERE id = $5", [...columns, classId])).rowCount === 1,
    );
  }

  async setLastBroadcast(classId: string, broadcast: Broadcast): Promise<boolean> {
    checkClassId(classId);
    checkBroadcast(broadcast);
    const { text, sentAtMs } = broadcast;
    return this.core.write(
      async (client) => (await client.query("UPDATE classes SET broadcast_text = $1, broadcast_sent_at_ms = $2 WHERE id = $3", [text, sentAtMs, classId])).rowCount === 1,
    );
  }

  async join(request: JoinRequest): Promise<{ member: MemberRecord; created: boolean }> {
    checkJoinRequest(request);
    const { classId, learnerId, memberId, displayName, atMs } = request;
    // One write, so one savepoint: a refusal thrown here undoes this join alone. The class's
    // row is locked first, so that the checks and the insert see the same members even when
    // another node joins someone to the class at the same moment: its join waits here.
    return this.core.write(async (client) => {
      const found = await client.query<{ state: string; capacity: number }>("SELECT state, capacity FROM classes WHERE id = $1 FOR UPDATE", [classId]);
      const row = found.rows[0];
      if (!row) throw new ClassNotOpenError("missing");
      const joined = await client.query<MemberRow<string> & { removed_at_ms: string | null }>(
        `SELECT ${MEMBER_COLUMNS}, removed_at_ms FROM class_members WHERE class_id = $1 AND learner_id = $2`,
        [classId, learnerId],
      );
      const existing = joined.rows[0];
      // Before the state and the room: a removed learner is told that, not "closed" or "full".
      if (existing && existing.removed_at_ms !== null) throw new ClassMemberRemovedError(existing.member_id);
      if (existing) {
        await client.query("UPDATE class_members SET display_name = $1 WHERE class_id = $2 AND learner_id = $3", [displayName, classId, learnerId]);
        return { member: { ...fromRow.member(existing), displayName }, created: false };
      }
      const state = ClassState.parse(row.state);
      if (state !== "open") throw new ClassNotOpenError(state);
      // Every read of members is of live ones (removed_at_ms IS NULL) but two: the look-up
      // above, which must find a removed learner to keep them out, and the event log's check.
      const counted = await client.query<{ n: number }>("SELECT COUNT(*)::integer AS n FROM class_members WHERE class_id = $1 AND removed_at_ms IS NULL", [classId]);
      if ((counted.rows[0]?.n ?? 0) >= row.capacity) throw new ClassFullError(row.capacity);
      await client.query(INSERT_LEARNER, [learnerId, atMs]);
      try {
        // join_order: rows are never deleted (a removed member's is only marked), so one more
        // than the largest is the next place; the class's lock keeps it from being taken twice.
        await client.query(
          `INSERT INTO class_members (class_id, member_id, learner_id, display_name, joined_at_ms, join_order)
           VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(MAX(join_order), 0) + 1 FROM class_members WHERE class_id = $1))`,
          [classId, memberId, learnerId, displayName, atMs],
        );
      } catch (error) {
        if (isUniqueViolation(error, CONSTRAINT.memberId)) throw new StoreArgumentError("memberId", `another member of the class has the id ${memberId}`);
        throw error;
      }
      return { member: { classId, memberId, learnerId, displayName, joinedAtMs: atMs }, created: true };
    });
  }

  async removeMember(classId: string, memberId: string, atMs: number): Promise<boolean> {
    checkClassId(classId);
    checkMemberId(memberId);
    checkTimeMs(atMs);
    return this.core.write(
      async (client) =>
        (await client.query("UPDATE class_members SET removed_at_ms = $1 WHERE class_id = $2 AND member_id = $3 AND removed_at_ms IS NULL", [atMs, classId, memberId])).rowCount === 1,
    );
  }

  async member(classId: string, memberId: string): Promise<MemberRecord | null> {
    checkClassId(classId);
    checkMemberId(memberId);
    return (await this.liveMembers("class_id = $1 AND member_id = $2", [classId, memberId]))[0] ?? null;
  }

  async membership(classId: string, learnerId: string): Promise<MemberRecord | null> {
    checkClassId(classId);
    checkLearnerId(learnerId);
    return (await this.liveMembers("class_id = $1 AND learner_id = $2", [classId, learnerId]))[0] ?? null;
  }

  async members(classId: string): Promise<MemberRecord[]> {
    checkClassId(classId);
    return this.liveMembers("class_id = $1", [classId], "join_order");
  }

  async membershipsOf(learnerId: string): Promise<MemberRecord[]> {
    checkLearnerId(learnerId);
    return this.liveMembers("learner_id = $1", [learnerId], 'joined_at_ms DESC, join_order DESC, class_id COLLATE "C"');
  }

  /** The live members (removed_at_ms IS NULL) that `where` picks, in `orderBy`'s order: the one
   *  query behind member(), membership(), members() and membershipsOf(). `where` and `orderBy`
   *  are this class's own SQL, never a caller's text; the values go as parameters. */
  private async liveMembers(where: string, values: string[], orderBy?: string): Promise<MemberRecord[]> {
    const order = orderBy ? ` ORDER BY ${orderBy}` : "";
    const { rows } = await this.core.read((pool) =>
      pool.query<MemberRow<string>>(`SELECT ${MEMBER_COLUMNS} FROM class_members WHERE ${where} AND removed_at_ms IS NULL${order}`, values),
    );
    return rows.map(fromRow.member);
  }

  async progress(classId: string): Promise<Map<string, Map<string, number>>> {
    checkClassId(classId);
    // Every member, with the steps they did in the class's lesson (before or after joining):
    // the LEFT JOIN gives a member with none a row of NULLs.
    const { rows } = await this.core.read((pool) =>
      pool.query<MemberStepRow<string>>(
        `SELECT m.member_id, p.step_id, p.completed_at_ms
         FROM class_members m
         JOIN classes c ON c.id = m.class_id
         LEFT JOIN step_progress p ON p.learner_id = m.learner_id AND p.lesson = c.lesson
         WHERE m.class_id = $1 AND m.removed_at_ms IS NULL
         ORDER BY m.join_order, p.completed_at_ms, p.step_id COLLATE "C"`,
        [classId],
      ),
    );
    return fromRow.stepTimesByMember(rows);
  }

  async addEvent(event: ClassEvent): Promise<void> {
    checkClassEvent(event);
    const { classId, atMs, kind, memberId, detail } = event;
    return this.core.write(async (client) => {
      // The class's row locked, as for a join: the next seq is the largest plus one, and
      // another node adding an event to the class at the same moment must wait to take its own.
      // Checked here rather than left to the foreign keys, whose failure names neither.
      const found = await client.query("SELECT 1 FROM classes WHERE id = $1 FOR UPDATE", [classId]);
      if (found.rowCount === 0) throw new StoreArgumentError("classId", `there is no class ${classId}`);
      if (memberId !== null) {
        const member = await client.query("SELECT 1 FROM class_members WHERE class_id = $1 AND member_id = $2", [classId, memberId]);
        if (member.rowCount === 0) throw new StoreArgumentError("memberId", `the class ${classId} has no member ${memberId}`);
      }
      const inserted = await client.query<{ seq: string }>(
        `INSERT INTO class_events (class_id, seq, at_ms, kind, member_id, detail)
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM class_events WHERE class_id = $1), $2, $3, $4, $5)
         RETURNING seq`,
        [classId, atMs, kind, memberId, detail],
      );
      const seq = bigint(inserted.rows[0]?.seq ?? "", "class_events.seq");
      // Seqs only ever grow, and only the low end is cut: this keeps the newest maxEventsPerClass.
      await client.query("DELETE FROM class_events WHERE class_id = $1 AND seq <= $2", [classId, seq - this.maxEventsPerClass]);
    });
  }

  async events(classId: string, limit: number): Promise<ClassEvent[]> {
    checkClassId(classId);
    checkEventLimit(limit);
    const { rows } = await this.core.read((pool) =>
      pool.query<EventRow<string>>(
        "SELECT class_id, at_ms, kind, member_id, detail FROM (SELECT * FROM class_events WHERE class_id = $1 ORDER BY seq DESC LIMIT $2) AS newest ORDER BY seq",
        [classId, limit],
      ),
    );
    return rows.map(fromRow.event);
  }
}

class PgInstructorSessionStore implements InstructorSessionStore {
  constructor(private readonly core: PgCore) {}

  async create(tokenHash: string, createdAtMs: number, expiresAtMs: number): Promise<void> {
    checkTokenHash(tokenHash);
    checkTimeMs(createdAtMs, "createdAtMs");
    checkTimeMs(expiresAtMs, "expiresAtMs");
    if (expiresAtMs < createdAtMs) throw new StoreArgumentError("expiresAtMs", `${expiresAtMs} is before the session's creation at ${createdAtMs}`);
    return this.core.write(async (client) => {
      try {
        await client.query("INSERT INTO instructor_sessions (token_hash, created_at_ms, expires_at_ms) VALUES ($1, $2, $3)", [tokenHash, createdAtMs, expiresAtMs]);
      } catch (error) {
        // 256 random bits do not repeat: a repeat is a token used twice.
        if (isUniqueViolation(error, CONSTRAINT.tokenHash)) throw new StoreArgumentError("tokenHash", "a session with this token hash exists already");
        throw error;
      }
    });
  }

  async valid(tokenHash: string, nowMs: number): Promise<boolean> {
    checkTokenHash(tokenHash);
    checkTimeMs(nowMs, "nowMs");
    // Expired at nowMs means expires_at_ms <= nowMs: valid() and prune() draw the same line.
    const { rowCount } = await this.core.read((pool) => pool.query("SELECT 1 FROM instructor_sessions WHERE token_hash = $1 AND expires_at_ms > $2", [tokenHash, nowMs]));
    return (rowCount ?? 0) > 0;
  }

  async revoke(tokenHash: string): Promise<boolean> {
    checkTokenHash(tokenHash);
    return this.core.write(async (client) => (await client.query("DELETE FROM instructor_sessions WHERE token_hash = $1", [tokenHash])).rowCount === 1);
  }

  async prune(nowMs: number): Promise<number> {
    checkTimeMs(nowMs, "nowMs");
    return this.core.write(async (client) => (await client.query("DELETE FROM instructor_sessions WHERE expires_at_ms <= $1", [nowMs])).rowCount ?? 0);
  }
}
