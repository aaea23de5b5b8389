// A real lab server for integration tests: the HTTP and WebSocket server of production, a
// session registry over real sandboxes, on a free port, with its own run directory and cgroup
// parent so that parallel test files never meet. `close()` ends every session and removes
// what the test made.
import fs from "node:fs";
import type http from "node:http";

import { Classrooms } from "../classroom/classrooms";
import { InstructorSessions, loadInstructorSecret } from "../classroom/instructor-auth";
import { checkHostFeatures } from "../kernel/features";
import { createLabServer } from "../http/lab-server";
import type { LessonCatalog } from "../lessons/lesson-steps";
import { type CgroupDriver, hostCgroupDriver } from "../sandbox/cgroup";
import { SandboxHost } from "../sandbox/host";
import { TrustedProxies } from "../http/client-address";
import { type SessionLimits, SessionRegistry } from "../sessions/session-registry";
import type { Store } from "../store/store";
import { LAUNCHER, ROOTFS, testHostOptions } from "./kernel";

export interface TestLabOptions {
  /** A short name for the run directory and cgroup parent ("ws", "live", …). */
  name: string;
  capacity?: number;
  /** The reconnect grace period (default 0: a session ends with its page, as without it). */
  graceMs?: number;
  store?: Store | null;
  lessons?: LessonCatalog | null;
  /** Serve the classroom, with this instructor secret (needs `store`). */
  instructorSecret?: string;
  /** Bounds per learner and per address, idle timeout and lifetime (default: none). */
  limits?: SessionLimits;
  /** NSLAB_TRUSTED_PROXIES, as loadConfig would take it (default: none). */
  trustedProxies?: string[];
  /** NSLAB_OPERATOR_TOKEN: shows /healthz in full (default: none). */
  operatorToken?: string;
}

export interface TestLab {
  url: string;
  port: number;
  runDir: string;
  driver: CgroupDriver;
  host: SandboxHost;
  registry: SessionRegistry;
  lab: ReturnType<typeof createLabServer>;
  /** With `instructorSecret`: the classroom. */
  classrooms: Classrooms | null;
  close(): Promise<void>;
}

function notFound(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(404);
  res.end();
}

export async function startTestLab(options: TestLabOptions): Promise<TestLab> {
  const runDir = `/run/nslab-test-${options.name}-${process.pid}`;
  const found = hostCgroupDriver(`/nslab-test-${options.name}-${process.pid}`);
  if (!("driver" in found)) throw new Error(found.reason);
  const driver = found.driver;
  const host = new SandboxHost(driver, testHostOptions(runDir));
  const registry = new SessionRegistry({
    host,
    capacity: options.capacity ?? 3,
    graceMs: options.graceMs ?? 0,
    store: options.store ?? null,
    lessons: options.lessons ?? null,
    limits: options.limits ?? {},
  });
  let classrooms: Classrooms | null = null;
  let classroom = null;
  if (options.instructorSecret !== undefined) {
    if (!options.store) throw new Error("the classroom needs a store");
    classrooms = new Classrooms({ store: options.store, registry, lessons: options.lessons ?? null });
    const secret = await loadInstructorSecret({ fromEnvironment: options.instructorSecret, dataDir: runDir });
    classroom = { classrooms, secret, sessions: new InstructorSessions(options.store.instructorSessions) };
  }
  const lab = createLabServer({
    registry,
    unsupportedReason: "",
    features: checkHostFeatures({ launcher: LAUNCHER, rootfs: ROOTFS }),
    handleRequest: notFound,
    allowedOrigins: [],
    dev: false,
    lessons: options.lessons ?? null,
    store: options.store ?? null,
    classroom,
    trustedProxies: new TrustedProxies(options.trustedProxies ?? []),
    operatorToken: options.operatorToken ?? null,
  });
  const port = await lab.listen(0, "127.0.0.1");
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    port,
    runDir,
    driver,
    host,
    registry,
    lab,
    classrooms,
    async close() {
      await lab.close();
      // The spawner out of the parent's cpu cgroup too.
      await host.close();
      // Session cgroups are gone by now; the test's parent is empty and can go too.
      for (const parent of Object.values(driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
      fs.rmSync(runDir, { recursive: true, force: true });
    },
  };
}
