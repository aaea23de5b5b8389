// The classroom end to end, minus the browser: a real server with the classroom, a real SQLite
// file, real sandboxes. The instructor logs in, makes a class, learners join it by code, and
// everything the instructor does (watch, reset, limits, broadcast, export) is checked against
// the learners' own sockets and shells; then everything that must be refused is.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ClassDetail, ClassSummary } from "../../common/classroom";
import { CloseCode } from "../../common/protocol";
import { LessonCatalog } from "../lessons/lesson-steps";
import { PROJECT_ROOT, sandboxUnavailable } from "../testing/kernel";
import { DashboardStream } from "../testing/dashboard-stream";
import { LabClient, learnerCookie } from "../testing/lab-client";
import { type TestLab, startTestLab } from "../testing/test-lab";
import { openSqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";
import { Classrooms, csvField } from "./classrooms";
import { InstructorSessions } from "./instructor-auth";

const unavailable = sandboxUnavailable();
const SECRET = "correct horse battery staple";
const LESSON = "containers-vs-vms";
const ALICE = "a11ce000000000000000000000000001";
const BOB = "b0b00000000000000000000000000002";
const CAROL = "ca501000000000000000000000000003";
const MiB = 1024 * 1024;

interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
  text: string;
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.skipIf(unavailable !== null)(`the classroom${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let lab: TestLab;
  let store: Store;
  let dir: string;
  let base: string;
  let instructor = "";
  let detail: ClassDetail;
  const clients: LabClient[] = [];
  /** Bob's socket that tried to watch Alice. */
  let bobObserver: LabClient | null = null;

  const api = async (method: string, pathname: string, options: { body?: unknown; cookie?: string; headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<Answer> => {
    const headers: Record<string, string> = { ...(options.cookie !== undefined ? { cookie: options.cookie } : {}), ...options.headers };
    let body: string | undefined;
    if (options.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(options.form).toString();
    } else if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const response = await fetch(`${base}${pathname}`, { method, headers, body, redirect: "manual" });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: response.status, body: parsed, headers: response.headers, text };
  };

  const learner = (learnerId: string) => {
    const client = new LabClient(lab.url, learnerCookie(learnerId));
    clients.push(client);
    return client;
  };

  const memberIdOf = async (name: string): Promise<string> => {
    const answer = await api("GET", `/api/classes/${detail.class.id}`, { cookie: instructor });
    const card = ClassDetail.parse(answer.body).learners.find((c) => c.name === name);
    if (!card) throw new Error(`no card for ${name}`);
    return card.memberId;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-classroom-"));
    store = openSqliteStore(path.join(dir, "nslab.db"));
    const lessons = new LessonCatalog(path.join(PROJECT_ROOT, "lessons"));
    await lessons.load();
    // As behind a reverse proxy on this machine: 127.0.0.1's X-Forwarded-For names the client.
    lab = await startTestLab({ name: "class", capacity: 6, graceMs: 60_000, store, lessons, instructorSecret: SECRET, trustedProxies: ["127.0.0.1"] });
    base = `http://127.0.0.1:${lab.port}`;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await lab?.close();
    await store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("logs the instructor in with the secret only, and refuses every instructor route without the login", async () => {
    expect((await api("GET", "/api/classes")).status).toBe(403);
    const wrong = await api("POST", "/teach/login", { body: { secret: "not it at all" } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const form = await api("POST", "/teach/login", { form: { secret: SECRET } });
    expect(form.status).toBe(303);
    expect(form.headers.get("location")).toBe("/teach");
    const cookie = form.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^nslab_teach=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    instructor = cookie.split(";")[0] ?? "";

    const list = await api("GET", "/api/classes", { cookie: instructor });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ classes: [], defaultLimits: { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 0.5, pids: 100 } });
    // The dashboard's page itself is the instructor's too.
    expect((await api("GET", "/teach/classes/0123456789abcdef")).status).toBe(403);
    // A made-up token is no login.
    expect((await api("GET", "/api/classes", { cookie: `nslab_teach=${"x".repeat(43)}` })).status).toBe(403);
  });

  it("refuses the instructor's own cookie when the request comes from another site", async () => {
    const elsewhere: Array<Record<string, string>> = [{ origin: "http://evil.example" }, { "sec-fetch-site": "cross-site" }, { origin: "null" }];
    for (const headers of elsewhere) {
      const answer = await api("GET", "/api/classes", { cookie: instructor, headers });
      expect(answer.status).toBe(403);
      expect((answer.body as { error: string }).error).toMatch(/another site/);
      const create = await api("POST", "/api/classes", { cookie: instructor, headers, body: { name: "x", lesson: LESSON } });
      expect(create.status).toBe(403);
    }
    expect((await api("GET", "/teach/classes/0123456789abcdef", { cookie: instructor, headers: { "sec-fetch-site": "cross-site" } })).status).toBe(403);
  });

  it("creates a class, refusing a form that names a missing lesson or more room than the server has", async () => {
    const badLesson = await api("POST", "/api/classes", { cookie: instructor, body: { name: "Room 101", lesson: "no-such-lesson" } });
    expect(badLesson.status).toBe(400);
    expect(badLesson.body).toMatchObject({ field: "lesson" });
    const tooBig = await api("POST", "/api/classes", { cookie: instructor, body: { name: "Room 101", lesson: LESSON, capacity: 100 } });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body).toMatchObject({ field: "capacity" });
    const badLimit = await api("POST", "/api/classes", { cookie: instructor, body: { name: "Room 101", lesson: LESSON, limits: { memoryBytes: 1024 } } });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body).toMatchObject({ field: "limits.memoryBytes" });

    const created = await api("POST", "/api/classes", {
      cookie: instructor,
      body: { name: "  Room   101 ", lesson: LESSON, capacity: 3, limits: { memoryBytes: 128 * MiB } },
    });
    expect(created.status).toBe(201);
    detail = ClassDetail.parse(created.body);
    expect(detail.class.name).toBe("Room 101");
    expect(detail.class.code).toMatch(/^[A-HJ-KM-NP-Z2-9]{6}$/);
    expect(detail.settings.limits).toEqual({ memoryBytes: 128 * MiB, memorySwapBytes: 128 * MiB, cpus: 0.5, pids: 100 });
    expect(detail.steps.map((s) => s.id)).toContain("net-namespace");
  });

  it("lets learners join by code, keeping a name full of markup as the text it is, and refuses bad names and codes", async () => {
    const code = detail.class.code;
    const join = (learnerId: string, body: unknown) => api("POST", "/api/join", { body, cookie: `nslab_learner=${learnerId}` });

    expect((await join(ALICE, { code: "ZZZZZZ", name: "Alice" })).status).toBe(404);
    // Letters no code has: the same "no class has that code", not an error of the server's.
    expect((await join(ALICE, { code: "OOIIL0", name: "Alice" })).status).toBe(404);
    const empty = await join(ALICE, { code, name: "   " });
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ field: "name" });
    const long = await join(ALICE, { code, name: "a".repeat(10_000) });
    expect(long.status).toBe(400);
    expect((long.body as { error: string }).error).toMatch(/at most 40/);
    expect((await join(ALICE, { code, name: "bell\u0007" })).status).toBe(400);

    const alice = await join(ALICE, { code: code.toLowerCase().replace(/^(...)/, "$1-"), name: "Alice" });
    expect(alice.status).toBe(200);
    expect(alice.body).toEqual({ lessonPath: `/lessons/${LESSON}`, className: "Room 101", name: "Alice" });
    const markup = '<img src=x onerror="alert(1)">';
    expect((await join(BOB, { code, name: markup })).status).toBe(200);
    // The same browser again: the same member, not a second place.
    expect((await join(ALICE, { code, name: "Alice" })).status).toBe(200);

    const form = await api("POST", "/join", { form: { code, name: "Carol" }, cookie: `nslab_learner=${CAROL}` });
    expect(form.status).toBe(303);
    expect(form.headers.get("location")).toBe(`/lessons/${LESSON}`);

    const again = ClassDetail.parse((await api("GET", `/api/classes/${detail.class.id}`, { cookie: instructor })).body);
    expect(again.learners.map((c) => c.name)).toEqual(["Alice", markup, "Carol"]);
    expect(again.class.learners).toBe(3);

    // Three places, three learners: the fourth is told the class is full, by form and by JSON.
    const full = await join("d00d0000000000000000000000000004", { code, name: "Dave" });
    expect(full.status).toBe(409);
    expect((full.body as { error: string }).error).toMatch(/full/);
    const fullForm = await api("POST", "/join", { form: { code, name: "Dave" }, cookie: "nslab_learner=d00d0000000000000000000000000004" });
    expect(fullForm.headers.get("location")).toBe(`/join/${code}?error=full`);
  });

  it("starts a member's sandbox with the class's limits and shows it live on the dashboard, screen and steps included", async () => {
    const dashboard = new DashboardStream(`${base}/api/classes/${detail.class.id}/events`, instructor);
    try {
      await waitUntil(() => dashboard.events.some((e) => e.type === "detail"), "the dashboard's first event");
      expect(dashboard.card("Alice")?.status).toBe("waiting");

      const alice = learner(ALICE);
      const ready = await alice.start();
      expect(ready.classroom).toEqual({ classId: detail.class.id, className: "Room 101", displayName: "Alice" });
      expect(ready.limits.memoryBytes).toBe(128 * MiB);
      expect(ready.reconnectGraceS).toBe(300);
      await alice.waitFor(() => /# $/.test(alice.output), "the prompt");

      await waitUntil(() => dashboard.card("Alice")?.status === "connected", "Alice connected on her card");
      await alice.run("echo hello-from-alice");
      await waitUntil(() => (dashboard.card("Alice")?.screen ?? []).some((l) => l.includes("hello-from-alice")), "Alice's screen on her card");
      expect(dashboard.card("Alice")?.sandbox?.hostname).toBe(ready.hostname);

      alice.type("unshare -n sleep 300 &\r");
      await waitUntil(() => (dashboard.card("Alice")?.steps ?? []).some((s) => s.id === "net-namespace"), "Alice's step on her card");
      await waitUntil(() => (dashboard.card("Alice")?.sandbox?.pids ?? 0) >= 2, "Alice's pids on her card");
    } finally {
      dashboard.close();
    }
  });

  it("lets the instructor watch a member type, read-only, and refuses the same to a learner", async () => {
    const aliceId = await memberIdOf("Alice");
    const alice = clients[0] as LabClient;
    const watcher = new LabClient(lab.url, { cookie: instructor });
    clients.push(watcher);
    const ready = await watcher.observe(detail.class.id, aliceId);
    expect(ready.role).toBe("watcher");
    expect(ready.resumeToken).toBeUndefined();
    // Caught up from the mirror at once: what she printed before is there.
    await watcher.waitFor(() => watcher.output.includes("hello-from-alice"), "the replay");
    alice.type("echo typed-while-watched\r");
    await watcher.waitFor(() => watcher.output.includes("typed-while-watched"), "live output");
    watcher.type("echo from-the-watcher\r");
    await watcher.waitFor(() => watcher.errors().some((e) => e.code === "read_only"), "the read-only refusal");

    // Bob, a learner, tries the same with his own cookie: the same refusal a made-up id gets.
    const bob = learner(BOB);
    bobObserver = bob;
    await bob.opened();
    bob.sendJson({ type: "session.observe", version: 1, classId: detail.class.id, memberId: aliceId });
    await bob.waitFor(() => bob.errors().some((e) => e.code === "observe_refused"), "the refusal");
    expect(bob.messages.some((m) => m.type === "session.ready")).toBe(false);
    // And the instructor's API on his behalf.
    const asBob = await api("POST", `/api/classes/${detail.class.id}/learners/${aliceId}/reset`, { cookie: `nslab_learner=${BOB}` });
    expect(asBob.status).toBe(403);
    watcher.close();
  });

  it("lowers everyone's memory limit, which each learner sees in the kernel's own file", async () => {
    bobObserver?.close();
    const bobShell = learner(BOB);
    await bobShell.start();
    await bobShell.waitFor(() => /# $/.test(bobShell.output), "Bob's prompt");
    const alice = clients[0] as LabClient;

    const answer = await api("POST", `/api/classes/${detail.class.id}/limits`, { cookie: instructor, body: { limits: { memoryBytes: 96 * MiB } } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ limits: { memoryBytes: 96 * MiB, memorySwapBytes: 96 * MiB } });
    expect((answer.body as { results: Array<{ ok: boolean }> }).results).toEqual([expect.objectContaining({ ok: true }), expect.objectContaining({ ok: true })]);
    const file = lab.driver.version === 1 ? "/sys/fs/cgroup/memory/memory.limit_in_bytes" : "/sys/fs/cgroup/memory.max";
    for (const shell of [alice, bobShell]) {
      expect(await shell.run(`cat ${file}`)).toBe(String(96 * MiB));
      expect(shell.messages.some((m) => m.type === "limits.changed" && m.limits.memoryBytes === 96 * MiB)).toBe(true);
    }
    // The learner may not raise it back past what the instructor set.
    const sessionId = alice.messages.find((m) => m.type === "session.ready")?.sessionId;
    alice.sendJson({ type: "limits.update", requestId: "up", sessionId, limits: { memoryBytes: 128 * MiB, memorySwapBytes: 128 * MiB } });
    await alice.waitFor(() => alice.errors().some((e) => e.requestId === "up"), "the refusal");
    expect(alice.errors().find((e) => e.requestId === "up")?.code).toBe("bad_limit");
  });

  it("broadcasts to every learner at once, and to a page that attaches later", async () => {
    const answer = await api("POST", `/api/classes/${detail.class.id}/broadcast`, { cookie: instructor, body: { message: "Five minutes left <b>now</b>" } });
    expect(answer.status).toBe(200);
    const live = clients.filter((c) => c.closeCode === null && c.messages.some((m) => m.type === "session.ready" && m.role === "owner"));
    expect(live.length).toBe(2);
    for (const client of live) {
      await client.waitFor(() => client.messages.some((m) => m.type === "class.broadcast" && m.broadcast.text === "Five minutes left <b>now</b>"), "the broadcast");
    }
    const empty = await api("POST", `/api/classes/${detail.class.id}/broadcast`, { cookie: instructor, body: { message: "  " } });
    expect(empty.status).toBe(400);
  });

  it("resets a member: a fresh sandbox with a new hostname, the page told to start it, progress kept", async () => {
    const alice = clients[0] as LabClient;
    const before = alice.messages.find((m) => m.type === "session.ready");
    const aliceId = await memberIdOf("Alice");
    const answer = await api("POST", `/api/classes/${detail.class.id}/learners/${aliceId}/reset`, { cookie: instructor });
    expect(answer.status).toBe(200);
    expect(await alice.closed()).toBe(CloseCode.Reset);

    const again = learner(ALICE);
    const ready = await again.start();
    expect(ready.hostname).not.toBe(before?.type === "session.ready" ? before.hostname : "");
    await again.waitFor(() => again.messages.some((m) => m.type === "progress" && m.steps.some((s) => s.id === "net-namespace" && s.done)), "progress restored");
    // The broadcast is there for the fresh page too.
    await again.waitFor(() => again.messages.some((m) => m.type === "class.broadcast"), "the last broadcast");
    const events = await store.classes.events(detail.class.id, 100);
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(["join", "step", "limits", "broadcast", "reset"]));
  });

  it("exports progress as CSV, a name that looks like a formula kept as text", async () => {
    const noCookie = await api("GET", `/api/classes/${detail.class.id}/progress.csv`);
    expect(noCookie.status).toBe(403);
    const csv = await api("GET", `/api/classes/${detail.class.id}/progress.csv`, { cookie: instructor });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(csv.headers.get("content-disposition")).toBe('attachment; filename="room-101-progress.csv"');
    const rows = csv.text.trim().split("\r\n");
    expect(rows[0]).toBe("name,joined,steps done,pid-namespace-depth-2,net-namespace,memory-limit-64m,oom-kill,oom kills,status");
    expect(rows[1]).toMatch(/^Alice,\d{4}-\d\d-\d\dT[^,]+,1,,\d{4}-[^,]+,,,0,connected$/);
    expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvField('a "b", c')).toBe('"a ""b"", c"');
  });

  it("closes a class to new joins, and a class's room caps its sandboxes", async () => {
    expect((await api("POST", `/api/classes/${detail.class.id}/close`, { cookie: instructor })).body).toMatchObject({ state: "closed" });
    const closed = await api("POST", "/api/join", { body: { code: detail.class.code, name: "Erin" }, cookie: "nslab_learner=e1e10000000000000000000000000005" });
    expect(closed.status).toBe(409);
    expect((closed.body as { error: string }).error).toMatch(/closed/);
    // A member still works in a closed class.
    const carol = learner(CAROL);
    const ready = await carol.start();
    expect(ready.classroom?.displayName).toBe("Carol");
  });

  it("keeps the class, its learners and their progress across a restart of the classroom", async () => {
    // A second service over the same database, as a restarted server has.
    const reopened = openSqliteStore(path.join(dir, "nslab.db"));
    try {
      const lessons = new LessonCatalog(path.join(PROJECT_ROOT, "lessons"));
      const restarted = new Classrooms({ store: reopened, registry: null, lessons });
      const after = await restarted.detail(detail.class.id);
      expect(after.class.state).toBe("closed");
      expect(after.learners.map((c) => c.name)).toEqual(["Alice", '<img src=x onerror="alert(1)">', "Carol"]);
      expect(after.learners[0]?.steps.map((s) => s.id)).toEqual(["net-namespace"]);
      expect(after.learners.every((c) => c.status === "waiting")).toBe(true);
      expect(after.lastBroadcast?.text).toBe("Five minutes left <b>now</b>");
      expect(after.settings.limits.memoryBytes).toBe(96 * MiB);
    } finally {
      await reopened.close();
    }
  });

  it("ends a member's sandbox when the class's lifetime is up, saying why", async () => {
    const short = ClassDetail.parse(
      (await api("POST", "/api/classes", { cookie: instructor, body: { name: "Short", lesson: LESSON, capacity: 1, sessionLifetimeS: 5 } })).body,
    );
    const learnerId = "f00d0000000000000000000000000006";
    expect((await api("POST", "/api/join", { body: { code: short.class.code, name: "Fay" }, cookie: `nslab_learner=${learnerId}` })).status).toBe(200);
    const fay = learner(learnerId);
    await fay.start();
    expect(await fay.closed()).toBe(CloseCode.SessionGone);
    expect(fay.errors().at(-1)?.message).toMatch(/last 5 s/);
    const archived = await api("POST", `/api/classes/${short.class.id}/archive`, { cookie: instructor });
    expect(archived.body).toMatchObject({ state: "archived" });
    expect((await api("POST", `/api/classes/${short.class.id}/reopen`, { cookie: instructor })).status).toBe(409);
  });

  it("ends a sandbox nobody typed into for the class's idle timeout, and archiving a class ends its sandboxes", async () => {
    const idle = ClassDetail.parse(
      (await api("POST", "/api/classes", { cookie: instructor, body: { name: "Idle", lesson: LESSON, capacity: 2, idleTimeoutS: 5 } })).body,
    );
    const quiet = "0123456789abcdef0123456789abcdef";
    const busy = "fedcba9876543210fedcba9876543210";
    for (const [id, name] of [[quiet, "Quiet"], [busy, "Busy"]] as const) {
      expect((await api("POST", "/api/join", { body: { code: idle.class.code, name }, cookie: `nslab_learner=${id}` })).status).toBe(200);
    }
    const quietShell = learner(quiet);
    const busyShell = learner(busy);
    await Promise.all([quietShell.start(), busyShell.start()]);
    const typing = setInterval(() => busyShell.type(" "), 1_000);
    try {
      expect(await quietShell.closed()).toBe(CloseCode.SessionGone);
      expect(quietShell.errors().at(-1)?.message).toMatch(/Nothing was typed into it for 5 s/);
      expect(busyShell.closeCode).toBeNull();
    } finally {
      clearInterval(typing);
    }
    // Only the instructor's dashboard may stream the class; and a class has a bounded number.
    expect((await api("GET", `/api/classes/${idle.class.id}/events`)).status).toBe(403);
    await api("POST", `/api/classes/${idle.class.id}/archive`, { cookie: instructor });
    expect(await busyShell.closed()).toBe(CloseCode.SessionGone);
    expect(busyShell.errors().at(-1)?.message).toMatch(/archived/);
    // An archived class's member is a learner on their own again.
    const solo = learner(busy);
    expect((await solo.start()).classroom).toBeUndefined();
  });

  it("gives a class at most a few dashboards at once", async () => {
    const streams = Array.from({ length: 9 }, () => new DashboardStream(`${base}/api/classes/${detail.class.id}/events`, instructor));
    try {
      await waitUntil(() => streams.filter((s) => s.events.length > 0).length === 8 && streams.some((s) => s.bye !== null), "eight dashboards and one refusal");
      expect(streams.find((s) => s.bye !== null)?.bye).toMatch(/as many dashboards open as it takes/);
    } finally {
      for (const stream of streams) stream.close();
    }
  });

  it("limits wrong secrets per client, behind a proxy by the address it forwarded for, and logging out ends the login", async () => {
    const guesser = { "x-forwarded-for": "203.0.113.7" };
    let limited: Answer | null = null;
    for (let i = 0; i < 15 && !limited; i++) {
      const answer = await api("POST", "/teach/login", { body: { secret: `guess ${i}` }, headers: guesser });
      if (answer.status === 429) limited = answer;
      else expect(answer.status).toBe(401);
    }
    expect(limited?.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await api("POST", "/teach/login", { body: { secret: SECRET }, headers: guesser })).status).toBe(429);
    // The instructor, behind the same proxy, is not locked out by the guesser.
    const own = await api("POST", "/teach/login", { body: { secret: SECRET }, headers: { "x-forwarded-for": "198.51.100.9" } });
    expect(own.status).toBeLessThan(400);

    expect((await api("GET", "/api/classes", { cookie: instructor })).status).toBe(200);
    const out = await api("POST", "/teach/logout", { form: {}, cookie: instructor });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/^nslab_teach=; Path=\/; Max-Age=0/);
    expect((await api("GET", "/api/classes", { cookie: instructor })).status).toBe(403);
  });

  /** A fresh instructor login, straight into the store: the test above logged out, and its
   *  wrong guesses leave this address unable to log in for a while. */
  const loginAgain = async (): Promise<string> => (await new InstructorSessions(store.instructorSessions).login()).split(";")[0] ?? "";

  it("removes a member with a running sandbox: their shell closes saying why, their place is free, and they cannot come back", async () => {
    const teacher = await loginAgain();
    const small = ClassDetail.parse((await api("POST", "/api/classes", { cookie: teacher, body: { name: "Small", lesson: LESSON, capacity: 2 } })).body);
    const code = small.class.code;
    const [gil, hal, ivy] = ["a1a10000000000000000000000000007", "a1a10000000000000000000000000008", "a1a10000000000000000000000000009"];
    const join = (learnerId: string, name: string) => api("POST", "/api/join", { body: { code, name }, cookie: `nslab_learner=${learnerId}` });
    expect((await join(gil, "Gil")).status).toBe(200);
    expect((await join(hal, "Hal")).status).toBe(200);
    expect((await join(ivy, "Ivy")).status).toBe(409);

    const gilShell = learner(gil);
    expect((await gilShell.start()).classroom?.displayName).toBe("Gil");
    const cards = ClassDetail.parse((await api("GET", `/api/classes/${small.class.id}`, { cookie: teacher })).body).learners;
    const gilId = cards.find((c) => c.name === "Gil")?.memberId ?? "";
    const removePath = `/api/classes/${small.class.id}/learners/${gilId}/remove`;

    // Only the instructor: no cookie, or a learner's, is refused and removes nobody.
    expect((await api("POST", removePath)).status).toBe(403);
    expect((await api("POST", removePath, { cookie: `nslab_learner=${hal}` })).status).toBe(403);
    expect(gilShell.closeCode).toBeNull();

    const dashboard = new DashboardStream(`${base}/api/classes/${small.class.id}/events`, teacher);
    try {
      await waitUntil(() => dashboard.events.some((e) => e.type === "detail"), "the dashboard's first event");
      const removed = await api("POST", removePath, { cookie: teacher });
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual({ ok: true });
      expect(await gilShell.closed()).toBe(CloseCode.SessionGone);
      expect(gilShell.errors().at(-1)?.message).toMatch(/Your instructor removed you from this class/);
      await waitUntil(() => dashboard.events.some((e) => e.type === "removed" && e.memberIds.includes(gilId)), "the removal on the dashboard");
    } finally {
      dashboard.close();
    }

    const after = ClassDetail.parse((await api("GET", `/api/classes/${small.class.id}`, { cookie: teacher })).body);
    expect(after.learners.map((c) => c.name)).toEqual(["Hal"]);
    expect(after.class).toMatchObject({ learners: 1, live: 0 });
    // Gil's place is Ivy's now.
    expect((await join(ivy, "Ivy")).status).toBe(200);

    // Gil's cookie is kept out, by JSON and by the form of a page without script, whatever the name.
    const rejoin = await join(gil, "Gil again");
    expect(rejoin.status).toBe(403);
    expect(rejoin.body).toEqual({ error: "Your instructor removed you from this class. Ask them if that was a mistake.", field: "code" });
    const rejoinForm = await api("POST", "/join", { form: { code, name: "Gil" }, cookie: `nslab_learner=${gil}` });
    expect(rejoinForm.status).toBe(303);
    expect(rejoinForm.headers.get("location")).toBe(`/join/${code}?error=removed`);
    // Removed once: a second removal finds nobody.
    expect((await api("POST", removePath, { cookie: teacher })).status).toBe(404);
    const events = await store.classes.events(small.class.id, 100);
    expect(events.filter((e) => e.kind === "remove")).toEqual([expect.objectContaining({ memberId: gilId, detail: "Gil" })]);
  });

  it("draws a new join code: the old code finds no class, the new one lets learners in", async () => {
    const teacher = await loginAgain();
    const room = ClassDetail.parse((await api("POST", "/api/classes", { cookie: teacher, body: { name: "Recoded", lesson: LESSON, capacity: 2 } })).body);
    const oldCode = room.class.code;
    const codePath = `/api/classes/${room.class.id}/code`;
    expect((await api("POST", codePath)).status).toBe(403);
    expect((await api("POST", codePath, { cookie: "nslab_learner=a1a1000000000000000000000000000a" })).status).toBe(403);

    const answer = await api("POST", codePath, { cookie: teacher });
    expect(answer.status).toBe(200);
    const summary = ClassSummary.parse(answer.body);
    expect(summary.id).toBe(room.class.id);
    expect(summary.code).toMatch(/^[A-HJ-KM-NP-Z2-9]{6}$/);
    expect(summary.code).not.toBe(oldCode);
    expect(ClassDetail.parse((await api("GET", `/api/classes/${room.class.id}`, { cookie: teacher })).body).class.code).toBe(summary.code);

    const joiner = "a1a1000000000000000000000000000b";
    const withOld = await api("POST", "/api/join", { body: { code: oldCode, name: "Jo" }, cookie: `nslab_learner=${joiner}` });
    expect(withOld.status).toBe(404);
    expect(withOld.body).toMatchObject({ field: "code" });
    const withNew = await api("POST", "/api/join", { body: { code: summary.code, name: "Jo" }, cookie: `nslab_learner=${joiner}` });
    expect(withNew.status).toBe(200);
    expect(withNew.body).toMatchObject({ className: "Recoded", name: "Jo" });
    expect((await store.classes.events(room.class.id, 100)).map((e) => [e.kind, e.detail])).toContainEqual(["code", summary.code]);

    // An archived class is over: neither a new code nor a removal is done to it.
    const joId = ClassDetail.parse((await api("GET", `/api/classes/${room.class.id}`, { cookie: teacher })).body).learners[0]?.memberId ?? "";
    await api("POST", `/api/classes/${room.class.id}/archive`, { cookie: teacher });
    expect((await api("POST", codePath, { cookie: teacher })).status).toBe(409);
    expect((await api("POST", `/api/classes/${room.class.id}/learners/${joId}/remove`, { cookie: teacher })).status).toBe(409);
  });
});
