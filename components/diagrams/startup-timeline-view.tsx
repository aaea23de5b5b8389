"use client";

// The start-up timeline, drawn: the launcher's steps as a waterfall in milliseconds, each row
// tagged with the step of `docker run` it corresponds to, after the two daemon hops nslab does not
// make; then, on a log scale, that total against the typical start-up of a Docker container, a
// Firecracker microVM and a virtual machine. Rows are HTML (readable on a phone at any width);
// the bars are SVG placed with d3 scales. Each row can be hovered or focused for its detail.

import { scaleLinear, scaleLog } from "d3";
import { useState } from "react";

import { DiagramFrame, type DiagramMode } from "./diagram-frame";
import { StartupTextVersion } from "./startup-timeline-text";
import { DOCKER_STAGES, type DockerStageNumber, TYPICAL_STARTUPS, type TimelineBar, formatMs, formatMsRange } from "./startup-model";

/** The bars' coordinate space; each bar's SVG stretches it to the row's width. */
const SPAN = 1000;

export const stageFills: Record<DockerStageNumber, string> = {
  1: "fill-zinc-400",
  2: "fill-zinc-400",
  3: "fill-slate-500 dark:fill-slate-400",
  4: "fill-sky-600 dark:fill-sky-400",
  5: "fill-amber-500 dark:fill-amber-400",
  6: "fill-violet-600 dark:fill-violet-400",
  7: "fill-emerald-600 dark:fill-emerald-400",
};

/** A tick label, centred on its tick, except at the ends where it stays inside the axis. */
function AxisLabel({ percent, text }: { percent: number; text: string }) {
  const shift = percent < 3 ? "" : percent > 97 ? "-translate-x-full" : "-translate-x-1/2";
  return (
    <span className={`absolute font-mono whitespace-nowrap ${shift}`} style={{ left: `${percent}%` }}>
      {text}
    </span>
  );
}

function StageBadge({ n }: { n: DockerStageNumber | null }) {
  return (
    <span
      className="inline-flex size-5 shrink-0 items-center justify-center rounded-full border border-zinc-300 text-[11px] font-semibold dark:border-zinc-600"
      title={n === null ? "not one of docker run's steps" : `docker run step ${n}`}
    >
      <span className="sr-only">docker run step </span>
      {n ?? "·"}
    </span>
  );
}

function Row({
  id,
  stage,
  badge = true,
  label,
  value,
  selected,
  onSelect,
  children,
}: {
  id: string;
  stage: DockerStageNumber | null;
  /** Rows outside docker run's steps (the comparison) have no step badge. */
  badge?: boolean;
  label: string;
  value: string;
  selected: boolean;
  onSelect: (id: string) => void;
  children: React.ReactNode;
}) {
  return (
    <li
      tabIndex={0}
      data-row={id}
      aria-describedby="startup-detail"
      onMouseEnter={() => onSelect(id)}
      onFocus={() => onSelect(id)}
      className={`grid grid-cols-[1fr_auto] items-center gap-x-2 rounded px-1 py-0.5 text-xs @md:grid-cols-[minmax(7.5rem,11rem)_1fr_5rem] @md:text-sm ${
        selected ? "bg-sky-50 dark:bg-sky-950/40" : ""
      }`}
    >
      <span className="order-1 flex min-w-0 items-center gap-1.5">
        {badge ? <StageBadge n={stage} /> : null}
        <span className="truncate">{label}</span>
      </span>
      <span className="order-3 col-span-2 block h-4 @md:order-2 @md:col-span-1">{children}</span>
      <span className="order-2 text-right font-mono whitespace-nowrap tabular-nums @md:order-3">{value}</span>
    </li>
  );
}

export function StartupTimelineView({ bars, mode }: { bars: readonly TimelineBar[]; mode: DiagramMode }) {
  const totalMs = bars.at(-1)?.endMs ?? 0;
  const x = scaleLinear().domain([0, Math.max(totalMs, 0.001)]).range([0, SPAN]);
  const ticks = x.ticks(4);
  const [selectedId, setSelectedId] = useState<string>("cgroup");

  const log = scaleLog().domain([1, 100_000]).range([0, SPAN]).clamp(true);
  const logTicks = [1, 10, 100, 1_000, 10_000, 100_000];

  const selectedBar = bars.find((bar) => bar.step === selectedId);
  const selectedHop = DOCKER_STAGES.find((stage) => `hop-${stage.n}` === selectedId);
  const selectedRange = TYPICAL_STARTUPS.find((range) => `typical-${range.id}` === selectedId);
  const detail = selectedBar
    ? `${selectedBar.label} (${formatMs(selectedBar.endMs - selectedBar.startMs)}, ended at ${formatMs(selectedBar.endMs)}): ${selectedBar.detail}`
    : selectedHop
      ? `docker run step ${selectedHop.n}, ${selectedHop.title}: ${selectedHop.docker} ${selectedHop.nslabSkips ?? ""}`
      : selectedRange
        ? `${selectedRange.label}: ${formatMsRange(selectedRange.lowMs, selectedRange.highMs)}, ${selectedRange.note}.`
        : selectedId === "yours"
          ? `The launcher's whole start-up: ${formatMs(totalMs)}.`
          : "";

  return (
    <DiagramFrame
      id="startup-timeline"
      title={mode === "live" ? `Your sandbox started in ${formatMs(totalMs)}` : `A sandbox starts in about ${formatMs(totalMs)}`}
      mode={mode}
      caption={
        <>
          {mode === "live"
            ? "Measured by nslab's launcher as it built your sandbox. "
            : "Reference figures: one start-up measured on a lab server (cgroup v1, Linux 6.18), not your sandbox. "}
          The numbers in circles are the seven steps of <code className="font-mono">docker run</code>. The server&apos;s own work before
          the launcher (creating the cgroup, writing its limits) is not included. Typical figures below are the lesson&apos;s, not
          measurements.
        </>
      }
      textVersion={<StartupTextVersion bars={bars} mode={mode} />}
    >
      <ol className="space-y-0.5" aria-label="Start-up steps in order">
        {DOCKER_STAGES.filter((stage) => stage.nslabSkips !== null).map((stage) => (
          <Row
            key={stage.n}
            id={`hop-${stage.n}`}
            stage={stage.n}
            label={stage.title}
            value="skipped"
            selected={selectedId === `hop-${stage.n}`}
            onSelect={setSelectedId}
          >
            <svg viewBox={`0 0 ${SPAN} 16`} preserveAspectRatio="none" className="h-4 w-full" aria-hidden="true">
              <rect
                x={0.5}
                y={2}
                width={SPAN - 1}
                height={12}
                rx={3}
                className="fill-none stroke-zinc-400 dark:stroke-zinc-500"
                strokeDasharray="6 4"
                vectorEffect="non-scaling-stroke"
              />
            </svg>
          </Row>
        ))}
        {bars.map((bar) => (
          <Row
            key={bar.step}
            id={bar.step}
            stage={bar.stage}
            label={bar.label}
            value={formatMs(bar.endMs - bar.startMs)}
            selected={selectedId === bar.step}
            onSelect={setSelectedId}
          >
            <svg viewBox={`0 0 ${SPAN} 16`} preserveAspectRatio="none" className="h-4 w-full" aria-hidden="true" data-bar={bar.step}>
              <rect x={0} y={7} width={SPAN} height={2} className="fill-zinc-100 dark:fill-zinc-800" />
              <rect
                x={x(bar.startMs)}
                y={2}
                width={Math.max(3, x(bar.endMs) - x(bar.startMs))}
                height={12}
                rx={2}
                className={bar.stage ? stageFills[bar.stage] : "fill-zinc-500"}
              />
            </svg>
          </Row>
        ))}
      </ol>
      <div className="grid grid-cols-1 gap-x-2 px-1 text-[11px] text-zinc-500 @md:grid-cols-[minmax(7.5rem,11rem)_1fr_5rem] dark:text-zinc-400" aria-hidden="true">
        <span className="hidden @md:block" />
        <span className="relative h-4">
          {ticks.map((tick) => (
            <AxisLabel key={tick} percent={(x(tick) / SPAN) * 100} text={formatMs(tick)} />
          ))}
        </span>
        <span className="hidden @md:block" />
      </div>

      <p className="mt-5 mb-1 text-sm font-semibold">Compared, on a log scale</p>
      <ul className="space-y-0.5" aria-label="Start-up times compared">
        <Row id="yours" stage={null} badge={false} label={mode === "live" ? "Your sandbox" : "A lab sandbox"} value={formatMs(totalMs)} selected={selectedId === "yours"} onSelect={setSelectedId}>
          <svg viewBox={`0 0 ${SPAN} 16`} preserveAspectRatio="none" className="h-4 w-full" aria-hidden="true">
            <rect x={0} y={2} width={Math.max(3, log(Math.max(1, totalMs)))} height={12} rx={2} className="fill-emerald-600 dark:fill-emerald-400" />
          </svg>
        </Row>
        {TYPICAL_STARTUPS.map((range) => (
          <Row
            key={range.id}
            id={`typical-${range.id}`}
            stage={null}
            badge={false}
            label={range.label}
            value={formatMsRange(range.lowMs, range.highMs)}
            selected={selectedId === `typical-${range.id}`}
            onSelect={setSelectedId}
          >
            <svg viewBox={`0 0 ${SPAN} 16`} preserveAspectRatio="none" className="h-4 w-full" aria-hidden="true">
              <rect x={0} y={2} width={log(range.lowMs)} height={12} rx={2} className="fill-zinc-300 dark:fill-zinc-600" />
              <rect
                x={log(range.lowMs)}
                y={2}
                width={Math.max(3, log(range.highMs) - log(range.lowMs))}
                height={12}
                rx={2}
                className="fill-zinc-500 dark:fill-zinc-400"
              />
            </svg>
          </Row>
        ))}
      </ul>
      <div className="grid grid-cols-1 gap-x-2 px-1 text-[11px] text-zinc-500 @md:grid-cols-[minmax(7.5rem,11rem)_1fr_5rem] dark:text-zinc-400" aria-hidden="true">
        <span className="hidden @md:block" />
        <span className="relative h-4">
          {logTicks.map((tick) => (
            <AxisLabel key={tick} percent={(log(tick) / SPAN) * 100} text={formatMs(tick)} />
          ))}
        </span>
        <span className="hidden @md:block" />
      </div>

      <p id="startup-detail" data-testid="startup-detail" className="mt-3 min-h-12 rounded-lg bg-zinc-50 p-3 text-sm leading-6 dark:bg-zinc-900">
        {detail}
      </p>
    </DiagramFrame>
  );
}
