import { describe, expect, it } from "vitest";

import { MiB } from "../sandbox/limits";
import { parseRunArgs, parseSize } from "./run-args";

const host = { cpus: 2, memoryBytes: 24 * 1024 * MiB };
const ok = (argv: string[]) => {
  const r = parseRunArgs(argv, host);
  if (r.ok !== true) throw new Error(JSON.stringify(r));
  return r.options;
};
const error = (argv: string[]) => {
  const r = parseRunArgs(argv, host);
  if (r.ok !== false) throw new Error(`expected an error for ${argv.join(" ")}`);
  return r.error;
};

describe("docker size syntax", () => {
  it.each([
    ["256m", 256 * MiB],
    ["256MB", 256 * MiB],
    ["1g", 1024 * MiB],
    ["1.5g", 1536 * MiB],
    ["512k", 512 * 1024],
    ["1024", 1024],
    ["64MiB", 64 * MiB],
  ])("%s is %d bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(["", "m", "-1m", "12x", "1e3", "0x10", "12ib"])("%j is not a size", (text) => {
    expect(parseSize(text)).toBeNull();
  });
});

describe("nslab run flags", () => {
  it("defaults to a lab session's limits", () => {
    expect(ok(["--", "true"])).toEqual({
      limits: { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 0.5, pids: 100 },
      command: ["true"],
    });
  });

  it("follows docker: --memory alone allows as much swap again", () => {
    expect(ok(["--memory", "64m", "--", "true"]).limits).toMatchObject({ memoryBytes: 64 * MiB, memorySwapBytes: 128 * MiB });
  });

  it("follows docker: --memory-swap equal to --memory means no swap, -1 unlimited", () => {
    expect(ok(["-m", "64m", "--memory-swap", "64m", "--", "true"]).limits.memorySwapBytes).toBe(64 * MiB);
    expect(ok(["-m", "64m", "--memory-swap=-1", "--", "true"]).limits.memorySwapBytes).toBe(-1);
    expect(ok(["-m", "64m", "--memory-swap", "0", "--", "true"]).limits.memorySwapBytes).toBe(128 * MiB);
  });

  it("takes --cpus, --pids-limit, --hostname and --timeline, with = or a separate value", () => {
    expect(ok(["--cpus=1.5", "--pids-limit", "20", "--hostname", "box-1", "--timeline", "/tmp/t.json", "--", "sh", "-c", "echo"])).toEqual({
      limits: { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 1.5, pids: 20 },
      hostname: "box-1",
      timeline: "/tmp/t.json",
      command: ["sh", "-c", "echo"],
    });
    expect(ok(["--pids-limit", "-1", "true"]).limits.pids).toBe(-1);
    expect(ok(["--pids-limit", "0", "true"]).limits.pids).toBe(-1);
  });

  it("accepts the command without -- as docker does", () => {
    expect(ok(["--cpus", "1", "echo", "--not-a-flag"]).command).toEqual(["echo", "--not-a-flag"]);
  });

  it.each([
    [["--memory", "lots", "--", "true"], "nslab run: --memory: 'lots' is not a size (examples: 256m, 1g, 536870912)"],
    [["--memory", "4m", "--", "true"], "nslab run: --memory: minimum memory limit allowed is 6MB"],
    [["--memory", "100g", "--", "true"], "nslab run: --memory: 100g is more than this host's 24576m of memory"],
    [["--memory-swap", "512m", "--", "true"], "nslab run: --memory-swap: set --memory too; the swap limit is memory plus swap"],
    [["-m", "256m", "--memory-swap", "128m", "--", "true"], "nslab run: --memory-swap: it is memory plus swap, so it cannot be below --memory"],
    [["--cpus", "3", "--", "true"], "nslab run: --cpus: range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"],
    [["--cpus", "half", "--", "true"], "nslab run: --cpus: 'half' is not a number (example: 0.5)"],
    [["--pids-limit", "1.5", "--", "true"], "nslab run: --pids-limit: '1.5' is not a whole number (-1 for no limit)"],
    [["--hostname", "Bad_Name", "--", "true"], "nslab run: --hostname: 'Bad_Name' must be 1-63 of a-z, 0-9 and '-', not starting with '-'"],
    [["--privileged", "--", "true"], "nslab run: unknown flag '--privileged' (see nslab run --help)"],
    [["--memory"], "nslab run: --memory needs a value"],
    [["--cpus", "1"], "nslab run: no command given (usage: nslab run [FLAGS] -- CMD [ARG...])"],
  ])("rejects %j with one line naming the flag", (argv, message) => {
    expect(error(argv)).toBe(message);
  });

  it("answers --help", () => {
    expect(parseRunArgs(["--help"], host)).toEqual({ ok: "help" });
  });

  it("answers --version and -V before the command, and passes them on after it", () => {
    expect(parseRunArgs(["--version"], host)).toEqual({ ok: "version" });
    expect(parseRunArgs(["-m", "64m", "-V", "--", "true"], host)).toEqual({ ok: "version" });
    expect(parseRunArgs(["--", "node", "--version"], host)).toMatchObject({ ok: true, options: { command: ["node", "--version"] } });
  });
});
