import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";

import { MIGRATIONS } from "./migrations";
import { openSqliteStore } from "./sqlite-store";
import { MAX_PENDING_WRITES, StoreOverloadedError } from "./store";
import { describeStoreContract } from "./store-contract";

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "nslab-store-"));
}

describeStoreContract("SQLite in a file", async () => {
  const dir = tempDir();
  const file = path.join(dir, "data", "nslab.db");
  return {
    store: openSqliteStore(file),
    reopen: async () => openSqliteStore(file),
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}, { survivesRestart: true });

describeStoreContract("SQLite in memory", async () => ({ store: openSqliteStore(":memory:"), cleanup: async () => {} }), { survivesRestart: false });

const LEARNER = "0123456789abcdef0123456789abcdef";
const STRANGER = "ffffffffffffffffffffffffffffffff";

// The schema exactly as the first release created it, versioned by PRAGMA user_version.
const FIRST_RELEASE_SCHEMA = `CREATE TABLE learners (
     id TEXT PRIMARY KEY,
     created_at_ms INTEGER NOT NULL
   );
   CREATE TABLE step_progress (
     learner_id TEXT NOT NULL REFERENCES learners(id),
     lesson TEXT NOT NULL,
     step_id TEXT NOT NULL,
     completed_at_ms INTEGER NOT NULL,
     PRIMARY KEY (learner_id, lesson, step_id)
   );`;

describe("the SQLite store", () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  function dbFile(): string {
    dir = tempDir();
    return path.join(dir, "nested", "nslab.db");
  }

  it("creates the database in an owner-only directory, in WAL mode, with every migration recorded", async () => {
    const file = dbFile();
    await openSqliteStore(file).close();
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const db = new Database(file, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.prepare("SELECT version FROM schema_migrations ORDER BY version").all()).toEqual(MIGRATIONS.map((_, index) => ({ version: index + 1 })));
    expect(db.pragma("user_version", { simple: true })).toBe(0);
    db.close();
  });

  it("takes over a first-release database (user_version 1) and keeps its rows", async () => {
    const file = dbFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const old = new Database(file);
    old.pragma("journal_mode = WAL");
    old.exec(FIRST_RELEASE_SCHEMA);
    old.pragma("user_version = 1");
    old.prepare("INSERT INTO learners (id, created_at_ms) VALUES (?, ?)").run(LEARNER, 111);
    old.prepare("INSERT INTO step_progress (learner_id, lesson, step_id, completed_at_ms) VALUES (?, ?, ?, ?)").run(LEARNER, "containers-vs-vms", "oom", 222);
    old.close();

    const store = openSqliteStore(file);
    expect(await store.progress.completed(LEARNER, "containers-vs-vms")).toEqual(new Map([["oom", 222]]));
    expect(await store.learners.get(LEARNER)).toEqual({ id: LEARNER, createdAtMs: 111 });
    expect(await store.progress.complete(LEARNER, "containers-vs-vms", "oom", 333)).toBe(false);
    expect(await store.progress.complete(LEARNER, "containers-vs-vms", "new-netns", 444)).toBe(true);
    await store.close();

    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT version FROM schema_migrations").all()).toEqual([{ version: 1 }]);
    db.close();
    // Opened again, it is simply at version 1: nothing is adopted or migrated twice.
    const again = openSqliteStore(file);
    expect(await again.progress.completed(LEARNER, "containers-vs-vms")).toEqual(new Map([["oom", 222], ["new-netns", 444]]));
    await again.close();
  });

  it("refuses a database from a newer nslab, and one whose user_version it does not know", async () => {
    const newer = dbFile();
    await openSqliteStore(newer).close();
    const db = new Database(newer);
    db.prepare("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?, ?)").run(99, 0);
    db.close();
    expect(() => openSqliteStore(newer)).toThrow(`${newer}: the database is at schema version 99, but this nslab knows versions up to ${MIGRATIONS.length}; run a newer nslab`);

    const odd = path.join(path.dirname(newer), "odd.db");
    const oddDb = new Database(odd);
    oddDb.pragma("user_version = 7");
    oddDb.close();
    expect(() => openSqliteStore(odd)).toThrow(`${odd}: PRAGMA user_version is 7, which no nslab release wrote; not guessing its schema`);
  });

  it("runs no SQL inside complete() or ensure(): the queue is written on a later turn of the event loop", async () => {
    const file = dbFile();
    const store = openSqliteStore(file);
    const observer = new Database(file, { readonly: true });
    const count = () => observer.prepare<[], { n: number }>("SELECT (SELECT COUNT(*) FROM step_progress) + (SELECT COUNT(*) FROM learners) AS n").get()?.n;
    const completed = store.progress.complete(LEARNER, "containers-vs-vms", "oom", 1);
    const ensured = store.learners.ensure(STRANGER, 2);
    expect(count()).toBe(0);
    expect(await completed).toBe(true);
    expect(await ensured).toBe(true);
    expect(count()).toBe(3);
    observer.close();
    await store.close();
  });

  it("fails only the write that fails: the rest of its batch is stored, each caller told its own result", async () => {
    const file = dbFile();
    await openSqliteStore(file).close();
    const db = new Database(file);
    db.exec("CREATE TRIGGER refuse_poison BEFORE INSERT ON step_progress WHEN NEW.step_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned step'); END");
    db.close();
    const store = openSqliteStore(file);
    const before = store.progress.complete(LEARNER, "containers-vs-vms", "oom", 1);
    const poisoned = store.progress.complete(STRANGER, "containers-vs-vms", "poison", 2);
    const after = store.progress.complete(LEARNER, "containers-vs-vms", "new-netns", 3);
    expect(await before).toBe(true);
    await expect(poisoned).rejects.toThrow("poisoned step");
    expect(await after).toBe(true);
    expect(await store.progress.completed(LEARNER, "containers-vs-vms")).toEqual(new Map([["oom", 1], ["new-netns", 3]]));
    // The failed write is undone whole: not even its learner was kept.
    expect(await store.learners.get(STRANGER)).toBeNull();
    await store.close();
  });

  it(`refuses writes past ${MAX_PENDING_WRITES} waiting, with a clear error, and still stores the earlier ones`, async () => {
    expect(MAX_PENDING_WRITES).toBe(10_000);
    const store = openSqliteStore(":memory:");
    const learners = Array.from({ length: 1_000 }, (_, index) => index.toString(16).padStart(32, "0"));
    const accepted: Array<Promise<boolean>> = [];
    for (let index = 0; index < MAX_PENDING_WRITES; index++) {
      accepted.push(store.progress.complete(learners[index % 1_000] ?? "", "containers-vs-vms", `step-${Math.floor(index / 1_000)}`, index));
    }
    const refusedStep = store.progress.complete(LEARNER, "containers-vs-vms", "oom", 1);
    const refusedLearner = store.learners.ensure(LEARNER, 1);
    for (const refused of [refusedStep, refusedLearner]) {
      const error = await refused.then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(StoreOverloadedError);
      expect((error as Error).message).toBe(
        "the progress store is overloaded; 10000 writes are already waiting for the database, so this one was refused",
      );
    }
    expect((await Promise.all(accepted)).every((added) => added)).toBe(true);
    const all = await store.progress.allCompleted(learners[999] ?? "");
    expect(all.get("containers-vs-vms")?.size).toBe(10);
    expect(await store.learners.get(LEARNER)).toBeNull();
    // Once the queue is written, writes are taken again.
    expect(await store.progress.complete(LEARNER, "containers-vs-vms", "oom", 2)).toBe(true);
    await store.close();
  });

  it("honours a smaller bound when asked", async () => {
    const store = openSqliteStore(":memory:", { maxPendingWrites: 2 });
    const first = store.learners.ensure(LEARNER, 1);
    const second = store.progress.complete(LEARNER, "containers-vs-vms", "oom", 2);
    await expect(store.progress.complete(LEARNER, "containers-vs-vms", "new-netns", 3)).rejects.toThrow(/^the progress store is overloaded; 2 writes/);
    expect([await first, await second]).toEqual([true, true]);
    expect(await store.progress.completed(LEARNER, "containers-vs-vms")).toEqual(new Map([["oom", 2]]));
    await store.close();
  });
});
