// @vitest-environment jsdom
import { describe, expect, it } from "vitest";

import { MiB, T0, oomEvent, sample } from "../lab/test-fixtures";
import { MARGIN } from "./chart-pieces";
import { type MemoryChartData, renderMemoryChart } from "./memory-chart";
import { PATH_PRECISION, hasPoint, newSvg, pathPoints, seriesPath } from "./svg-testing";

const SIZE = { width: 480, height: 140 };
const WINDOW_MS = 120_000;
const NOW = T0 + WINDOW_MS;

/** Two minutes of a session: idle, a memory hog climbing to the limit, an OOM kill, idle again. */
const data: MemoryChartData = {
  now: NOW,
  windowMs: WINDOW_MS,
  samples: [
    sample(T0 + 10_000, { memoryUsageBytes: 3 * MiB }),
    sample(T0 + 40_000, { memoryUsageBytes: 128 * MiB }),
    sample(T0 + 60_000, { memoryUsageBytes: 255 * MiB }),
    sample(T0 + 61_000, { memoryUsageBytes: 4 * MiB }),
  ],
  oomEvents: [oomEvent(T0 + 61_000, 1)],
  swapAllowed: false,
};

describe("the memory chart", () => {
  it("draws the limit line at the limit's height, across the whole window", () => {
    const svg = newSvg();
    const { x, y } = renderMemoryChart(svg, data, SIZE);
    const limit = pathPoints(seriesPath(svg, "limit"));
    expect(limit.length).toBeGreaterThan(1);
    for (const [, py] of limit) expect(py).toBeCloseTo(y(268435456), PATH_PRECISION);
    expect(limit[0]?.[0]).toBeCloseTo(x(T0 + 10_000), PATH_PRECISION);
    // The stream sends only changes: the last limit holds until now.
    expect(limit.at(-1)?.[0]).toBeCloseTo(SIZE.width - MARGIN.right, PATH_PRECISION);
    const label = svg.querySelector("[data-mark=limit-label]");
    expect(label?.textContent).toBe("limit 256 MiB");
    expect(Number(label?.getAttribute("y"))).toBeCloseTo(y(268435456) - 4, 6);
    expect(Number(label?.getAttribute("x"))).toBe(MARGIN.left + 4);
  });

  it("puts the value axis high enough for the limit, and labels it in MiB", () => {
    const svg = newSvg();
    const { y } = renderMemoryChart(svg, data, SIZE);
    expect(y.domain()[1]).toBeGreaterThan(256 * MiB);
    expect(y(0)).toBe(SIZE.height - MARGIN.bottom);
    // Sizes as the cgroup files and docker count them: powers of two, not 100 000 000 bytes.
    const ticks = [...svg.querySelectorAll("[data-tick]")];
    expect(ticks.map((t) => t.textContent)).toEqual(["0 B", "128 MiB", "256 MiB"]);
    expect(ticks[2]?.getAttribute("transform")).toBe(`translate(0,${y(256 * MiB)})`);
  });

  it("marks the OOM kill where it happened", () => {
    const svg = newSvg();
    const { x } = renderMemoryChart(svg, data, SIZE);
    const markers = svg.querySelectorAll("[data-mark=oom]");
    expect(markers).toHaveLength(1);
    expect(markers[0]?.getAttribute("transform")).toBe(`translate(${x(T0 + 61_000)},${MARGIN.top - 6})`);
    expect(markers[0]?.querySelector("title")?.textContent).toBe("OOM kill (1 in all)");
  });

  it("draws memory use as a step area that reaches the peak before the kill", () => {
    const svg = newSvg();
    const { x, y } = renderMemoryChart(svg, data, SIZE);
    const top = pathPoints(seriesPath(svg, "memory-line"));
    expect(hasPoint(top, [x(T0 + 60_000), y(255 * MiB)])).toBe(true);
    expect(top.at(-1)?.[0]).toBeCloseTo(x(NOW), PATH_PRECISION);
    expect(top.at(-1)?.[1]).toBeCloseTo(y(4 * MiB), PATH_PRECISION);
  });

  it("has no swap series where the host keeps no swap accounting or the limits allow none", () => {
    const svg = newSvg();
    renderMemoryChart(svg, data, SIZE);
    expect(seriesPath(svg, "swap")).toBe("");
    const noAccounting = { ...data, swapAllowed: true, samples: data.samples.map((s) => ({ ...s, swapUsageBytes: null })) };
    renderMemoryChart(svg, noAccounting, SIZE);
    expect(seriesPath(svg, "swap")).toBe("");
  });

  it("stacks swap on top of memory when the sandbox may swap", () => {
    const svg = newSvg();
    const swapping = { ...data, swapAllowed: true, samples: [sample(T0 + 10_000, { memoryUsageBytes: 200 * MiB, swapUsageBytes: 50 * MiB })] };
    const { y } = renderMemoryChart(svg, swapping, SIZE);
    const swapArea = pathPoints(seriesPath(svg, "swap"));
    const ys = swapArea.map(([, py]) => py);
    expect(Math.min(...ys)).toBeCloseTo(y(250 * MiB), PATH_PRECISION);
    expect(Math.max(...ys)).toBeCloseTo(y(200 * MiB), PATH_PRECISION);
  });

  it("moves the limit line when the learner lowers the limit", () => {
    const svg = newSvg();
    const lowered = { ...data, samples: [...data.samples, sample(T0 + 90_000, { memoryLimitBytes: 64 * MiB })], oomEvents: [] };
    const { x, y } = renderMemoryChart(svg, lowered, SIZE);
    const limit = pathPoints(seriesPath(svg, "limit"));
    expect(hasPoint(limit, [x(T0 + 90_000), y(256 * MiB)])).toBe(true);
    expect(hasPoint(limit, [x(T0 + 90_000), y(64 * MiB)])).toBe(true);
    expect(svg.querySelector("[data-mark=limit-label]")?.textContent).toBe("limit 64 MiB");
  });

  it("draws the same SVG for the same data, and updates in place", () => {
    const first = newSvg();
    renderMemoryChart(first, data, SIZE);
    const second = newSvg();
    renderMemoryChart(second, { ...data, samples: [], oomEvents: [] }, SIZE);
    renderMemoryChart(second, data, SIZE);
    expect(second.outerHTML).toBe(first.outerHTML);
    expect(first.getAttribute("viewBox")).toBe("0 0 480 140");
  });

  it("drops what slid out of the window", () => {
    const svg = newSvg();
    renderMemoryChart(svg, { ...data, now: NOW + 200_000 }, SIZE);
    expect(svg.querySelectorAll("[data-mark=oom]")).toHaveLength(0);
    const { y } = renderMemoryChart(svg, { ...data, now: NOW + 200_000 }, SIZE);
    // The last value before the window holds across it.
    for (const [, py] of pathPoints(seriesPath(svg, "memory-line"))) expect(py).toBeCloseTo(y(4 * MiB), PATH_PRECISION);
  });
});
