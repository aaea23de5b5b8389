// The pids chart: processes and threads in the cgroup against its pids limit (docker
// --pids-limit). A fork bomb meets the dashed line and stays there.

import type { ResourceSample } from "../lab/lab-context";
import {
  type ChartSize,
  type TimeWindow,
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

export interface PidsChartData extends TimeWindow {
  samples: readonly ResourceSample[];
}

const PIDS_FLOOR = 10;

const formatCount = (value: number) => (Number.isInteger(value) ? String(value) : "");

export function renderPidsChart(svg: SVGSVGElement, data: PidsChartData, size: ChartSize) {
  prepareSvg(svg, size);
  const plot = plotArea(size);
  const current = pointsInWindow(data.samples.map((s) => ({ atMs: s.atMs, value: s.pidsCurrent })), data, true);
  const limit = pointsInWindow(data.samples.map((s) => ({ atMs: s.atMs, value: s.pidsLimit })), data, true);
  const domain = valueDomainMax(current.map((p) => p.value), limit.map((p) => p.value), PIDS_FLOOR);
  const x = timeScale(data, plot);
  const y = valueScale(domain.max, plot);

  drawValueAxis(layer(svg, "grid"), y, plot, formatCount);
  const series = layer(svg, "series");
  drawStepArea(series, "pids", current, x, y, "fill-emerald-500/30 dark:fill-emerald-400/25");
  drawStepLine(series, "pids-line", current, x, y, "stroke-emerald-700 dark:stroke-emerald-300 stroke-[1.5]");
  const lastLimit = limit.filter((p) => p.value !== null).at(-1)?.value ?? null;
  drawLimit(layer(svg, "limit"), limit, x, y, plot, domain.limitShown, lastLimit === null ? "no limit" : `limit ${lastLimit}`);
  drawTimeAxis(layer(svg, "time-axis"), x, plot, data);
  return { x, y };
}
