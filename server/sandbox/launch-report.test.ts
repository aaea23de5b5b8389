// The launcher's report pipe, fed by hand: what a launcher may write and what ends a start.
import fs from "node:fs";

import { describe, expect, it } from "vitest";

import { LaunchReport } from "./launch-report";

function line(step: string, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ step, pid: 7, tNs: 1000, ...extra })}\n`;
}

describe("the launcher's report pipe", () => {
  it("settles on exec with the child's host pid, from lines split anywhere", async () => {
    const report = new LaunchReport();
    const text = line("start", { detail: "900" }) + line("clone", { detail: "4242" }) + line("exec", { detail: "/bin/bash" });
    fs.writeSync(report.writeFd, text.slice(0, 37));
    fs.writeSync(report.writeFd, text.slice(37));
    expect(await report.outcome).toEqual({ kind: "exec", hostPid: 4242 });
    expect(report.events.map((e) => e.step)).toEqual(["start", "clone", "exec"]);
    expect(report.text()).toBe(text);
    report.close();
  });

  it("settles on the launcher's own failure, with its reason", async () => {
    const report = new LaunchReport();
    fs.writeSync(report.writeFd, line("error", { detail: "mount overlay on /x: Invalid argument" }));
    expect(await report.outcome).toEqual({ kind: "failed", message: "mount overlay on /x: Invalid argument" });
    report.close();
  });

  it("treats a line of an unknown step, or one that is not JSON, as a broken launcher", async () => {
    const unknown = new LaunchReport();
    fs.writeSync(unknown.writeFd, line("seccomp"));
    expect(await unknown.outcome).toMatchObject({ kind: "failed", message: expect.stringContaining("unknown shape") });
    unknown.close();
    const garbage = new LaunchReport();
    fs.writeSync(garbage.writeFd, "not json\n");
    expect(await garbage.outcome).toMatchObject({ kind: "failed", message: expect.stringContaining("not JSON") });
    garbage.close();
  });

  it("ends with the pipe when the launcher dies without a word", async () => {
    const report = new LaunchReport();
    fs.writeSync(report.writeFd, line("start"));
    report.closeWriteEnd();
    expect(await report.outcome).toEqual({ kind: "closed" });
    report.close();
  });

  it("closes its write end once only, so a later descriptor with the same number survives", () => {
    const report = new LaunchReport();
    const number = report.writeFd;
    report.closeWriteEnd();
    const reused = fs.openSync("/dev/null", "r");
    expect(reused).toBe(number);
    report.close(); // would close `reused` if it closed the write end again
    expect(() => fs.fstatSync(reused)).not.toThrow();
    fs.closeSync(reused);
  });
});
