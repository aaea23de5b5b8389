// The launcher's report pipe, fed by hand: what a launcher may write and what ends a start.
import { spawn } from "node:child_process";
import fs from "node:fs";
import type net from "node:net";

import { describe, expect, it } from "vitest";

import { LaunchReport, LaunchReportPipe } from "./launch-report";

function line(step: string, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ step, pid: 7, tNs: 1000, ...extra })}\n`;
}

describe("the launcher's report pipe", () => {
  it("settles on exec with the child's host pid, from lines split anywhere", async () => {
    const report = new LaunchReportPipe();
    const text = line("start", { detail: "900" }) + line("clone", { detail: "4242" }) + line("exec", { detail: "/bin/bash" });
    fs.writeSync(report.writeFd, text.slice(0, 37));
    fs.writeSync(report.writeFd, text.slice(37));
    expect(await report.outcome).toEqual({ kind: "exec", hostPid: 4242 });
    expect(report.events.map((e) => e.step)).toEqual(["start", "clone", "exec"]);
    expect(report.text()).toBe(text);
    report.close();
  });

  it("settles on the launcher's own failure, with its reason", async () => {
    const report = new LaunchReportPipe();
    fs.writeSync(report.writeFd, line("error", { detail: "mount overlay on /x: Invalid argument" }));
    expect(await report.outcome).toEqual({ kind: "failed", message: "mount overlay on /x: Invalid argument" });
    report.close();
  });

  it("treats a line of an unknown step, or one that is not JSON, as a broken launcher", async () => {
    const unknown = new LaunchReportPipe();
    fs.writeSync(unknown.writeFd, line("seccomp"));
    expect(await unknown.outcome).toMatchObject({ kind: "failed", message: expect.stringContaining("unknown shape") });
    unknown.close();
    const garbage = new LaunchReportPipe();
    fs.writeSync(garbage.writeFd, "not json\n");
    expect(await garbage.outcome).toMatchObject({ kind: "failed", message: expect.stringContaining("not JSON") });
    garbage.close();
  });

  it("ends with the pipe when the launcher dies without a word", async () => {
    const report = new LaunchReportPipe();
    fs.writeSync(report.writeFd, line("start"));
    report.closeWriteEnd();
    expect(await report.outcome).toEqual({ kind: "closed" });
    report.close();
  });

  it("closes its write end once only, so a later descriptor with the same number survives", () => {
    const report = new LaunchReportPipe();
    const number = report.writeFd;
    report.closeWriteEnd();
    const reused = fs.openSync("/dev/null", "r");
    expect(reused).toBe(number);
    report.close(); // would close `reused` if it closed the write end again
    expect(() => fs.fstatSync(reused)).not.toThrow();
    fs.closeSync(reused);
  });
});

describe("the launcher's report on the socket child_process makes as descriptor 3", () => {
  /** A stand-in launcher: a shell that writes `text` on its descriptor 3 and exits. */
  function reportFrom(text: string): LaunchReport {
    const child = spawn("/bin/sh", ["-c", 'printf "%s" "$1" >&3', "sh", text], { stdio: ["ignore", "ignore", "ignore", "pipe"] });
    return new LaunchReport(child.stdio[3] as net.Socket);
  }

  it("settles on exec with the child's host pid", async () => {
    const text = line("start", { detail: "900" }) + line("clone", { detail: "4242" }) + line("exec", { detail: "/bin/true" });
    const report = reportFrom(text);
    expect(await report.outcome).toEqual({ kind: "exec", hostPid: 4242 });
    expect(report.text()).toBe(text);
    report.close();
  });

  it("ends with the socket when the launcher exits without a word", async () => {
    const report = reportFrom(line("start"));
    expect(await report.outcome).toEqual({ kind: "closed" });
    expect(report.events.map((e) => e.step)).toEqual(["start"]);
    report.close();
  });
});
