// nslab server entry: one process serving the lesson pages (Next) and the lab (/ws).
//   node dist/server.mjs                  (npm start builds it, then runs it)
//   node --import tsx server/main.ts      (npm run dev: the sources as they are)
import path from "node:path";

import { ConfigError, loadConfig } from "./config";
import { startLabNode } from "./lab-node";
import { log } from "./log";
import { projectRoot } from "./project-root";
import { ShutdownOnSignal } from "./shutdown";

async function main(): Promise<void> {
  const shutdown = new ShutdownOnSignal();
  const config = loadConfig(process.env, projectRoot);
  const dev = config.NODE_ENV === "development";

  const { default: next } = await import("next");
  const app = next({ dev, dir: projectRoot, hostname: config.HOST, port: config.PORT });
  await app.prepare();
  const handle = app.getRequestHandler();

  const node = await startLabNode(config, { handleRequest: (req, res) => handle(req, res), dev });
  const baseUrl = `http://${config.HOST === "0.0.0.0" ? "localhost" : config.HOST}:${node.port}`;
  log.info({ url: baseUrl }, "nslab listening");
  if (node.secret.generated) {
    // The one time the secret is ever shown: only its hash is kept.
    log.warn(
      { loginUrl: `${baseUrl}/teach`, instructorSecret: node.secret.generated, hashIn: path.join(config.NSLAB_DATA_DIR, "instructor-secret") },
      "a new instructor secret was made; it is shown only this once. Log in at the URL with it, or set NSLAB_INSTRUCTOR_SECRET",
    );
  } else {
    log.info({ loginUrl: `${baseUrl}/teach`, secretFrom: node.secret.source }, "instructors log in here");
  }

  shutdown.ready(() => node.stop());
  // Every path that awaits is meant to catch what it can fail with; should one be missed, the
  // lab logs it rather than end every learner's session with the process.
  process.on("unhandledRejection", (reason) => {
    log.error({ err: reason }, "unhandled promise rejection");
  });
}

main().catch((err: unknown) => {
  // A refused setting is told in its own words; anything else comes with its stack.
  if (err instanceof ConfigError) log.fatal(`nslab failed to start: ${err.message}`);
  else log.fatal({ err }, "nslab failed to start");
  process.exit(1);
});
