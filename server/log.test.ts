// The server's logger as a process sees it: the lines pino writes, at the level asked for, and
// pino itself loaded only by the first of them. Each case is a fresh Node process, since the
// level and the stream are read once, when log.ts loads.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { describe, expect, it } from "vitest";

import { PROJECT_ROOT } from "./testing/kernel";

const LOG_MODULE = pathToFileURL(path.join(PROJECT_ROOT, "server", "log.ts")).href;

/** Runs `body` (an ES module's code, with `log` imported and `pinoLoaded()` to ask) in a new
 *  process under tsx, with `env` on top of this one's (minus the test runner's markers). */
function withLogger(body: string, env: Record<string, string>) {
  const script = `import { createRequire } from "node:module";
const { log } = await import(${JSON.stringify(LOG_MODULE)});
const { cache } = createRequire(import.meta.url);
const pinoLoaded = () => Object.keys(cache).some((file) => file.includes("/node_modules/pino/"));
${body}`;
  const { VITEST: _vitest, LOG_LEVEL: _level, NSLAB_LOG_TO_STDERR: _stderr, ...inherited } = process.env;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: PROJECT_ROOT,
    env: { ...inherited, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lines = (text: string) => text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

describe("log", () => {
  it("writes nothing below its level, and loads pino only for the first line it writes", () => {
    const r = withLogger(
      `const session = log.child({ sessionId: "s1" });
session.info({ pid: 1 }, "below the level");
process.stderr.write("before: " + pinoLoaded() + "\\n");
session.warn({ pid: 2 }, "at the level");
process.stderr.write("after: " + pinoLoaded() + "\\n");`,
      { LOG_LEVEL: "warn" },
    );
    expect(r.stderr).toBe("before: false\nafter: true\n");
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([{ level: 40, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), service: "nslab", sessionId: "s1", pid: 2, msg: "at the level" }]);
  });

  it("gives a child the fields it had when it was made, and writes to stderr when NSLAB_LOG_TO_STDERR is set", () => {
    const r = withLogger(
      `const fields = { sessionId: "s1" };
const session = log.child(fields);
fields.sessionId = "changed";
session.child({ component: "spawner" }).error({ code: 3 }, "failed");
log.fatal("stopped");`,
      { LOG_LEVEL: "info", NSLAB_LOG_TO_STDERR: "1" },
    );
    expect(r).toMatchObject({ status: 0, stdout: "" });
    expect(lines(r.stderr).map(({ time: _time, ...line }) => line)).toEqual([
      { level: 50, service: "nslab", sessionId: "s1", component: "spawner", code: 3, msg: "failed" },
      { level: 60, service: "nslab", msg: "stopped" },
    ]);
  });

  it("writes at info under a level pino does not know, so that the configuration's refusal of it gets out", () => {
    const r = withLogger(`log.debug("below info"); log.fatal({ setting: "LOG_LEVEL" }, "refused");`, { LOG_LEVEL: "loud" });
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([expect.objectContaining({ level: 60, setting: "LOG_LEVEL", msg: "refused" })]);
  });

  it("writes an error with its type, message and stack", () => {
    const r = withLogger(
      `function failing() { throw new RangeError("the port is taken"); }
try { failing(); } catch (err) { log.error({ err }, "start failed"); }`,
      { LOG_LEVEL: "info" },
    );
    const [line] = lines(r.stdout);
    expect(line).toMatchObject({ level: 50, msg: "start failed", err: { type: "RangeError", message: "the port is taken" } });
    expect((line?.err as { stack: string }).stack).toMatch(/^RangeError: the port is taken\n {4}at failing /);
  });

  it("writes nothing at all at level silent", () => {
    const r = withLogger(`log.fatal("stopped"); process.stderr.write(String(pinoLoaded()));`, { LOG_LEVEL: "silent" });
    expect(r).toEqual({ status: 0, stdout: "", stderr: "false" });
  });
});
