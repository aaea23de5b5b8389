// nslab server entry: one process serving the lesson pages (Next) and the lab (/ws).
//   node dist/server.mjs                  (npm start builds it, then runs it)
//   node --import tsx server/main.ts      (npm run dev: the sources as they are)
import path from "node:path";

import { Classrooms } from "./classroom/classrooms";
import { InstructorSessions, loadInstructorSecret } from "./classroom/instructor-auth";
import { loadConfig } from "./config";
import { checkHostFeatures, unsupportedReason } from "./kernel/features";
import { log } from "./log";
import { createLabServer } from "./http/lab-server";
import { hostCgroupDriver } from "./sandbox/cgroup";
import { SandboxHost, serverHostOptions } from "./sandbox/host";
import { LessonCatalog } from "./lessons/lesson-steps";
import { SessionRegistry } from "./sessions/session-registry";
import { openSqliteStore } from "./store/sqlite-store";
import { projectRoot } from "./project-root";

async function main(): Promise<void> {
  const config = loadConfig(process.env, projectRoot);
  const dev = config.NODE_ENV === "development";
  const features = checkHostFeatures({ launcher: config.launcherPath, rootfs: config.NSLAB_ROOTFS });
  let host: SandboxHost | null = null;
  let reason = "";
  if (features.ok) {
    const found = hostCgroupDriver(config.NSLAB_CGROUP_PARENT);
    if ("driver" in found) {
      host = new SandboxHost(found.driver, serverHostOptions(config));
      await host.cleanupLeftovers();
    } else {
      reason = `This server cannot create sandboxes: ${found.reason}.`;
    }
  } else {
    reason = unsupportedReason(features);
  }
  if (!host) log.error({ reason, checks: features.checks.filter((c) => !c.ok) }, "lab disabled: lessons are served without sandboxes");

  const { default: next } = await import("next");
  const app = next({ dev, dir: projectRoot, hostname: config.HOST, port: config.PORT });
  await app.prepare();
  const handle = app.getRequestHandler();

  const lessons = new LessonCatalog(path.join(projectRoot, "lessons"), "lessons", dev);
  // Every lesson's lab steps are read before the first page can ask for a sandbox: a broken
  // lesson stops the server here, and no session waits for an MDX file to be evaluated.
  await lessons.load();
  const store = openSqliteStore(path.join(config.NSLAB_DATA_DIR, "nslab.db"));
  const registry = host
    ? new SessionRegistry({
        host,
        capacity: config.NSLAB_MAX_SESSIONS,
        graceMs: config.NSLAB_RECONNECT_GRACE_S * 1000,
        store,
        lessons,
      })
    : null;
  const classrooms = new Classrooms({ store, registry, lessons });
  const secret = await loadInstructorSecret({ fromEnvironment: config.NSLAB_INSTRUCTOR_SECRET, dataDir: config.NSLAB_DATA_DIR });
  const lab = createLabServer({
    registry,
    lessons,
    store,
    unsupportedReason: reason,
    features,
    handleRequest: (req, res) => handle(req, res),
    allowedOrigins: config.NSLAB_ALLOWED_ORIGINS.split(",").map((s) => s.trim()).filter(Boolean),
    dev,
    classroom: { classrooms, secret, sessions: new InstructorSessions(store.instructorSessions) },
  });
  const port = await lab.listen(config.PORT, config.HOST);
  const baseUrl = `http://${config.HOST === "0.0.0.0" ? "localhost" : config.HOST}:${port}`;
  log.info(
    {
      url: baseUrl,
      dev,
      cgroupVersion: features.cgroupVersion,
      lab: host !== null,
      capacity: config.NSLAB_MAX_SESSIONS,
      reconnectGraceS: config.NSLAB_RECONNECT_GRACE_S,
    },
    "nslab listening",
  );
  if (secret.generated) {
    // The one time the secret is ever shown: only its hash is kept.
    log.warn(
      { loginUrl: `${baseUrl}/teach`, instructorSecret: secret.generated, hashIn: path.join(config.NSLAB_DATA_DIR, "instructor-secret") },
      "a new instructor secret was made; it is shown only this once. Log in at the URL with it, or set NSLAB_INSTRUCTOR_SECRET",
    );
  } else {
    log.info({ loginUrl: `${baseUrl}/teach`, secretFrom: secret.source }, "instructors log in here");
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    // Ends every session (pages are told, sandboxes destroyed), then closes the sockets.
    await lab.close();
    // Every sandbox is gone: the sandboxes prepared ahead are removed, and the terminal spawner
    // has nothing left to start or reap (bounded: it exits with this process anyway).
    // (The timer is not unref'd: an idle spawner holds no reference on the event loop, and
    // the process must stay until the store below is closed.)
    await Promise.race([host?.close(), new Promise((r) => setTimeout(r, 5_000))]);
    // After the sockets: the steps their last checks ticked are still in the write queue.
    await store.close().catch((err: unknown) => log.error({ err: (err as Error).message }, "store did not close cleanly"));
    process.exit(0);
  };
  // Every path that awaits is meant to catch what it can fail with; should one be missed, the
  // lab logs it rather than end every learner's session with the process.
  process.on("unhandledRejection", (reason) => {
    log.error({ err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) }, "unhandled promise rejection");
  });
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  log.fatal({ err: (err as Error).message }, "nslab failed to start");
  process.exit(1);
});
