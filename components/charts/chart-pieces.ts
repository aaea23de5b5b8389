// The small d3 pieces the resource charts are made of. Each piece draws one thing into one
// layer of an <svg> from plain data and scales it is given, and draws the same SVG for the same
// input: no clock (the caller passes `now`), no randomness, no measuring. A chart is these
// pieces called in order (memory-chart.ts, pids-chart.ts, cpu-chart.ts).
//
// Time runs on a linear scale of milliseconds, not d3's scaleTime: the axis reads "−1 min",
// relative to now, which is what a learner watching a counter wants, and it does not depend on
// the time zone of the machine that renders it.

import { type CurveFactory, type Selection, area, curveStepAfter, line, max, scaleLinear, select } from "d3";

const SVG_NS = "http://www.w3.org/2000/svg";

export interface ChartSize {
  width: number;
  height: number;
}

/** Room for the value labels on the left and the time labels below. */
export const MARGIN = { top: 12, right: 12, bottom: 20, left: 60 } as const;

export interface PlotArea {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export type Layer = Selection<SVGGElement, unknown, null, undefined>;
export type LinearScale = (value: number) => number;

/** A value at a moment; null where there was no reading (the line breaks there). */
export interface TimePoint {
  atMs: number;
  value: number | null;
}

export interface TimeWindow {
  /** The right edge of the chart, in the same clock as the samples (the server's). */
  now: number;
  windowMs: number;
}

/** A limit is drawn only while it is within this factor of the values: a pids limit of four
 *  million would flatten a chart of three processes into its floor. */
export const LIMIT_SCALE_RATIO = 500;

export function plotArea(size: ChartSize): PlotArea {
  if (!(size.width > MARGIN.left + MARGIN.right) || !(size.height > MARGIN.top + MARGIN.bottom)) {
    throw new RangeError(`chart size ${size.width}×${size.height} leaves no room to plot`);
  }
  return { left: MARGIN.left, right: size.width - MARGIN.right, top: MARGIN.top, bottom: size.height - MARGIN.bottom };
}

/** Sizes the <svg> exactly; its box never changes with the data. */
export function prepareSvg(svg: SVGSVGElement, size: ChartSize): void {
  svg.setAttribute("width", String(size.width));
  svg.setAttribute("height", String(size.height));
  svg.setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
}

/** The <g> named `name` directly in `svg`, made on first use. Layers stack in the order of their
 *  first use, which is the order a chart calls its pieces. */
export function layer(svg: SVGSVGElement, name: string): Layer {
  let group = Array.from(svg.children).find((child): child is SVGGElement => child.getAttribute("data-layer") === name);
  if (!group) {
    group = svg.ownerDocument.createElementNS(SVG_NS, "g");
    group.setAttribute("data-layer", name);
    svg.appendChild(group);
  }
  return select(group);
}

export function timeScale(window: TimeWindow, plot: PlotArea) {
  return scaleLinear().domain([window.now - window.windowMs, window.now]).range([plot.left, plot.right]);
}

export function valueScale(maxValue: number, plot: PlotArea) {
  return scaleLinear().domain([0, maxValue]).range([plot.bottom, plot.top]);
}

/**
 * The top of the value axis: the largest value (at least `floor`) and, where it is not far
 * above them, the largest limit; plus headroom so a line at the limit is not on the frame.
 */
export function valueDomainMax(values: readonly (number | null)[], limits: readonly (number | null)[], floor: number): { max: number; limitShown: boolean } {
  const largestValue = Math.max(floor, max(values, (v) => v ?? undefined) ?? 0);
  const largestLimit = max(limits, (v) => v ?? undefined) ?? 0;
  const limitShown = largestLimit > 0 && largestLimit <= largestValue * LIMIT_SCALE_RATIO;
  return { max: Math.max(largestValue, limitShown ? largestLimit : 0) * 1.12, limitShown };
}

/**
 * The points a chart draws in its window: those inside it, plus the last one before it moved to
 * the window's left edge (a step that began earlier still holds there), plus — when `hold` — the
 * last value carried to now (the stream sends only changes, so a value holds until the next).
 */
export function pointsInWindow(points: readonly TimePoint[], window: TimeWindow, hold: boolean): TimePoint[] {
  const start = window.now - window.windowMs;
  const inside = points.filter((p) => p.atMs >= start && p.atMs <= window.now);
  const before = points.filter((p) => p.atMs < start).at(-1);
  const result = before ? [{ atMs: start, value: before.value }, ...inside] : inside;
  const last = result.at(-1);
  if (hold && last && last.atMs < window.now) result.push({ atMs: window.now, value: last.value });
  return result;
}

/**
 * Tick values for a byte axis: multiples of a power-of-two number of MiB (0, 128 MiB, 256 MiB),
 * so that the labels read as the sizes docker and the cgroup files use, at most `count` above 0.
 */
export function binaryTicks(maxBytes: number, count = 3): number[] {
  const MiB = 1024 * 1024;
  let step = MiB;
  while (Math.floor(maxBytes / step) > count) step *= 2;
  const ticks: number[] = [];
  for (let tick = 0; tick <= maxBytes; tick += step) ticks.push(tick);
  return ticks;
}

/** Horizontal grid lines with value labels on the left, at `ticks` (default: d3's nice ticks). */
export function drawValueAxis(
  target: Layer,
  y: ReturnType<typeof valueScale>,
  plot: PlotArea,
  format: (value: number) => string,
  ticks: readonly number[] = y.ticks(3),
): void {
  const tick = target
    .selectAll<SVGGElement, number>("g[data-tick]")
    .data(ticks, (d) => String(d))
    .join((enter) => {
      const g = enter.append("g").attr("data-tick", "");
      g.append("line").attr("class", "stroke-zinc-200 dark:stroke-zinc-800");
      g.append("text").attr("class", "fill-zinc-500 text-[10px] dark:fill-zinc-400").attr("text-anchor", "end").attr("dy", "0.32em");
      return g;
    })
    .attr("transform", (d) => `translate(0,${y(d)})`);
  tick.select("line").attr("x1", plot.left).attr("x2", plot.right);
  tick
    .select("text")
    .attr("x", plot.left - 6)
    .text((d) => format(d));
}

/** "now", "−30 s", "−1 min": time labels below the plot, relative to the window's right edge. */
export function formatAgo(offsetMs: number): string {
  if (offsetMs === 0) return "now";
  const seconds = Math.round(offsetMs / 1000);
  return seconds % 60 === 0 ? `−${seconds / 60} min` : `−${seconds} s`;
}

export function drawTimeAxis(target: Layer, x: ReturnType<typeof timeScale>, plot: PlotArea, window: TimeWindow): void {
  const stepMs = window.windowMs > 3 * 60_000 ? 60_000 : 30_000;
  const offsets: number[] = [];
  for (let offset = 0; offset <= window.windowMs; offset += stepMs) offsets.push(offset);
  target
    .selectAll<SVGTextElement, number>("text[data-time-tick]")
    .data(offsets, (d) => String(d))
    .join((enter) => enter.append("text").attr("data-time-tick", "").attr("class", "fill-zinc-500 text-[10px] dark:fill-zinc-400"))
    .attr("x", (offset) => x(window.now - offset))
    .attr("y", plot.bottom + 14)
    .attr("text-anchor", (offset) => (offset === 0 ? "end" : offset === window.windowMs ? "start" : "middle"))
    .text((offset) => formatAgo(offset));
}

/** A filled series between `base` (a series below it, or the axis) and its value. */
export function drawStepArea(
  target: Layer,
  name: string,
  points: readonly TimePoint[],
  x: ReturnType<typeof timeScale>,
  y: LinearScale,
  className: string,
  curve: CurveFactory = curveStepAfter,
  base: (point: TimePoint, index: number) => number = () => 0,
): void {
  const shape = area<TimePoint>()
    .defined((p) => p.value !== null)
    .curve(curve)
    .x((p) => x(p.atMs))
    .y0((p, i) => y(base(p, i)))
    .y1((p, i) => y(base(p, i) + (p.value ?? 0)));
  target
    .selectAll<SVGPathElement, readonly TimePoint[]>(`path[data-series="${name}"]`)
    .data([points])
    .join((enter) => enter.append("path").attr("data-series", name))
    .attr("class", className)
    .attr("d", (d) => shape(d) ?? "");
}

export function drawStepLine(
  target: Layer,
  name: string,
  points: readonly TimePoint[],
  x: ReturnType<typeof timeScale>,
  y: LinearScale,
  className: string,
  curve: CurveFactory = curveStepAfter,
): void {
  const shape = line<TimePoint>()
    .defined((p) => p.value !== null)
    .curve(curve)
    .x((p) => x(p.atMs))
    .y((p) => y(p.value ?? 0));
  target
    .selectAll<SVGPathElement, readonly TimePoint[]>(`path[data-series="${name}"]`)
    .data([points])
    .join((enter) => enter.append("path").attr("data-series", name).attr("fill", "none"))
    .attr("class", className)
    .attr("d", (d) => shape(d) ?? "");
}

/**
 * The limit as a dashed step line, and its label at the plot's left edge at the height of the
 * oldest limit in view (the right is where new data and the event marks arrive, and a young
 * session has its line only there); when the limit is too far above the values to be drawn
 * (see valueDomainMax), only the label, at the top, says what it is.
 */
export function drawLimit(
  target: Layer,
  points: readonly TimePoint[],
  x: ReturnType<typeof timeScale>,
  y: LinearScale,
  plot: PlotArea,
  shown: boolean,
  label: string | null,
): void {
  drawStepLine(target, "limit", shown ? points : [], x, y, "stroke-rose-600 dark:stroke-rose-400 [stroke-dasharray:4_3] stroke-[1.5]");
  const first = points.find((p) => p.value !== null);
  const labelY = shown && first?.value != null ? y(first.value) - 4 : plot.top + 8;
  target
    .selectAll<SVGTextElement, string>("text[data-mark=limit-label]")
    .data(label ? [label] : [])
    .join((enter) =>
      enter.append("text").attr("data-mark", "limit-label").attr("text-anchor", "start").attr("class", "fill-rose-700 text-[10px] font-medium dark:fill-rose-300"),
    )
    .attr("x", plot.left + 4)
    .attr("y", labelY)
    .text((d) => d);
}

export interface ChartEvent {
  atMs: number;
  label: string;
}

/** A vertical rule with a mark on top where something happened (an OOM kill). */
export function drawEventMarkers(target: Layer, name: string, events: readonly ChartEvent[], x: ReturnType<typeof timeScale>, plot: PlotArea, window: TimeWindow): void {
  const start = window.now - window.windowMs;
  const visible = events.filter((e) => e.atMs >= start && e.atMs <= window.now);
  const marker = target
    .selectAll<SVGGElement, ChartEvent>(`g[data-mark="${name}"]`)
    .data(visible, (d) => `${d.atMs}`)
    .join((enter) => {
      const g = enter.append("g").attr("data-mark", name);
      g.append("title");
      g.append("line").attr("class", "stroke-amber-600 dark:stroke-amber-400 stroke-[1.5]");
      g.append("path").attr("d", "M-4,0L4,0L0,6Z").attr("class", "fill-amber-600 dark:fill-amber-400");
      return g;
    })
    .attr("data-at-ms", (d) => d.atMs)
    .attr("transform", (d) => `translate(${x(d.atMs)},${plot.top - 6})`);
  marker.select("title").text((d) => d.label);
  marker
    .select("line")
    .attr("x1", 0)
    .attr("x2", 0)
    .attr("y1", 0)
    .attr("y2", plot.bottom - plot.top + 6);
}

/** Bars in a thin band along the bottom of the plot for the intervals where something held
 *  (CPU throttling): from the previous sample to the one that reported it. */
export function drawIntervalBand(
  target: Layer,
  name: string,
  intervals: readonly { fromMs: number; toMs: number; label: string }[],
  x: ReturnType<typeof timeScale>,
  plot: PlotArea,
  window: TimeWindow,
  className: string,
): void {
  const start = window.now - window.windowMs;
  const clipped = intervals
    .filter((i) => i.toMs > start && i.fromMs < window.now)
    .map((i) => ({ ...i, fromMs: Math.max(i.fromMs, start), toMs: Math.min(i.toMs, window.now) }));
  const bar = target
    .selectAll<SVGRectElement, (typeof clipped)[number]>(`rect[data-mark="${name}"]`)
    .data(clipped, (d) => `${d.toMs}`)
    .join((enter) => {
      const rect = enter.append("rect").attr("data-mark", name);
      rect.append("title");
      return rect;
    })
    .attr("class", className)
    .attr("x", (d) => x(d.fromMs))
    .attr("width", (d) => Math.max(1, x(d.toMs) - x(d.fromMs)))
    .attr("y", plot.bottom - 4)
    .attr("height", 4);
  bar.select("title").text((d) => d.label);
}
