// `npm test`: every test of the project, in the order that fails fastest.
//   1. type checks of each layer (common, server, browser)
//   2. the web app's production build (the compiled server's test and the journeys serve it)
//   3. unit and integration tests (vitest; integration tests start real sandboxes)
//   4. browser journeys in the distribution's Chromium, against the compiled server
// Prints the tests that failed, each with its first line of failure, then one closing line:
// "N passed, N failed, N skipped" (scripts/test-report.mjs reads the runners' reports).
// Under CI=true a test that needs a kernel feature this machine lacks fails instead of skipping.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { ensureChromium } from "./ensure-chromium.mjs";
import { ensurePostgresql } from "./ensure-postgresql.mjs";
import { buildLauncher, buildServer, buildSpawner, ensureImage } from "./setup.mjs";
import { playwrightReport, vitestReport } from "./test-report.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => path.join(root, "node_modules/.bin", name);
const reports = path.join(root, "test-results");
fs.mkdirSync(reports, { recursive: true });
process.env.NEXT_TELEMETRY_DISABLED = "1";
// The tests' web build goes to a directory of its own (next.config.mjs), so that a test run on
// a checkout that also serves a lab (`npm start`) never rebuilds the pages under it.
process.env.NSLAB_NEXT_DIR ??= ".next-test";

const totals = { passed: 0, failed: 0, skipped: 0 };
let failedStep = null;

function step(name, cmd, args, env = {}) {
  console.log(`\n=== ${name}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
  if (r.status !== 0) failedStep ??= name;
  return r.status === 0;
}

/** "file › test: first line of the failure", for the closing summary. */
const failures = [];

function count(report) {
  totals.passed += report.passed;
  totals.failed += report.failed;
  totals.skipped += report.skipped;
  failures.push(...report.failures);
}

try {
  buildLauncher();
  buildSpawner();
  buildServer();
  ensureImage();
} catch (err) {
  console.error(`nslab test: ${err.message}`);
  process.exit(1);
}

step("type check: common (no DOM, no Node)", bin("tsc"), ["-p", "common"]);
step("type check: server (Node, no DOM)", bin("tsc"), ["-p", "server"]);
step("type check: app and components (DOM)", bin("tsc"), ["-p", "."]);

// Before the integration tests: the compiled server's own test serves the built pages.
const webBuilt = step("web app build", bin("next"), ["build"]);

// Before the unit tests: the store's PostgreSQL tests start a server of their own from the
// distribution's programs. Not fatal when they cannot be had: those tests then skip, or fail
// under CI=true.
ensurePostgresql();

const vitestJson = path.join(reports, "vitest.json");
fs.rmSync(vitestJson, { force: true });
step("unit and integration tests", bin("vitest"), ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${vitestJson}`]);
count(vitestReport(vitestJson, root));

let chromium = null;
try {
  chromium = ensureChromium();
} catch (err) {
  console.error(`\nnslab test: ${err.message}`);
  failedStep ??= "find Chromium";
  totals.failed += 1;
}
if (chromium && webBuilt) {
  const playwrightJson = path.join(reports, "playwright.json");
  fs.rmSync(playwrightJson, { force: true });
  step("browser journeys (Chromium)", bin("playwright"), ["test", "--reporter=list,json"], {
    CHROMIUM_PATH: chromium,
    PLAYWRIGHT_JSON_OUTPUT_NAME: playwrightJson,
  });
  count(playwrightReport(playwrightJson));
}

console.log("");
if (failures.length > 0) console.log(`nslab test: failed:\n${failures.map((f) => `  ${f}`).join("\n")}`);
if (failedStep) console.log(`nslab test: first failing step: ${failedStep}`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedStep || totals.failed ? 1 : 0);
