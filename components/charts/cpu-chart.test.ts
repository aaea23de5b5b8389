// @vitest-environment jsdom
import { describe, expect, it } from "vitest";

import { T0, sample } from "../lab/test-fixtures";
import { renderCpuChart, throttledIntervals } from "./cpu-chart";
import { PATH_PRECISION, hasPoint, newSvg, pathPoints, seriesPath } from "./svg-testing";

const SIZE = { width: 400, height: 120 };
const window = { now: T0 + 60_000, windowMs: 60_000 };
/** A busy loop at 0.5 CPU (the quota) from 20 s to 30 s, throttled while it ran. */
const samples = [
  sample(T0 + 10_000, { cpuUsage: 0.01 }),
  sample(T0 + 20_000, { cpuUsage: 0.02 }),
  sample(T0 + 30_000, { cpuUsage: 0.5, throttledPeriods: 97 }),
  sample(T0 + 40_000, { cpuUsage: 0.01 }),
];

describe("the CPU chart", () => {
  it("draws each sample's usage over the interval that ends at it", () => {
    const svg = newSvg();
    const { x, y } = renderCpuChart(svg, { ...window, samples }, SIZE);
    const usage = pathPoints(seriesPath(svg, "cpu-line"));
    // Step before: the busy interval [20 s, 30 s] is at 0.5.
    expect(hasPoint(usage, [x(T0 + 20_000), y(0.5)])).toBe(true);
    expect(hasPoint(usage, [x(T0 + 30_000), y(0.5)])).toBe(true);
    // Not carried forward: the line ends at the last sample.
    expect(usage.at(-1)?.[0]).toBeCloseTo(x(T0 + 40_000), PATH_PRECISION);
  });

  it("draws the quota as the limit line", () => {
    const svg = newSvg();
    const { y } = renderCpuChart(svg, { ...window, samples }, SIZE);
    for (const [, py] of pathPoints(seriesPath(svg, "limit"))) expect(py).toBeCloseTo(y(0.5), PATH_PRECISION);
    expect(svg.querySelector("[data-mark=limit-label]")?.textContent).toBe("quota 0.50 CPU");
  });

  it("marks the interval in which periods were throttled", () => {
    const svg = newSvg();
    const { x } = renderCpuChart(svg, { ...window, samples }, SIZE);
    const bars = svg.querySelectorAll("rect[data-mark=throttled]");
    expect(bars).toHaveLength(1);
    expect(Number(bars[0]?.getAttribute("x"))).toBeCloseTo(x(T0 + 20_000), 6);
    expect(Number(bars[0]?.getAttribute("width"))).toBeCloseTo(x(T0 + 30_000) - x(T0 + 20_000), 6);
    expect(bars[0]?.textContent).toBe("97 periods throttled");
  });

  it("finds throttled intervals only where the count went up", () => {
    expect(throttledIntervals(samples)).toEqual([{ fromMs: T0 + 20_000, toMs: T0 + 30_000, label: "97 periods throttled" }]);
  });
});
