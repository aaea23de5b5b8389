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
];
