import { defineConfig, devices } from "@playwright/test";

import { freePort } from "./e2e/free-port";

// Browser journeys against the real server: Next pages and real sandboxes behind /ws, on one
// port. The server is the compiled one and serves the production build, so dist/ and
// `next build` must exist first (the test script makes both). The browser is the
// distribution's Chromium; Playwright's own browser downloads are never used.

// Found once, by the runner that reads this file first: the workers it starts read it again
// with this variable inherited, and must reach the same server.
process.env.NSLAB_E2E_PORT ??= String(freePort());
const PORT = Number(process.env.NSLAB_E2E_PORT);
const BASE_URL = `http://127.0.0.1:${PORT}`;

export default defineConfig({
  testDir: "e2e",
  // Each test starts a sandbox; one at a time keeps a 2-core machine responsive.
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  // A folder of its own: the test script keeps other reports in test-results/.
  outputDir: "test-results/e2e",
  use: {
    ...devices["Desktop Chrome"],
    baseURL: BASE_URL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
  projects: [{ name: "chromium" }],
  webServer: {
    // What `npm start` runs: the compiled server (the test script builds dist/ first).
    command: "node --enable-source-maps dist/server.mjs",
    // A reload must find its sandbox again; a minute is plenty for a journey, and sandboxes
    // the journeys leave behind end while the run goes on.
    // Every journey's page comes from 127.0.0.1, and a sandbox a closed page left waits out its
    // grace period: no bound per address, which a few journeys in a row would reach.
    env: { PORT: String(PORT), HOST: "127.0.0.1", NODE_ENV: "production", NSLAB_RECONNECT_GRACE_S: "60", NSLAB_SESSIONS_PER_ADDRESS: "0" },
    url: `${BASE_URL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    // Stopped as an operator stops it, so that it ends its sessions and removes the sandboxes
    // it prepared ahead: a run leaves nothing behind for the next to clean up.
    gracefulShutdown: { signal: "SIGTERM", timeout: 20_000 },
    stdout: "pipe",
    stderr: "pipe",
  },
});
