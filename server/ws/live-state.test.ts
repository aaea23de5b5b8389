// Live kernel state, limits and lab-step progress over a real socket and real sandboxes: what
// the learner does in the shell shows up in the stream, limits change the kernel's files, and
// lab steps tick from kernel state and stay ticked across reconnects.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type ProbeSnapshot, applySnapshotDelta } from "../../common/lab-state";
import type { ServerMessage } from "../../common/protocol";
import { LessonCatalog } from "../lessons/lesson-steps";
import type { Store } from "../store/store";
import { openSqliteStore } from "../store/sqlite-store";
import { LabClient } from "../testing/lab-client";
import { sandboxUnavailable } from "../testing/kernel";
import { type TestLab, startTestLab } from "../testing/test-lab";

const unavailable = sandboxUnavailable();
const LEARNER = "abcdefabcdefabcdefabcdefabcdef01";

/** The client's view of the stream: deltas applied in order, as the page does. */
function liveState(client: LabClient): ProbeSnapshot | null {
  let snapshot: ProbeSnapshot | null = null;
  for (const m of client.messages) if (m.type === "state.delta") snapshot = applySnapshotDelta(snapshot, m.delta);
  return snapshot;
}

function lastProgress(client: LabClient): Array<{ id: string; done: boolean }> {
  const progress = client.messages.filter((m): m is Extract<ServerMessage, { type: "progress" }> => m.type === "progress");
  return (progress.at(-1)?.steps ?? []).map(({ id, done }) => ({ id, done }));
}

/** /healthz's readings and starts are the operator's. */
const OPERATOR_TOKEN = "live-state-operator-token-0123456789";

describe.skipIf(unavailable !== null)(`live state, limits and progress${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let server: TestLab;
  let store: Store;
  let url: string;
  let dbDir: string;

  beforeAll(async () => {
    dbDir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-live-"));
    store = openSqliteStore(path.join(dbDir, "nslab.db"));
    server = await startTestLab({
      name: "live",
      capacity: 4,
      store,
      lessons: new LessonCatalog(path.join(import.meta.dirname, "../lessons/fixtures")),
      operatorToken: OPERATOR_TOKEN,
    });
    url = server.url;
  });

  afterAll(async () => {
    await server?.close();
    await store?.close();
    fs.rmSync(dbDir, { recursive: true, force: true });
  });

  async function startSession(lesson?: string) {
    const client = new LabClient(url, { cookie: `nslab_learner=${LEARNER}` });
    await client.opened();
    client.sendJson({ type: "session.start", version: 1, ...(lesson ? { lesson } : {}), size: { cols: 120, rows: 30 } });
    await client.waitFor(() => client.messages.some((m) => m.type === "session.ready"), "session.ready");
    const ready = client.messages.find((m) => m.type === "session.ready");
    if (ready?.type !== "session.ready") throw new Error("no session.ready");
    return { client, ready };
  }

  it("streams the sandbox's processes and namespaces; a new net namespace appears with the inode the learner sees", async () => {
    const { client, ready } = await startSession();
    client.sendJson({ type: "state.watch", watch: true });
    // The launcher reports "exec" just before execve: until then pid 1 still has its name.
    await client.waitFor(
      () => liveState(client)?.processes.some((p) => p.hostPid === ready.hostPid && p.command === "bash") === true,
      "the shell in the stream",
    );
    const first = liveState(client)!;
    const health = (await (await fetch(`${url.replace("ws://", "http://").replace("/ws", "")}/healthz`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })).json()) as { readings: { sessions: number; stretch: number }; starts: { active: number; waiting: number; concurrency: number; ready: number } };
    expect(health.readings.sessions).toBeGreaterThanOrEqual(1);
    expect(health.readings.stretch).toBeGreaterThanOrEqual(1);
    // The start is over (its turn handed back), nobody waits, and this lab prepares none ahead.
    expect(health.starts).toMatchObject({ active: 0, waiting: 0, ready: 0 });
    expect(health.starts.concurrency).toBeGreaterThanOrEqual(1);
    const shell = first.processes.find((p) => p.hostPid === ready.hostPid)!;
    expect(shell.nsPids).toEqual([ready.hostPid, 1]);
    expect(shell.command).toBe("bash");
    expect(shell.namespaces.net).not.toBe(first.hostNamespaces.net);
    expect(first.cgroup.memory.limitBytes.value).toBe(268435456);

    await client.run("unshare --net sleep 1000 & sleep 0.2");
    const inner = Number((await client.run("readlink /proc/$!/ns/net")).match(/\[(\d+)\]/)?.[1]);
    // unshare enters the namespace, then execs sleep: on a busy machine the stream may show it
    // in between, under its old name, before the reading that shows sleep.
    await client.waitFor(() => liveState(client)?.processes.some((p) => p.namespaces.net === inner && p.command === "sleep") === true, "sleep in the new net namespace in the stream");
    const sleeper = liveState(client)!.processes.find((p) => p.namespaces.net === inner)!;
    expect(sleeper.command).toBe("sleep");
    expect(inner).not.toBe(shell.namespaces.net);

    await client.run("kill %1; wait");
    await client.waitFor(() => !liveState(client)?.processes.some((p) => p.namespaces.net === inner), "the namespace gone with its process");
    // With nothing changing, a heartbeat carries only the time of the last read.
    const before = client.messages.length;
    await client.waitFor(
      () => client.messages.slice(before).some((m) => m.type === "state.delta" && m.delta.kind === "change" && Object.keys(m.delta).length === 2),
      "a heartbeat",
      10_000,
    );
    // Only changes travel after the first snapshot.
    const deltas = client.messages.filter((m) => m.type === "state.delta");
    expect(deltas[0]).toMatchObject({ delta: { kind: "full" } });
    expect(deltas.slice(1).every((m) => m.type === "state.delta" && m.delta.kind === "change")).toBe(true);
    client.close();
    await client.closed();
  });

  it("lowers the memory limit like docker update, and a hog's OOM kill shows in the stream", async () => {
    const { client, ready } = await startSession();
    client.sendJson({ type: "state.watch", watch: true });
    client.sendJson({ type: "limits.update", requestId: "lower", sessionId: ready.sessionId, limits: { memoryBytes: 32 << 20, memorySwapBytes: 32 << 20 } });
    await client.waitFor(() => client.messages.some((m) => m.type === "limits.updated"), "limits.updated");
    const updated = client.messages.find((m) => m.type === "limits.updated");
    // The stream shows the new limit (the session reads in full after a limit change; the
    // reader's own tests show a full reading is made at once when asked).
    await client.waitFor(() => liveState(client)?.cgroup.memory.limitBytes.value === 33554432, "the new limit in the stream", 3_000);
    expect(updated).toMatchObject({ requestId: "lower", limits: { memoryBytes: 33554432, memorySwapBytes: 33554432, cpus: 0.5, pids: 100 } });
    const limitFile = ready.cgroupVersion === 1 ? "/sys/fs/cgroup/memory/memory.limit_in_bytes" : "/sys/fs/cgroup/memory.max";
    expect(await client.run(`cat ${limitFile}`)).toBe("33554432");
    if (updated?.type === "limits.updated") {
      expect(updated.cgroupFiles.find((f) => f.flag === "--memory")).toEqual({
        flag: "--memory",
        file: ready.cgroupVersion === 1 ? "memory/memory.limit_in_bytes" : "memory.max",
        value: "33554432",
      });
    }

    await client.waitFor(() => liveState(client)?.cgroup.memory.oomKillCount.value === 0, "the OOM count at 0");
    await client.run("tail /dev/zero; echo hog-status=$?");
    await client.waitFor(() => liveState(client)?.cgroup.memory.oomKillCount.value === 1, "the OOM kill in the stream");
    expect(client.output).toContain("hog-status=137");
    expect(await client.run("echo shell-alive")).toBe("shell-alive");
    client.close();
    await client.closed();
  });

  it("rejects bad limits with a protocol error and writes nothing to the kernel", async () => {
    const { client, ready } = await startSession();
    const limitFile = ready.cgroupVersion === 1 ? "/sys/fs/cgroup/memory/memory.limit_in_bytes" : "/sys/fs/cgroup/memory.max";
    const update = (requestId: string, limits: unknown, sessionId = ready.sessionId) =>
      client.sendJson({ type: "limits.update", requestId, sessionId, limits });
    update("r1", { memoryBytes: "64m" });
    update("r2", { pids: -5 });
    update("r3", { memoryBytes: 2 ** 52 });
    update("r4", { memoryBytes: 128 << 20, memorySwapBytes: 64 << 20 });
    update("r5", { cpus: 1000 });
    update("r6", { memoryBytes: 64 << 20 }, "0000000000000000");
    update("r7", {});
    // Within what the host has, but above what the lab gave this session: a stranger must not
    // raise their own limits to the whole machine.
    update("r8", { memoryBytes: 1 << 30, memorySwapBytes: 1 << 30 });
    update("r9", { pids: -1 });
    update("r10", { memorySwapBytes: -1 });
    update("r11", { cpus: 2 });
    await client.waitFor(() => client.errors().length >= 11, "eleven errors");
    // Each error names the request it answers, so the page can match answers to requests.
    expect(client.errors().map((e) => [e.requestId, e.code, e.field ?? null])).toEqual([
      ["r1", "bad_message", null],
      ["r2", "bad_message", null],
      ["r3", "bad_limit", "memoryBytes"],
      ["r4", "bad_limit", "memorySwapBytes"],
      ["r5", "bad_limit", "cpus"],
      ["r6", "not_your_session", null],
      ["r7", "bad_message", null],
      ["r8", "bad_limit", "memoryBytes"],
      ["r9", "bad_limit", "pids"],
      ["r10", "bad_limit", "memorySwapBytes"],
      ["r11", "bad_limit", "cpus"],
    ]);
    expect(client.errors()[7]?.message).toBe("This lab allows --memory 256m at most; lower is fine, higher is up to the lab's operator.");
    expect(client.messages.some((m) => m.type === "limits.updated")).toBe(false);
    expect(await client.run(`cat ${limitFile}`)).toBe("268435456");
    client.close();
    await client.closed();
  });

  it("ticks lab steps from kernel state, keeps them in SQLite, and resends them on the next visit", async () => {
    const { client } = await startSession("checks-demo");
    await client.waitFor(() => lastProgress(client).length === 4, "the lesson's steps");
    expect(lastProgress(client).every((s) => !s.done)).toBe(true);
    client.sendJson({ type: "state.watch", watch: true });

    await client.run("unshare --net sleep 1000 & true");
    await client.waitFor(() => lastProgress(client).find((s) => s.id === "new-netns")?.done === true, "new-netns ticked");
    expect(lastProgress(client).filter((s) => s.done).map((s) => s.id)).toEqual(["new-netns"]);

    await client.run("unshare -p -f --mount-proc unshare -p -f --mount-proc sleep 1000 & true");
    await client.waitFor(() => lastProgress(client).find((s) => s.id === "nested-pidns")?.done === true, "nested-pidns ticked");

    const memory = "/sys/fs/cgroup/memory";
    const isV1 = (await client.run(`test -d ${memory} && echo v1 || echo v2`)) === "v1";
    const child = isV1 ? `${memory}/hog` : "/sys/fs/cgroup/hog";
    await client.run(
      isV1
        ? `mkdir ${child} && echo 67108864 > ${child}/memory.limit_in_bytes && echo 67108864 > ${child}/memory.memsw.limit_in_bytes`
        : `mkdir ${child} && echo 67108864 > ${child}/memory.max && echo 0 > ${child}/memory.swap.max`,
    );
    await client.waitFor(() => lastProgress(client).find((s) => s.id === "child-limit")?.done === true, "child-limit ticked");

    await client.run(`sh -c 'echo $$ > ${child}/cgroup.procs; exec tail /dev/zero'`);
    await client.waitFor(() => lastProgress(client).find((s) => s.id === "oom")?.done === true, "oom ticked");
    expect(await client.run("echo survived")).toBe("survived");
    client.close();
    await client.closed();

    // A new session for the same learner starts with everything already done.
    const again = await startSession("checks-demo");
    await again.client.waitFor(() => lastProgress(again.client).length === 4, "progress on the next visit");
    expect(lastProgress(again.client)).toEqual([
      { id: "new-netns", done: true },
      { id: "nested-pidns", done: true },
      { id: "child-limit", done: true },
      { id: "oom", done: true },
    ]);
    again.client.close();
    await again.client.closed();
  });

  it("serves a learner's progress as JSON, and gives a first-time visitor a cookie", async () => {
    const base = url.replace("ws://", "http://").replace("/ws", "");
    const known = await fetch(`${base}/api/progress`, { headers: { cookie: `nslab_learner=${LEARNER}` } });
    expect(await known.json()).toMatchObject({ lessons: { "checks-demo": { total: 4 } } });
    const fresh = await fetch(`${base}/api/progress`);
    expect(fresh.headers.get("set-cookie")).toMatch(/^nslab_learner=[0-9a-f]{32}; Path=\/; Max-Age=31536000; HttpOnly; SameSite=Lax$/);
    const body = (await fresh.json()) as { lessons: Record<string, { steps: Array<{ done: boolean }> }> };
    expect(body.lessons["checks-demo"]?.steps.map((s) => s.done)).toEqual([false, false, false, false]);
  });
});
