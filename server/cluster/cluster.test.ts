// Two nslab nodes sharing one real PostgreSQL, each a process of its own (server/testing/
// lab-node-main.ts) with its own cgroup parent, port and data directory, as two machines of a
// cluster would be, and one run directory between them, as the uid ranges are the host's. The
// learners' and the instructor's sockets go to either node; what they see must not depend on
// which one they reached. Then node B is killed (SIGKILL: no goodbye) and node A must find it
// gone by its heartbeat and give its learners fresh sandboxes with their progress.
import fs from "node:fs";

import pg from "pg";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ClassDetail } from "../../common/classroom";
import { MAX_FRAME_BYTES } from "../../common/protocol";
import { hostCgroupDriver } from "../sandbox/cgroup";
import { SandboxHost } from "../sandbox/host";
import { MIGRATIONS } from "../store/migrations";
import { RELAY_HEADER, signRelay } from "./relay-auth";
import { DashboardStream } from "../testing/dashboard-stream";
import { sandboxUnavailable, testHostOptions } from "../testing/kernel";
import { LabClient, type SessionReady, learnerCookie } from "../testing/lab-client";
import { type LabNodeProcess, startLabNodeProcess } from "../testing/lab-node-process";
import { type PgCluster, pgUnavailableReason, startPgCluster } from "../testing/pg-cluster";

const unavailable = sandboxUnavailable() ?? pgUnavailableReason();
const NAME = `nslab-test-cluster-${process.pid}`;
const RUN_DIR = `/run/${NAME}`;
const HEARTBEAT_MS = 300;
const SECRET = "instructor secret of the cluster";
const NODE_SECRET = "the nodes' shared secret, 32 chars";
const LESSON = "containers-vs-vms";
const ANN = "a00e0000000000000000000000000001";
const BEN = "be0e0000000000000000000000000002";
const CY = "c00e0000000000000000000000000003";

/** What both nodes are started with; each adds its id, the database and its capacity. */
const NODE_OPTIONS = { namePrefix: NAME, runDir: RUN_DIR, nodeSecret: NODE_SECRET, instructorSecret: SECRET, heartbeatMs: HEARTBEAT_MS, reconnectGraceS: 60, logLevel: "info", nodeEnv: "test" } as const;

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Health {
  sessions: { live: number };
  cluster: { node: string; nodes: Array<{ id: string; gone: boolean; liveSessions: number }> };
}

async function health(node: LabNodeProcess): Promise<Health> {
  return (await (await fetch(`${node.base}/healthz`, { headers: node.operator })).json()) as Health;
}

describe.skipIf(unavailable !== null)(`two nodes sharing PostgreSQL${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let postgres: PgCluster;
  let databaseUrl = "";
  let a: LabNodeProcess;
  let b: LabNodeProcess;
  let instructor = "";
  let detail: ClassDetail;
  const clients: LabClient[] = [];
  const streams: DashboardStream[] = [];
  /** Ben's sandbox on node B, as its first session.ready said. */
  let bensSession: SessionReady;

  const client = (node: LabNodeProcess, learnerId: string | null, extra: Record<string, string> = {}) => {
    const c = new LabClient(node.ws, { ...(learnerId ? learnerCookie(learnerId) : {}), ...extra });
    clients.push(c);
    return c;
  };

  const api = async (node: LabNodeProcess, method: string, pathname: string, options: { body?: unknown; cookie?: string } = {}) => {
    const headers: Record<string, string> = options.cookie ? { cookie: options.cookie } : {};
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${node.base}${pathname}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), redirect: "manual" });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as unknown) : null };
  };

  beforeAll(async () => {
    postgres = await startPgCluster();
    databaseUrl = await postgres.createDatabase();
    // Both at once, on a database neither has seen: the migrations must run exactly once.
    [a, b] = await Promise.all([
      startLabNodeProcess({ ...NODE_OPTIONS, id: "node-a", databaseUrl, maxSessions: 2 }),
      startLabNodeProcess({ ...NODE_OPTIONS, id: "node-b", databaseUrl, maxSessions: 4 }),
    ]);
    const login = await api(a, "POST", "/teach/login", { body: { secret: SECRET } });
    expect(login.status).toBe(200);
    instructor = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(instructor).toMatch(/^nslab_teach=/);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of streams) s.close();
    for (const node of [a, b]) {
      if (!node) continue;
      if (node.child.exitCode === null && node.child.signalCode === null) {
        node.child.kill("SIGTERM");
        await new Promise((resolve) => node.child.once("exit", resolve));
      }
    }
    // What a killed node left (its sandboxes' processes, mounts, cgroups, uid slots) goes as
    // the next start of a node would remove it: its owner is dead.
    for (const node of [a, b]) {
      if (!node) continue;
      const found = hostCgroupDriver(node.cgroupParent);
      if (!("driver" in found)) continue;
      const host = new SandboxHost(found.driver, testHostOptions(RUN_DIR));
      await host.cleanupLeftovers();
      await host.close();
      for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
      fs.rmSync(node.dataDir, { recursive: true, force: true });
    }
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
    await postgres?.stop();
  }, 60_000);

  it("migrates a new database once when two nodes start on it at the same time, and each node sees both", async () => {
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    } finally {
      await db.end();
    }
    for (const node of [a, b]) {
      const seen = await health(node);
      expect(seen.cluster.node).toBe(node.id);
      expect(seen.cluster.nodes.map((n) => [n.id, n.gone])).toEqual([
        ["node-a", false],
        ["node-b", false],
      ]);
    }
  });

  it("refuses a relayed socket whose header is not signed with the nodes' secret", async () => {
    const status = (header: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(b.ws, { headers: { [RELAY_HEADER]: header } });
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("open", () => {
          ws.close();
          resolve(101);
        });
        ws.on("error", () => undefined);
      });
    expect(await status(signRelay("not the nodes' secret at all", { from: "node-a", to: "node-b", remote: "203.0.113.9", atMs: Date.now() }))).toBe(403);
    expect(await status("garbage")).toBe(403);
    expect(await status(signRelay(NODE_SECRET, { from: "node-a", to: "node-b", remote: "203.0.113.9", atMs: Date.now() - 60_000 }))).toBe(403);
    // Signed right, but for node A: of no use at node B.
    expect(await status(signRelay(NODE_SECRET, { from: "node-b", to: "node-a", remote: "203.0.113.9", atMs: Date.now() }))).toBe(403);
    // And the same header made for node B is let in: the refusals above are the header's.
    expect(await status(signRelay(NODE_SECRET, { from: "node-a", to: "node-b", remote: "203.0.113.9", atMs: Date.now() }))).toBe(101);
  });

  it("survives a page that sends a frame too large while its node is still deciding where it goes", async () => {
    const page = new WebSocket(a.ws);
    await new Promise((resolve) => page.once("open", resolve));
    const closed = new Promise<number>((resolve) => page.once("close", (code) => resolve(code)));
    // A resume sends the node to the database; the frame after it is past MAX_FRAME_BYTES.
    page.send(JSON.stringify({ type: "session.resume", version: 1, sessionId: "0123456789abcdef", token: "x".repeat(43), size: { cols: 80, rows: 24 } }));
    page.send(Buffer.alloc(MAX_FRAME_BYTES + 1));
    expect(await closed).toBe(1009);
    expect((await fetch(`${a.base}/healthz`)).status).toBe(200);
  });

  it("serves on node B the progress a learner made on node A", async () => {
    const ann = client(a, ANN);
    await ann.start();
    await ann.run("unshare --net sleep 30 & true");
    await ann.waitFor(() => ann.messages.some((m) => m.type === "progress" && m.steps.some((s) => s.id === "net-namespace" && s.done)), "the net-namespace step ticked on A");
    await waitUntil(async () => {
      const answer = await api(b, "GET", "/api/progress", { cookie: `nslab_learner=${ANN}` });
      const body = answer.body as { lessons: Record<string, { steps: Array<{ id: string; done: boolean }> }> };
      return body.lessons[LESSON]?.steps.some((s) => s.id === "net-namespace" && s.done) ?? false;
    }, "node B to serve Ann's progress from the shared store");
    ann.close();
  });

  it("shows the instructor on node A a learner whose sandbox is on node B, and lets them watch the typing", async () => {
    const created = await api(a, "POST", "/api/classes", { cookie: instructor, body: { name: "Cluster class", lesson: LESSON, capacity: 4 } });
    expect(created.status).toBe(201);
    detail = ClassDetail.parse(created.body);
    // Ben joins on node B, and his sandbox starts there.
    expect((await api(b, "POST", "/api/join", { body: { code: detail.class.code, name: "Ben" }, cookie: `nslab_learner=${BEN}` })).status).toBe(200);
    const dashboard = new DashboardStream(`${a.base}/api/classes/${detail.class.id}/events`, instructor);
    streams.push(dashboard);
    await waitUntil(() => dashboard.card("Ben") !== undefined, "Ben's card on A's dashboard");
    const ben = client(b, BEN);
    bensSession = await ben.start();
    expect(bensSession.classroom?.classId).toBe(detail.class.id);
    expect((await health(b)).sessions.live).toBe(1);
    await waitUntil(() => dashboard.card("Ben")?.sandbox !== null && dashboard.card("Ben")?.sandbox !== undefined, "Ben's sandbox on A's dashboard");
    expect(dashboard.card("Ben")?.sandbox?.hostname).toBe(bensSession.hostname);

    // The instructor's look over Ben's shoulder, asked of node A, served by node B.
    const memberId = dashboard.card("Ben")?.memberId ?? "";
    const observer = client(a, null, { cookie: instructor });
    const watching = await observer.observe(detail.class.id, memberId);
    expect(watching).toMatchObject({ sessionId: bensSession.sessionId, role: "watcher" });
    ben.type("echo typed-on-b-$((6*7))\r");
    await observer.waitFor(() => observer.output.includes("typed-on-b-42"), "Ben's typing on the instructor's screen");
    // And on the card, from node B's screen, through the bus.
    await waitUntil(() => (dashboard.card("Ben")?.screen ?? []).some((line) => line.includes("typed-on-b-42")), "Ben's screen on A's dashboard card");

    // A learner cannot watch through the relay either: node B checks the cookie as its own.
    const nosy = client(a, CY);
    await nosy.opened();
    nosy.sendJson({ type: "session.observe", version: 1, classId: detail.class.id, memberId });
    await nosy.waitFor(() => nosy.errors().some((e) => e.code === "observe_refused"), "observe_refused for a learner");
    expect(nosy.messages.some((m) => m.type === "session.ready")).toBe(false);
  });

  it("delivers a broadcast sent on node A to a learner on node B", async () => {
    const ben = clients.find((c) => c.messages.some((m) => m.type === "session.ready" && m.sessionId === bensSession.sessionId && m.role === "owner"));
    expect(ben).toBeDefined();
    const sent = await api(a, "POST", `/api/classes/${detail.class.id}/broadcast`, { cookie: instructor, body: { message: "Pens down in five" } });
    expect(sent.status).toBe(200);
    await ben?.waitFor(() => ben.messages.some((m) => m.type === "class.broadcast" && m.broadcast.text === "Pens down in five"), "the broadcast on Ben's page");

    // Every node's LISTEN connection is cut (PostgreSQL restarted, a network blip): each
    // connects again by itself, and the next broadcast gets through.
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const cut = await db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'nslab % listen'");
      expect(cut.rowCount).toBe(2);
      await waitUntil(async () => (await db.query("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'nslab % listen'")).rowCount === 2, "both nodes to listen again");
    } finally {
      await db.end();
    }
    expect((await api(a, "POST", `/api/classes/${detail.class.id}/broadcast`, { cookie: instructor, body: { message: "Still there?" } })).status).toBe(200);
    await ben?.waitFor(() => ben.messages.some((m) => m.type === "class.broadcast" && m.broadcast.text === "Still there?"), "the broadcast after the LISTEN connections came back");
  });

  it("reconnects a learner who comes back through node A to their sandbox on node B", async () => {
    const ben = clients.find((c) => c.messages.some((m) => m.type === "session.ready" && m.sessionId === bensSession.sessionId && m.role === "owner"));
    ben?.close();
    const again = client(a, BEN);
    const ready = await again.resume(bensSession);
    expect(ready).toMatchObject({ sessionId: bensSession.sessionId, resumed: true, role: "owner" });
    expect(await again.run("echo $((3+4))")).toBe("7");
    // Ben's step on B, for the failover below.
    await again.run("unshare --net sleep 60 & true");
    await again.waitFor(() => again.messages.some((m) => m.type === "progress" && m.steps.some((s) => s.id === "net-namespace" && s.done)), "Ben's net-namespace step");
    bensSession = { ...ready, resumeToken: ready.resumeToken ?? bensSession.resumeToken };
  });

  it("sends a start that finds node A full to node B, rather than saying the lab is full", async () => {
    // Ann's sandbox may still wait for her page on A (the grace period): A is filled up to
    // its capacity of 2 from wherever it stands, by pages without the learner cookie, whose
    // sandboxes end with them.
    const fillers: LabClient[] = [];
    while ((await health(a)).sessions.live < 2) {
      const filler = client(a, null);
      await filler.start();
      fillers.push(filler);
    }
    const liveOnB = (await health(b)).sessions.live;
    const next = client(a, null);
    await next.start();
    expect(await next.run("echo started")).toBe("started");
    expect((await health(a)).sessions.live).toBe(2);
    expect((await health(b)).sessions.live).toBe(liveOnB + 1);
    for (const c of [...fillers, next]) c.close();
    await waitUntil(async () => (await health(a)).sessions.live < 2, "A's fillers to end with their pages");
  });

  it("finds node B gone within its heartbeat timeout after SIGKILL, and gives its learner a fresh sandbox on A with their progress", async () => {
    const dashboard = streams[0];
    b.child.kill("SIGKILL");
    const killedAt = Date.now();
    await waitUntil(async () => (await health(a)).cluster.nodes.some((n) => n.id === "node-b" && n.gone), "node B marked gone", 10_000);
    // Three missed heartbeats, then at most one heartbeat of A's until its sweep sees it
    // (the elapsed time is only reported: these machines are shared).
    console.log(`node B marked gone ${Date.now() - killedAt} ms after SIGKILL (timeout ${3 * HEARTBEAT_MS} ms)`);
    await waitUntil(() => dashboard?.card("Ben")?.sandbox === null, "Ben's card to lose the sandbox of the dead node");

    // Ben's page reconnects, as it does when its socket drops: through A, to a sandbox A no
    // longer finds anywhere; it is refused, and the page starts a new one, on A.
    const liveOnA = (await health(a)).sessions.live;
    const back = client(a, BEN);
    await back.opened();
    back.sendJson({ type: "session.resume", version: 1, sessionId: bensSession.sessionId, token: bensSession.resumeToken, size: { cols: 80, rows: 24 } });
    await back.waitFor(() => back.errors().some((e) => e.code === "resume_refused" || e.code === "session_gone"), "the resume to be refused");
    const fresh = await back.start();
    expect(fresh.sessionId).not.toBe(bensSession.sessionId);
    expect(fresh.classroom?.classId).toBe(detail.class.id);
    expect((await health(a)).sessions.live).toBe(liveOnA + 1);
    await back.waitFor(() => back.messages.some((m) => m.type === "progress" && m.steps.some((s) => s.id === "net-namespace" && s.done)), "Ben's progress from node B on his new sandbox");
    await waitUntil(() => dashboard?.card("Ben")?.sandbox?.hostname === fresh.hostname, "Ben's new sandbox on A's dashboard");
  });

  it("answers 503 on /healthz while its database cannot be read, so that readiness takes it out, and 200 for ?scope=process", async () => {
    expect((await fetch(`${a.base}/healthz`)).status).toBe(200);
    await postgres.stop();
    const cut = await fetch(`${a.base}/healthz`);
    expect(cut.status).toBe(503);
    expect(await cut.json()).toMatchObject({ ready: false, cluster: { ready: false } });
    // Why, to the operator only.
    const told = await fetch(`${a.base}/healthz`, { headers: a.operator });
    expect(told.status).toBe(503);
    expect(await told.json()).toMatchObject({ ready: false, cluster: { node: "node-a", error: "the database cannot be read" } });
    const process = await fetch(`${a.base}/healthz?scope=process`);
    expect(process.status).toBe(200);
    expect(await process.json()).not.toHaveProperty("cluster");
  });
});
