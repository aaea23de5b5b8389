// `npm start`: build what is missing or older than its sources (the compiled server, the
// launcher, the sandbox image, the Next app), then serve with the compiled server: no
// TypeScript compiler runs in production (`npm run dev` runs the sources through tsx).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { buildLauncher, buildServer, buildSpawner, ensureImage } from "./setup.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.env.NEXT_TELEMETRY_DISABLED = "1";

let serverDist;
try {
  serverDist = buildServer();
  if (!serverDist) throw new Error("server/ is missing from this checkout, so there is no server to start");
  buildLauncher();
  buildSpawner();
  ensureImage();
} catch (err) {
  console.error(`nslab: ${err.message}`);
  process.exit(1);
}

/** The newest source file the Next build depends on. */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  for (const dir of ["app", "components", "common", "lessons", "public"]) if (fs.existsSync(path.join(root, dir))) walk(path.join(root, dir));
  return newest;
}

const buildId = path.join(root, process.env.NSLAB_NEXT_DIR || ".next", "BUILD_ID");
if (!fs.existsSync(buildId) || fs.statSync(buildId).mtimeMs < newestSource()) {
  console.log("nslab: building the web app (next build)…");
  const r = spawnSync(path.join(root, "node_modules/.bin/next"), ["build"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const server = spawn(process.execPath, ["--enable-source-maps", path.join(serverDist, "server.mjs")], {
  cwd: root,
  stdio: "inherit",
  env: { NODE_ENV: "production", ...process.env },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
