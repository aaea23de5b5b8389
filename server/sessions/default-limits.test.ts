// The lab's default limits from its settings (NSLAB_MEMORY, NSLAB_MEMORY_SWAP, NSLAB_CPUS,
// NSLAB_PIDS_LIMIT), through a real server process: a solo learner's sandbox gets them in its
// cgroup, the instructor's class form is told them, and a class made without limits of its own
// starts from them.
import fs from "node:fs";

import { afterAll, describe, expect, it } from "vitest";

import { ClassDetail, ClassList } from "../../common/classroom";
import { sandboxUnavailable } from "../testing/kernel";
import { LabClient, learnerCookie } from "../testing/lab-client";
import { type LabNodeProcess, removeNodeLeftovers, startLabNodeProcess } from "../testing/lab-node-process";

const unavailable = sandboxUnavailable();
const RUN_DIR = `/run/nslab-test-default-limits-${process.pid}`;
const PREFIX = `nslab-test-default-limits-${process.pid}`;
const SECRET = "default-limits-instructor-secret";
const MiB = 2 ** 20;
const SET = { memoryBytes: 96 * MiB, memorySwapBytes: 128 * MiB, cpus: 0.25, pids: 64 };

describe.skipIf(unavailable !== null)(`the lab's default limits from its settings${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let node: LabNodeProcess | null = null;
  const clients: LabClient[] = [];

  afterAll(async () => {
    for (const client of clients) client.ws.terminate();
    if (node) {
      const child = node.child;
      if (child.exitCode === null && child.signalCode === null) {
        const exit = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exit;
      }
      fs.rmSync(node.dataDir, { recursive: true, force: true });
    }
    await removeNodeLeftovers(`/${PREFIX}-one`, RUN_DIR);
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
  }, 60_000);

  it("gives a solo sandbox NSLAB_MEMORY… in its cgroup, and a new class starts from them", async () => {
    node = await startLabNodeProcess({
      id: "one",
      namePrefix: PREFIX,
      maxSessions: 3,
      runDir: RUN_DIR,
      nodeSecret: "default-limits-node-secret",
      instructorSecret: SECRET,
      reconnectGraceS: 0,
      logLevel: "warn",
      nodeEnv: "production",
      env: { NSLAB_MEMORY: "96m", NSLAB_MEMORY_SWAP: "128m", NSLAB_CPUS: "0.25", NSLAB_PIDS_LIMIT: "64" },
    });

    const learner = new LabClient(node.ws, learnerCookie("d3fa017d3fa017d3fa017d3fa017d3fa"));
    clients.push(learner);
    const ready = await learner.start();
    expect(ready.limits).toEqual(SET);
    // What the kernel holds, read from inside: the sandbox's cgroup is the root of its view.
    const memory = await learner.run("cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes");
    expect(Number(memory)).toBe(SET.memoryBytes);
    const pids = await learner.run("cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max");
    expect(Number(pids)).toBe(SET.pids);

    const origin = { origin: node.base };
    const login = await fetch(`${node.base}/teach/login`, { method: "POST", headers: { ...origin, "content-type": "application/json" }, body: JSON.stringify({ secret: SECRET }), redirect: "manual" });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(cookie).toMatch(/=/);
    const list = ClassList.parse(await (await fetch(`${node.base}/api/classes`, { headers: { cookie } })).json());
    expect(list.defaultLimits).toEqual(SET);
    const made = await fetch(`${node.base}/api/classes`, {
      method: "POST",
      headers: { ...origin, cookie, "content-type": "application/json" },
      body: JSON.stringify({ name: "Defaults", lesson: "containers-vs-vms", capacity: 2 }),
    });
    expect(made.status).toBe(201);
    expect(ClassDetail.parse(await made.json()).settings.limits).toEqual(SET);
  });
});
