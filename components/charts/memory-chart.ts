// The memory chart: the cgroup's memory use as an area, swap stacked on it where the host
// accounts swap and the sandbox may use it, the limit as a dashed line (it moves when the
// learner changes it), and a mark at each OOM kill.

import type { OomEvent, ResourceSample } from "../lab/lab-context";
import {
  type ChartSize,
  binaryTicks,
  type TimePoint,
  type TimeWindow,
  drawEventMarkers,
  drawLimit,
  drawStepArea,
  drawStepLine,
  drawTimeAxis,
  drawValueAxis,
  layer,
  plotArea,
  pointsInWindow,
  prepareSvg,
  timeScale,
  valueDomainMax,
  valueScale,
} from "./chart-pieces";
import { formatBytes } from "./format";

export interface MemoryChartData extends TimeWindow {
  samples: readonly ResourceSample[];
  oomEvents: readonly OomEvent[];
  /** Draw swap: the host accounts swap and the limits allow some (docker --memory-swap above
   *  --memory). Swap already in use is drawn regardless. */
  swapAllowed: boolean;
}

/** Below this the axis does not shrink: an idle shell's 3 MiB should not look like a lot. */
const MEMORY_FLOOR_BYTES = 16 * 1024 * 1024;

export function memoryPoints(samples: readonly ResourceSample[], field: "memoryUsageBytes" | "memoryLimitBytes" | "swapUsageBytes"): TimePoint[] {
  return samples.map((s) => ({ atMs: s.atMs, value: s[field] }));
}

/** Whether the chart has a swap series: some swap is in use, or it is allowed and accounted. */
export function showsSwap(data: MemoryChartData): boolean {
  const accounted = data.samples.some((s) => s.swapUsageBytes !== null);
  const used = data.samples.some((s) => (s.swapUsageBytes ?? 0) > 0);
  return used || (accounted && data.swapAllowed);
}

export function renderMemoryChart(svg: SVGSVGElement, data: MemoryChartData, size: ChartSize) {
  prepareSvg(svg, size);
  const plot = plotArea(size);
  const usage = pointsInWindow(memoryPoints(data.samples, "memoryUsageBytes"), data, true);
  const swap = showsSwap(data) ? pointsInWindow(memoryPoints(data.samples, "swapUsageBytes"), data, true) : [];
  const limit = pointsInWindow(memoryPoints(data.samples, "memoryLimitBytes"), data, true);

  // Swap sits on top of memory, so the axis must reach their sum.
  const stacked = usage.map((p, i) => (p.value === null ? null : p.value + (swap[i]?.value ?? 0)));
  const domain = valueDomainMax(stacked, limit.map((p) => p.value), MEMORY_FLOOR_BYTES);
  const x = timeScale(data, plot);
  const y = valueScale(domain.max, plot);

  drawValueAxis(layer(svg, "grid"), y, plot, formatBytes, binaryTicks(domain.max));
  const series = layer(svg, "series");
  drawStepArea(series, "swap", swap, x, y, "fill-violet-500/40 dark:fill-violet-400/40", undefined, (_, i) => usage[i]?.value ?? 0);
  drawStepArea(series, "memory", usage, x, y, "fill-sky-500/30 dark:fill-sky-400/25");
  drawStepLine(series, "memory-line", usage, x, y, "stroke-sky-700 dark:stroke-sky-300 stroke-[1.5]");
  const lastLimit = limit.filter((p) => p.value !== null).at(-1)?.value ?? null;
  drawLimit(layer(svg, "limit"), limit, x, y, plot, domain.limitShown, lastLimit === null ? "no limit" : `limit ${formatBytes(lastLimit)}`);
  drawEventMarkers(
    layer(svg, "events"),
    "oom",
    data.oomEvents.map((e) => ({ atMs: e.atMs, label: `OOM kill (${e.oomKillCount} in all)` })),
    x,
    plot,
    data,
  );
  drawTimeAxis(layer(svg, "time-axis"), x, plot, data);
  return { x, y };
}
