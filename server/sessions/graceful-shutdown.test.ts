// SIGTERM to a lab with live sessions, as systemd, `docker stop` or Kubernetes send it: every
// page is told the lab is restarting (4006, progress kept), every sandbox is torn down, the
// process exits 0, and nothing of the sessions is left on the host. Also while it is starting.
import fs from "node:fs";

import { afterAll, describe, expect, it } from "vitest";

import { CloseCode } from "../../common/protocol";
import { hostCgroupDriver } from "../sandbox/cgroup";
import { sandboxUnavailable } from "../testing/kernel";
import { LabClient, learnerCookie } from "../testing/lab-client";
import { type LabNodeOptions, type LabNodeProcess, removeNodeLeftovers, startLabNodeProcess } from "../testing/lab-node-process";
import { NO_TRACES, sessionTraces, waitUntil } from "../testing/traces";

const unavailable = sandboxUnavailable();
const RUN_DIR = `/run/nslab-test-shutdown-${process.pid}`;
const SESSIONS = 10;

const OPTIONS: Omit<LabNodeOptions, "id"> = {
  namePrefix: `nslab-test-shutdown-${process.pid}`,
  maxSessions: SESSIONS + 2,
  runDir: RUN_DIR,
  nodeSecret: "shutdown-test-node-secret",
  instructorSecret: "shutdown-test-instructor-secret",
  reconnectGraceS: 60,
  logLevel: "info",
  nodeEnv: "production",
  // Ten learners from one address, as a test is.
  env: { NSLAB_SESSIONS_PER_ADDRESS: "0" },
};

function exited(node: LabNodeProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return Promise.resolve({ code: node.child.exitCode, signal: node.child.signalCode });
  return new Promise((resolve) => node.child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** The cgroups left below a node's cgroup parents (every hierarchy's). */
function cgroupsBelow(parents: string[]): string[] {
  return parents.flatMap((parent) => (fs.existsSync(parent) ? fs.readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${parent}/${e.name}`) : []));
}

describe.skipIf(unavailable !== null)(`a lab stopped by SIGTERM${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  const nodes: LabNodeProcess[] = [];
  const clients: LabClient[] = [];

  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    for (const node of nodes) {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill("SIGKILL");
      await exited(node);
      fs.rmSync(node.dataDir, { recursive: true, force: true });
    }
    // Whatever a failed test left goes, as a node's next start would remove it (a node that
    // never listened is in no list: its cgroup parent is known by its name).
    for (const id of ["ten", "early"]) await removeNodeLeftovers(`/${OPTIONS.namePrefix}-${id}`, RUN_DIR);
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
  }, 60_000);

  it(`tells ${SESSIONS} live sessions the lab is restarting, tears every sandbox down and exits 0`, async () => {
    const node = await startLabNodeProcess({ ...OPTIONS, id: "ten" });
    nodes.push(node);
    const ids: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const client = new LabClient(node.ws, learnerCookie(`5d${String(i).padStart(2, "0")}`.padEnd(32, "e")));
      clients.push(client);
      ids.push((await client.start()).sessionId);
    }
    expect(await clients[0]!.run("echo alive")).toBe("alive");
    const found = hostCgroupDriver(node.cgroupParent);
    if (!("driver" in found)) throw new Error(found.reason);
    const { driver } = found;
    expect(sessionTraces(driver, RUN_DIR, ids[0]!).cgroupDirs.length).toBeGreaterThan(0);

    node.child.kill("SIGTERM");
    expect(await exited(node)).toEqual({ code: 0, signal: null });
    expect(await Promise.all(clients.map((c) => c.closed()))).toEqual(ids.map(() => CloseCode.ServerShutdown));
    for (const id of ids) expect(sessionTraces(driver, RUN_DIR, id)).toEqual(NO_TRACES);
    // The sandboxes it had prepared ahead went too: nothing is left under its cgroup parent.
    expect(cgroupsBelow(Object.values(driver.parents))).toEqual([]);
    expect(fs.readdirSync(`${RUN_DIR}/sessions`)).toEqual([]);
    expect(fs.readFileSync(node.logFile, "utf8")).toMatch(/"msg":"shutting down"/);
  }, 120_000);

  it("stops as soon as it has started when SIGTERM comes during its start-up, leaving nothing", async () => {
    const found = hostCgroupDriver(`/${OPTIONS.namePrefix}-early`);
    if (!("driver" in found)) throw new Error(found.reason);
    const parents = Object.values(found.driver.parents);
    const starting = startLabNodeProcess({ ...OPTIONS, id: "early" });
    // Its cgroup parent is made part-way through its start (before the sandboxes prepared
    // ahead, and long before it listens): the signal comes while it starts, or, on a fast
    // machine, just after.
    await waitUntil(() => parents.some((parent) => fs.existsSync(parent)), "the node's cgroup parent", 60_000);
    const pids = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p));
    const child = pids.map(Number).find((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("lab-node-main.ts") && fs.readFileSync(`/proc/${pid}/environ`, "utf8").includes(`${OPTIONS.namePrefix}-early`);
      } catch {
        return false;
      }
    });
    expect(child).toBeDefined();
    process.kill(child!, "SIGTERM");
    const outcome = await starting.then((node) => {
      nodes.push(node);
      return exited(node);
    }, (err: Error) => ({ startError: err.message }));
    // Either it exited before it listened (a start that failed because it was stopped), or it
    // listened and then stopped by itself; either way with status 0 and nothing left.
    if ("startError" in outcome) expect(outcome.startError).toMatch(/exited \(0\) before it listened/);
    else expect(outcome).toEqual({ code: 0, signal: null });
    expect(cgroupsBelow(parents)).toEqual([]);
  }, 120_000);
});
