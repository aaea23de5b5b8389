import { describe, expect, it } from "vitest";

import { fixtureText } from "./fixtures/fake-proc";
import { ProcStatusFormatError, parseProcStatus } from "./proc-status";

describe("parseProcStatus", () => {
  it("reads a sandboxed process as the host sees it: host pid first, pid 1 inside, host uid", () => {
    // Captured from the host: sleep as pid 1 of `unshare --user --map-root-user --pid --fork`
    // started as uid 165536.
    const status = parseProcStatus(fixtureText("sandboxed.status"));
    expect(status).toEqual({
      command: "sleep",
      state: "S",
      stateName: "sleeping",
      pid: 15178,
      ppid: 15177,
      nsPids: [15178, 1],
      nsTgids: [15178, 1],
      uid: { real: 165536, effective: 165536, saved: 165536, filesystem: 165536 },
      gid: { real: 165536, effective: 165536, saved: 165536, filesystem: 165536 },
    });
  });

  it("lists the pid chain through nested pid namespaces, outermost first", () => {
    // Captured: unshare -p -f inside unshare -p -f; sleep is pid 3 in the middle namespace.
    const status = parseProcStatus(fixtureText("nested-2.status"));
    expect(status.nsPids).toEqual([8854, 3, 1]);
    expect(status.nsTgids).toEqual([8854, 3, 1]);
    expect(status.ppid).toBe(8853);
  });

  it("reads a host process with a one-entry chain", () => {
    const status = parseProcStatus(fixtureText("host.status"));
    expect(status).toMatchObject({ command: "cat", state: "R", stateName: "running", pid: 9660, nsPids: [9660] });
    expect(status.uid.effective).toBe(0);
  });

  it("falls back to [pid] on kernels without NSpid", () => {
    const text = fixtureText("host.status")
      .split("\n")
      .filter((line) => !line.startsWith("NS"))
      .join("\n");
    expect(parseProcStatus(text).nsPids).toEqual([9660]);
  });

  it("undoes the kernel's escaping of the command name", () => {
    const text = fixtureText("host.status").replace("Name:\tcat", "Name:\tmy\\tjob \\\\1");
    expect(parseProcStatus(text).command).toBe("my\tjob \\1");
  });

  it("throws on text that is not a status file", () => {
    expect(() => parseProcStatus("Name:\tsh\n")).toThrow(ProcStatusFormatError);
    expect(() => parseProcStatus(fixtureText("host.status").replace(/^NSpid:.*$/m, "NSpid:\tx"))).toThrow(/NSpid/);
  });
});
