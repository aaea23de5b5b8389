import { describe, expect, it } from "vitest";

import { LIMIT_SCALE_RATIO, binaryTicks, formatAgo, plotArea, pointsInWindow, valueDomainMax } from "./chart-pieces";
import { formatBytes, formatCpus, formatShare } from "./format";

describe("chart pieces", () => {
  it("keep the window's points, the step that began before it, and the last value until now", () => {
    const points = [
      { atMs: 0, value: 1 },
      { atMs: 50, value: 2 },
      { atMs: 150, value: 3 },
    ];
    expect(pointsInWindow(points, { now: 200, windowMs: 100 }, true)).toEqual([
      { atMs: 100, value: 2 },
      { atMs: 150, value: 3 },
      { atMs: 200, value: 3 },
    ]);
    expect(pointsInWindow(points, { now: 200, windowMs: 100 }, false)).toEqual([
      { atMs: 100, value: 2 },
      { atMs: 150, value: 3 },
    ]);
  });

  it("include a limit in the axis unless it is far above the values", () => {
    expect(valueDomainMax([3], [100], 10)).toEqual({ max: 100 * 1.12, limitShown: true });
    expect(valueDomainMax([3], [10 * LIMIT_SCALE_RATIO + 1], 10)).toEqual({ max: 10 * 1.12, limitShown: false });
    expect(valueDomainMax([null], [null], 10)).toEqual({ max: 10 * 1.12, limitShown: false });
  });

  it("put byte ticks on power-of-two sizes", () => {
    const MiB = 1024 * 1024;
    expect(binaryTicks(286 * MiB)).toEqual([0, 128 * MiB, 256 * MiB]);
    expect(binaryTicks(17.9 * MiB)).toEqual([0, 8 * MiB, 16 * MiB]);
    expect(binaryTicks(71.7 * MiB)).toEqual([0, 32 * MiB, 64 * MiB]);
  });

  it("refuse a size with no room to plot, naming it", () => {
    expect(() => plotArea({ width: 40, height: 120 })).toThrow("chart size 40×120 leaves no room to plot");
  });

  it("label time relative to now", () => {
    expect([0, 30_000, 60_000, 90_000, 120_000].map(formatAgo)).toEqual(["now", "−30 s", "−1 min", "−90 s", "−2 min"]);
  });

  it("print sizes in binary units and CPUs as docker does", () => {
    expect(formatBytes(268435456)).toBe("256 MiB");
    expect(formatBytes(3355443)).toBe("3.2 MiB");
    expect(formatBytes(0)).toBe("0 B");
    expect(formatCpus(0.5)).toBe("0.50 CPU");
    expect(formatShare(64, 256)).toBe("25%");
    expect(formatShare(64, null)).toBe("");
  });
});
