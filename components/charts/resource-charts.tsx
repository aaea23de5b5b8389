"use client";

// The sandbox's cgroup counters over the last two minutes, each against its limit: memory (with
// swap and OOM kills), processes, CPU (with throttling). Each chart has a fixed height, so the
// page does not move as data arrives, and a table beside it with the same numbers in words.
// This module pulls in d3; the lab's live views load it lazily, after the lesson text.

import { type ReactNode, useEffect, useId, useRef } from "react";

import { type ResourceSample, useLab } from "../lab/lab-context";
import type { ChartSize } from "./chart-pieces";
import { renderCpuChart } from "./cpu-chart";
import { formatBytes, formatCpus, formatShare } from "./format";
import { renderMemoryChart } from "./memory-chart";
import { renderPidsChart } from "./pids-chart";
import { useElementWidth } from "./use-element-width";
import { useStreamClock } from "./use-stream-clock";

export const CHART_WINDOW_MS = 2 * 60 * 1000;
export const CHART_HEIGHT = 120;
/** Narrower than this and the axis labels collide; the chart waits for room. */
const MIN_CHART_WIDTH = 160;

type Draw = (svg: SVGSVGElement, size: ChartSize) => void;

/** An <svg> of fixed height and its box's width, redrawn whenever `draw` changes. */
function ChartCanvas({ draw, label }: { draw: Draw | null; label: string }) {
  const [boxRef, width] = useElementWidth<HTMLDivElement>();
  const svgRef = useRef<SVGSVGElement>(null);
  useEffect(() => {
    const svg = svgRef.current;
    if (svg && draw && width >= MIN_CHART_WIDTH) draw(svg, { width, height: CHART_HEIGHT });
  }, [draw, width]);
  return (
    <div ref={boxRef} className="w-full overflow-hidden" style={{ height: CHART_HEIGHT }}>
      <svg ref={svgRef} role="img" aria-label={label} className="block" />
    </div>
  );
}

function ChartFigure({ title, legend, table, children }: { title: string; legend: ReactNode; table: ReactNode; children: ReactNode }) {
  const titleId = useId();
  return (
    <figure aria-labelledby={titleId} className="space-y-1">
      <figcaption className="flex flex-wrap items-baseline justify-between gap-x-3 text-sm">
        <span id={titleId} className="font-semibold">
          {title}
        </span>
        <span className="flex flex-wrap gap-x-3 text-xs text-zinc-600 dark:text-zinc-400" aria-hidden="true">
          {legend}
        </span>
      </figcaption>
      {children}
      {table}
    </figure>
  );
}

function Swatch({ className, children }: { className: string; children: ReactNode }) {
  return (
    <span className="inline-flex items-center gap-1">
      <span className={`inline-block h-2 w-3 rounded-sm ${className}`} />
      {children}
    </span>
  );
}

/** The text equivalent of a chart: its numbers now, and what the chart shows about the window. */
function ReadingsTable({ label, rows, testId }: { label: string; rows: ReadonlyArray<readonly [string, string]>; testId: string }) {
  return (
    <table className="w-full text-left text-xs" aria-label={label} data-testid={testId}>
      <tbody>
        {rows.map(([name, value]) => (
          <tr key={name} className="border-t border-zinc-100 dark:border-zinc-800/60">
            <th scope="row" className="w-1/2 py-0.5 pr-2 font-normal text-zinc-600 dark:text-zinc-400">
              {name}
            </th>
            <td className="py-0.5 font-mono tabular-nums">{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function peak(samples: readonly ResourceSample[], pick: (s: ResourceSample) => number | null): number | null {
  let highest: number | null = null;
  for (const s of samples) {
    const value = pick(s);
    if (value !== null && (highest === null || value > highest)) highest = value;
  }
  return highest;
}

const withShare = (value: string, share: string) => (share ? `${value} (${share} of the limit)` : value);

const orDash = (value: number | null, format: (n: number) => string) => (value === null ? "—" : format(value));

export function ResourceCharts() {
  const lab = useLab();
  const { history, oomEvents, limits } = lab;
  const latest = history.at(-1) ?? null;
  const now = useStreamClock(latest?.atMs ?? null, lab.live !== null);
  const timeWindow = now === null ? null : { now, windowMs: CHART_WINDOW_MS };
  const recent = timeWindow ? history.filter((s) => s.atMs >= timeWindow.now - timeWindow.windowMs) : [];
  const swapAllowed = limits ? limits.limits.memorySwapBytes === -1 || limits.limits.memorySwapBytes > limits.limits.memoryBytes : false;
  const lastOom = oomEvents.at(-1) ?? null;

  const drawMemory: Draw | null = timeWindow ? (svg, size) => renderMemoryChart(svg, { ...timeWindow, samples: history, oomEvents, swapAllowed }, size) : null;
  const drawPids: Draw | null = timeWindow ? (svg, size) => renderPidsChart(svg, { ...timeWindow, samples: history }, size) : null;
  const drawCpu: Draw | null = timeWindow ? (svg, size) => renderCpuChart(svg, { ...timeWindow, samples: history }, size) : null;

  const throttledInWindow = recent.reduce((sum, s) => sum + (s.throttledPeriods ?? 0), 0);

  return (
    <div className="space-y-4" data-testid="resource-charts">
      {latest === null ? (
        <p className="text-sm text-zinc-600 dark:text-zinc-400">
          {lab.session ? "Reading your sandbox's cgroup…" : "Your sandbox's memory, processes and CPU appear here once it is running."}
        </p>
      ) : null}
      <p className="sr-only" aria-live="polite" data-testid="oom-announcement">
        {lastOom ? `The kernel killed a process in your sandbox: out of memory (${lastOom.oomKillCount} OOM kills in all).` : ""}
      </p>

      <ChartFigure
        title="Memory"
        legend={
          <>
            <Swatch className="bg-sky-500/60">in use</Swatch>
            <Swatch className="bg-violet-500/60">swap</Swatch>
            <Swatch className="border-t-2 border-dashed border-rose-600 bg-transparent dark:border-rose-400">limit</Swatch>
            <Swatch className="bg-amber-500">OOM kill</Swatch>
          </>
        }
        table={
          <ReadingsTable
            label="Memory now"
            testId="memory-readings"
            rows={[
              ["In use", latest ? withShare(orDash(latest.memoryUsageBytes, formatBytes), formatShare(latest.memoryUsageBytes, latest.memoryLimitBytes)) : "—"],
              ["Limit", latest ? (latest.memoryLimitBytes === null ? "none" : formatBytes(latest.memoryLimitBytes)) : "—"],
              ["Peak, last 2 min", orDash(peak(recent, (s) => s.memoryUsageBytes), formatBytes)],
              ["Swap in use", latest ? (latest.swapUsageBytes === null ? "not accounted on this host" : formatBytes(latest.swapUsageBytes)) : "—"],
              ["OOM kills seen", String(oomEvents.length)],
            ]}
          />
        }
      >
        <ChartCanvas draw={drawMemory} label="Memory in use over the last two minutes, against the limit" />
      </ChartFigure>

      <ChartFigure
        title="Processes"
        legend={
          <>
            <Swatch className="bg-emerald-500/60">processes and threads</Swatch>
            <Swatch className="border-t-2 border-dashed border-rose-600 bg-transparent dark:border-rose-400">limit</Swatch>
          </>
        }
        table={
          <ReadingsTable
            label="Processes now"
            testId="pids-readings"
            rows={[
              ["Now", latest ? orDash(latest.pidsCurrent, String) : "—"],
              ["Limit", latest ? (latest.pidsLimit === null ? "none" : String(latest.pidsLimit)) : "—"],
              ["Most, last 2 min", orDash(peak(recent, (s) => s.pidsCurrent), String)],
            ]}
          />
        }
      >
        <ChartCanvas draw={drawPids} label="Processes over the last two minutes, against the pids limit" />
      </ChartFigure>

      <ChartFigure
        title="CPU"
        legend={
          <>
            <Swatch className="bg-amber-500/60">in use</Swatch>
            <Swatch className="border-t-2 border-dashed border-rose-600 bg-transparent dark:border-rose-400">quota</Swatch>
            <Swatch className="bg-rose-600 dark:bg-rose-400">throttled</Swatch>
          </>
        }
        table={
          <ReadingsTable
            label="CPU now"
            testId="cpu-readings"
            rows={[
              ["In use", latest ? orDash(latest.cpuUsage, formatCpus) : "—"],
              ["Quota", latest ? (latest.cpuQuota === null ? "none" : formatCpus(latest.cpuQuota)) : "—"],
              ["Throttled periods, last 2 min", String(throttledInWindow)],
            ]}
          />
        }
      >
        <ChartCanvas draw={drawCpu} label="CPUs in use over the last two minutes, against the quota, with throttling" />
      </ChartFigure>
    </div>
  );
}
