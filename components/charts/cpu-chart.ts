// The CPU chart: CPUs in use (CPU time per wall time between two samples) against the quota
// (docker --cpus: cfs quota / period), with a band along the bottom where the kernel throttled
// the cgroup — the sandbox wanted more CPU than its quota in those periods.

import { curveStepBefore } from "d3";

import type { ResourceSample } from "../lab/lab-context";
import {
  type ChartSize,
  type TimeWindow,
  drawIntervalBand,
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
import { formatCpus } from "./format";

export interface CpuChartData extends TimeWindow {
  samples: readonly ResourceSample[];
}

const CPU_FLOOR = 0.1;

/** The intervals in which periods were throttled: from the sample before to the one that
 *  counted them. */
export function throttledIntervals(samples: readonly ResourceSample[]) {
  const intervals: { fromMs: number; toMs: number; label: string }[] = [];
  for (let i = 1; i < samples.length; i++) {
    const sample = samples[i];
    const before = samples[i - 1];
    if (!sample || !before || !sample.throttledPeriods) continue;
    intervals.push({ fromMs: before.atMs, toMs: sample.atMs, label: `${sample.throttledPeriods} periods throttled` });
  }
  return intervals;
}

export function renderCpuChart(svg: SVGSVGElement, data: CpuChartData, size: ChartSize) {
  prepareSvg(svg, size);
  const plot = plotArea(size);
  // A usage sample is the average over the interval that ends at it: a step drawn backwards.
  // It is not carried forward to now: the next sample will say what the CPU did meanwhile.
  const usage = pointsInWindow(data.samples.map((s) => ({ atMs: s.atMs, value: s.cpuUsage })), data, false);
  const quota = pointsInWindow(data.samples.map((s) => ({ atMs: s.atMs, value: s.cpuQuota })), data, true);
  const domain = valueDomainMax(usage.map((p) => p.value), quota.map((p) => p.value), CPU_FLOOR);
  const x = timeScale(data, plot);
  const y = valueScale(domain.max, plot);

  drawValueAxis(layer(svg, "grid"), y, plot, (v) => v.toFixed(v < 1 ? 2 : 1));
  const series = layer(svg, "series");
  drawStepArea(series, "cpu", usage, x, y, "fill-amber-500/30 dark:fill-amber-400/25", curveStepBefore);
  drawStepLine(series, "cpu-line", usage, x, y, "stroke-amber-700 dark:stroke-amber-300 stroke-[1.5]", curveStepBefore);
  const lastQuota = quota.filter((p) => p.value !== null).at(-1)?.value ?? null;
  drawLimit(layer(svg, "limit"), quota, x, y, plot, domain.limitShown, lastQuota === null ? "no quota" : `quota ${formatCpus(lastQuota)}`);
  drawIntervalBand(layer(svg, "throttling"), "throttled", throttledIntervals(data.samples), x, plot, data, "fill-rose-600 dark:fill-rose-400");
  drawTimeAxis(layer(svg, "time-axis"), x, plot, data);
  return { x, y };
}
