// The CLI and the server as production runs them: compiled by scripts/build-server.mjs into a
// directory of their own, started by plain node. Every process here runs under a module hook
// that records each module it resolves, so "no tsx, no TypeScript at run time" is read from
// what the process loaded, not assumed.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hostCgroupDriver } from "../sandbox/cgroup";
import { PROJECT_ROOT, sandboxUnavailable } from "../testing/kernel";
import { LabClient, learnerCookie } from "../testing/lab-client";

const unavailable = sandboxUnavailable();
const nextBuilt = fs.existsSync(path.join(PROJECT_ROOT, process.env.NSLAB_NEXT_DIR || ".next", "BUILD_ID"));
const NAME = `compiled-${process.pid}`;
const RUN_DIR = `/run/nslab-test-${NAME}`;
const CGROUP_PARENT = `/nslab-test-${NAME}`;
const LEARNER = "c0357ed0c0357ed0c0357ed0c0357ed0";

// Inside the project (dist/.test-*), where the build's imports of node_modules/ resolve as
// they do from dist/; a different depth than dist/ itself, as the project root must not care.
fs.mkdirSync(path.join(PROJECT_ROOT, "dist"), { recursive: true });
const OUT = fs.mkdtempSync(path.join(PROJECT_ROOT, "dist", ".test-compiled-"));
const SCRATCH = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-compiled-"));

// A resolve hook (module.register, run by --import) that appends every URL it resolves, in the
// process and in its worker threads, to the file NSLAB_TEST_MODULE_LOG names; and, as the
// process exits, the URL of every CommonJS module it loaded, which a resolve hook does not see
// (packages loaded with require() where they are first used: pino, node-pty).
const HOOKS = path.join(SCRATCH, "record-hooks.mjs");
const PRELOAD = path.join(SCRATCH, "record-modules.mjs");
fs.writeFileSync(
  HOOKS,
  `import fs from "node:fs";
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  fs.appendFileSync(process.env.NSLAB_TEST_MODULE_LOG, resolved.url + "\\n");
  return resolved;
}
`,
);
fs.writeFileSync(
  PRELOAD,
  `import fs from "node:fs";
import { createRequire, register } from "node:module";
import { pathToFileURL } from "node:url";
register(${JSON.stringify(pathToFileURL(HOOKS).href)});
const { cache } = createRequire(import.meta.url);
process.on("exit", () => {
  fs.appendFileSync(process.env.NSLAB_TEST_MODULE_LOG, Object.keys(cache).map((file) => pathToFileURL(file).href + "\\n").join(""));
});
`,
);

let logs = 0;
/** A fresh file for one process's module log. */
function moduleLog(): string {
  return path.join(SCRATCH, `modules-${++logs}.log`);
}

function modulesLoaded(log: string): string[] {
  return fs.readFileSync(log, "utf8").split("\n").filter(Boolean);
}

/** The packages of node_modules/ among `modules`. */
function packagesIn(modules: string[]): string[] {
  return [...new Set(modules.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []))];
}

/** What a process loaded that a compiled start must not: tsx, or any TypeScript file. */
function compilerTraces(modules: string[]): string[] {
  return modules.filter((url) => url.includes("/node_modules/tsx/") || /\.[cm]?tsx?$/.test(url));
}

const fileUrl = (...parts: string[]) => pathToFileURL(path.join(...parts)).href;

/** `env` on top of this process's; a variable given as undefined is left out. */
function node(args: string[], log: string, env: Record<string, string | undefined> = {}) {
  const merged: Record<string, string | undefined> = { ...process.env, NSLAB_RUN_DIR: RUN_DIR, NSLAB_CGROUP_PARENT: CGROUP_PARENT, NSLAB_TEST_MODULE_LOG: log, ...env };
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
  const r = spawnSync(process.execPath, ["--import", PRELOAD, ...args], {
    env: merged as NodeJS.ProcessEnv,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(() => {
  const build = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "scripts/build-server.mjs"), OUT], { encoding: "utf8" });
  expect(build.stderr).toBe("");
  expect(build.status).toBe(0);
});

afterAll(() => {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.rmSync(SCRATCH, { recursive: true, force: true });
  const found = hostCgroupDriver(CGROUP_PARENT);
  if ("driver" in found) for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
  fs.rmSync(RUN_DIR, { recursive: true, force: true });
});

describe("the compiled CLI", () => {
  it("writes the entry points, the mirror worker beside them, and source maps", () => {
    const files = fs.readdirSync(OUT);
    expect(files).toEqual(expect.arrayContaining(["cli.mjs", "cli.mjs.map", "server.mjs", "server.mjs.map", "mirror-worker.mjs", "inputs.json"]));
    // Flat: a path made from import.meta.url in any output names a file of this directory.
    expect(fs.readdirSync(OUT, { withFileTypes: true }).filter((e) => e.isDirectory())).toEqual([]);
  });

  it("bin/nslab.mjs runs dist/cli.mjs, loading neither tsx nor any TypeScript", () => {
    const log = moduleLog();
    const r = node([path.join(PROJECT_ROOT, "bin/nslab.mjs"), "help"], log);
    expect(r).toMatchObject({ status: 0, stderr: "" });
    expect(r.stdout).toMatch(/^usage: nslab <command>\n/);
    const modules = modulesLoaded(log);
    expect(modules).toContain(fileUrl(PROJECT_ROOT, "dist", "cli.mjs"));
    expect(compilerTraces(modules)).toEqual([]);
  });

  it.skipIf(unavailable !== null)("bin/nslab.mjs run -- true exits 0, from dist/, with no tsx loaded", () => {
    const log = moduleLog();
    expect(node([path.join(PROJECT_ROOT, "bin/nslab.mjs"), "run", "--", "true"], log)).toEqual({ status: 0, stdout: "", stderr: "" });
    const modules = modulesLoaded(log);
    expect(modules).toContain(fileUrl(PROJECT_ROOT, "dist", "cli.mjs"));
    expect(compilerTraces(modules)).toEqual([]);
  });

  it.skipIf(unavailable !== null)("nslab run without a terminal loads node-pty and koffi never, and pino only once it has a line to write", () => {
    const quiet = moduleLog();
    // Quiet as a user runs it: whatever LOG_LEVEL the tests were started with is not passed on.
    expect(node([path.join(OUT, "cli.mjs"), "run", "--", "true"], quiet, { LOG_LEVEL: undefined })).toEqual({ status: 0, stdout: "", stderr: "" });
    const quietPackages = packagesIn(modulesLoaded(quiet));
    expect(quietPackages).not.toContain("node-pty");
    // Its launcher's report comes on a socket child_process makes, and by teardown no process
    // of the sandbox is left to pin with a pidfd.
    expect(quietPackages).not.toContain("koffi");
    expect(quietPackages).not.toContain("pino");
    // At LOG_LEVEL=info the sandbox's start is logged, as JSON lines on stderr: pino is loaded.
    const logged = moduleLog();
    const r = node([path.join(OUT, "cli.mjs"), "run", "--", "true"], logged, { LOG_LEVEL: "info" });
    expect(r).toMatchObject({ status: 0, stdout: "" });
    const lines = r.stderr.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { msg: string; service: string });
    expect(lines).toContainEqual(expect.objectContaining({ msg: "sandbox started", service: "nslab" }));
    const loggedPackages = packagesIn(modulesLoaded(logged));
    expect(loggedPackages).toContain("pino");
    expect(loggedPackages).not.toContain("node-pty");
    expect(loggedPackages).not.toContain("koffi");
  });

  it.skipIf(unavailable !== null)(`runs a command in a sandbox: nslab run -- sh -c 'echo hi'${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
    const log = moduleLog();
    const r = node([path.join(OUT, "cli.mjs"), "run", "--", "sh", "-c", "echo hi"], log);
    expect(r).toEqual({ status: 0, stdout: "hi\n", stderr: "" });
    const modules = modulesLoaded(log);
    expect(modules).toContain(fileUrl(OUT, "cli.mjs"));
    expect(compilerTraces(modules)).toEqual([]);
  });
});

describe.skipIf(!nextBuilt)(`the compiled server${nextBuilt ? "" : " (skipped: the web app is not built; run next build)"}`, () => {
  const log = moduleLog();
  const dataDir = path.join(SCRATCH, "data");
  let server: ChildProcess;
  let stdout = "";
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let url = "";

  beforeAll(async () => {
    server = spawn(process.execPath, ["--enable-source-maps", "--import", PRELOAD, path.join(OUT, "server.mjs")], {
      env: {
        ...process.env,
        NODE_ENV: "production",
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        NEXT_TELEMETRY_DISABLED: "1",
        NSLAB_RUN_DIR: RUN_DIR,
        NSLAB_CGROUP_PARENT: CGROUP_PARENT,
        NSLAB_DATA_DIR: dataDir,
        NSLAB_MAX_SESSIONS: "2",
        NSLAB_TEST_MODULE_LOG: log,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    server.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    server.on("exit", (code, signal) => (exit = { code, signal }));
    await waitUntil(() => exit !== null || /"msg":"nslab listening"/.test(stdout), "the server to listen");
    if (exit) throw new Error(`the compiled server exited (${JSON.stringify(exit)}): ${stdout}`);
    const listening = stdout.split("\n").find((line) => line.includes('"msg":"nslab listening"')) ?? "";
    url = (JSON.parse(listening) as { url: string }).url;
  });

  afterAll(async () => {
    // Normally the last test has stopped it. If not (a failure, a filtered run), SIGTERM still
    // ends its sessions and removes their sandboxes; SIGKILL only if that does not finish.
    if (exit !== null) return;
    server.kill("SIGTERM");
    await waitUntil(() => exit !== null, "the server to exit").catch(() => server.kill("SIGKILL"));
    await waitUntil(() => exit !== null, "the server to exit");
  });

  it("answers GET /healthz", async () => {
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ready: boolean; sessions: { live: number } };
    expect(body.ready).toBe(unavailable === null);
    expect(body.sessions.live).toBe(0);
  });

  it.skipIf(unavailable !== null)("serves a session, whose replay the mirror worker beside server.mjs makes", async () => {
    const wsUrl = `${url.replace(/^http/, "ws")}/ws`;
    const first = new LabClient(wsUrl, learnerCookie(LEARNER));
    const ready = await first.start();
    expect(await first.run("echo hi")).toBe("hi");
    // A second page of the same learner takes the session over and is sent the screen as the
    // server's copy of the terminal holds it: that copy lives in the worker thread.
    const again = new LabClient(wsUrl, learnerCookie(LEARNER));
    const resumed = await again.resume(ready);
    expect(resumed.replayBytes).toBeGreaterThan(0);
    await again.waitFor(() => again.outputBytes >= resumed.replayBytes, "the replay");
    expect(again.output).toContain("echo hi");
    for (const client of [first, again]) client.close();
    await Promise.all([first.closed(), again.closed()]);
  });

  it("ends with status 0 on SIGTERM, having loaded neither tsx nor any TypeScript", async () => {
    server.kill("SIGTERM");
    await waitUntil(() => exit !== null, "the server to exit");
    expect(exit).toEqual({ code: 0, signal: null });
    const modules = modulesLoaded(log);
    expect(modules).toContain(fileUrl(OUT, "server.mjs"));
    expect(compilerTraces(modules)).toEqual([]);
  });
});
