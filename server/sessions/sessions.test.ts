// Lab sessions that outlive their socket, against a real server and real sandboxes: a page
// that comes back within the grace period finds its sandbox as it left it; one that comes back
// too late is told why it is gone; watchers see without typing and never slow the owner; and
// nothing a page sends about a session that is not its own gets it anywhere.
import fs from "node:fs";
import path from "node:path";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { CloseCode, type ServerMessage } from "../../common/protocol";
import { LessonCatalog } from "../lessons/lesson-steps";
import { type Attachment, MAX_WATCHERS_PER_SESSION } from "./lab-session";
import { openSqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";
import { LabClient, type SessionReady, learnerCookie } from "../testing/lab-client";
import { sandboxUnavailable } from "../testing/kernel";
import { type TestLab, startTestLab } from "../testing/test-lab";
import { NO_TRACES, leftNothing, sessionTraces, waitUntil } from "../testing/traces";

const unavailable = sandboxUnavailable();
const GRACE_MS = 3_000;
const LEARNER = "5e55105e55105e55105e55105e551001";
const OTHER_LEARNER = "0de10de10de10de10de10de10de10de1";

function owner(server: TestLab, learner = LEARNER, options?: { ack?: boolean }): LabClient {
  return new LabClient(server.url, learnerCookie(learner), options);
}

async function prompted(client: LabClient): Promise<void> {
  await client.waitFor(() => /# $/.test(client.output), "the shell's prompt");
}

async function closeAll(...clients: LabClient[]): Promise<void> {
  for (const client of clients) if (client.closeCode === null) client.close();
  await Promise.all(clients.map((c) => c.closed()));
}

function lastProgress(client: LabClient): Array<{ id: string; done: boolean }> {
  const progress = client.messages.filter((m): m is Extract<ServerMessage, { type: "progress" }> => m.type === "progress");
  return (progress.at(-1)?.steps ?? []).map(({ id, done }) => ({ id, done }));
}

/** Milliseconds from typing a line to seeing its echo come back, over `rounds` lines. */
async function echoTimes(client: LabClient, rounds: number, tag: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const marker = `${tag}${i}z`;
    const from = client.output.length;
    const at = performance.now();
    client.type(`: ${marker}\r`);
    await client.waitFor(() => client.output.indexOf(marker, from) >= 0, `the echo of ${marker}`);
    times.push(performance.now() - at);
  }
  return times;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

describe.skipIf(unavailable !== null)(`lab sessions that outlive the socket${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let server: TestLab;
  let store: Store;

  beforeAll(async () => {
    store = openSqliteStore(":memory:");
    server = await startTestLab({
      name: "sessions",
      capacity: 4,
      graceMs: GRACE_MS,
      store,
      lessons: new LessonCatalog(path.join(import.meta.dirname, "../lessons/fixtures")),
    });
  });

  afterAll(async () => {
    await server?.close();
    await store?.close();
  });

  /** End what a test left (also when it failed), so the next one starts with room. */
  async function allEnded(): Promise<void> {
    for (const session of server.registry.all()) void session.end("the test is over", { cause: "shutdown" });
    await waitUntil(() => server.registry.size === 0, "every session ended");
  }
  afterEach(allEnded);

  it("comes back to the same sandbox after a reload: same pid and hostname, background work alive, the screen as it was", async () => {
    const first = owner(server);
    const ready = await first.start();
    expect(ready).toMatchObject({ role: "owner", resumed: false, reconnectGraceS: 3, size: { cols: 80, rows: 24 } });
    expect(ready.resumeToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await prompted(first);
    const sleeper = (await first.run("sleep 1000 & echo pid=$!")).match(/pid=(\d+)/)?.[1];
    expect(sleeper).toBeDefined();
    expect(await first.run("echo before-reload")).toBe("before-reload");
    first.close();
    await first.closed();
    const session = server.registry.find(ready.sessionId);
    await waitUntil(() => session?.state === "detached", "the session detached");

    const again = owner(server);
    const resumed = await again.resume(ready, 100, 30);
    expect(resumed).toMatchObject({ sessionId: ready.sessionId, hostPid: ready.hostPid, hostname: ready.hostname, role: "owner", resumed: true, size: { cols: 100, rows: 30 } });
    expect(resumed.resumeToken).not.toBe(ready.resumeToken);
    expect(resumed.replayBytes).toBeGreaterThan(0);
    // The replay comes first and holds what was on the screen.
    await again.waitFor(() => again.outputBytes >= resumed.replayBytes, "the replay");
    expect(again.output).toContain("before-reload");
    expect(await again.run(`kill -0 ${sleeper} && echo alive`)).toBe("alive");
    expect(await again.run("echo $$")).toBe("1");
    expect(await again.run("stty size")).toBe("30 100");
    expect((await session?.mirrorLines())?.some((line) => line.includes("echo before-reload"))).toBe(true);
    expect(server.registry.size).toBe(1);

    // The token of the first page no longer works: each owner attach gets a new one.
    const stale = owner(server);
    await stale.opened();
    await expect(stale.resume(ready)).rejects.toThrow(/resume_refused/);
    await closeAll(again, stale);
  });

  it("ends a sandbox nobody came back to after the grace period, leaving nothing, and says why to its owner", async () => {
    const client = owner(server);
    const ready = await client.start();
    await client.run("sleep 1000 & (sleep 1001 &) ; true");
    client.close();
    await client.closed();
    // Within the grace period everything is still there.
    const during = sessionTraces(server.driver, server.runDir, ready.sessionId);
    expect(during.cgroupDirs.length).toBeGreaterThan(0);
    expect(during.processes.length).toBeGreaterThanOrEqual(3);
    expect(during.uidSlot).toBe(true);

    await waitUntil(() => leftNothing(sessionTraces(server.driver, server.runDir, ready.sessionId)), "the session gone after its grace period", GRACE_MS + 10_000);
    expect(sessionTraces(server.driver, server.runDir, ready.sessionId)).toEqual(NO_TRACES);
    expect(server.registry.size).toBe(0);

    const late = owner(server);
    await late.opened();
    await expect(late.resume(ready)).rejects.toThrow(/session_gone/);
    expect(late.errors()[0]?.message).toBe("Your sandbox was ended: Nobody reconnected within 3 s of the page closing, so the sandbox was ended.");
    // The connection stays open for a new sandbox.
    const fresh = await late.start();
    expect(fresh.sessionId).not.toBe(ready.sessionId);
    await closeAll(late);
  });

  it("shows a watcher the owner's typing within a second, and refuses the watcher's input, resizes and limits", async () => {
    const learner = owner(server);
    const ready = await learner.start();
    await prompted(learner);
    const watcher = owner(server);
    const watching = await watcher.watch(ready);
    expect(watching).toMatchObject({ sessionId: ready.sessionId, role: "watcher", resumed: true });
    expect(watching.resumeToken).toBeUndefined();

    learner.type("echo typed-by-owner\r");
    await watcher.waitFor(() => watcher.output.includes("typed-by-owner"), "the owner's typing at the watcher", 1_000);

    watcher.type("echo from-watcher\r");
    watcher.sendJson({ type: "pty.resize", size: { cols: 40, rows: 10 } });
    watcher.sendJson({ type: "limits.update", requestId: "w1", sessionId: ready.sessionId, limits: { memoryBytes: 32 << 20 } });
    await watcher.waitFor(() => watcher.errors().length >= 3, "three refusals");
    expect(watcher.errors().map((e) => [e.code, e.requestId ?? null])).toEqual([
      ["read_only", null],
      ["read_only", null],
      ["read_only", "w1"],
    ]);
    expect(await learner.run("stty size; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")).toBe("24 80\n268435456");
    expect(learner.output).not.toContain("from-watcher");
    expect(watcher.closeCode).toBeNull();

    // The watcher can follow the kernel state too, from the same readings.
    watcher.sendJson({ type: "state.watch", watch: true });
    await watcher.waitFor(() => watcher.messages.some((m) => m.type === "state.delta" && m.delta.kind === "full"), "the watcher's first snapshot");

    // The owner resizing is passed on, so the watcher draws at the sandbox's size.
    learner.sendJson({ type: "pty.resize", size: { cols: 90, rows: 20 } });
    await watcher.waitFor(() => watcher.messages.some((m) => m.type === "pty.size" && m.size.cols === 90 && m.size.rows === 20), "pty.size at the watcher");

    // When the shell exits, the watcher is told and let go too.
    learner.type("exit 3\r");
    expect(await watcher.closed()).toBe(CloseCode.SessionEnded);
    expect(watcher.messages.find((m) => m.type === "session.exit")).toEqual({ type: "session.exit", exitCode: 3, signal: null });
    await closeAll(learner);
  });

  it("never lets a watcher that stops reading slow the owner, and lets it go with 4008 once it is too far behind", async () => {
    const learner = owner(server);
    const ready = await learner.start();
    await prompted(learner);
    const watcher = owner(server, LEARNER, { ack: false });
    await watcher.watch(ready);
    const alone = await echoTimes(learner, 15, "a");

    // The watcher stops reading its socket, as a frozen tab or a dead network would.
    (watcher.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const stalled = await echoTimes(learner, 15, "b");
    console.log(`owner echo, median of 15: ${median(alone).toFixed(1)} ms with a reading watcher, ${median(stalled).toFixed(1)} ms with a stalled one`);

    // A flood the stalled watcher cannot take: the owner still gets all of it, the watcher is let go.
    const before = learner.outputBytes;
    expect(await learner.run("head -c 6000000 /dev/zero | tr '\\0' x | fold -w 100; echo flood-done", 40_000)).toMatch(/flood-done$/);
    expect(learner.outputBytes - before).toBeGreaterThan(6_000_000);
    (watcher.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await watcher.closed()).toBe(CloseCode.FellBehind);
    expect(await learner.run("echo owner-unaffected")).toBe("owner-unaffected");
    expect(server.registry.find(ready.sessionId)?.attachmentCount).toBe(1);
    await closeAll(learner);
  });

  it("refuses a resume with another learner's cookie, a made-up token, a malformed one, or for an ended session", async () => {
    const learner = owner(server);
    const ready = await learner.start();

    const foreign = owner(server, OTHER_LEARNER);
    await foreign.opened();
    await expect(foreign.resume(ready)).rejects.toThrow(/resume_refused/);
    await expect(foreign.watch(ready)).rejects.toThrow(/resume_refused/);

    const madeUp = owner(server);
    await madeUp.opened();
    await expect(madeUp.resume({ sessionId: ready.sessionId, resumeToken: "A".repeat(43) })).rejects.toThrow(/resume_refused/);
    await expect(madeUp.resume({ sessionId: "0123456789abcdef", resumeToken: ready.resumeToken })).rejects.toThrow(/resume_refused/);

    const malformed = owner(server);
    await malformed.opened();
    await expect(malformed.resume({ sessionId: ready.sessionId, resumeToken: "not-a-token" })).rejects.toThrow(/bad_message/);
    // One answer for all of them: nothing about which sessions exist leaks.
    expect(new Set([...foreign.errors(), ...madeUp.errors()].map((e) => e.message)).size).toBe(1);
    // None of it reached the sandbox or its owner.
    expect(await learner.run("echo still-mine")).toBe("still-mine");
    expect(learner.messages.some((m) => m.type === "session.role")).toBe(false);
    expect(server.registry.size).toBe(1);

    learner.type("exit\r");
    expect(await learner.closed()).toBe(CloseCode.SessionEnded);
    const late = owner(server);
    await late.opened();
    await expect(late.resume(ready)).rejects.toThrow(/session_gone/);
    expect(late.errors()[0]?.message).toBe("Your sandbox was ended: The shell exited.");
    await closeAll(foreign, madeUp, malformed, late);
  });

  it("closes a connection that keeps guessing tokens, and the session does not notice", async () => {
    const learner = owner(server);
    const ready = await learner.start();
    const guesser = owner(server);
    await guesser.opened();
    // At the pace the control budget allows (20 a second): each refused guess counts.
    for (let i = 0; i < 25 && guesser.closeCode === null; i++) {
      guesser.sendJson({ type: "session.resume", version: 1, sessionId: ready.sessionId, token: `${String(i).padStart(2, "0")}${"g".repeat(41)}`, size: { cols: 80, rows: 24 } });
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(await guesser.closed()).toBe(CloseCode.TooManyErrors);
    expect(await learner.run("echo unbothered")).toBe("unbothered");
    await closeAll(learner);
  });

  it("takes 50 reconnects in a loop without a new sandbox or a leaked one", async () => {
    let client = owner(server);
    let ready: SessionReady = await client.start();
    const { sessionId, hostPid } = ready;
    const cgroupsBefore = sessionTraces(server.driver, server.runDir, sessionId).cgroupDirs;
    let rateLimited = 0;
    for (let i = 0; i < 50; i++) {
      client.close();
      await client.closed();
      client = owner(server);
      for (;;) {
        try {
          ready = await client.resume(ready);
          break;
        } catch (err) {
          // Past the session's attach budget the answer is "try again in a moment", as a
          // page's backoff would.
          if (!/rate_limited/.test((err as Error).message)) throw err;
          rateLimited++;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      expect(ready.sessionId).toBe(sessionId);
    }
    console.log(`50 reconnects: ${rateLimited} answered "try again in a moment" first`);
    expect(ready.hostPid).toBe(hostPid);
    expect(server.registry.size).toBe(1);
    expect(server.registry.find(sessionId)?.attachmentCount).toBe(1);
    expect(sessionTraces(server.driver, server.runDir, sessionId).cgroupDirs).toEqual(cgroupsBefore);
    expect(fs.readdirSync(`${server.runDir}/sessions`)).toEqual([sessionId]);
    expect(await client.run("echo $$")).toBe("1");
    await closeAll(client);
  });

  it("lets the newest tab take over: the tab before is told, keeps watching, and can no longer type", async () => {
    const firstTab = owner(server);
    const ready = await firstTab.start();
    await prompted(firstTab);
    const secondTab = owner(server);
    await secondTab.resume(ready);
    await firstTab.waitFor(() => firstTab.messages.some((m) => m.type === "session.role"), "the first tab told");
    expect(firstTab.messages.find((m) => m.type === "session.role")).toEqual({
      type: "session.role",
      role: "watcher",
      reason: "This sandbox is now used in another tab; this one only watches it.",
    });
    firstTab.type("echo from-the-old-tab\r");
    await firstTab.waitFor(() => firstTab.errors().some((e) => e.code === "read_only"), "the old tab's input refused");
    expect(await secondTab.run("echo from-the-new-tab")).toBe("from-the-new-tab");
    await firstTab.waitFor(() => firstTab.output.includes("from-the-new-tab"), "the new tab's output at the old one");
    expect(secondTab.output).not.toContain("from-the-old-tab");
    await closeAll(firstTab, secondTab);
  });

  it("ticks lab steps with no page watching, and while the page is away", async () => {
    const client = owner(server);
    await client.start(80, 24, "checks-demo");
    await client.waitFor(() => lastProgress(client).length === 4, "the lesson's steps");
    // No state.watch: a hidden tab, whose page does not ask for the kernel state.
    await client.run("unshare --net sleep 5 & true");
    await client.waitFor(() => lastProgress(client).find((s) => s.id === "new-netns")?.done === true, "new-netns ticked unwatched", 5_000);
    expect(client.messages.some((m) => m.type === "state.delta")).toBe(false);

    // The page goes away; the learner's command still runs, and its step is still stored.
    client.type("(sleep 0.3; unshare -p -f --mount-proc unshare -p -f --mount-proc sleep 5) &\r");
    await new Promise((r) => setTimeout(r, 50));
    client.close();
    await client.closed();
    await waitUntil(() => server.registry.all().some((s) => s.state === "detached"), "the session detached");
    let stored = new Map<string, number>();
    const deadline = Date.now() + 8_000;
    while (!stored.has("nested-pidns") && Date.now() < deadline) {
      stored = await store.progress.completed(LEARNER, "checks-demo");
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([...stored.keys()].sort()).toEqual(["nested-pidns", "new-netns"]);
  });

  it("answers an attach storm with rate limits while the owner carries on", async () => {
    const learner = owner(server);
    const ready = await learner.start();
    const storm = Array.from({ length: 40 }, () => owner(server));
    await Promise.all(storm.map((c) => c.opened()));
    for (const c of storm) c.sendJson({ type: "session.watch", version: 1, sessionId: ready.sessionId, token: ready.resumeToken });
    await Promise.all(storm.map((c) => c.waitFor(() => c.messages.length > 0, "an answer to the watch")));
    const answers = storm.map((c) => (c.messages[0]?.type === "error" ? (c.messages[0] as { code: string }).code : c.messages[0]?.type));
    const watching = answers.filter((a) => a === "session.ready").length;
    expect(watching).toBeGreaterThan(0);
    expect(watching).toBeLessThanOrEqual(MAX_WATCHERS_PER_SESSION);
    expect(answers.filter((a) => a === "too_many_watchers").length).toBeGreaterThan(0);
    expect(answers.every((a) => a === "session.ready" || a === "rate_limited" || a === "too_many_watchers")).toBe(true);
    expect(await learner.run("echo steady")).toBe("steady");
    expect(server.registry.size).toBe(1);
    await closeAll(learner, ...storm);
  });

  it("gives the tab it took over from its sandbox back when the new tab leaves before it was ready", async () => {
    const firstTab = owner(server);
    const ready = await firstTab.start();
    await prompted(firstTab);
    // The leaving tab is driven from inside the server, so that it leaves at a known moment:
    // right after asking to attach, before its replay (and so its session.ready) exists. Over
    // a socket that moment depends on how fast the snapshot comes back.
    const session = server.registry.find(ready.sessionId);
    if (!session) throw new Error("no session");
    const leaving: Attachment & { released: number[] } = {
      released: [],
      send: () => undefined,
      replay: () => undefined,
      output: () => undefined,
      roleChanged: () => undefined,
      release(code) {
        this.released.push(code);
      },
    };
    // Taking over happens as the attach begins; leaving in the same turn is before any replay.
    const attaching = session.attach(leaving, "owner", { cols: 80, rows: 24 });
    session.detach(leaving);
    expect(await attaching).toBe("left");
    await firstTab.waitFor(() => firstTab.messages.some((m) => m.type === "session.role" && m.role === "owner"), "the first tab given its sandbox back");
    expect(firstTab.messages.filter((m) => m.type === "session.role").map((m) => m.type === "session.role" && m.reason)).toEqual([
      "This sandbox is now used in another tab; this one only watches it.",
      "The other tab went away; this one types into the sandbox again.",
    ]);
    expect(await firstTab.run("echo mine-again")).toBe("mine-again");
    expect(session.state).toBe("attached");
    await closeAll(firstTab);
  });

  it("keeps nothing waiting for a page without the learner cookie, which could never resume", async () => {
    const anonymous = new LabClient(server.url);
    const ready = await anonymous.start();
    anonymous.close();
    await anonymous.closed();
    await waitUntil(() => leftNothing(sessionTraces(server.driver, server.runDir, ready.sessionId)), "the anonymous session gone at once", 5_000);
    expect(server.registry.size).toBe(0);
  });

  it(`lets the page it took over from go with 4009 when ${MAX_WATCHERS_PER_SESSION} pages already watch`, async () => {
    const firstTab = owner(server);
    const ready = await firstTab.start();
    const watchers = Array.from({ length: MAX_WATCHERS_PER_SESSION }, () => owner(server));
    for (const watcher of watchers) await watcher.watch(ready);
    const newTab = owner(server);
    await newTab.resume(ready);
    expect(await firstTab.closed()).toBe(CloseCode.TakenOver);
    expect(await newTab.run("echo taken-over")).toBe("taken-over");
    expect(server.registry.find(ready.sessionId)?.attachmentCount).toBe(MAX_WATCHERS_PER_SESSION + 1);
    await closeAll(newTab, ...watchers);
  });
});
