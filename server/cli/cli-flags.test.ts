// The flags every command takes, as a user meets them: bin/nslab.mjs, compiled, by plain node.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { PROJECT_ROOT } from "../testing/kernel";

const SCRATCH = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-cli-flags-"));
const VERSION = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;

afterAll(() => fs.rmSync(SCRATCH, { recursive: true, force: true }));

/** An environment the server and the doctor refuse: a command that gets as far as reading its
 *  configuration exits 1 or 125 with it, and one that stops at its flags never sees it. */
const REFUSED = { NSLAB_MAX_SESSIONS: "many" };

function nslab(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "bin/nslab.mjs"), ...args], {
    // Should a command start a server after all, it is one nobody else reaches, with a state
    // of its own, and the timeout ends it: a status of null.
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      NSLAB_DATA_DIR: path.join(SCRATCH, "data"),
      NSLAB_RUN_DIR: `/run/nslab-scratch-cli-flags-${process.pid}`,
      NSLAB_CGROUP_PARENT: `/nslab-scratch-cli-flags-${process.pid}`,
      ...env,
    },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("nslab's flags", () => {
  it("serve --help prints serve's usage and exits 0 by itself, loading nothing of the server's", () => {
    const r = nslab(["serve", "--help"], REFUSED);
    expect(r).toMatchObject({ status: 0, stderr: "" });
    expect(r.stdout).toMatch(/^usage: nslab serve \[--port N\] \[--host ADDR\]\n/);
    expect(r.stdout).toContain("Exit codes:");
    expect(nslab(["serve", "-h"], REFUSED)).toEqual(r);
  });

  it.each([
    [["serve", "--bogus"], "nslab serve: unknown flag '--bogus'\nusage: nslab serve [--port N] [--host ADDR]\n"],
    [["serve", "--bogus=1"], "nslab serve: unknown flag '--bogus'\nusage: nslab serve [--port N] [--host ADDR]\n"],
    [["serve", "stray"], "nslab serve: unexpected argument 'stray'\nusage: nslab serve [--port N] [--host ADDR]\n"],
    [["serve", "--port"], "nslab serve: --port needs a value\nusage: nslab serve [--port N] [--host ADDR]\n"],
    [["serve", "--port", "http"], "nslab serve: --port: 'http' is not a port number (0-65535)\nusage: nslab serve [--port N] [--host ADDR]\n"],
    [["doctor", "--bogus"], "nslab doctor: unknown flag '--bogus'\nusage: nslab doctor [--json]\n"],
    [["doctor", "--json=yes"], "nslab doctor: --json takes no value\nusage: nslab doctor [--json]\n"],
    [["doctor", "stray"], "nslab doctor: unexpected argument 'stray'\nusage: nslab doctor [--json]\n"],
    [["--bogus"], "nslab: unknown flag '--bogus'\nusage: nslab <command>\n"],
  ])("nslab %j is a usage error: one line, the usage line, status 2", (args, stderr) => {
    expect(nslab(args, REFUSED)).toEqual({ status: 2, stdout: "", stderr });
  });

  it("an unknown command is a usage error, listing the commands", () => {
    const r = nslab(["bogus"]);
    expect(r).toMatchObject({ status: 2, stdout: "" });
    expect(r.stderr).toMatch(/^nslab: unknown command 'bogus'\nusage: nslab <command>/);
    expect(r.stderr).toContain("doctor [--json]");
  });

  it.each([[[]], [["serve"]], [["doctor"]], [["run"]]])("nslab %j --version and -V print package.json's version", (command) => {
    for (const flag of ["--version", "-V"]) expect(nslab([...command, flag], REFUSED)).toEqual({ status: 0, stdout: `nslab ${VERSION}\n`, stderr: "" });
  });

  it("doctor --json is the text report's checks, in order, as one JSON object, with the same status", () => {
    const text = nslab(["doctor"]);
    const json = nslab(["doctor", "--json"]);
    expect(json.stderr).toBe("");
    expect(json.status).toBe(text.status);
    expect(json.stdout.trim().split("\n")).toHaveLength(1);
    const report = JSON.parse(json.stdout) as {
      ok: boolean;
      kernel: string;
      cgroupVersion: number | null;
      checks: { name: string; ok: boolean; warn?: boolean; detail: string; fix?: string }[];
    };
    expect(report.ok).toBe(text.status === 0);
    expect(text.stdout).toContain(`kernel ${report.kernel}, cgroup ${report.cgroupVersion ? `v${report.cgroupVersion}` : "unusable"}`);
    expect(report.checks.length).toBeGreaterThan(0);
    // Each check's line of the text report, rebuilt from the JSON: the same names, verdicts and
    // details, and a fix line under exactly the checks whose fix the JSON gives.
    const width = Math.max(...report.checks.map((c) => c.name.length));
    const textChecks = text.stdout.split("\n").filter((line) => /^ {2}(ok {2}|FAIL|warn) {2}/.test(line) || line.trimStart().startsWith("fix: "));
    const fromJson = report.checks.flatMap((c) => [
      `  ${!c.ok ? "FAIL" : c.warn ? "warn" : "ok  "}  ${c.name.padEnd(width)}  ${c.detail}`,
      ...(c.fix ? [`        ${" ".repeat(width)}  fix: ${c.fix}`] : []),
    ]);
    // Two runs of the doctor read the host twice: the ptys other processes hold and the free
    // disk move in between (tests beside this one open terminals and write files).
    const steady = (lines: string[]) => lines.map((line) => line.replace(/\(\d+ in use on the host\)/, "(N in use on the host)").replace(/[\d.]+ GiB/g, "N GiB"));
    expect(steady(textChecks)).toEqual(steady(fromJson));
    expect(report.checks.map((c) => c.name)).toEqual(expect.arrayContaining(["root", "uid ranges", "pty pool", "writable layers"]));
  });

  it("doctor --help documents its exit codes, and loads nothing of the doctor's", () => {
    const r = nslab(["doctor", "--help"], REFUSED);
    expect(r).toMatchObject({ status: 0, stderr: "" });
    expect(r.stdout).toMatch(/^usage: nslab doctor \[--json\]\n/);
    expect(r.stdout).toContain("1 it cannot");
    expect(nslab(["doctor"], REFUSED)).toMatchObject({ status: 125, stderr: expect.stringContaining("NSLAB_MAX_SESSIONS") });
  });
});
