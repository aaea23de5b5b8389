import { describe, expect, it } from "vitest";

import { MiB } from "../../common/limits";
import {
  BLANK_LIMIT_INPUTS,
  LAB_DEFAULT_LIMITS,
  limitFieldFromApi,
  limitFlags,
  limitInputs,
  readAllLimits,
  readLimitsChange,
  summarizeLimitsResult,
} from "./limits-change";
import { memberId } from "./test-fixtures";

describe("limits as typed", () => {
  it("shows the lab's defaults in docker's spelling", () => {
    expect(limitInputs(LAB_DEFAULT_LIMITS)).toEqual({ memoryBytes: "256m", memorySwapBytes: "256m", cpus: "0.5", pids: "100" });
    expect(limitInputs({ ...LAB_DEFAULT_LIMITS, memorySwapBytes: -1, pids: -1 })).toMatchObject({ memorySwapBytes: "-1", pids: "-1" });
  });

  it("reads a whole set, each value in docker's syntax", () => {
    expect(readAllLimits({ memoryBytes: "1g", memorySwapBytes: "-1", cpus: "1.5", pids: "-1" })).toEqual({
      ok: true,
      limits: { memoryBytes: 1024 * MiB, memorySwapBytes: -1, cpus: 1.5, pids: -1 },
    });
  });

  it("says which control is wrong, and why", () => {
    const read = readAllLimits({ memoryBytes: "lots", memorySwapBytes: "", cpus: "half", pids: "100" });
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(Object.keys(read.errors).sort()).toEqual(["cpus", "memoryBytes", "memorySwapBytes"]);
    expect(read.errors.memorySwapBytes).toContain("256m");
  });

  it("holds docker's rule that memory-swap is memory plus swap", () => {
    const read = readAllLimits({ memoryBytes: "512m", memorySwapBytes: "256m", cpus: "0.5", pids: "100" });
    expect(read).toMatchObject({ ok: false, errors: { memorySwapBytes: expect.stringContaining("cannot be below memory") } });
  });

  it("refuses a memory limit under docker's minimum and a pids limit of 0", () => {
    expect(readAllLimits({ ...limitInputs(LAB_DEFAULT_LIMITS), memoryBytes: "4m", memorySwapBytes: "4m" })).toMatchObject({ ok: false, errors: { memoryBytes: expect.any(String) } });
    expect(readAllLimits({ ...limitInputs(LAB_DEFAULT_LIMITS), pids: "0" })).toMatchObject({ ok: false, errors: { pids: expect.any(String) } });
  });
});

describe("a change of limits", () => {
  it("sends only what was filled in", () => {
    expect(readLimitsChange({ ...BLANK_LIMIT_INPUTS, pids: "200" }, LAB_DEFAULT_LIMITS)).toEqual({ ok: true, change: { pids: 200 } });
  });

  it("asks for at least one value", () => {
    expect(readLimitsChange(BLANK_LIMIT_INPUTS, LAB_DEFAULT_LIMITS)).toMatchObject({ ok: false, errors: {}, message: expect.any(String) });
  });

  it("checks the rules against the limits as they would be after it", () => {
    // More memory with swap left as it is (equal to the old memory) breaks docker's rule...
    expect(readLimitsChange({ ...BLANK_LIMIT_INPUTS, memoryBytes: "512m" }, LAB_DEFAULT_LIMITS)).toMatchObject({
      ok: false,
      errors: { memorySwapBytes: expect.stringContaining("256m") },
    });
    // ...unless swap is changed with it, or was unlimited.
    expect(readLimitsChange({ ...BLANK_LIMIT_INPUTS, memoryBytes: "512m", memorySwapBytes: "512m" }, LAB_DEFAULT_LIMITS).ok).toBe(true);
    expect(readLimitsChange({ ...BLANK_LIMIT_INPUTS, memoryBytes: "512m" }, { ...LAB_DEFAULT_LIMITS, memorySwapBytes: -1 }).ok).toBe(true);
  });

  it("names the flags it stands for", () => {
    expect(limitFlags({ memoryBytes: 512 * MiB, pids: -1 })).toBe("--memory 512m --pids-limit -1");
  });

  it("finds the control a server error names, with or without its prefix", () => {
    expect(limitFieldFromApi("limits.memorySwapBytes")).toBe("memorySwapBytes");
    expect(limitFieldFromApi("cpus")).toBe("cpus");
    expect(limitFieldFromApi("name")).toBeNull();
    expect(limitFieldFromApi(undefined)).toBeNull();
  });

  it("lists the sandboxes that refused it", () => {
    const summary = summarizeLimitsResult({
      limits: LAB_DEFAULT_LIMITS,
      results: [
        { memberId: memberId(1), name: "Ada", ok: true, message: null },
        { memberId: memberId(2), name: "Bo", ok: false, message: "uses 300 MiB, more than the new limit" },
        { memberId: memberId(3), name: "Cy", ok: false, message: null },
      ],
    });
    expect(summary.applied).toBe(1);
    expect(summary.failed.map((entry) => entry.name)).toEqual(["Bo", "Cy"]);
    expect(summary.failed[1]?.message).toMatch(/no reason/);
  });
});
