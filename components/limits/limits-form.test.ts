import { describe, expect, it } from "vitest";

import { MiB } from "../../common/limits";
import { dockerUpdateCommand, filesForFlag, inputsFromLimits, parseLimitInput, readLimitsForm } from "./limits-form";

const current = { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 0.5, pids: 100 };
const host = { cpus: 2, memoryBytes: 4096 * MiB };

describe("the limits panel's controls", () => {
  it("show the limits in docker's spelling", () => {
    expect(inputsFromLimits(current)).toEqual({ memoryBytes: "256m", memorySwapBytes: "256m", cpus: "0.5", pids: "100" });
    expect(inputsFromLimits({ ...current, memorySwapBytes: -1, pids: -1 })).toMatchObject({ memorySwapBytes: "-1", pids: "-1" });
  });

  it("send only what changed, in bytes", () => {
    expect(readLimitsForm({ ...inputsFromLimits(current), memoryBytes: "64m" }, current, host)).toEqual({ ok: true, change: { memoryBytes: 67108864 } });
    expect(readLimitsForm({ ...inputsFromLimits(current), memorySwapBytes: "-1", pids: "-1" }, current, host)).toEqual({
      ok: true,
      change: { memorySwapBytes: -1, pids: -1 },
    });
  });

  it("reject what is not a size, at that control", () => {
    const result = readLimitsForm({ ...inputsFromLimits(current), memoryBytes: "lots" }, current, host);
    expect(result).toEqual({ ok: false, message: null, errors: { memoryBytes: expect.stringMatching(/^Not a size/) } });
    expect(parseLimitInput("cpus", "half")).toMatchObject({ ok: false });
    expect(parseLimitInput("pids", "1.5")).toMatchObject({ ok: false });
    expect(parseLimitInput("pids", "-2")).toMatchObject({ ok: false });
  });

  it("apply docker's rules to the limits as they would be after the change", () => {
    const aboveHost = readLimitsForm({ ...inputsFromLimits(current), memoryBytes: "8g", memorySwapBytes: "8g" }, current, host);
    expect(aboveHost).toEqual({ ok: false, message: null, errors: { memoryBytes: "This host has only 4g of memory." } });
    const swapBelow = readLimitsForm({ ...inputsFromLimits(current), memorySwapBytes: "128m" }, current, host);
    expect(swapBelow).toMatchObject({ ok: false, errors: { memorySwapBytes: expect.stringContaining("cannot be below --memory") } });
    const tooManyCpus = readLimitsForm({ ...inputsFromLimits(current), cpus: "3" }, current, host);
    expect(tooManyCpus).toMatchObject({ ok: false, errors: { cpus: "CPUs range from 0.01 to 2.00 on this host." } });
  });

  it("say so when nothing changed", () => {
    expect(readLimitsForm(inputsFromLimits(current), current, host)).toMatchObject({ ok: false, errors: {}, message: expect.any(String) });
  });

  it("spell the change as the docker command it stands for", () => {
    expect(dockerUpdateCommand({ memoryBytes: 67108864, pids: 50 }, "lab-1a2b3c")).toBe("docker update --memory 64m --pids-limit 50 lab-1a2b3c");
    expect(dockerUpdateCommand({ memorySwapBytes: -1 }, "lab-1a2b3c")).toBe("docker update --memory-swap -1 lab-1a2b3c");
  });

  it("find the files a flag went to", () => {
    const files = [
      { flag: "--cpus" as const, file: "cpu/cpu.cfs_period_us", value: "100000" },
      { flag: "--cpus" as const, file: "cpu/cpu.cfs_quota_us", value: "50000" },
      { flag: "--memory" as const, file: "memory/memory.limit_in_bytes", value: "268435456" },
    ];
    expect(filesForFlag(files, "--cpus").map((f) => f.file)).toEqual(["cpu/cpu.cfs_period_us", "cpu/cpu.cfs_quota_us"]);
  });
});
