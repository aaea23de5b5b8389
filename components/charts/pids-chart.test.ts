// @vitest-environment jsdom
import { describe, expect, it } from "vitest";

import { T0, sample } from "../lab/test-fixtures";
import { renderPidsChart } from "./pids-chart";
import { PATH_PRECISION, hasPoint, newSvg, pathPoints, seriesPath } from "./svg-testing";

const SIZE = { width: 400, height: 120 };
const window = { now: T0 + 60_000, windowMs: 60_000 };

describe("the pids chart", () => {
  it("draws the process count against the pids limit", () => {
    const svg = newSvg();
    const samples = [sample(T0 + 5_000, { pidsCurrent: 1 }), sample(T0 + 20_000, { pidsCurrent: 100 }), sample(T0 + 40_000, { pidsCurrent: 2 })];
    const { x, y } = renderPidsChart(svg, { ...window, samples }, SIZE);
    for (const [, py] of pathPoints(seriesPath(svg, "limit"))) expect(py).toBeCloseTo(y(100), PATH_PRECISION);
    const count = pathPoints(seriesPath(svg, "pids-line"));
    expect(hasPoint(count, [x(T0 + 20_000), y(100)])).toBe(true);
    expect(hasPoint(count, [x(T0 + 60_000), y(2)])).toBe(true);
    expect(svg.querySelector("[data-mark=limit-label]")?.textContent).toBe("limit 100");
  });

  it("leaves a limit far above the count off the axis and says so in its label", () => {
    const svg = newSvg();
    const { y } = renderPidsChart(svg, { ...window, samples: [sample(T0 + 5_000, { pidsCurrent: 3, pidsLimit: 4194304 })] }, SIZE);
    expect(y.domain()[1]).toBeLessThan(100);
    expect(seriesPath(svg, "limit")).toBe("");
    expect(svg.querySelector("[data-mark=limit-label]")?.textContent).toBe("limit 4194304");
  });

  it("says there is no limit when pids.max is max", () => {
    const svg = newSvg();
    renderPidsChart(svg, { ...window, samples: [sample(T0 + 5_000, { pidsLimit: null })] }, SIZE);
    expect(seriesPath(svg, "limit")).toBe("");
    expect(svg.querySelector("[data-mark=limit-label]")?.textContent).toBe("no limit");
  });
});
