// The database schema, as migrations applied in order: version N is MIGRATIONS[N - 1]. Each
// store records the versions it has applied in schema_migrations and runs the rest in one
// transaction when it opens.
//
// Every statement here must run unchanged on SQLite and on PostgreSQL, so that one list serves
// both. So: only TEXT, INTEGER and BIGINT columns (times are BIGINT milliseconds, which
// PostgreSQL's 32-bit INTEGER cannot hold); no AUTOINCREMENT, SERIAL or identity columns; no
// INSERT OR IGNORE (use INSERT ... ON CONFLICT DO NOTHING); no PRAGMA; several statements in
// one string are fine (SQLite's exec and PostgreSQL's simple query protocol both take them).
// A migration, once released, is never edited: add another.

export const SCHEMA_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  applied_at_ms BIGINT NOT NULL
)`;

export const MIGRATIONS: readonly string[] = [
  // 1: learners and the lab steps they have done. The same tables the first release created,
  // under PRAGMA user_version = 1 (sqlite-store.ts adopts such a database as version 1).
  `CREATE TABLE learners (
     id TEXT PRIMARY KEY,
     created_at_ms BIGINT NOT NULL
   );
   CREATE TABLE step_progress (
     learner_id TEXT NOT NULL REFERENCES learners(id),
     lesson TEXT NOT NULL,
     step_id TEXT NOT NULL,
     completed_at_ms BIGINT NOT NULL,
     PRIMARY KEY (learner_id, lesson, step_id)
   );`,
  // 2: the classroom. A class's limits are one column each, as docker names them; cpus as
  // docker's NanoCpus (cpus × 10^9), a whole number, so that 0.5 reads back as 0.5 from
  // either database. join_order (the largest so far plus one, taken in the join's
  // transaction) keeps the order members joined in when several join in the same
  // millisecond. An event's seq is its class's largest so far plus one: the log is ordered by
  // it and trimmed from its low end. Instructor sessions are keyed by the SHA-256
  // of their token, so that the database never holds a token that would log anyone in.
  `CREATE TABLE classes (
     id TEXT PRIMARY KEY,
     code TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL,
     lesson TEXT NOT NULL,
     memory_bytes BIGINT NOT NULL,
     memory_swap_bytes BIGINT NOT NULL,
     nano_cpus BIGINT NOT NULL,
     pids_limit BIGINT NOT NULL,
     capacity INTEGER NOT NULL,
     reconnect_grace_s INTEGER NOT NULL,
     session_lifetime_s INTEGER NOT NULL,
     idle_timeout_s INTEGER NOT NULL,
     state TEXT NOT NULL,
     created_at_ms BIGINT NOT NULL,
     broadcast_text TEXT,
     broadcast_sent_at_ms BIGINT
   );
   CREATE TABLE class_members (
     class_id TEXT NOT NULL REFERENCES classes(id),
     member_id TEXT NOT NULL,
     learner_id TEXT NOT NULL REFERENCES learners(id),
     display_name TEXT NOT NULL,
     joined_at_ms BIGINT NOT NULL,
     join_order INTEGER NOT NULL,
     PRIMARY KEY (class_id, member_id),
     UNIQUE (class_id, learner_id),
     UNIQUE (class_id, join_order)
   );
   CREATE INDEX class_members_by_learner ON class_members (learner_id);
   CREATE TABLE class_events (
     class_id TEXT NOT NULL REFERENCES classes(id),
     seq BIGINT NOT NULL,
     at_ms BIGINT NOT NULL,
     kind TEXT NOT NULL,
     member_id TEXT,
     detail TEXT NOT NULL,
     PRIMARY KEY (class_id, seq),
     FOREIGN KEY (class_id, member_id) REFERENCES class_members(class_id, member_id)
   );
   CREATE TABLE instructor_sessions (
     token_hash TEXT PRIMARY KEY,
     created_at_ms BIGINT NOT NULL,
     expires_at_ms BIGINT NOT NULL
   );
   CREATE INDEX instructor_sessions_by_expiry ON instructor_sessions (expires_at_ms);`,
  // 3: members the instructor removed. A removed member keeps their row, marked by
  // removed_at_ms (class_events refers to it, and the mark is what refuses their rejoin): rows
  // are never deleted, so join_order stays the order they joined in.
  `ALTER TABLE class_members ADD COLUMN removed_at_ms BIGINT;`,
  // 4: the nodes of a lab that runs on several machines sharing one PostgreSQL, and which node
  // runs each live sandbox (server/cluster/). A node's row is its heartbeat: one that stops
  // beating is marked gone (gone_at_ms) and its live sessions are deleted. An embedded SQLite
  // lab has one node and never writes these tables; they are here so that both databases
  // share one schema.
  `CREATE TABLE nodes (
     id TEXT PRIMARY KEY,
     address TEXT NOT NULL,
     capacity INTEGER NOT NULL,
     live_sessions INTEGER NOT NULL,
     started_at_ms BIGINT NOT NULL,
     heartbeat_at_ms BIGINT NOT NULL,
     gone_at_ms BIGINT
   );
   CREATE TABLE live_sessions (
     session_id TEXT PRIMARY KEY,
     node_id TEXT NOT NULL REFERENCES nodes(id),
     learner_id TEXT NOT NULL,
     lesson TEXT,
     class_id TEXT,
     member_id TEXT,
     started_at_ms BIGINT NOT NULL
   );
   CREATE INDEX live_sessions_by_node ON live_sessions (node_id);
   CREATE INDEX live_sessions_by_member ON live_sessions (class_id, member_id);`,
];
