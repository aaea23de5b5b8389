import { describe, expect, it } from "vitest";

import { PTYS_PER_SANDBOX } from "../sandbox/launcher-args";
import { ptyPoolCheck } from "./doctor";

const sysctls = (values: Record<string, string>) => (key: "max" | "reserve" | "nr") => values[key] ?? "";

describe("the doctor's pty pool check", () => {
  it("passes when kernel.pty.max minus the reserve holds every session's ptys, and fails one short", () => {
    const needed = 50 * PTYS_PER_SANDBOX;
    expect(ptyPoolCheck(50, sysctls({ max: String(1024 + needed), reserve: "1024\n", nr: "3\n" })).ok).toBe(true);
    const short = ptyPoolCheck(50, sysctls({ max: String(1024 + needed - 1), reserve: "1024", nr: "3" }));
    expect(short.ok).toBe(false);
    expect(short.detail).toContain(`${needed} needed: ${PTYS_PER_SANDBOX} for each of NSLAB_MAX_SESSIONS 50`);
    expect(short.fix).toContain(`sysctl -w kernel.pty.max=${1024 + needed + 1024}`);
  });

  it("fails, saying what it could not read, when /proc/sys/kernel/pty is not there or not a number", () => {
    const unreadable = ptyPoolCheck(50, () => {
      throw new Error("ENOENT: no such file or directory");
    });
    expect(unreadable).toMatchObject({ ok: false, detail: expect.stringContaining("cannot read /proc/sys/kernel/pty") });
    expect(ptyPoolCheck(50, sysctls({ max: "many", reserve: "1024", nr: "0" })).ok).toBe(false);
  });

  it("reads this host's values", () => {
    expect(ptyPoolCheck(1).detail).toMatch(/^kernel\.pty\.max \d+ - kernel\.pty\.reserve \d+ = -?\d+ for containers/);
  });
});
