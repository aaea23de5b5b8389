// The PostgreSQL store against a real PostgreSQL server: one throwaway cluster for the file
// (server/testing/pg-cluster.ts), a fresh database for each test.
import pg from "pg";
import { afterEach, expect, it } from "vitest";

import { freePort } from "../testing/free-port";
import { describePg } from "../testing/pg-cluster";
import { MIGRATIONS } from "./migrations";
import { openPgStore, type PgStore } from "./pg-store";
import { ClassFullError, StoreClosedError, StoreOverloadedError } from "./store";
import { describeStoreContract } from "./store-contract";
import { CLASS, LEARNER, MEMBER, OTHER_CLASS, STRANGER, classRecord, expectRefusedJoinsFailAlone } from "./store-fixtures";

const learner = (n: number) => n.toString(16).padStart(32, "0");
const member = (n: number) => n.toString(16).padStart(16, "0");

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`);
  }
  throw new Error("expected the call to reject, but it resolved");
}

describePg("the PostgreSQL store", (cluster) => {
  describeStoreContract(
    "PostgreSQL",
    async () => {
      const url = await cluster().createDatabase();
      return { store: await openPgStore(url), reopen: () => openPgStore(url), cleanup: async () => {} };
    },
    { survivesRestart: true },
  );

  /** Stores and clients a test opened, closed after it. */
  const stores: PgStore[] = [];
  const clients: pg.Client[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const client of clients.splice(0)) await client.end();
  });

  async function open(url: string, options?: Parameters<typeof openPgStore>[1]): Promise<PgStore> {
    const store = await openPgStore(url, options);
    stores.push(store);
    return store;
  }

  /** A connection of the test's own, to look at (or change) the database behind the store. */
  async function observer(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  }

  it("migrates a new database once when several stores open it at the same moment", async () => {
    const url = await cluster().createDatabase();
    const opened = await Promise.all(Array.from({ length: 4 }, () => open(url)));
    expect(opened).toHaveLength(4);
    const db = await observer(url);
    const versions = await db.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
    expect(versions.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, index) => index + 1));
    const tables = await db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name COLLATE \"C\"",
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      "class_events",
      "class_members",
      "classes",
      "instructor_sessions",
      "learners",
      "live_sessions",
      "nodes",
      "schema_migrations",
      "step_progress",
    ]);
    // Each store works on the one schema, and sees what the others wrote.
    await opened[0]?.learners.ensure(LEARNER, 1);
    for (const store of opened) expect(await store.learners.get(LEARNER)).toEqual({ id: LEARNER, createdAtMs: 1 });
    // Opened again, nothing is migrated twice.
    await open(url);
    expect((await db.query("SELECT version FROM schema_migrations")).rowCount).toBe(MIGRATIONS.length);
  });

  it("lets no more than `capacity` learners into a class when stores on several nodes join them at once", async () => {
    const url = await cluster().createDatabase();
    const nodes = await Promise.all(Array.from({ length: 4 }, () => open(url)));
    await nodes[0]?.classes.create(classRecord({ capacity: 5 }));
    // 4 nodes × 6 learners, none awaited before the others start: 24 race for 5 places.
    const calls = nodes.flatMap((store, node) =>
      Array.from({ length: 6 }, (_, index) => {
        const n = node * 6 + index + 1;
        return store.classes.join({ classId: CLASS, learnerId: learner(n), memberId: member(n), displayName: `Learner ${n}`, atMs: 1_000 + n });
      }),
    );
    const settled = await Promise.allSettled(calls);
    const joined = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value.member] : []));
    const refused = settled.flatMap((s) => (s.status === "rejected" ? [s.reason as unknown] : []));
    expect(joined).toHaveLength(5);
    expect(refused).toHaveLength(19);
    for (const reason of refused) expect(reason).toBeInstanceOf(ClassFullError);
    const members = await nodes[3]?.classes.members(CLASS);
    expect(new Set(members?.map((m) => m.memberId))).toEqual(new Set(joined.map((m) => m.memberId)));
    const db = await observer(url);
    const orders = await db.query<{ join_order: number }>("SELECT join_order FROM class_members WHERE class_id = $1 ORDER BY join_order", [CLASS]);
    expect(orders.rows.map((r) => r.join_order)).toEqual([1, 2, 3, 4, 5]);
    // The refused learners were not created either.
    expect((await db.query("SELECT id FROM learners")).rowCount).toBe(5);
  });

  it("numbers a class's events without gaps or repeats when several nodes add them at once", async () => {
    const url = await cluster().createDatabase();
    const nodes = await Promise.all(Array.from({ length: 3 }, () => open(url)));
    await nodes[0]?.classes.create(classRecord());
    await Promise.all(
      nodes.flatMap((store, node) =>
        Array.from({ length: 20 }, (_, index) => store.classes.addEvent({ classId: CLASS, atMs: index, kind: "step", memberId: null, detail: `${node}-${index}` })),
      ),
    );
    const db = await observer(url);
    const seqs = await db.query<{ seq: string }>("SELECT seq FROM class_events WHERE class_id = $1 ORDER BY seq", [CLASS]);
    expect(seqs.rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 60 }, (_, index) => index + 1));
    // Each node's events keep the order that node added them in.
    const details = (await nodes[1]?.classes.events(CLASS, 100))?.map((e) => e.detail) ?? [];
    for (const node of [0, 1, 2]) {
      expect(details.filter((d) => d.startsWith(`${node}-`))).toEqual(Array.from({ length: 20 }, (_, index) => `${node}-${index}`));
    }
  });

  it("runs again, whole, a batch that deadlocked with another node's, and loses none of its writes", async () => {
    const url = await cluster().createDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    if (!a || !b) throw new Error("two stores expected");
    await a.classes.create(classRecord());
    await a.classes.create(classRecord({ id: OTHER_CLASS, code: "XYZ789" }));
    // A third session holds both classes' rows, so that each store's batch waits on its first
    // lock; let go, each takes its first and waits for the other's: a deadlock, every time.
    const holder = await observer(url);
    await holder.query("BEGIN");
    await holder.query("SELECT id FROM classes FOR UPDATE");
    const writes = [
      a.classes.addEvent({ classId: CLASS, atMs: 1, kind: "step", memberId: null, detail: "a1" }),
      a.classes.addEvent({ classId: OTHER_CLASS, atMs: 2, kind: "step", memberId: null, detail: "a2" }),
      b.classes.addEvent({ classId: OTHER_CLASS, atMs: 3, kind: "step", memberId: null, detail: "b1" }),
      b.classes.addEvent({ classId: CLASS, atMs: 4, kind: "step", memberId: null, detail: "b2" }),
    ];
    const waiting = async () =>
      Number((await holder.query<{ n: string }>("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0]?.n);
    for (let polls = 0; (await waiting()) < 2; polls++) {
      if (polls > 5_000) throw new Error("the two stores' batches never both waited for the held rows");
      await new Promise((resolve) => setImmediate(resolve));
    }
    await holder.query("COMMIT");
    await Promise.all(writes);
    expect((await a.classes.events(CLASS, 10)).map((e) => e.detail).sort()).toEqual(["a1", "b2"]);
    expect((await b.classes.events(OTHER_CLASS, 10)).map((e) => e.detail).sort()).toEqual(["a2", "b1"]);
  });

  it("reads back exactly every time it stores, up to 2^53 - 1 milliseconds", async () => {
    const url = await cluster().createDatabase();
    const store = await open(url);
    const now = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z, a Date.now() of these years
    const times = [now, 2 ** 52, Number.MAX_SAFE_INTEGER];
    for (const [index, atMs] of times.entries()) {
      await store.learners.ensure(learner(index + 1), atMs);
      expect(await store.learners.get(learner(index + 1))).toEqual({ id: learner(index + 1), createdAtMs: atMs });
      await store.progress.complete(LEARNER, "containers-vs-vms", `step-${index}`, atMs);
    }
    expect(await store.progress.completed(LEARNER, "containers-vs-vms")).toEqual(new Map(times.map((t, index) => [`step-${index}`, t])));
    const record = classRecord({ createdAtMs: 2 ** 52, lastBroadcast: { text: "Hello", sentAtMs: Number.MAX_SAFE_INTEGER }, limits: { memoryBytes: 2 ** 50, memorySwapBytes: -1, cpus: 0.3, pids: -1 } });
    await store.classes.create(record);
    expect(await store.classes.get(CLASS)).toEqual(record);
    const joined = await store.classes.join({ classId: CLASS, learnerId: STRANGER, memberId: MEMBER, displayName: "Ada", atMs: now });
    expect(await store.classes.member(CLASS, MEMBER)).toEqual(joined.member);
    expect(joined.member.joinedAtMs).toBe(now);
    await store.classes.addEvent({ classId: CLASS, atMs: 2 ** 52 + 1, kind: "join", memberId: MEMBER, detail: "" });
    expect((await store.classes.events(CLASS, 1))[0]?.atMs).toBe(2 ** 52 + 1);
    await store.instructorSessions.create("1".repeat(64), now, Number.MAX_SAFE_INTEGER);
    expect(await store.instructorSessions.valid("1".repeat(64), Number.MAX_SAFE_INTEGER - 1)).toBe(true);
    expect(await store.instructorSessions.valid("1".repeat(64), Number.MAX_SAFE_INTEGER)).toBe(false);
    // In the database as the numbers they are, not as rounded floats.
    const db = await observer(url);
    const stored = await db.query<{ created_at_ms: string }>("SELECT created_at_ms::text FROM learners WHERE id = ANY($1) ORDER BY created_at_ms", [[1, 2, 3].map(learner)]);
    expect(stored.rows.map((r) => r.created_at_ms)).toEqual([String(now), "4503599627370496", "9007199254740991"]);
  });

  it("refuses to read a time past 2^53 - 1 that something else wrote, rather than round it", async () => {
    const url = await cluster().createDatabase();
    const store = await open(url);
    const db = await observer(url);
    await db.query("INSERT INTO learners (id, created_at_ms) VALUES ($1, $2)", [LEARNER, "9007199254740993"]);
    expect((await rejection(store.learners.get(LEARNER))).message).toBe(
      "learners.created_at_ms holds 9007199254740993, which is not a whole number JavaScript keeps exactly (at most 2^53 - 1)",
    );
  });

  it("says which database it cannot reach and what to check, never showing the password", async () => {
    // Nothing listens on a port the kernel just handed out and took back.
    const port = await freePort();
    const refused = await rejection(openPgStore(`postgres://nslab:s3cret-pass@127.0.0.1:${port}/nslab`));
    expect(refused.message).toMatch(
      new RegExp(`^cannot connect to PostgreSQL \\(database nslab on 127\\.0\\.0\\.1:${port} as nslab\\): .*ECONNREFUSED.*; nothing accepts connections there: check that PostgreSQL is running`),
    );
    expect(refused.message).not.toContain("s3cret-pass");

    const missing = await rejection(openPgStore(cluster().url("no_such_database")));
    expect(missing.message).toContain(`database no_such_database on 127.0.0.1:${new URL(cluster().url()).port} as postgres`);
    expect(missing.message).toContain("the database does not exist: create it");

    const notPg = await rejection(openPgStore("mysql://root:hunter2@db/nslab"));
    expect(notPg.message).toBe("mysql://root:*****@db/nslab is not a PostgreSQL URL; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE");
  });

  it("refuses a database a newer nslab migrated, naming the versions", async () => {
    const url = await cluster().createDatabase();
    await (await openPgStore(url)).close();
    const db = await observer(url);
    await db.query("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (99, 0)");
    const error = await rejection(openPgStore(url));
    expect(error.message).toMatch(new RegExp(`^database nslab_test_\\w+ on 127\\.0\\.0\\.1:\\d+ as postgres: the database is at schema version 99, but this nslab knows versions up to ${MIGRATIONS.length}; run a newer nslab$`));
    // The failed open let go of the migration lock: another store opens once the row is gone.
    await db.query("DELETE FROM schema_migrations WHERE version = 99");
    await open(url);
  });

  it("fails only the write that fails in the database: the rest of its batch is stored, each caller told its own result", async () => {
    const url = await cluster().createDatabase();
    await (await openPgStore(url)).close();
    const db = await observer(url);
    await db.query(`
      CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.step_id = 'poison' THEN RAISE EXCEPTION 'poisoned step'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_poison BEFORE INSERT ON step_progress FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
    const store = await open(url);
    const before = store.progress.complete(LEARNER, "containers-vs-vms", "oom", 1);
    const poisoned = store.progress.complete(STRANGER, "containers-vs-vms", "poison", 2);
    const after = store.progress.complete(LEARNER, "containers-vs-vms", "new-netns", 3);
    expect(await before).toBe(true);
    expect((await rejection(poisoned)).message).toBe("poisoned step");
    expect(await after).toBe(true);
    expect(await store.progress.completed(LEARNER, "containers-vs-vms")).toEqual(new Map([["oom", 1], ["new-netns", 3]]));
    // The failed write is undone whole: not even its learner was kept.
    expect(await store.learners.get(STRANGER)).toBeNull();
  });

  it("writes nothing inside the call: a refused join fails only itself, and the rest of its batch is stored", async () => {
    const url = await cluster().createDatabase();
    const store = await open(url);
    const db = await observer(url);
    await expectRefusedJoinsFailAlone(store, async () => (await db.query("SELECT 1 FROM class_members")).rowCount);
  });

  it("keeps at most maxEventsPerClass events per class, dropping the oldest in the write that adds one", async () => {
    const url = await cluster().createDatabase();
    const store = await open(url, { maxEventsPerClass: 3 });
    await store.classes.create(classRecord());
    await store.classes.create(classRecord({ id: OTHER_CLASS, code: "XYZ789" }));
    const db = await observer(url);
    const rows = async (classId: string) => (await db.query("SELECT 1 FROM class_events WHERE class_id = $1", [classId])).rowCount;
    for (let index = 0; index < 4; index++) await store.classes.addEvent({ classId: CLASS, atMs: index, kind: "step", memberId: null, detail: `step-${index}` });
    expect(await rows(CLASS)).toBe(3);
    const batch = Array.from({ length: 5 }, (_, index) => store.classes.addEvent({ classId: CLASS, atMs: 10 + index, kind: "step", memberId: null, detail: `late-${index}` }));
    const other = store.classes.addEvent({ classId: OTHER_CLASS, atMs: 1, kind: "state", memberId: null, detail: "closed" });
    await Promise.all([...batch, other]);
    expect(await rows(CLASS)).toBe(3);
    expect(await rows(OTHER_CLASS)).toBe(1);
    expect((await store.classes.events(CLASS, 10)).map((e) => e.detail)).toEqual(["late-2", "late-3", "late-4"]);
  });

  it("refuses writes past maxPendingWrites waiting, with a clear error, and takes them again once written", async () => {
    const url = await cluster().createDatabase();
    const store = await open(url, { maxPendingWrites: 2 });
    const first = store.learners.ensure(LEARNER, 1);
    const second = store.progress.complete(LEARNER, "containers-vs-vms", "oom", 2);
    const refused = await rejection(store.progress.complete(LEARNER, "containers-vs-vms", "new-netns", 3));
    expect(refused).toBeInstanceOf(StoreOverloadedError);
    expect(refused.message).toBe("the progress store is overloaded; 2 writes are already waiting for the database, so this one was refused");
    expect([await first, await second]).toEqual([true, true]);
    expect(await store.progress.completed(LEARNER, "containers-vs-vms")).toEqual(new Map([["oom", 2]]));
    expect(await store.progress.complete(LEARNER, "containers-vs-vms", "new-netns", 4)).toBe(true);
  });

  it("writes in more batches than one when more writes wait than a batch takes, keeping their order", async () => {
    const url = await cluster().createDatabase();
    const store = await open(url);
    // 300 writes in one tick: several batches, and a read after them sees the last.
    const calls = Array.from({ length: 300 }, (_, index) => store.progress.complete(learner(index % 7), "containers-vs-vms", `step-${index}`, index));
    expect((await store.progress.completed(learner(6), "containers-vs-vms")).get("step-293")).toBe(293);
    expect((await Promise.all(calls)).every((added) => added)).toBe(true);
  });

  it("waits at close() for the reads under way, then ends its pool", async () => {
    const url = await cluster().createDatabase();
    const store = await openPgStore(url);
    await store.learners.ensure(LEARNER, 7);
    const reading = store.learners.get(LEARNER);
    const written = store.learners.ensure(STRANGER, 8);
    await store.close();
    expect(await reading).toEqual({ id: LEARNER, createdAtMs: 7 });
    expect(await written).toBe(true);
    expect(store.pool.ended).toBe(true);
    expect(await rejection(store.learners.get(LEARNER))).toBeInstanceOf(StoreClosedError);
  });
});
