import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";

import { MiB } from "../../common/limits";
import { MIGRATIONS, SCHEMA_MIGRATIONS_TABLE } from "./migrations";
import { openSqliteStore } from "./sqlite-store";
import { MAX_EVENTS_PER_CLASS, MAX_PENDING_WRITES, StoreOverloadedError } from "./store";
import { describeStoreContract } from "./store-contract";
import { CLASS, LEARNER, MEMBER, OTHER_CLASS, STRANGER, classRecord, expectRefusedJoinsFailAlone } from "./store-fixtures";

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

  it("keeps the database and its WAL files readable by root alone, whatever the umask, and sets an older database's 0644 to 0600", async () => {
    const file = dbFile();
    const umask = process.umask(0o022);
    try {
      // Open (migrated, in WAL mode): the -wal and -shm files exist while it is.
      const store = openSqliteStore(file);
      const modes = [file, `${file}-wal`, `${file}-shm`].map((part) => `${path.basename(part)} ${(fs.statSync(part).mode & 0o777).toString(8)}`);
      expect(modes).toEqual(["nslab.db 600", "nslab.db-wal 600", "nslab.db-shm 600"]);
      await store.close();
      fs.chmodSync(file, 0o644);
      await openSqliteStore(file).close();
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(umask);
    }
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

    // Adopted as version 1, then migrated the rest of the way.
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT version FROM schema_migrations ORDER BY version").all()).toEqual(MIGRATIONS.map((_, index) => ({ version: index + 1 })));
    db.close();
    // Opened again, it is simply at the newest version: nothing is adopted or migrated twice.
    const again = openSqliteStore(file);
    expect(await again.progress.completed(LEARNER, "containers-vs-vms")).toEqual(new Map([["oom", 222], ["new-netns", 444]]));
    await again.close();
  });

  it("migrates a database at schema version 1, as the release before the classroom left it, to the newest and keeps its rows", async () => {
    const file = dbFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const old = new Database(file);
    old.pragma("journal_mode = WAL");
    old.exec(SCHEMA_MIGRATIONS_TABLE);
    old.exec(MIGRATIONS[0] ?? "");
    old.prepare("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (1, 5)").run();
    old.prepare("INSERT INTO learners (id, created_at_ms) VALUES (?, ?)").run(LEARNER, 111);
    old.prepare("INSERT INTO step_progress (learner_id, lesson, step_id, completed_at_ms) VALUES (?, ?, ?, ?)").run(LEARNER, "containers-vs-vms", "oom", 222);
    old.close();

    const store = openSqliteStore(file);
    expect(await store.learners.get(LEARNER)).toEqual({ id: LEARNER, createdAtMs: 111 });
    // The learner's old progress is theirs in the new class, too.
    await store.classes.create(classRecord());
    const joined = await store.classes.join({ classId: CLASS, learnerId: LEARNER, memberId: MEMBER, displayName: "Ada", atMs: 333 });
    expect(joined.created).toBe(true);
    expect(await store.learners.get(LEARNER)).toEqual({ id: LEARNER, createdAtMs: 111 });
    expect(await store.classes.progress(CLASS)).toEqual(new Map([[MEMBER, new Map([["oom", 222]])]]));
    await store.close();

    const db = new Database(file, { readonly: true });
    const versions = db.prepare<[], { version: number; applied_at_ms: number }>("SELECT version, applied_at_ms FROM schema_migrations ORDER BY version").all();
    expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((_, index) => index + 1));
    // Version 1's record is the old release's own, untouched.
    expect(versions[0]?.applied_at_ms).toBe(5);
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((t) => t.name);
    expect(tables).toEqual(["class_events", "class_members", "classes", "instructor_sessions", "learners", "live_sessions", "nodes", "schema_migrations", "step_progress"]);
    db.close();
  });

  it("keeps a class's CPUs as docker's whole nano-CPUs, so that the value reads back exactly", async () => {
    const file = dbFile();
    const store = openSqliteStore(file);
    await store.classes.create(classRecord({ limits: { memoryBytes: 256 * MiB, memorySwapBytes: -1, cpus: 0.5, pids: -1 } }));
    await store.classes.create(classRecord({ id: OTHER_CLASS, code: "XYZ789", limits: { memoryBytes: 6 * MiB, memorySwapBytes: 6 * MiB, cpus: 0.3, pids: 64 } }));
    await store.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT id, memory_bytes, memory_swap_bytes, nano_cpus, pids_limit FROM classes ORDER BY id").all()).toEqual([
      { id: CLASS, memory_bytes: 256 * MiB, memory_swap_bytes: -1, nano_cpus: 500_000_000, pids_limit: -1 },
      { id: OTHER_CLASS, memory_bytes: 6 * MiB, memory_swap_bytes: 6 * MiB, nano_cpus: 300_000_000, pids_limit: 64 },
    ]);
    db.close();
    const again = openSqliteStore(file);
    expect((await again.classes.get(OTHER_CLASS))?.limits.cpus).toBe(0.3);
    await again.close();
  });

  it("keeps at most maxEventsPerClass events per class, dropping the oldest in the write that adds one", async () => {
    const file = dbFile();
    const store = openSqliteStore(file, { maxEventsPerClass: 3 });
    await store.classes.create(classRecord());
    await store.classes.create(classRecord({ id: OTHER_CLASS, code: "XYZ789" }));
    const observer = new Database(file, { readonly: true });
    const rows = (classId: string) => observer.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM class_events WHERE class_id = ?").get(classId)?.n;
    // Some awaited one by one, some queued together in one batch.
    for (let index = 0; index < 4; index++) await store.classes.addEvent({ classId: CLASS, atMs: index, kind: "step", memberId: null, detail: `step-${index}` });
    expect(rows(CLASS)).toBe(3);
    const batch = Array.from({ length: 5 }, (_, index) => store.classes.addEvent({ classId: CLASS, atMs: 10 + index, kind: "step", memberId: null, detail: `late-${index}` }));
    const other = store.classes.addEvent({ classId: OTHER_CLASS, atMs: 1, kind: "state", memberId: null, detail: "closed" });
    await Promise.all([...batch, other]);
    expect(rows(CLASS)).toBe(3);
    expect(rows(OTHER_CLASS)).toBe(1);
    expect((await store.classes.events(CLASS, 10)).map((e) => e.detail)).toEqual(["late-2", "late-3", "late-4"]);
    expect((await store.classes.events(OTHER_CLASS, 10)).map((e) => e.detail)).toEqual(["closed"]);
    observer.close();
    await store.close();
  });

  it(`keeps at most ${MAX_EVENTS_PER_CLASS} events per class unless told otherwise`, async () => {
    expect(MAX_EVENTS_PER_CLASS).toBe(20_000);
    const store = openSqliteStore(":memory:");
    await store.classes.create(classRecord());
    const total = MAX_EVENTS_PER_CLASS + 5;
    // In chunks the write queue takes.
    for (let start = 0; start < total; start += 5_000) {
      const chunk = Array.from({ length: Math.min(5_000, total - start) }, (_, offset) =>
        store.classes.addEvent({ classId: CLASS, atMs: start + offset, kind: "step", memberId: null, detail: String(start + offset) }),
      );
      await Promise.all(chunk);
    }
    const kept = await store.classes.events(CLASS, total);
    expect(kept).toHaveLength(MAX_EVENTS_PER_CLASS);
    expect(kept[0]?.detail).toBe("5");
    expect(kept.at(-1)?.detail).toBe(String(total - 1));
    await store.close();
  });

  it("runs no SQL inside join(), and a refused join fails only itself: the rest of its batch is stored", async () => {
    const file = dbFile();
    const store = openSqliteStore(file);
    const observer = new Database(file, { readonly: true });
    await expectRefusedJoinsFailAlone(store, () => observer.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM class_members").get()?.n);
    observer.close();
    await store.close();
  });

  it("adds removed members to a classroom database made before they could be removed (version 2)", async () => {
    const file = dbFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const old = new Database(file);
    old.exec(SCHEMA_MIGRATIONS_TABLE);
    old.exec(MIGRATIONS[0] ?? "");
    old.exec(MIGRATIONS[1] ?? "");
    old.prepare("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (1, 5), (2, 6)").run();
    old.close();
    // The class and its member as version 2 kept them, written through a store that knew no
    // more: the same rows, with no removed_at_ms column under them.
    const db2 = new Database(file);
    db2.prepare("INSERT INTO learners (id, created_at_ms) VALUES (?, ?)").run(LEARNER, 1);
    const record = classRecord();
    db2
      .prepare(
        "INSERT INTO classes (id, code, name, lesson, memory_bytes, memory_swap_bytes, nano_cpus, pids_limit, capacity, reconnect_grace_s, session_lifetime_s, idle_timeout_s, state, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(record.id, record.code, record.name, record.lesson, record.limits.memoryBytes, record.limits.memorySwapBytes, record.limits.cpus * 1e9, record.limits.pids, record.capacity, record.reconnectGraceS, record.sessionLifetimeS, record.idleTimeoutS, record.state, record.createdAtMs);
    db2.prepare("INSERT INTO class_members (class_id, member_id, learner_id, display_name, joined_at_ms, join_order) VALUES (?, ?, ?, ?, ?, ?)").run(CLASS, MEMBER, LEARNER, "Ada", 2, 1);
    db2.close();

    const store = openSqliteStore(file);
    expect((await store.classes.members(CLASS)).map((m) => m.displayName)).toEqual(["Ada"]);
    expect(await store.classes.removeMember(CLASS, MEMBER, 3)).toBe(true);
    expect(await store.classes.members(CLASS)).toEqual([]);
    await store.close();
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
