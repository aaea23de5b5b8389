// GET /metrics against a real server and real sandboxes: only the operator's token reads it,
// it is Prometheus text with nslab's series and Node's, and what a learner does moves the
// series it should — a start, a bad frame, an OOM kill, a refused fork, the end of a session.
// The counters are the process's own, shared by every lab a test file starts: each case reads
// them before and after.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { MiB } from "../../common/limits";
import { sandboxUnavailable } from "../testing/kernel";
import { LabClient, learnerCookie } from "../testing/lab-client";
import { type TestLab, startTestLab } from "../testing/test-lab";
import { waitUntil } from "../testing/traces";
import { metricsAccess } from "./operator-token";

const unavailable = sandboxUnavailable();
const skipped = unavailable ? ` (skipped: ${unavailable})` : "";
const TOKEN = "metrics-test-operator-token-0123456789";

async function scrape(lab: TestLab, authorization: string | null = `Bearer ${TOKEN}`) {
  const res = await fetch(`http://127.0.0.1:${lab.port}/metrics`, authorization === null ? {} : { headers: { authorization } });
  return { status: res.status, type: res.headers.get("content-type"), authenticate: res.headers.get("www-authenticate"), text: await res.text() };
}

/** The value of one sample of the text (`name{a="b"}`), 0 when it is not there yet. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? m[2].split(",") : [];
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return 0;
}

describe("metricsAccess", () => {
  it("is closed without a token set, and asks for the token otherwise", () => {
    expect(metricsAccess(`Bearer ${TOKEN}`, null)).toMatchObject({ ok: false, status: 403, error: expect.stringContaining("set NSLAB_OPERATOR_TOKEN") });
    expect(metricsAccess(undefined, TOKEN)).toMatchObject({ ok: false, status: 401, error: expect.stringContaining("Authorization: Bearer") });
    expect(metricsAccess("Basic dXNlcjpwYXNz", TOKEN)).toMatchObject({ ok: false, status: 401 });
    expect(metricsAccess(`Bearer ${TOKEN}x`, TOKEN)).toMatchObject({ ok: false, status: 401, error: expect.stringMatching(/^Wrong operator token/) });
    expect(metricsAccess(`bearer ${TOKEN}`, TOKEN)).toEqual({ ok: true });
  });
});

describe.skipIf(unavailable !== null)(`GET /metrics${skipped}`, () => {
  let lab: TestLab;
  let tokenless: TestLab;

  beforeAll(async () => {
    [lab, tokenless] = await Promise.all([startTestLab({ name: "metrics", operatorToken: TOKEN }), startTestLab({ name: "metrics-closed" })]);
  });

  afterAll(async () => {
    await Promise.all([lab?.close(), tokenless?.close()]);
  });

  it("answers only the operator's token, and says how to get in otherwise", async () => {
    const anonymous = await scrape(lab, null);
    expect(anonymous).toMatchObject({ status: 401, authenticate: "Bearer" });
    expect(anonymous.text).toContain("/metrics needs the operator's token");
    expect(anonymous.text).not.toContain("nslab_");
    expect((await scrape(lab, "Bearer not-the-token")).status).toBe(401);
    const closed = await scrape(tokenless);
    expect(closed.status).toBe(403);
    expect(closed.text).toContain("set NSLAB_OPERATOR_TOKEN");
  });

  it("is Prometheus text with nslab's own series and the Node process's", async () => {
    const { status, type, text } = await scrape(lab);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const [name, kind] of [
      ["nslab_sessions_live", "gauge"],
      ["nslab_sessions_started_total", "counter"],
      ["nslab_sessions_ended_total", "counter"],
      ["nslab_sandbox_start_seconds", "histogram"],
      ["nslab_oom_kills_total", "counter"],
      ["nslab_pids_limit_hits_total", "counter"],
      ["nslab_probe_round_seconds", "histogram"],
      ["nslab_probe_stretch", "gauge"],
      ["nslab_ws_errors_total", "counter"],
      ["nslab_ws_rate_limited_total", "counter"],
      ["nslab_store_errors_total", "counter"],
      ["process_cpu_seconds_total", "counter"],
      ["process_resident_memory_bytes", "gauge"],
      ["nodejs_eventloop_lag_seconds", "gauge"],
    ]) {
      expect(text, name).toContain(`# TYPE ${name} ${kind}\n`);
    }
  });

  it("counts a session's start and its steps, its errors, the OOM kill and refused forks in it, and why it ended", async () => {
    const before = (await scrape(lab)).text;
    const page = new LabClient(lab.url, learnerCookie("ae770000000000000000000000000001"));
    try {
      const ready = await page.start();
      let now = (await scrape(lab)).text;
      expect(sample(now, "nslab_sessions_started_total") - sample(before, "nslab_sessions_started_total")).toBe(1);
      expect(sample(now, "nslab_sessions_live") - sample(before, "nslab_sessions_live")).toBe(1);
      for (const step of ["total", "clone", "exec"]) {
        expect(sample(now, "nslab_sandbox_start_seconds_count", { step }) - sample(before, "nslab_sandbox_start_seconds_count", { step }), step).toBe(1);
      }
      const total = sample(now, "nslab_sandbox_start_seconds_sum", { step: "total" }) - sample(before, "nslab_sandbox_start_seconds_sum", { step: "total" });
      expect(total).toBeGreaterThan(0);

      // A bad frame, and more pings at once than a page may send (few enough that it is not let go for them).
      page.sendJson("not an object");
      page.ws.send("{not json");
      for (let i = 0; i < 12; i++) page.sendJson({ type: "ping", at: i });
      await page.waitFor(() => page.errors().some((e) => e.code === "rate_limited"), "a rate_limited error");
      now = (await scrape(lab)).text;
      expect(sample(now, "nslab_ws_errors_total", { code: "bad_json" }) - sample(before, "nslab_ws_errors_total", { code: "bad_json" })).toBe(1);
      expect(sample(now, "nslab_ws_rate_limited_total", { budget: "ping" }) - sample(before, "nslab_ws_rate_limited_total", { budget: "ping" })).toBeGreaterThan(0);

      // A page that watches: its readings are rounds of the host's scheduler.
      page.sendJson({ type: "state.watch", watch: true });
      page.sendJson({ type: "limits.update", requestId: "small", sessionId: ready.sessionId, limits: { memoryBytes: 32 * MiB, memorySwapBytes: 32 * MiB, pids: 8 } });
      await page.waitFor(() => page.messages.some((m) => m.type === "limits.updated"), "limits.updated");
      // tail keeps its last "line", and /dev/zero has none: the OOM killer ends it. dash says
      // "Cannot fork" at once where bash would retry for seconds.
      await page.run("tail /dev/zero; dash -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 60 & done' 2>/dev/null; echo done");
      // The watched session's readings count the kill while it lives.
      const deadline = Date.now() + 10_000;
      do now = (await scrape(lab)).text;
      while (sample(now, "nslab_oom_kills_total") === sample(before, "nslab_oom_kills_total") && Date.now() < deadline);
      expect(sample(now, "nslab_oom_kills_total") - sample(before, "nslab_oom_kills_total")).toBe(1);
      expect(sample(now, "nslab_probe_round_seconds_count")).toBeGreaterThan(sample(before, "nslab_probe_round_seconds_count"));
    } finally {
      page.close();
      await page.closed();
    }
    // The lab keeps no sandbox for a reconnect here: the page's leaving ends it, and its
    // cgroup's counters are added as it goes.
    await waitUntil(() => lab.registry.size === 0, "the session ended");
    const after = (await scrape(lab)).text;
    expect(sample(after, "nslab_sessions_live")).toBe(sample(before, "nslab_sessions_live"));
    expect(sample(after, "nslab_sessions_ended_total", { reason: "page_left" }) - sample(before, "nslab_sessions_ended_total", { reason: "page_left" })).toBe(1);
    expect(sample(after, "nslab_oom_kills_total") - sample(before, "nslab_oom_kills_total")).toBe(1);
    expect(sample(after, "nslab_pids_limit_hits_total") - sample(before, "nslab_pids_limit_hits_total")).toBeGreaterThan(0);
  });
});
