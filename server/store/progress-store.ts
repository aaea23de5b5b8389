// Learners' progress through lab steps, in an embedded SQLite database (better-sqlite3 12).
// A learner is an opaque id from a cookie; a step is stored once, when its check first holds,
// and never un-done. The schema is versioned with PRAGMA user_version.
import fs from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";

import type { StepProgress } from "../../common/protocol";

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE learners (
     id TEXT PRIMARY KEY,
     created_at_ms INTEGER NOT NULL
   );
   CREATE TABLE step_progress (
     learner_id TEXT NOT NULL REFERENCES learners(id),
     lesson TEXT NOT NULL,
     step_id TEXT NOT NULL,
     completed_at_ms INTEGER NOT NULL,
     PRIMARY KEY (learner_id, lesson, step_id)
   );`,
];

export const LEARNER_ID_PATTERN = /^[0-9a-f]{32}$/;

export class ProgressStore {
  private readonly db: Database.Database;
  private readonly insertLearner: Database.Statement<[string, number]>;
  private readonly insertStep: Database.Statement<[string, string, string, number]>;
  private readonly selectLesson: Database.Statement<[string, string], { step_id: string; completed_at_ms: number }>;
  private readonly selectAll: Database.Statement<[string], { lesson: string; step_id: string; completed_at_ms: number }>;

  /** `file` is a path, or ":memory:" for a database that lives as long as the process. */
  constructor(file: string) {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("foreign_keys = ON");
    this.migrate();
    this.insertLearner = this.db.prepare("INSERT OR IGNORE INTO learners (id, created_at_ms) VALUES (?, ?)");
    this.insertStep = this.db.prepare(
      "INSERT OR IGNORE INTO step_progress (learner_id, lesson, step_id, completed_at_ms) VALUES (?, ?, ?, ?)",
    );
    this.selectLesson = this.db.prepare("SELECT step_id, completed_at_ms FROM step_progress WHERE learner_id = ? AND lesson = ?");
    this.selectAll = this.db.prepare("SELECT lesson, step_id, completed_at_ms FROM step_progress WHERE learner_id = ?");
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] ?? "");
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** Record that the step's check held; false when it was already recorded. */
  complete(learnerId: string, lesson: string, stepId: string, atMs: number): boolean {
    return this.db.transaction(() => {
      this.insertLearner.run(learnerId, atMs);
      return this.insertStep.run(learnerId, lesson, stepId, atMs).changes === 1;
    })();
  }

  /** When each completed step of the lesson was done, by step id. */
  completed(learnerId: string, lesson: string): Map<string, number> {
    return new Map(this.selectLesson.all(learnerId, lesson).map((r) => [r.step_id, r.completed_at_ms]));
  }

  /** The lesson's steps in order, done or not. */
  progress(learnerId: string, lesson: string, stepIds: readonly string[]): StepProgress[] {
    const done = this.completed(learnerId, lesson);
    return stepIds.map((id) => ({ id, done: done.has(id), completedAtMs: done.get(id) ?? null }));
  }

  allCompleted(learnerId: string): Map<string, Map<string, number>> {
    const byLesson = new Map<string, Map<string, number>>();
    for (const row of this.selectAll.all(learnerId)) {
      const lesson = byLesson.get(row.lesson) ?? new Map<string, number>();
      lesson.set(row.step_id, row.completed_at_ms);
      byLesson.set(row.lesson, lesson);
    }
    return byLesson;
  }

  close(): void {
    this.db.close();
  }
}
